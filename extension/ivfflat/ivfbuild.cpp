// ruivfflat build: sample, train centroids on the worker, assign every row, write the lists.
//
//   1. sampling    one heap scan, reservoir sample (Algorithm R, fixed seed: builds are repeatable)
//                  bounded by maintenance_work_mem; while the rows fit in maintenance_work_mem
//                  the scan also keeps them all (tid and vector), and the sample is a list of
//                  kept rows until they stop fitting
//   2. k-means     the sample goes to the worker, which trains on all its threads (spherical for
//                  cosine and inner product)
//   3. assigning   rows go to the worker in batches for their nearest list (on all its threads;
//                  the batches through two shared segments it maps, double-buffered, or through
//                  the queue when the memory limit leaves no room), then are ordered by list: a counting sort of the kept rows, or, when they did
//                  not fit, a second heap scan into a tuplesort
//   4. writing     lists are written in order, each a chain of contiguous pages
// Pages are written straight to storage in block order, not through shared buffers, and logged as
// full-page images as they go, as core's btree build does; the fsync is left to the next
// checkpoint unless one began during the build, as core's bulk writes do from PostgreSQL 17
// (PageWriter).
#include "extension/ivfflat/ivfflat.hpp"
#include "extension/client/worker_client.hpp"
#include "shmem/store.hpp"
#include "worker/kernels/rabitq.hpp"
#include "worker/kernels/sq8.hpp"

extern "C" {
#include "access/tableam.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "commands/progress.h"
#include "common/pg_prng.h"
#include "executor/tuptable.h"
#include "storage/proc.h"
#include "storage/smgr.h"
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

constexpr int kTrainingIterations = 25;     // FAISS's k-means default (its IVF training stops at 10)
constexpr Size kSamplesPerList = 256;       // FAISS's max_points_per_centroid
constexpr Size kAssignBatchBytes = Size(16) << 20;

struct BuildState {
	Relation heap;
	Relation index;
	IndexInfo *info;
	const MetricInfo *metric;
	int dim;
	int lists_requested;
	int lists;
	MemoryContext tmp_cxt;  // reset per row

	// sampling
	float *samples;     // the sample's vectors in slot order, or nullptr while sample_rows holds it
	Size *sample_rows;  // while the rows are kept: the kept row in each sample slot
	Size sample_target;
	Size sample_count;
	uint64 rows_seen;
	pg_prng_state prng;

	// all rows, while they fit in maintenance_work_mem (rows == nullptr once they do not)
	float *rows;
	ItemPointerData *row_tids;
	Size row_count;
	Size row_capacity;
	Size row_budget;   // bytes the kept rows may use
	int32 *labels;     // list of each kept row
	uint32 *order;     // kept rows in list order
	Size cursor;       // next position in order while writing

	// centroids (lists * dim), and the build's stamp
	float *centroids;
	uint64 stamp;
	bool centroids_kept;  // the worker keeps them in its shared store already (train)
	// quantizer sq8: per-dimension ranges trained on the sample, vmin[dim] then step[dim]
	Quantizer quantizer;
	float *ranges;
	uint64 rotation_seed;  // quantizer rabitq

	// assigning
	dsm_segment *xfer[2];  // shared buffers the worker reads batches from (open_assign_buffers)
	float *xfer_rows[2];
	float *batch;
	ItemPointerData *batch_tids;
	Size batch_capacity;
	Size batch_count;
	Tuplesortstate *sort;
	TupleDesc sort_desc;
	TupleTableSlot *slot;       // rows into the sort
	TupleTableSlot *sorted;     // rows out of it
	double indexed;
	double build_imbalance;     // of the lists as written
	double build_spread;        // mean centroid_distance of the rows written
};

// The indexed value as the build keeps it (prepared, in float: k-means, the centroids and the
// assignment work on float32 for every element type; write_lists converts to the element type);
// false to skip it (NULL, cosine zero vector).
bool row_vector(BuildState *bs, ItemPointer tid, Datum value, bool isnull, float *out)
{
	if (isnull)
		return false;
	value_floats(*bs->metric, value, bs->dim, out, false);
	if (ivf_build_hook)
		ivf_build_hook->fn(ivf_build_hook->arg, tid, out, bs->dim);
	return prepare_vector(*bs->metric, out, bs->dim, out);
}

// The rows no longer fit: the sample becomes vectors of its own, carved out of the kept rows in
// place (so memory never holds both), and the other kept rows are freed. The sampled rows move to
// the front in ascending row order (no source is overwritten before it is read), then into slot
// order by following the cycles of the permutation; the sample is then the one the copying path
// would have made.
void stop_keeping_rows(BuildState *bs)
{
	Size m = bs->sample_count;
	elog(DEBUG1, "ruivfflat build: rows stopped fitting in maintenance_work_mem after %zu rows; the sample of %zu rows moves out of them",
		 bs->row_count, m);
	Size row_bytes = sizeof(float) * Size(bs->dim);
	auto row = [bs](Size i) { return bs->rows + i * bs->dim; };
	struct Pick {
		Size row;
		Size slot;
	};
	Pick *picks = static_cast<Pick *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Pick) * (m + 1)));
	for (Size s = 0; s < m; s++)
		picks[s] = {bs->sample_rows[s], s};
	std::sort(picks, picks + m, [](const Pick &a, const Pick &b) { return a.row < b.row; });
	Size *from = static_cast<Size *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Size) * (m + 1)));
	for (Size r = 0; r < m; r++) {
		if (picks[r].row != r)
			memcpy(row(r), row(picks[r].row), row_bytes);
		from[picks[r].slot] = r;  // slot's vector is now at position r
	}
	float *tmp = static_cast<float *>(palloc(row_bytes));
	for (Size i = 0; i < m; i++) {
		if (from[i] == i)
			continue;
		memcpy(tmp, row(i), row_bytes);
		Size j = i;
		while (from[j] != i) {
			Size k = from[j];
			memcpy(row(j), row(k), row_bytes);
			from[j] = j;
			j = k;
		}
		memcpy(row(j), tmp, row_bytes);
		from[j] = j;
	}
	pfree(tmp);
	pfree(from);
	pfree(picks);
	bs->samples = static_cast<float *>(repalloc_huge(bs->rows, bs->sample_target * row_bytes));
	pfree(bs->row_tids);
	pfree(bs->sample_rows);
	bs->rows = nullptr;
	bs->row_tids = nullptr;
	bs->sample_rows = nullptr;
	bs->row_count = bs->row_capacity = 0;
}

