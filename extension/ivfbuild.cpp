// ruivfflat build: sample, train centroids on the worker, assign every row, write the lists.
//
//   1. sampling    one heap scan, reservoir sample (Algorithm R, fixed seed: builds are repeatable)
//                  bounded by maintenance_work_mem
//   2. k-means     the sample goes to the worker, which trains on all its threads (spherical for
//                  cosine and inner product)
//   3. assigning   a second heap scan; rows go to the worker in batches for their nearest list,
//                  then into a tuplesort by list
//   4. writing     lists are written in order, each a chain of contiguous pages
// Pages are built without per-page WAL and logged as full images at the end (log_newpage_range),
// as core's index builds do.
#include "extension/ivfflat.hpp"
#include "extension/worker_client.hpp"
#include "worker/kernels/jobs.hpp"

extern "C" {
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_operator_d.h"
#include "commands/progress.h"
#include "common/pg_prng.h"
#include "executor/tuptable.h"
#include "portability/instr_time.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"
}

#include <algorithm>

namespace ruvector::ivf {

BuildHook *ivf_build_hook = nullptr;

namespace {

constexpr int kTrainingIterations = 25;     // FAISS's default for IVF training
constexpr Size kSamplesPerList = 256;       // FAISS's max_points_per_centroid
constexpr Size kAssignBatchBytes = Size(16) << 20;

struct BuildState {
	Relation heap;
	Relation index;
	IndexInfo *info;
	Metric metric;
	int dim;
	int lists_requested;
	int lists;
	MemoryContext tmp_cxt;  // reset per row

	// sampling
	float *samples;
	Size sample_target;
	Size sample_count;
	uint64 rows_seen;
	pg_prng_state prng;

	// centroids (lists * dim)
	float *centroids;

	// assigning
	float *batch;
	ItemPointerData *batch_tids;
	Size batch_capacity;
	Size batch_count;
	Tuplesortstate *sort;
	TupleDesc sort_desc;
	TupleTableSlot *slot;       // rows into the sort
	TupleTableSlot *sorted;     // rows out of it
	Oid vector_type;
	double indexed;
};

// The indexed value as the index stores it; false to skip it (NULL, cosine zero vector).
bool row_vector(BuildState *bs, ItemPointer tid, Datum value, bool isnull, float *out)
{
	if (isnull)
		return false;
	Vector *v = datum_get_vector(value);
	if (v->dim != bs->dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected %d dimensions, not %d", bs->dim, v->dim)));
	memcpy(out, v->x, sizeof(float) * bs->dim);
	if (ivf_build_hook)
		ivf_build_hook->fn(ivf_build_hook->arg, tid, out, bs->dim);
	return prepare_vector(bs->metric, out, bs->dim, out);
}

void sample_callback(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *state)
{
	auto *bs = static_cast<BuildState *>(state);
	MemoryContext old = MemoryContextSwitchTo(bs->tmp_cxt);
	float *row = static_cast<float *>(palloc(sizeof(float) * bs->dim));
	if (row_vector(bs, tid, values[0], isnull[0], row)) {
		bs->rows_seen++;
		Size slot_index;
		if (bs->sample_count < bs->sample_target)
			slot_index = bs->sample_count++;
		else {
			uint64 j = pg_prng_uint64_range(&bs->prng, 0, bs->rows_seen - 1);
			slot_index = j < bs->sample_target ? Size(j) : SIZE_MAX;
		}
		if (slot_index != SIZE_MAX)
			memcpy(bs->samples + slot_index * bs->dim, row, sizeof(float) * bs->dim);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmp_cxt);
}

void sample_rows(BuildState *bs)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseSampling);
	Size row_bytes = sizeof(float) * Size(bs->dim);
	Size budget = Size(maintenance_work_mem) * 1024;
	Size want = Size(bs->lists_requested) * kSamplesPerList;
	// Do not reserve more than the table can hold (small tables, empty tables).
	double reltuples = bs->heap->rd_rel->reltuples;
	BlockNumber blocks = RelationGetNumberOfBlocks(bs->heap);
	Size cap = Size(blocks) * MaxHeapTuplesPerPage;
	if (reltuples >= 0)
		cap = std::min<Size>(cap, Size(std::max(reltuples * 1.5, 1000.0)) + 1000);
	want = std::min(want, std::max<Size>(cap, 1));
	Size fit = budget / row_bytes;
	Size needed = std::min<Size>(Size(bs->lists_requested), std::max<Size>(cap, 1));
	if (fit < needed)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("memory required is %zu MB, maintenance_work_mem is %d MB",
							   (needed * row_bytes + (1 << 20) - 1) >> 20, maintenance_work_mem / 1024),
						errdetail("k-means needs at least one sample per list: %d lists of %d dimensions.",
								  bs->lists_requested, bs->dim),
						errhint("Raise maintenance_work_mem or use fewer lists.")));
	bs->sample_target = std::max<Size>(std::min(want, fit), 1);
	bs->samples = static_cast<float *>(MemoryContextAllocHuge(CurrentMemoryContext, bs->sample_target * row_bytes));
	bs->sample_count = 0;
	bs->rows_seen = 0;
	pg_prng_seed(&bs->prng, 42);
	table_index_build_scan(bs->heap, bs->index, bs->info, true, true, sample_callback, bs, nullptr);
}

