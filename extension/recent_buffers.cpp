#include "extension/recent_buffers.hpp"

extern "C" {
#include "utils/memutils.h"
}

namespace ruvector {

namespace {
constexpr int kMaps = 8;
constexpr uint32 kMinSlots = 8192, kMaxSlots = 262144;  // 64 kB .. 2 MB of map per relation
}  // namespace

RecentBuffers *RecentBuffers::for_relation(Relation rel)
{
	static RecentBuffers maps[kMaps];
	static uint64 used[kMaps], clock;
	bool local = RelationUsesLocalBuffers(rel);
	int at = -1;
	for (int i = 0; i < kMaps && at < 0; i++)
		if (maps[i].block && RelFileNodeEquals(maps[i].node, rel->rd_node) && maps[i].local == local)
			at = i;
	if (at < 0) {
		at = 0;
		for (int i = 1; i < kMaps; i++)
			if (used[i] < used[at])
				at = i;
		RecentBuffers &r = maps[at];
		r.node = rel->rd_node;
		r.local = local;
		if (r.block)  // another relation's: start empty, its memory reused
			memset(r.block, 0xFF, sizeof(BlockNumber) * (r.mask + 1));
		else
			r.grow(0);
	}
	used[at] = ++clock;
	return &maps[at];
}

// Room for blk in a slot of its own (up to kMaxSlots; beyond, blocks share slots).
void RecentBuffers::grow(BlockNumber blk)
{
	uint32 want = block ? mask + 1 : kMinSlots;
	while (want <= blk && want < kMaxSlots)
		want <<= 1;
	if (block && want == mask + 1)
		return;
	auto *nb = static_cast<BlockNumber *>(MemoryContextAlloc(TopMemoryContext, sizeof(BlockNumber) * want));
	auto *nbuf = static_cast<Buffer *>(MemoryContextAlloc(TopMemoryContext, sizeof(Buffer) * want));
	memset(nb, 0xFF, sizeof(BlockNumber) * want);  // InvalidBlockNumber
	if (block) {
		for (uint32 i = 0; i <= mask; i++)
			if (block[i] != InvalidBlockNumber) {
				nb[block[i] & (want - 1)] = block[i];
				nbuf[block[i] & (want - 1)] = buffer[i];
			}
		pfree(block);
		pfree(buffer);
	}
	block = nb;
	buffer = nbuf;
	mask = want - 1;
}

Buffer RecentBuffers::read(Relation rel, BlockNumber blk, BufferAccessStrategy strategy)
{
	if (blk > mask && mask + 1 < kMaxSlots)
		grow(blk);
	uint32 slot = blk & mask;
	if (block[slot] == blk && ReadRecentBuffer(rel->rd_node, MAIN_FORKNUM, blk, buffer[slot]))
		return buffer[slot];
	Buffer b = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
	block[slot] = blk;
	buffer[slot] = b;
	return b;
}

}  // namespace ruvector