// Keep one more row in memory; false (and the kept rows are given up) when it would not fit.
bool keep_row(BuildState *bs, ItemPointer tid, const float *row)
{
	Size row_bytes = sizeof(float) * Size(bs->dim) + sizeof(ItemPointerData);
	if (bs->row_count == bs->row_capacity) {
		Size grow = std::max<Size>(bs->row_capacity * 2, 1024);
		grow = std::min(grow, bs->row_budget / row_bytes);
		if (grow <= bs->row_capacity) {
			stop_keeping_rows(bs);
			return false;
		}
		bs->rows = static_cast<float *>(repalloc_huge(bs->rows, grow * sizeof(float) * bs->dim));
		advise_huge_pages(bs->rows, grow * sizeof(float) * bs->dim);
		bs->row_tids = static_cast<ItemPointerData *>(repalloc_huge(bs->row_tids, grow * sizeof(ItemPointerData)));
		bs->row_capacity = grow;
	}
	float *slot = bs->rows + bs->row_count * bs->dim;
	if (row != slot)
		memcpy(slot, row, sizeof(float) * bs->dim);
	bs->row_tids[bs->row_count++] = *tid;
	return true;
}

void sample_row(BuildState *bs, ItemPointer tid, Datum *values, bool *isnull)
{
	MemoryContext old = MemoryContextSwitchTo(bs->tmp_cxt);
	// While there is room, the vector goes straight into the next kept row (one copy, not two).
	float *row = bs->rows && bs->row_count < bs->row_capacity
					 ? bs->rows + bs->row_count * bs->dim
					 : static_cast<float *>(palloc(sizeof(float) * bs->dim));
	bool indexed = row_vector(bs, tid, values[0], isnull[0], row);
	MemoryContextSwitchTo(old);
	if (indexed) {
		// Keep the row first: if that gives up keeping, the sample moves out of the kept rows
		// as it was before this row.
		bool kept = bs->rows && keep_row(bs, tid, row);
		bs->rows_seen++;
		Size slot_index;
		if (bs->sample_count < bs->sample_target)
			slot_index = bs->sample_count++;
		else {
			uint64 j = pg_prng_uint64_range(&bs->prng, 0, bs->rows_seen - 1);
			slot_index = j < bs->sample_target ? Size(j) : SIZE_MAX;
		}
		if (slot_index != SIZE_MAX) {
			if (kept)
				bs->sample_rows[slot_index] = bs->row_count - 1;
			else
				memcpy(bs->samples + slot_index * bs->dim, row, sizeof(float) * bs->dim);
		}
	}
	MemoryContextReset(bs->tmp_cxt);
}

// Called by table_index_build_scan from PostgreSQL code: no C++ exception may unwind through it.
void sample_callback(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *state)
{
	pg::call_boundary([&] { sample_row(static_cast<BuildState *>(state), tid, values, isnull); });
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
	bs->sample_count = 0;
	bs->rows_seen = 0;
	// While every row fits in maintenance_work_mem, the scan keeps them all (saving the second scan
	// and the sort), and the sample is a list of kept rows, not a copy of them.
	Size index_bytes = bs->sample_target * sizeof(Size);
	Size per_row = row_bytes + sizeof(ItemPointerData) + sizeof(int32) + sizeof(uint32);  // + label, order
	Size rows_fit = budget > index_bytes ? (budget - index_bytes) / per_row : 0;
	Size first = reltuples > 0 ? Size(reltuples * 1.05) + 1024 : 1024;
	first = std::min(first, rows_fit);
	if (first > 0) {
		bs->rows = static_cast<float *>(MemoryContextAllocHuge(CurrentMemoryContext, first * row_bytes));
		advise_huge_pages(bs->rows, first * row_bytes);
		bs->row_tids = static_cast<ItemPointerData *>(MemoryContextAllocHuge(CurrentMemoryContext, first * sizeof(ItemPointerData)));
		bs->row_capacity = first;
		bs->row_budget = rows_fit * (row_bytes + sizeof(ItemPointerData));
		bs->sample_rows = static_cast<Size *>(MemoryContextAllocHuge(CurrentMemoryContext, index_bytes));
	} else
		bs->samples = static_cast<float *>(MemoryContextAllocHuge(CurrentMemoryContext, bs->sample_target * row_bytes));
	pg_prng_seed(&bs->prng, 42);
	table_index_build_scan(bs->heap, bs->index, bs->info, true, true, sample_callback, bs, nullptr);
}