void train(BuildState *bs)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseKmeans);
	Size n = bs->sample_count;
	bs->lists = int(std::min<Size>(Size(bs->lists_requested), std::max<Size>(n, 1)));
	Size bytes = Size(bs->lists) * bs->dim * sizeof(float);
	bs->centroids = static_cast<float *>(MemoryContextAllocHuge(CurrentMemoryContext, bytes));
	memset(bs->centroids, 0, bytes);
	if (n < Size(bs->lists_requested))
		ereport(NOTICE, (errmsg("ruivfflat index created with little data"),
						 errdetail("The table had %zu indexable rows, so the index has %d of the %d lists requested.",
								   n, bs->lists, bs->lists_requested),
						 errhint("REINDEX after loading the data to get the lists you asked for.")));
	if (n == 0)
		return;  // one list with a zero centroid: every row lands in it, scans read all of it

	proto::KmeansRequest req;
	req.n = n;
	req.dim = uint32(bs->dim);
	req.k = uint32(bs->lists);
	req.max_iterations = kTrainingIterations;
	req.seed = 42;
	req.metric = bs->metric == Metric::cosine ? proto::KmeansMetric::cosine
				 : bs->metric == Metric::ip   ? proto::KmeansMetric::inner_product
											  : proto::KmeansMetric::l2;  // L1 lists are trained as L2
	worker_request_begin(proto::MsgType::kmeans, palloc_encoded(req));
	worker_request_send_data(std::as_bytes(std::span(bs->samples, n * bs->dim)));
	worker_request_send_end();
	char *buf;
	Size len = worker_request_receive_all(&buf);
	worker_request_finish();
	Size row_bytes = sizeof(int64) + sizeof(float) * Size(bs->dim);
	jobs::KmeansResultHeader h;
	if (len < sizeof h)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("short k-means reply from the ruvector worker")));
	memcpy(&h, buf, sizeof h);
	if (h.k != uint32(bs->lists) || h.dim != uint32(bs->dim) || len != sizeof h + row_bytes * h.k)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("malformed k-means reply from the ruvector worker")));
	for (int c = 0; c < bs->lists; c++)
		memcpy(bs->centroids + Size(c) * bs->dim, buf + sizeof h + row_bytes * c + sizeof(int64),
			   sizeof(float) * bs->dim);
	pfree(buf);
	pfree(bs->samples);
	bs->samples = nullptr;
}

