// ruhnsw build: read the heap and insert every row into the graph on the pages.
//
// The pages are written through shared buffers without WAL (nobody else sees the index yet);
// when the build is done they are logged as full-page images (log_newpage_range), as pgvector's
// build does.
#include "extension/hnsw/hnswutils.hpp"

extern "C" {
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
}

namespace ruvector::hnsw {

namespace {

struct BuildState {
	Relation index;
	const MetricInfo *metric;
	int dim;
	std::byte *row;
	float *scratch;
	MemoryContext tmp_cxt;  // reset per row
	double indexed;
};

// pgvector's checks, in its order and with its messages.
void check_build(Relation index, const MetricInfo &metric, int *dim, int *m, int *ef_construction)
{
	*dim = index_dimensions(index);
	if (*dim < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("column does not have dimensions"),
						errhint("Declare the column with a dimension, e.g. vector(3), or index an expression cast to one.")));
	// pgvector's limits (2000 vector, 4000 halfvec, 64000 bit): an element must fit one page.
	int max_dim = int(64000 / metric.element().bits);
	if (*dim > max_dim)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("column cannot have more than %d dimensions for hnsw index", max_dim),
						errdetail("Each element holds the whole value and must fit in one %d-byte index page.", BLCKSZ)));
	*m = index_options(index)->m;
	*ef_construction = index_options(index)->ef_construction;
	if (*ef_construction < 2 * *m)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("ef_construction must be greater than or equal to 2 * m"),
						errhint("Raise ef_construction to at least %d, or lower m.", 2 * *m)));
}

// The meta page and the first (empty) element page of a new fork.
void write_first_pages(Relation index, ForkNumber fork, const MetricInfo &metric, int dim, int m, int ef_construction)
{
	Buffer mbuf = new_buffer(index, fork);
	Buffer ebuf = new_buffer(index, fork);
	if (BufferGetBlockNumber(mbuf) != kMetaBlock || BufferGetBlockNumber(ebuf) != kFirstElementBlock)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	Page page = BufferGetPage(mbuf);
	init_page(page);
	HnswMetaPage *meta = meta_of(page);
	memset(meta, 0, sizeof *meta);
	meta->magic = kMagic;
	meta->layout_version = kLayoutVersion;
	meta->dimensions = uint32(dim);
	meta->m = uint16(m);
	meta->ef_construction = uint16(ef_construction);
	meta->metric = uint16(metric.code());
	meta->entry_blkno = InvalidBlockNumber;
	meta->entry_offno = InvalidOffsetNumber;
	meta->entry_level = -1;
	meta->insert_page = kFirstElementBlock;
	// pd_lower covers the meta data, so full-page images and generic WAL keep it.
	reinterpret_cast<PageHeader>(page)->pd_lower = uint16(reinterpret_cast<char *>(meta + 1) - page);
	init_page(BufferGetPage(ebuf));
	MarkBufferDirty(mbuf);
	MarkBufferDirty(ebuf);
	UnlockReleaseBuffer(ebuf);
	UnlockReleaseBuffer(mbuf);
}

void set_built_elements(Relation index, uint64 n)
{
	Buffer buf = ReadBuffer(index, kMetaBlock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	meta_of(BufferGetPage(buf))->built_elements = n;
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

void build_row(BuildState *bs, ItemPointer tid, Datum value, bool isnull)
{
	if (isnull)
		return;
	MemoryContext old = MemoryContextSwitchTo(bs->tmp_cxt);
	if (prepare_value(*bs->metric, value, bs->dim, bs->row, bs->scratch, false)) {
		insert_row(bs->index, bs->row, *tid, true);
		bs->indexed++;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, int64(bs->indexed));
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmp_cxt);
}

// Called by table_index_build_scan from PostgreSQL code: no C++ exception may unwind through it.
void build_callback(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *state)
{
	pg::call_boundary([&] { build_row(static_cast<BuildState *>(state), tid, values[0], isnull[0]); });
}

// After a build without WAL: every page as a full-page image (the init fork always).
void log_pages(Relation index, ForkNumber fork)
{
	if (RelationNeedsWAL(index) || fork == INIT_FORKNUM)
		log_newpage_range(index, fork, 0, RelationGetNumberOfBlocksInFork(index, fork), true);
}

}  // namespace

IndexBuildResult *hnswbuild(Relation heap, Relation index, IndexInfo *info)
{
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	const MetricInfo &metric = index_metric(index);
	BuildState bs{};
	int m, ef_construction;
	check_build(index, metric, &bs.dim, &m, &ef_construction);
	bs.index = index;
	bs.metric = &metric;

	MemoryContext build_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruhnsw build", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(build_cxt);
	bs.tmp_cxt = AllocSetContextCreate(build_cxt, "ruhnsw build row", ALLOCSET_DEFAULT_SIZES);
	bs.row = static_cast<std::byte *>(palloc(MAXALIGN(metric.row_bytes(Size(bs.dim)))));
	bs.scratch = static_cast<float *>(palloc(sizeof(float) * Size(bs.dim)));

	write_first_pages(index, MAIN_FORKNUM, metric, bs.dim, m, ef_construction);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseLoad);
	double reltuples = table_index_build_scan(heap, index, info, true, true, build_callback, &bs, nullptr);
	set_built_elements(index, uint64(bs.indexed));
	log_pages(index, MAIN_FORKNUM);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(build_cxt);
	IndexBuildResult *result = static_cast<IndexBuildResult *>(palloc(sizeof(IndexBuildResult)));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indexed;
	return result;
}

// The init fork of an unlogged index: an empty graph.
void hnswbuildempty(Relation index)
{
	const MetricInfo &metric = index_metric(index);
	int dim, m, ef_construction;
	check_build(index, metric, &dim, &m, &ef_construction);
	write_first_pages(index, INIT_FORKNUM, metric, dim, m, ef_construction);
	log_pages(index, INIT_FORKNUM);
}

}  // namespace ruvector::hnsw