// Rows [from, from + m) of the sample, in slot order, into dst (a CopyUnits for client::kmeans).
void copy_sample(const void *arg, Size from, Size m, std::byte *out)
{
	const auto *bs = static_cast<const BuildState *>(arg);
	Size row_bytes = sizeof(float) * Size(bs->dim);
	auto *dst = reinterpret_cast<float *>(out);
	if (!bs->sample_rows) {
		memcpy(dst, bs->samples + from * bs->dim, m * row_bytes);
		return;
	}
	for (Size i = 0; i < m; i++)
		memcpy(dst + i * bs->dim, bs->rows + bs->sample_rows[from + i] * bs->dim, row_bytes);
}

// SQ8: each dimension's range is its min and max over the k-means sample (prepared rows).
void train_sq8_ranges(BuildState *bs)
{
	Size dim = Size(bs->dim);
	bs->ranges = static_cast<float *>(palloc(sizeof(float) * 2 * dim));
	float *vmax = static_cast<float *>(palloc(sizeof(float) * dim));
	kernels::sq8_range_init(bs->ranges, vmax, dim);
	for (Size i = 0; i < bs->sample_count; i++) {
		const float *row = bs->sample_rows ? bs->rows + bs->sample_rows[i] * dim : bs->samples + i * dim;
		kernels::sq8_range_add(row, bs->ranges, vmax, dim);
	}
	kernels::sq8_range_finish(bs->ranges, vmax, bs->ranges + dim, dim);
	pfree(vmax);
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
	if (bs->quantizer == Quantizer::sq8)
		train_sq8_ranges(bs);
	if (n == 0)
		return;  // one list with a zero centroid: every row lands in it, scans read all of it

	proto::KmeansRequest req;
	req.n = n;
	req.dim = uint32(bs->dim);
	req.k = uint32(bs->lists);
	req.max_iterations = kTrainingIterations;
	req.seed = 42;
	req.metric = bs->metric->train_as;  // l1 lists are trained as l2 ones
	// The worker keeps the centroids in its shared store itself, as this build's (tagged with its
	// stamp), unless this build changes them (bit centroids are rounded below): they need not come
	// back. The pages stay the truth: the entry is a cache, and it goes if the build fails or its
	// transaction aborts (registered before the request, so no abort can come between).
	const kernels::ElementInfo &e = bs->metric->element();
	if (!e.round_centroids) {
		req.keep = proto::StoreKey{MyDatabaseId, RelationGetRelid(bs->index), kStoreKindCentroids};
		req.keep_tag = bs->stamp;
		worker_store_drop_on_abort(req.keep);
	}
	// The sample is gathered from the kept rows straight into the segment the worker maps
	// (hundreds of MB at high dimension would take a wake-up of both processes per queue-full).
	proto::KmeansReply reply = client::kmeans(req, copy_sample, bs);
	for (int c = 0; c < bs->lists; c++)
		reply.copy_centroid(uint32(c), bs->centroids + Size(c) * bs->dim);
	bs->centroids_kept = reply.header.kept != 0;
	client::free_reply(reply);
	if (bs->centroids_kept)
		elog(DEBUG1, "ruivfflat build: the worker keeps the centroids of index \"%s\"", RelationGetRelationName(bs->index));
	// bit: each centroid becomes the majority of its list's bits, as pgvector's bit centroids.
	if (e.round_centroids) {
		std::byte *row = static_cast<std::byte *>(palloc(e.row_bytes(Size(bs->dim))));
		for (int c = 0; c < bs->lists; c++) {
			float *x = bs->centroids + Size(c) * bs->dim;
			e.from_float(x, row, Size(bs->dim));
			e.to_float(row, x, Size(bs->dim));
		}
		pfree(row);
	}
	if (bs->samples)
		pfree(bs->samples);
	if (bs->sample_rows)
		pfree(bs->sample_rows);
	bs->samples = nullptr;
	bs->sample_rows = nullptr;
}

/* Assigning: batches of rows go to the worker for their nearest list (on all its threads). */

// Rows per assignment request.
Size assign_batch_rows(const BuildState *bs) { return std::max<Size>(kAssignBatchBytes / (sizeof(float) * bs->dim), 64); }

void close_assign_buffers(BuildState *bs);