// Send the batch to the worker for labels, then feed (list, tid, vector) to the sort.
void flush_batch(BuildState *bs)
{
	if (bs->batch_count == 0)
		return;
	Size n = bs->batch_count;
	int32 *labels = static_cast<int32 *>(palloc0(sizeof(int32) * n));
	if (bs->lists > 1) {
		proto::AssignRequest req;
		req.n = n;
		req.dim = uint32(bs->dim);
		req.k = uint32(bs->lists);
		req.metric = bs->metric == Metric::cosine ? proto::KmeansMetric::cosine
					 : bs->metric == Metric::ip   ? proto::KmeansMetric::inner_product
					 : bs->metric == Metric::l1   ? proto::KmeansMetric::l1
												  : proto::KmeansMetric::l2;
		worker_request_begin(proto::MsgType::assign, palloc_encoded(req));
		worker_request_send_data(std::as_bytes(std::span(bs->centroids, Size(bs->lists) * bs->dim)));
		worker_request_send_data(std::as_bytes(std::span(bs->batch, n * bs->dim)));
		worker_request_send_end();
		char *buf;
		Size len = worker_request_receive_all(&buf);
		worker_request_finish();
		if (len != n * sizeof(int32))
			ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("malformed assignment reply from the ruvector worker")));
		memcpy(labels, buf, len);
		pfree(buf);
	}
	Vector *v = new_vector(bs->dim);
	for (Size i = 0; i < n; i++) {
		if (labels[i] < 0 || labels[i] >= bs->lists)
			ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("assignment reply names list %d", labels[i])));
		memcpy(v->x, bs->batch + i * bs->dim, sizeof(float) * bs->dim);
		ExecClearTuple(bs->slot);
		bs->slot->tts_values[0] = Int32GetDatum(labels[i]);
		bs->slot->tts_isnull[0] = false;
		bs->slot->tts_values[1] = PointerGetDatum(&bs->batch_tids[i]);
		bs->slot->tts_isnull[1] = false;
		bs->slot->tts_values[2] = PointerGetDatum(v);
		bs->slot->tts_isnull[2] = false;
		ExecStoreVirtualTuple(bs->slot);
		tuplesort_puttupleslot(bs->sort, bs->slot);
	}
	pfree(v);
	pfree(labels);
	bs->indexed += double(n);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, int64(bs->indexed));
	bs->batch_count = 0;
}

void assign_callback(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *state)
{
	auto *bs = static_cast<BuildState *>(state);
	MemoryContext old = MemoryContextSwitchTo(bs->tmp_cxt);
	bool keep = row_vector(bs, tid, values[0], isnull[0], bs->batch + bs->batch_count * bs->dim);
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmp_cxt);
	if (!keep)
		return;
	bs->batch_tids[bs->batch_count++] = *tid;
	if (bs->batch_count == bs->batch_capacity)
		flush_batch(bs);
}

void assign_rows(BuildState *bs)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseAssigning);
	double reltuples = bs->heap->rd_rel->reltuples;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, int64(std::max(reltuples, 0.0)));
	Size row_bytes = sizeof(float) * Size(bs->dim);
	bs->batch_capacity = std::max<Size>(kAssignBatchBytes / row_bytes, 64);
	bs->batch = static_cast<float *>(MemoryContextAllocHuge(CurrentMemoryContext, bs->batch_capacity * row_bytes));
	bs->batch_tids = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * bs->batch_capacity));
	bs->batch_count = 0;

	bs->sort_desc = CreateTemplateTupleDesc(3);
	TupleDescInitEntry(bs->sort_desc, 1, "list", INT4OID, -1, 0);
	TupleDescInitEntry(bs->sort_desc, 2, "tid", TIDOID, -1, 0);
	TupleDescInitEntry(bs->sort_desc, 3, "vector", bs->vector_type, -1, 0);
	AttrNumber key = 1;
	Oid op = Int4LessOperator;
	Oid coll = InvalidOid;
	bool nulls_first = false;
	bs->sort = tuplesort_begin_heap(bs->sort_desc, 1, &key, &op, &coll, &nulls_first, maintenance_work_mem, nullptr,
									TUPLESORT_NONE);
	bs->slot = MakeSingleTupleTableSlot(bs->sort_desc, &TTSOpsVirtual);
	bs->sorted = MakeSingleTupleTableSlot(bs->sort_desc, &TTSOpsMinimalTuple);
	bs->indexed = 0;
	table_index_build_scan(bs->heap, bs->index, bs->info, true, true, assign_callback, bs, nullptr);
	flush_batch(bs);
	tuplesort_performsort(bs->sort);
}

