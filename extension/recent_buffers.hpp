// The buffer each block of a relation was last found in, per backend: ReadRecentBuffer checks it
// without a lookup in the shared buffer mapping table, which costs a few cache misses per block on
// a large shared_buffers (a quarter of a 1M-row ruhnsw scan's time, a sixth of an exact scan's).
#pragma once

extern "C" {
#include "postgres.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
}

namespace ruvector {

// Direct-mapped by block number, kept across statements in TopMemoryContext (a new statement's
// first reads hit too) and grown as higher blocks are read. Only a hint: a stale entry (the page
// evicted, the relation rewritten) just misses and is replaced.
struct RecentBuffers {
	RelFileNode node;
	bool local;  // a temporary relation's (local buffers): its node may equal a permanent one's
	uint32 mask;
	BlockNumber *block;
	Buffer *buffer;

	// This backend's map for the relation (a few are kept, the least recently used replaced).
	static RecentBuffers *for_relation(Relation rel);
	// ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy), through the hint.
	Buffer read(Relation rel, BlockNumber blk, BufferAccessStrategy strategy = nullptr);

private:
	void grow(BlockNumber blk);
};

// Pull a pinned page's bytes towards the CPU caches while the page before it is worked on: pages sit
// at scattered shared-buffer addresses, so the hardware prefetcher cannot run ahead across them.
inline void prefetch_page(Buffer buf)
{
	const char *p = static_cast<const char *>(BufferGetPage(buf));
	for (Size off = 0; off < BLCKSZ; off += 64)
		__builtin_prefetch(p + off);
}

}  // namespace ruvector