// Two shared segments, each [centroids][one batch of rows], that the worker maps instead of
// receiving the rows through the queue: while it assigns the batch in one, the backend copies
// the next batch into the other. Without them (over ruvector.shared_memory_limit, or centroids
// too large to repeat) batches go as data frames. Each holds up to max_rows rows.
void open_assign_buffers(BuildState *bs, Size max_rows)
{
	constexpr Size kMaxCentroidBytes = Size(48) << 20;
	Size centroid_bytes = Size(bs->lists) * bs->dim * sizeof(float);
	if (bs->lists <= 1 || centroid_bytes > kMaxCentroidBytes)
		return;
	Size bytes = centroid_bytes + std::min(max_rows, assign_batch_rows(bs)) * bs->dim * sizeof(float);
	for (int h = 0; h < 2; h++) {
		bs->xfer[h] = worker_input_segment_create(bytes);
		if (!bs->xfer[h]) {
			close_assign_buffers(bs);
			elog(DEBUG1, "ruivfflat build: assignment batches go through the queue (2 x %zu bytes of shared memory are not available)", bytes);
			return;
		}
		auto *base = static_cast<float *>(dsm_segment_address(bs->xfer[h]));
		memcpy(base, bs->centroids, centroid_bytes);
		bs->xfer_rows[h] = base + Size(bs->lists) * bs->dim;
	}
	elog(DEBUG1, "ruivfflat build: assignment batches go through shared memory (2 x %zu bytes)", bytes);
}

void close_assign_buffers(BuildState *bs)
{
	for (int h = 0; h < 2; h++) {
		if (bs->xfer[h])
			worker_input_segment_free(bs->xfer[h]);
		bs->xfer[h] = nullptr;
		bs->xfer_rows[h] = nullptr;
	}
}

// Copy a batch into buffer h (nothing to do when batches go as data frames).
void stage_batch(BuildState *bs, int h, const float *x, Size n)
{
	if (bs->xfer[h])
		memcpy(bs->xfer_rows[h], x, n * bs->dim * sizeof(float));
}

// The assignment request of a batch of n rows.
proto::AssignRequest assign_request(const BuildState *bs, Size n)
{
	proto::AssignRequest req;
	req.n = n;
	req.dim = uint32(bs->dim);
	req.k = uint32(bs->lists);
	req.metric = bs->metric->as_float32().metric;  // bit rows: l2 on their 0/1 form
	return req;
}

// Post the assignment of a batch, staged in buffer h (or given as x, sent as data frames).
void post_batch(BuildState *bs, int h, const float *x, Size n)
{
	client::assign_post(assign_request(bs, n), bs->xfer[h], bs->centroids, x);
}

// The labels of the batch posted last.
void collect_batch(BuildState *bs, Size n, int32 *labels)
{
	std::span<const int32> got = client::assign_collect(assign_request(bs, n));
	memcpy(labels, got.data(), got.size_bytes());
	client::free_reply(got);
}

// The nearest list of each of n rows.
void assign_batch(BuildState *bs, const float *x, Size n, int32 *labels)
{
	if (bs->lists <= 1) {
		memset(labels, 0, sizeof(int32) * n);
		return;
	}
	stage_batch(bs, 0, x, n);
	post_batch(bs, 0, x, n);
	collect_batch(bs, n, labels);
}

// Kept rows: labels in batches (the next batch is copied while the worker assigns the current
// one), then a counting sort into list order (stable: heap order within a list, as the tuplesort
// path gives).
void assign_kept_rows(BuildState *bs)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseAssigning);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, int64(bs->row_count));
	Size n = bs->row_count;
	bs->labels = static_cast<int32 *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (n + 1)));
	bs->order = static_cast<uint32 *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * (n + 1)));
	Size batch = assign_batch_rows(bs);
	if (bs->lists <= 1)
		memset(bs->labels, 0, sizeof(int32) * n);
	else if (n > 0) {
		open_assign_buffers(bs, n);
		auto rows_of = [&](Size b) { return bs->rows + b * batch * bs->dim; };
		auto size_of = [&](Size b) { return std::min(batch, n - b * batch); };
		Size batches = (n + batch - 1) / batch;
		stage_batch(bs, 0, rows_of(0), size_of(0));
		post_batch(bs, 0, rows_of(0), size_of(0));
		for (Size b = 0; b < batches; b++) {
			int next = int((b + 1) % 2);
			if (b + 1 < batches)
				stage_batch(bs, next, rows_of(b + 1), size_of(b + 1));
			collect_batch(bs, size_of(b), bs->labels + b * batch);
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, int64(b * batch + size_of(b)));
			if (b + 1 < batches)
				post_batch(bs, next, rows_of(b + 1), size_of(b + 1));
		}
		close_assign_buffers(bs);
	}
	Size *start = static_cast<Size *>(palloc0(sizeof(Size) * (bs->lists + 1)));
	for (Size i = 0; i < n; i++)
		start[bs->labels[i] + 1]++;
	for (int l = 0; l < bs->lists; l++)
		start[l + 1] += start[l];
	for (Size i = 0; i < n; i++)
		bs->order[start[bs->labels[i]]++] = uint32(i);
	pfree(start);
	bs->indexed = double(n);
	bs->cursor = 0;
}