/* Writing pages */

// Raw array pages (centroids, directory): pd_lower covers the data, so full-page images and
// generic WAL deltas keep it.
void set_contents_length(Page page, Size bytes)
{
	reinterpret_cast<PageHeader>(page)->pd_lower = uint16(MAXALIGN(SizeOfPageHeaderData) + bytes);
}

Buffer append_page(Relation index, ForkNumber fork, uint16 flags)
{
	Buffer buf = new_buffer(index, fork);
	init_page(BufferGetPage(buf), flags);
	return buf;
}

void finish_page(Buffer buf)
{
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

struct Layout {
	BlockNumber centroid_start;
	uint32 centroid_pages;
	BlockNumber directory_start;
	uint32 directory_pages;
};

// Meta page (block 0, filled last), centroid pages, empty directory pages.
Layout write_header_pages(Relation index, ForkNumber fork, const float *centroids, int lists, int dim)
{
	Layout l{};
	Buffer meta = append_page(index, fork, kPageMeta);
	if (BufferGetBlockNumber(meta) != kMetaBlock)
		elog(ERROR, "ruivfflat build expected an empty index");
	finish_page(meta);

	Size total = Size(lists) * dim, done = 0;
	Buffer prev = InvalidBuffer;
	while (done < total) {
		Buffer buf = append_page(index, fork, kPageCentroids);
		Page page = BufferGetPage(buf);
		Size n = std::min<Size>(kFloatsPerCentroidPage, total - done);
		memcpy(PageGetContents(page), centroids + done, n * sizeof(float));
		set_contents_length(page, n * sizeof(float));
		done += n;
		if (BufferIsValid(prev)) {
			page_opaque(BufferGetPage(prev))->next = BufferGetBlockNumber(buf);
			finish_page(prev);
		} else
			l.centroid_start = BufferGetBlockNumber(buf);
		l.centroid_pages++;
		prev = buf;
	}
	if (BufferIsValid(prev))
		finish_page(prev);

	l.directory_pages = uint32((Size(lists) + kListsPerDirectoryPage - 1) / kListsPerDirectoryPage);
	for (uint32 i = 0; i < l.directory_pages; i++) {
		Buffer buf = append_page(index, fork, kPageDirectory);
		if (i == 0)
			l.directory_start = BufferGetBlockNumber(buf);
		finish_page(buf);
	}
	return l;
}

void write_directory(Relation index, ForkNumber fork, const Layout &l, const IvfListEntry *entries, int lists)
{
	for (uint32 i = 0; i < l.directory_pages; i++) {
		Buffer buf = ReadBufferExtended(index, fork, l.directory_start + i, RBM_NORMAL, nullptr);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		Page page = BufferGetPage(buf);
		Size first = i * kListsPerDirectoryPage;
		Size n = std::min<Size>(kListsPerDirectoryPage, Size(lists) - first);
		memcpy(PageGetContents(page), entries + first, n * sizeof(IvfListEntry));
		set_contents_length(page, n * sizeof(IvfListEntry));
		if (i + 1 < l.directory_pages)
			page_opaque(page)->next = l.directory_start + i + 1;
		finish_page(buf);
	}
}

void write_meta(Relation index, ForkNumber fork, const IvfMetaPage &m)
{
	Buffer buf = ReadBufferExtended(index, fork, kMetaBlock, RBM_NORMAL, nullptr);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	Page page = BufferGetPage(buf);
	*meta_of(page) = m;
	set_contents_length(page, sizeof m);
	finish_page(buf);
}

// Append an entry to the list whose last page is *buf, chaining a new page when it is full.
void add_entry(Relation index, ForkNumber fork, Buffer *buf, const ItemPointerData &tid, const float *x, int dim,
			   char *item)
{
	Size size = entry_size(dim);
	auto *h = reinterpret_cast<IvfEntryHeader *>(item);
	h->tid = tid;
	h->unused = 0;
	memcpy(item + sizeof(IvfEntryHeader), x, sizeof(float) * dim);
	Page page = BufferGetPage(*buf);
	if (PageGetFreeSpace(page) < MAXALIGN(size)) {
		Buffer next = append_page(index, fork, kPageEntries);
		page_opaque(page)->next = BufferGetBlockNumber(next);
		finish_page(*buf);
		*buf = next;
		page = BufferGetPage(next);
	}
	if (PageAddItem(page, reinterpret_cast<Item>(item), size, InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
		elog(ERROR, "failed to add an entry to ruivfflat index \"%s\"", RelationGetRelationName(index));
}

void write_lists(BuildState *bs, IvfListEntry *entries)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseWriting);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, int64(bs->indexed));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	char *item = static_cast<char *>(palloc(entry_size(bs->dim)));
	bool have = tuplesort_gettupleslot(bs->sort, true, false, bs->sorted, nullptr);
	int64 written = 0;
	for (int list = 0; list < bs->lists; list++) {
		CHECK_FOR_INTERRUPTS();
		Buffer buf = append_page(bs->index, MAIN_FORKNUM, kPageEntries);
		entries[list].start = BufferGetBlockNumber(buf);
		while (have) {
			bool isnull;
			int32 l = DatumGetInt32(slot_getattr(bs->sorted, 1, &isnull));
			if (l != list)
				break;
			ItemPointer tid = reinterpret_cast<ItemPointer>(DatumGetPointer(slot_getattr(bs->sorted, 2, &isnull)));
			Vector *v = datum_get_vector(slot_getattr(bs->sorted, 3, &isnull));  // may have a short header
			add_entry(bs->index, MAIN_FORKNUM, &buf, *tid, v->x, bs->dim, item);
			if (++written % 10000 == 0)
				pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, written);
			have = tuplesort_gettupleslot(bs->sort, true, false, bs->sorted, nullptr);
		}
		entries[list].insert = BufferGetBlockNumber(buf);
		finish_page(buf);
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, written);
	pfree(item);
}