// Rows that did not fit: labels per batch, then (list, tid, vector) into the sort.
void flush_batch(BuildState *bs)
{
	if (bs->batch_count == 0)
		return;
	Size n = bs->batch_count;
	int32 *labels = static_cast<int32 *>(palloc(sizeof(int32) * n));
	assign_batch(bs, bs->batch, n, labels);
	// The float row as a bytea: a vector's int16 dimension count cannot say 65152 bits.
	Size row_bytes = sizeof(float) * Size(bs->dim);
	bytea *v = static_cast<bytea *>(palloc(VARHDRSZ + row_bytes));
	SET_VARSIZE(v, VARHDRSZ + row_bytes);
	for (Size i = 0; i < n; i++) {
		memcpy(VARDATA(v), bs->batch + i * bs->dim, row_bytes);
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

void assign_row(BuildState *bs, ItemPointer tid, Datum *values, bool *isnull)
{
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

// Called by table_index_build_scan: flushing a batch talks to the worker, whose reply may not decode.
void assign_callback(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *state)
{
	pg::call_boundary([&] { assign_row(static_cast<BuildState *>(state), tid, values, isnull); });
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
	TupleDescInitEntry(bs->sort_desc, 3, "row", BYTEAOID, -1, 0);
	AttrNumber key = 1;
	Oid op = Int4LessOperator;
	Oid coll = InvalidOid;
	bool nulls_first = false;
	bs->sort = tuplesort_begin_heap(bs->sort_desc, 1, &key, &op, &coll, &nulls_first, maintenance_work_mem, nullptr,
									TUPLESORT_NONE);
	bs->slot = MakeSingleTupleTableSlot(bs->sort_desc, &TTSOpsVirtual);
	bs->sorted = MakeSingleTupleTableSlot(bs->sort_desc, &TTSOpsMinimalTuple);
	bs->indexed = 0;
	open_assign_buffers(bs, bs->batch_capacity);
	table_index_build_scan(bs->heap, bs->index, bs->info, true, true, assign_callback, bs, nullptr);
	flush_batch(bs);
	close_assign_buffers(bs);
	tuplesort_performsort(bs->sort);
}

/* Writing pages */

// The pages of a new index fork, written straight to storage in block order (no shared buffers:
// nobody else can see the index yet) and WAL-logged as full-page images in batches before they
// are written, as core's btree build does. Pages are built in a small in-memory batch; the last
// appended page stays open for its caller until the next append. Blocks written earlier can be
// rewritten (the directory and meta pages, filled last).
//
// The writes skip the checkpointer's fsync queue; finish() makes them durable. A checkpoint that
// began during the build cannot flush pages it never saw in shared buffers, and recovery from it
// would not replay their WAL, so then finish() fsyncs the fork at once (btree's rule). Otherwise
// every page's WAL comes after the last checkpoint's redo point, and finish() only asks the
// checkpointer to fsync the fork at the next one (an unlogged fork needs that too: a clean
// shutdown does not reset it). This is what PostgreSQL 17's bulk writes do; it spares the build
// waiting for hundreds of MB to reach the disk.
struct PageWriter {
	static constexpr int kBatch = 32;  // pages per log_newpages call and per flush

	Relation index;
	ForkNumber fork;
	bool wal;
	XLogRecPtr start_redo;  // the last checkpoint's redo point before anything was written
	XLogRecPtr nudged = InvalidXLogRecPtr;  // WAL the walwriter was last asked to write
	BlockNumber first;      // block of pages[0]
	int count;              // pages in the batch; the last one is open
	PGAlignedBlock *pages;

	// start_redo: GetRedoRecPtr() taken when the build began (or any time before the first write).
	PageWriter(Relation rel, ForkNumber f, XLogRecPtr start_redo)
		: index(rel), fork(f), wal(RelationNeedsWAL(rel) || f == INIT_FORKNUM), start_redo(start_redo), first(0),
		  count(0), pages(static_cast<PGAlignedBlock *>(palloc(sizeof(PGAlignedBlock) * kBatch)))
	{
	}

	BlockNumber next_block() const { return first + BlockNumber(count); }

	// A fresh page at next_block(); the page appended before it is complete from now on.
	Page append(uint16 flags)
	{
		if (count == kBatch)
			flush(kBatch - 1);
		Page page = pages[count++].data;
		init_page(page, flags);
		return page;
	}

	// Write the first n pages of the batch; the rest move to its front.
	void flush(int n)
	{
		if (n == 0)
			return;
		BlockNumber blknos[kBatch];
		Page list[kBatch];
		for (int i = 0; i < n; i++) {
			blknos[i] = first + BlockNumber(i);
			list[i] = pages[i].data;
		}
		if (wal) {
			log_newpages(&index->rd_node, fork, n, blknos, list, true);
			XLogRecPtr end = PageGetLSN(list[n - 1]);
			if (end - nudged >= Size(XLOGbuffers) * XLOG_BLCKSZ / 4) {
				XLogSetAsyncXactLSN(end);
				nudged = end;
			}
		}
		for (int i = 0; i < n; i++) {
			PageSetChecksumInplace(list[i], blknos[i]);
			smgrextend(RelationGetSmgr(index), fork, blknos[i], list[i], true);
		}
		if (n < count)
			memmove(pages[0].data, pages[n].data, sizeof(PGAlignedBlock) * Size(count - n));
		first += BlockNumber(n);
		count -= n;
	}

	// Replace a block already written.
	void rewrite(BlockNumber blkno, Page page)
	{
		Assert(blkno < first);
		if (wal)
			log_newpage(&index->rd_node, fork, blkno, page, true);
		PageSetChecksumInplace(page, blkno);
		smgrwrite(RelationGetSmgr(index), fork, blkno, page, true);
	}

	// Flush the batch and make the fork durable; true when that took an fsync here and now.
	bool finish()
	{
		flush(count);
		pfree(pages);
		bool synced = false;
		if (wal) {
			// No checkpoint may start between the test and the registration.
			Assert((MyProc->delayChkptFlags & DELAY_CHKPT_START) == 0);
			MyProc->delayChkptFlags |= DELAY_CHKPT_START;
			synced = start_redo != GetRedoRecPtr();
			if (!synced)
				register_sync();
			MyProc->delayChkptFlags &= ~DELAY_CHKPT_START;
			if (synced)
				smgrimmedsync(RelationGetSmgr(index), fork);
		} else
			register_sync();
		return synced;
	}

	// Ask the checkpointer to fsync every segment of the fork at its next checkpoint. PostgreSQL 15
	// has no call for that alone (17's smgrregistersync); a write without skipFsync registers its
	// segment, so rewrite one block of each, unchanged, after all other writes.
	void register_sync()
	{
		SMgrRelation smgr = RelationGetSmgr(index);
		BlockNumber blocks = smgrnblocks(smgr, fork);
		PGAlignedBlock block;
		for (BlockNumber b = 0; b < blocks; b += RELSEG_SIZE) {
			smgrread(smgr, fork, b, block.data);
			smgrwrite(smgr, fork, b, block.data, false);
		}
	}
};

// Raw array pages (centroids, directory): pd_lower covers the data, so full-page images and
// generic WAL deltas keep it.
void set_contents_length(Page page, Size bytes)
{
	reinterpret_cast<PageHeader>(page)->pd_lower = uint16(MAXALIGN(SizeOfPageHeaderData) + bytes);
}

struct Layout {
	BlockNumber centroid_start;
	uint32 centroid_pages;
	BlockNumber directory_start;
	uint32 directory_pages;
	BlockNumber range_start;
	uint32 range_pages;
};

// A stream of floats as a chain of pages; returns how many.
uint32 write_float_pages(PageWriter &w, const float *data, Size total)
{
	Size done = 0;
	uint32 pages = 0;
	Page prev = nullptr;
	while (done < total) {
		if (prev)
			page_opaque(prev)->next = w.next_block();
		Page page = w.append(kPageCentroids);
		Size n = std::min<Size>(kFloatsPerCentroidPage, total - done);
		memcpy(PageGetContents(page), data + done, n * sizeof(float));
		set_contents_length(page, n * sizeof(float));
		done += n;
		pages++;
		prev = page;
	}
	return pages;
}

// Meta page (block 0, filled last), centroid pages, sq8 range pages (when `ranges`), empty
// directory pages (filled last).
Layout write_header_pages(PageWriter &w, const float *centroids, int lists, int dim, const float *ranges)
{
	Layout l{};
	if (w.next_block() != kMetaBlock)
		elog(ERROR, "ruivfflat build expected an empty index");
	w.append(kPageMeta);

	l.centroid_start = w.next_block();
	l.centroid_pages = write_float_pages(w, centroids, Size(lists) * dim);
	l.range_start = InvalidBlockNumber;
	if (ranges) {
		l.range_start = w.next_block();
		l.range_pages = write_float_pages(w, ranges, 2 * Size(dim));
	}

	l.directory_pages = uint32((Size(lists) + kListsPerDirectoryPage - 1) / kListsPerDirectoryPage);
	l.directory_start = w.next_block();
	for (uint32 i = 0; i < l.directory_pages; i++)
		w.append(kPageDirectory);
	return l;
}

// After the lists: the directory and the meta page in their reserved blocks.
void write_directory_and_meta(PageWriter &w, const Layout &l, const IvfListEntry *entries, int lists,
							  const IvfMetaPage &m)
{
	w.flush(w.count);
	PGAlignedBlock block;
	Page page = block.data;
	for (uint32 i = 0; i < l.directory_pages; i++) {
		init_page(page, kPageDirectory);
		Size first = i * kListsPerDirectoryPage;
		Size n = std::min<Size>(kListsPerDirectoryPage, Size(lists) - first);
		memcpy(PageGetContents(page), entries + first, n * sizeof(IvfListEntry));
		set_contents_length(page, n * sizeof(IvfListEntry));
		if (i + 1 < l.directory_pages)
			page_opaque(page)->next = l.directory_start + i + 1;
		w.rewrite(l.directory_start + i, page);
	}
	init_page(page, kPageMeta);
	*meta_of(page) = m;
	set_contents_length(page, sizeof m);
	w.rewrite(kMetaBlock, page);
}

// Append an entry to the list whose last page is *page, chaining a new page when it is full.
// Returns the entry's distance to the list's centroid, measured on the entry as stored (as the
// health check reads it back: entry_spread).
double add_entry(PageWriter &w, Page *page, const BuildState *bs, int list, const ItemPointerData &tid, const float *x,
				 char *item, float *scratch)
{
	const float *centroid = bs->centroids + Size(list) * Size(bs->dim);
	EntryCoding coding{bs->quantizer, bs->ranges, centroid, bs->rotation_seed};
	Size size = encode_entry(*bs->metric, coding, tid, x, bs->dim, item);
	double spread = entry_spread(*bs->metric, bs->quantizer, bs->ranges, reinterpret_cast<const IvfEntryHeader *>(item),
								 centroid, bs->dim, scratch);
	if (PageGetFreeSpace(*page) < MAXALIGN(size)) {
		page_opaque(*page)->next = w.next_block();
		*page = w.append(kPageEntries);
	}
	if (PageAddItem(*page, reinterpret_cast<Item>(item), size, InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
		elog(ERROR, "failed to add an entry to ruivfflat index \"%s\"", RelationGetRelationName(w.index));
	return spread;
}

// The next entry in list order: from the kept rows or from the sort.
bool next_entry(BuildState *bs, int32 *list, ItemPointerData *tid, const float **x)
{
	if (!bs->sort) {
		if (bs->cursor == bs->row_count)
			return false;
		uint32 r = bs->order[bs->cursor++];
		// List order reads the rows all over memory: fetch a few ahead.
		if (bs->cursor + 4 < bs->row_count)
			__builtin_prefetch(bs->rows + Size(bs->order[bs->cursor + 4]) * bs->dim);
		*list = bs->labels[r];
		*tid = bs->row_tids[r];
		*x = bs->rows + Size(r) * bs->dim;
		return true;
	}
	if (!tuplesort_gettupleslot(bs->sort, true, false, bs->sorted, nullptr))
		return false;
	bool isnull;
	*list = DatumGetInt32(slot_getattr(bs->sorted, 1, &isnull));
	*tid = *reinterpret_cast<ItemPointer>(DatumGetPointer(slot_getattr(bs->sorted, 2, &isnull)));
	// Detoasting copies a short-header value out, aligned.
	*x = reinterpret_cast<const float *>(VARDATA(PG_DETOAST_DATUM(slot_getattr(bs->sorted, 3, &isnull))));
	return true;
}

void write_lists(BuildState *bs, PageWriter &w, IvfListEntry *entries)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseWriting);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, int64(bs->indexed));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, 0);
	char *item = static_cast<char *>(palloc(max_entry_size(*bs->metric, bs->dim, bs->quantizer)));
	int32 l;
	ItemPointerData tid;
	const float *x;
	bool have = next_entry(bs, &l, &tid, &x);
	int64 written = 0;
	double sum_sq = 0, spread_sum = 0;
	float *decoded = static_cast<float *>(palloc(sizeof(float) * bs->dim));
	for (int list = 0; list < bs->lists; list++) {
		CHECK_FOR_INTERRUPTS();
		entries[list].start = w.next_block();
		Page page = w.append(kPageEntries);
		int64 in_list = 0;
		while (have && l == list) {
			spread_sum += add_entry(w, &page, bs, list, tid, x, item, decoded);
			in_list++;
			if (++written % 10000 == 0)
				pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, written);
			have = next_entry(bs, &l, &tid, &x);
		}
		sum_sq += double(in_list) * double(in_list);
		entries[list].insert = w.next_block() - 1;
	}
	// The health check compares later imbalance with the build's own (a fresh build is not flat).
	bs->build_imbalance = imbalance_factor(bs->lists, double(written), sum_sq);
	// And its drift with the lists' spread (0, unknown, when the build wrote no rows).
	bs->build_spread = written > 0 ? spread_sum / double(written) : 0;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, written);
	pfree(item);
	pfree(decoded);
}