uint64 new_stamp()
{
	uint64 stamp = 0;
	if (!pg_strong_random(&stamp, sizeof stamp))
		stamp = uint64(GetCurrentTimestamp());
	return stamp | 1;  // never 0 ("absent" in the store)
}

void check_column(Relation index, int *dim)
{
	*dim = index_dimensions(index);
	if (*dim < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("column does not have dimensions"),
						errhint("Declare the column with a dimension, e.g. vector(3), or index an expression cast to one.")));
	if (*dim > kMaxDimensions)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("column cannot have more than %d dimensions for ruivfflat index", kMaxDimensions),
						errdetail("Each entry holds the whole vector and must fit in one %d-byte index page.", BLCKSZ)));
}

}  // namespace

IndexBuildResult *ivfbuild(Relation heap, Relation index, IndexInfo *info)
{
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	BuildState bs;
	memset(&bs, 0, sizeof bs);
	bs.heap = heap;
	bs.index = index;
	bs.info = info;
	bs.metric = index_metric(index);
	check_column(index, &bs.dim);
	const IvfOptions *opts = index_options(index);
	bs.lists_requested = opts ? opts->lists : kDefaultLists;
	bs.vector_type = TupleDescAttr(RelationGetDescr(index), 0)->atttypid;
	require_worker_support();

	MemoryContext build_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruivfflat build", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(build_cxt);
	bs.tmp_cxt = AllocSetContextCreate(build_cxt, "ruivfflat build row", ALLOCSET_DEFAULT_SIZES);

	instr_time t0, t1, t2, t3, t4;
	INSTR_TIME_SET_CURRENT(t0);
	sample_rows(&bs);
	INSTR_TIME_SET_CURRENT(t1);
	train(&bs);
	INSTR_TIME_SET_CURRENT(t2);
	assign_rows(&bs);
	INSTR_TIME_SET_CURRENT(t3);

	Layout l = write_header_pages(index, MAIN_FORKNUM, bs.centroids, bs.lists, bs.dim);
	IvfListEntry *entries = static_cast<IvfListEntry *>(palloc(sizeof(IvfListEntry) * bs.lists));
	write_lists(&bs, entries);
	write_directory(index, MAIN_FORKNUM, l, entries, bs.lists);
	INSTR_TIME_SET_CURRENT(t4);
	tuplesort_end(bs.sort);
	ExecDropSingleTupleTableSlot(bs.slot);
	ExecDropSingleTupleTableSlot(bs.sorted);

	IvfMetaPage m;
	memset(&m, 0, sizeof m);
	m.magic = kMagic;
	m.layout_version = kLayoutVersion;
	m.dimensions = uint32(bs.dim);
	m.lists = uint32(bs.lists);
	m.lists_requested = uint32(bs.lists_requested);
	m.metric = uint16(bs.metric);
	m.stamp = new_stamp();
	m.centroid_start = l.centroid_start;
	m.centroid_pages = l.centroid_pages;
	m.directory_start = l.directory_start;
	m.directory_pages = l.directory_pages;
	m.built_rows = uint64(bs.indexed);
	m.sample_rows = bs.sample_count;
	if (ivf_build_hook) {
		m.source_rows = ivf_build_hook->source_rows;
		m.source_fingerprint = ivf_build_hook->source_fingerprint;
	}
	write_meta(index, MAIN_FORKNUM, m);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);

	instr_time t5;
	INSTR_TIME_SET_CURRENT(t5);
	auto secs = [](instr_time a, instr_time b) { INSTR_TIME_SUBTRACT(b, a); return INSTR_TIME_GET_DOUBLE(b); };
	elog(DEBUG1, "ruivfflat build: sampling %.3f s, k-means %.3f s, assigning %.3f s, writing %.3f s, WAL %.3f s",
		 secs(t0, t1), secs(t1, t2), secs(t2, t3), secs(t3, t4), secs(t4, t5));

	// Warm the shared cache so the first scans need not read the centroid pages.
	publish_centroids(RelationGetRelid(index), m.stamp, m.lists, m.dimensions, bs.centroids);

	MemoryContextSwitchTo(old);
	IndexBuildResult *result = static_cast<IndexBuildResult *>(palloc(sizeof(IndexBuildResult)));
	result->heap_tuples = bs.indexed;
	result->index_tuples = bs.indexed;
	MemoryContextDelete(build_cxt);
	return result;
}

// The init fork of an unlogged index: one list with a zero centroid, as for an empty table.
void ivfbuildempty(Relation index)
{
	int dim;
	check_column(index, &dim);
	float *centroid = static_cast<float *>(palloc0(sizeof(float) * dim));
	Layout l = write_header_pages(index, INIT_FORKNUM, centroid, 1, dim);
	IvfListEntry entry;
	Buffer buf = append_page(index, INIT_FORKNUM, kPageEntries);
	entry.start = entry.insert = BufferGetBlockNumber(buf);
	finish_page(buf);
	write_directory(index, INIT_FORKNUM, l, &entry, 1);
	IvfMetaPage m;
	memset(&m, 0, sizeof m);
	m.magic = kMagic;
	m.layout_version = kLayoutVersion;
	m.dimensions = uint32(dim);
	m.lists = 1;
	const IvfOptions *opts = index_options(index);
	m.lists_requested = uint32(opts ? opts->lists : kDefaultLists);
	m.metric = uint16(index_metric(index));
	m.stamp = new_stamp();
	m.centroid_start = l.centroid_start;
	m.centroid_pages = l.centroid_pages;
	m.directory_start = l.directory_start;
	m.directory_pages = l.directory_pages;
	write_meta(index, INIT_FORKNUM, m);
	// Generic WAL does not cover the init fork; log it whole.
	log_newpage_range(index, INIT_FORKNUM, 0, RelationGetNumberOfBlocksInFork(index, INIT_FORKNUM), true);
	pfree(centroid);
}

}  // namespace ruvector::ivf