void check_column(Relation index, int *dim, Quantizer q)
{
	*dim = index_dimensions(index);
	if (*dim < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("column does not have dimensions"),
						errhint("Declare the column with a dimension, e.g. vector(3), or index an expression cast to one.")));
	const MetricInfo &metric = index_metric(index);
	kernels::Sq8Form form;
	kernels::RabitqForm rform;
	if ((q == Quantizer::sq8 && !kernels::sq8_form(metric.metric, &form)) ||
		(q == Quantizer::rabitq && !kernels::rabitq_form(metric.metric, &rform)))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("quantizer %s is not supported for %s", quantizer_name(q), metric.opclass),
						q == Quantizer::sq8 ? errhint("Use quantizer none for %s columns.", metric.element().sql_type)
											: errhint("Use quantizer none for %s.", metric.opclass)));
	// sq8 entries hold one byte per dimension (after the row's norm), rabitq one bit per dimension
	// padded to 64 (after its three factors).
	int max_dim = q == Quantizer::sq8	 ? int(kMaxRowBytes - kernels::kSq8RowHeader)
				  : q == Quantizer::rabitq ? int((kMaxRowBytes - kernels::kRabitqRowHeader) * 8 / 64 * 64)
										   : max_dimensions(metric.element());
	if (*dim > max_dim)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("column cannot have more than %d dimensions for ruivfflat index", max_dim),
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
	bs.metric = &index_metric(index);
	bs.quantizer = ivf_build_hook ? Quantizer::none : ivf_quantizer_option(index);
	check_column(index, &bs.dim, bs.quantizer);
	const IvfOptions *opts = index_options(index);
	bs.lists_requested = opts ? opts->lists : kDefaultLists;
	require_worker_support();
	bs.stamp = new_build_stamp();

	MemoryContext build_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruivfflat build", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(build_cxt);
	bs.tmp_cxt = AllocSetContextCreate(build_cxt, "ruivfflat build row", ALLOCSET_DEFAULT_SIZES);

	XLogRecPtr start_redo = GetRedoRecPtr();
	instr_time t0, t1, t2, t3, t4;
	INSTR_TIME_SET_CURRENT(t0);
	sample_rows(&bs);
	INSTR_TIME_SET_CURRENT(t1);
	train(&bs);
	INSTR_TIME_SET_CURRENT(t2);
	bool kept = bs.rows != nullptr;
	if (kept)
		assign_kept_rows(&bs);
	else
		assign_rows(&bs);
	INSTR_TIME_SET_CURRENT(t3);

	PageWriter w(index, MAIN_FORKNUM, start_redo);
	bs.rotation_seed = bs.quantizer == Quantizer::rabitq ? new_build_stamp() : 0;
	Layout l = write_header_pages(w, bs.centroids, bs.lists, bs.dim, bs.ranges);
	IvfListEntry *entries = static_cast<IvfListEntry *>(palloc(sizeof(IvfListEntry) * bs.lists));
	write_lists(&bs, w, entries);
	if (bs.sort) {
		tuplesort_end(bs.sort);
		ExecDropSingleTupleTableSlot(bs.slot);
		ExecDropSingleTupleTableSlot(bs.sorted);
	}

	IvfMetaPage m;
	memset(&m, 0, sizeof m);
	m.magic = kMagic;
	m.layout_version = kLayoutVersion;
	m.dimensions = uint32(bs.dim);
	m.lists = uint32(bs.lists);
	m.lists_requested = uint32(bs.lists_requested);
	m.metric = uint16(bs.metric->code());
	m.stamp = bs.stamp;
	m.centroid_start = l.centroid_start;
	m.centroid_pages = l.centroid_pages;
	m.directory_start = l.directory_start;
	m.directory_pages = l.directory_pages;
	m.built_rows = uint64(bs.indexed);
	m.sample_rows = bs.sample_count;
	m.build_imbalance = bs.build_imbalance;
	m.build_spread = bs.build_spread;
	m.table_inserts_at_build = table_counters(RelationGetRelid(heap)).inserts;
	m.quantizer = uint16(bs.quantizer);
	m.range_start = l.range_start;
	m.range_pages = l.range_pages;
	m.rotation_seed = bs.rotation_seed;
	if (ivf_build_hook) {
		m.source_rows = ivf_build_hook->source_rows;
		m.source_fingerprint = ivf_build_hook->source_fingerprint;
	}
	write_directory_and_meta(w, l, entries, bs.lists, m);
	INSTR_TIME_SET_CURRENT(t4);
	bool synced = w.finish();

	instr_time t5;
	INSTR_TIME_SET_CURRENT(t5);
	auto secs = [](instr_time a, instr_time b) { INSTR_TIME_SUBTRACT(b, a); return INSTR_TIME_GET_DOUBLE(b); };
	elog(DEBUG1, "ruivfflat build: sampling %.3f s, k-means %.3f s, assigning %.3f s (%s), writing %.3f s, fsync %.3f s (%s)",
		 secs(t0, t1), secs(t1, t2), secs(t2, t3), kept ? "rows kept in memory" : "second scan and sort", secs(t3, t4),
		 secs(t4, t5), synced ? "at once: a checkpoint began during the build" : "left to the next checkpoint");

	// Warm the shared cache so the first scans need not read the centroid pages (unless the
	// worker kept them from its k-means).
	if (!bs.centroids_kept)
		publish_centroids(index, m.stamp, m.lists, m.dimensions, bs.centroids, true);

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
	Quantizer q = ivf_quantizer_option(index);
	check_column(index, &dim, q);
	float *centroid = static_cast<float *>(palloc0(sizeof(float) * dim));
	float *ranges = nullptr;
	if (q == Quantizer::sq8) {  // nothing sampled: [-1, 1] in every dimension
		ranges = static_cast<float *>(palloc(sizeof(float) * 2 * dim));
		float *vmax = static_cast<float *>(palloc(sizeof(float) * dim));
		kernels::sq8_range_init(ranges, vmax, Size(dim));
		kernels::sq8_range_finish(ranges, vmax, ranges + dim, Size(dim));
	}
	PageWriter w(index, INIT_FORKNUM, GetRedoRecPtr());
	Layout l = write_header_pages(w, centroid, 1, dim, ranges);
	IvfListEntry entry;
	entry.start = entry.insert = w.next_block();
	w.append(kPageEntries);
	IvfMetaPage m;
	memset(&m, 0, sizeof m);
	m.magic = kMagic;
	m.layout_version = kLayoutVersion;
	m.dimensions = uint32(dim);
	m.lists = 1;
	m.build_imbalance = 1.0;
	const IvfOptions *opts = index_options(index);
	m.lists_requested = uint32(opts ? opts->lists : kDefaultLists);
	m.metric = uint16(index_metric(index).code());
	m.stamp = new_build_stamp();
	m.centroid_start = l.centroid_start;
	m.centroid_pages = l.centroid_pages;
	m.directory_start = l.directory_start;
	m.directory_pages = l.directory_pages;
	m.quantizer = uint16(q);
	m.range_start = l.range_start;
	m.range_pages = l.range_pages;
	m.rotation_seed = q == Quantizer::rabitq ? new_build_stamp() : 0;
	write_directory_and_meta(w, l, &entry, 1, m);
	w.finish();  // the init fork is always WAL-logged and synced
	pfree(centroid);
}

}  // namespace ruvector::ivf
