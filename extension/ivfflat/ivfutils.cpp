// ruivfflat helpers: pages, the meta page, metric and options, and the centroid cache.
#include "extension/ivfflat/ivfflat.hpp"
#include "extension/client/worker_client.hpp"
#include "shmem/store.hpp"
#include "worker/kernels/distance.hpp"
#include "worker/kernels/rabitq.hpp"
#include "worker/kernels/sq8.hpp"

extern "C" {
#include "access/relscan.h"
#include "pgstat.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

#include <algorithm>
#include <cmath>

namespace ruvector::ivf {

void init_page(Page page, uint16 flags)
{
	PageInit(page, BLCKSZ, sizeof(IvfPageOpaque));
	IvfPageOpaque *op = page_opaque(page);
	op->next = InvalidBlockNumber;
	op->flags = flags;
	op->page_id = kPageId;
}

// A new page at the end of the index, exclusively locked. Callers hold the extension lock when
// other backends may extend concurrently.
Buffer new_buffer(Relation index, ForkNumber fork)
{
	Buffer buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, nullptr);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	return buf;
}

IvfMetaPage read_meta(Relation index)
{
	Buffer buf = ReadBuffer(index, kMetaBlock);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	IvfMetaPage meta = *meta_of(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	if (meta.magic != kMagic || meta.layout_version != kLayoutVersion)
		ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
						errmsg("index \"%s\" is not a valid ruivfflat index", RelationGetRelationName(index)),
						errhint("REINDEX it.")));
	return meta;
}

/* Centroids */

namespace {

// Backend-local copies, in TopMemoryContext. A handful of indexes per session is typical.
struct LocalCentroids {
	Oid index;
	Centroids c;
};
constexpr int kLocalSlots = 32;
LocalCentroids local_cache[kLocalSlots];
int local_next = 0;

LocalCentroids *find_local(Oid index)
{
	for (auto &e : local_cache)
		if (e.c.data && e.index == index)
			return &e;
	return nullptr;
}

void drop_local(LocalCentroids *e)
{
	pfree(const_cast<float *>(e->c.data));
	if (e->c.rotated) {
		pfree(e->c.rotated);
		pfree(e->c.rotated_ready);
	}
	e->c = {};
	e->index = InvalidOid;
}

LocalCentroids *remember(Oid index, const MetricInfo &metric, const IvfMetaPage &meta, float *data, const char *source)
{
	LocalCentroids *e = find_local(index);
	if (!e) {
		e = &local_cache[local_next];
		local_next = (local_next + 1) % kLocalSlots;
		if (e->c.data)
			drop_local(e);
	} else if (e->c.data != data) {
		drop_local(e);
	}
	e->index = index;
	e->c = Centroids{meta.stamp, meta.lists, meta.dimensions, &metric, data, source, nullptr, nullptr};
	return e;
}

// A stream of floats over a chain of pages (centroids, sq8 ranges), into cxt.
float *read_float_pages(Relation index, BlockNumber blkno, Size total, const char *what, MemoryContext cxt)
{
	float *data = static_cast<float *>(MemoryContextAllocHuge(cxt, total * sizeof(float)));
	Size done = 0;
	while (done < total) {
		if (blkno == InvalidBlockNumber)
			ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
							errmsg("%s pages of index \"%s\" end early", what, RelationGetRelationName(index))));
		Buffer buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		Page page = BufferGetPage(buf);
		Size n = std::min<Size>(kFloatsPerCentroidPage, total - done);
		memcpy(data + done, PageGetContents(page), n * sizeof(float));
		done += n;
		blkno = page_opaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	return data;
}

float *read_centroid_pages(Relation index, const IvfMetaPage &meta)
{
	return read_float_pages(index, meta.centroid_start, Size(meta.lists) * meta.dimensions, "centroid", TopMemoryContext);
}

}  // namespace

float *read_sq8_ranges(Relation index, const IvfMetaPage &meta)
{
	return read_float_pages(index, meta.range_start, 2 * Size(meta.dimensions), "range", CurrentMemoryContext);
}

Size encode_entry(const MetricInfo &metric, const EntryCoding &coding, const ItemPointerData &tid, const float *x,
				  int dim, char *item)
{
	auto *h = reinterpret_cast<IvfEntryHeader *>(item);
	auto *out = reinterpret_cast<std::byte *>(item + sizeof(IvfEntryHeader));
	h->tid = tid;
	h->flags = 0;
	Quantizer q = coding.quantizer;
	if (q == Quantizer::rabitq) {
		float *scratch = static_cast<float *>(palloc(sizeof(float) * kernels::rabitq_padded_dim(Size(dim))));
		kernels::rabitq_encode_row(x, coding.centroid, Size(dim), coding.seed, scratch, out);
		pfree(scratch);
		return entry_size(metric, dim, q);
	}
	const float *ranges = coding.ranges;
	// A whole row must fit an entry page (an sq8 index may have more dimensions than a row can).
	bool whole = q == Quantizer::sq8 && metric.row_bytes(Size(dim)) <= kMaxRowBytes &&
				 kernels::sq8_clamp_exceeds_rounding(x, ranges, ranges + dim, Size(dim));
	if (q == Quantizer::sq8 && !whole) {
		kernels::sq8_encode_row(x, ranges, ranges + dim, out, Size(dim));
		return entry_size(metric, dim, q);
	}
	if (q == Quantizer::sq8)
		h->flags = kEntryWholeRow;
	metric.element().from_float(x, out, Size(dim));
	return entry_size(metric, dim);
}

void publish_centroids(Relation index, uint64 stamp, uint32 lists, uint32 dim, const float *data, bool build)
{
	Oid index_oid = RelationGetRelid(index);
	// A build's, or an index this transaction created: the entry goes if the transaction rolls back.
	if (build || index->rd_createSubid != InvalidSubTransactionId)
		worker_store_drop_on_abort(proto::StoreKey{MyDatabaseId, index_oid, kStoreKindCentroids});
	worker_best_effort([&] {
		proto::CentroidBlobHeader h{stamp, lists, dim};
		client::store_put(proto::StoreKey{MyDatabaseId, index_oid, kStoreKindCentroids}, stamp,
						  {std::as_bytes(std::span(&h, 1)), std::as_bytes(std::span(data, Size(lists) * dim))});
	});
}

void forget_centroids(Oid index_oid)
{
	if (LocalCentroids *e = find_local(index_oid))
		drop_local(e);
	if (!rv_control)
		return;
	proto::StoreKey key{MyDatabaseId, index_oid, kStoreKindCentroids};
	if (store_current_version(key) == 0)
		return;
	worker_best_effort([&] { client::store_drop(key); });
}

const Centroids &index_centroids(Relation index, const IvfMetaPage &meta)
{
	Oid oid = RelationGetRelid(index);
	const MetricInfo &metric = meta_metric(index, meta).as_float32();
	if (LocalCentroids *e = find_local(oid); e && e->c.stamp == meta.stamp) {
		e->c.source = "local";
		return e->c;
	}
	// The worker's shared store: filled by the build or by the first backend that read the pages.
	if (rv_control) {
		proto::StoreKey key{MyDatabaseId, oid, kStoreKindCentroids};
		uint64 tag = 0;
		if (store_current_version(key, &tag) != 0 && tag == meta.stamp) {
			uint64 version, bytes;
			void *blob = store_copy_out(key, &version, &tag, &bytes);
			Size want = proto::centroid_blob_bytes(meta.lists, meta.dimensions);
			if (blob && tag == meta.stamp && bytes == want) {
				proto::CentroidBlobHeader h;
				memcpy(&h, blob, sizeof h);
				if (h.stamp == meta.stamp && h.lists == meta.lists && h.dim == meta.dimensions) {
					float *data = static_cast<float *>(MemoryContextAllocHuge(TopMemoryContext, want - sizeof h));
					memcpy(data, static_cast<char *>(blob) + sizeof h, want - sizeof h);
					pfree(blob);
					return remember(oid, metric, meta, data, "shared")->c;
				}
			}
			if (blob)
				pfree(blob);
		}
	}
	float *data = read_centroid_pages(index, meta);
	const Centroids &c = remember(oid, metric, meta, data, "pages")->c;
	publish_centroids(index, meta.stamp, meta.lists, meta.dimensions, data);
	return c;
}

const float *rotated_centroid(Relation index, const IvfMetaPage &meta, int32 list)
{
	index_centroids(index, meta);  // loads them into the local cache when needed
	LocalCentroids *e = find_local(RelationGetRelid(index));
	Assert(e && e->c.stamp == meta.stamp && list >= 0 && uint32(list) < e->c.lists);
	Size d = kernels::rabitq_padded_dim(e->c.dim);
	if (!e->c.rotated) {
		e->c.rotated = static_cast<float *>(MemoryContextAllocHuge(TopMemoryContext, sizeof(float) * d * e->c.lists));
		e->c.rotated_ready = static_cast<bool *>(MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * e->c.lists));
	}
	float *out = e->c.rotated + d * Size(list);
	if (!e->c.rotated_ready[list]) {
		kernels::rabitq_rotate(e->c.data + Size(e->c.dim) * Size(list), e->c.dim, meta.rotation_seed, out);
		e->c.rotated_ready[list] = true;
	}
	return out;
}

const char *centroid_cache_state(Relation index, const IvfMetaPage &meta)
{
	Oid oid = RelationGetRelid(index);
	if (rv_control) {
		uint64 tag = 0;
		if (store_current_version(proto::StoreKey{MyDatabaseId, oid, kStoreKindCentroids}, &tag) != 0)
			return tag == meta.stamp ? "shared" : "stale";
	}
	if (LocalCentroids *e = find_local(oid); e && e->c.stamp == meta.stamp)
		return "local";
	return "not loaded";
}

void nearest_lists(const Centroids &c, const float *query, int count, int32 *lists_out, float *dist_out)
{
	float *d = static_cast<float *>(palloc(sizeof(float) * c.lists));
	// For spherical (cosine, ip) centroids the nearest list has the largest inner product: the
	// smallest order().
	c.metric->order_batch(kernels::as_row(query), kernels::as_row(c.data), c.lists, c.dim, sizeof(float) * Size(c.dim), d);
	count = std::min<int>(count, int(c.lists));
	int32 *order = static_cast<int32 *>(palloc(sizeof(int32) * c.lists));
	for (uint32 i = 0; i < c.lists; i++)
		order[i] = int32(i);
	auto less = [d](int32 a, int32 b) { return d[a] < d[b] || (d[a] == d[b] && a < b); };
	std::partial_sort(order, order + count, order + c.lists, less);
	for (int i = 0; i < count; i++) {
		lists_out[i] = order[i];
		if (dist_out)
			dist_out[i] = d[order[i]];
	}
	pfree(order);
	pfree(d);
}

/* The list directory */

namespace {

void directory_position(const IvfMetaPage &meta, uint32 list, BlockNumber *blkno, Size *offset)
{
	if (list >= meta.lists)
		elog(ERROR, "ruivfflat list %u out of range (%u lists)", list, meta.lists);
	*blkno = meta.directory_start + BlockNumber(list / kListsPerDirectoryPage);
	*offset = (list % kListsPerDirectoryPage) * sizeof(IvfListEntry);
}

}  // namespace

IvfListEntry read_list_entry(Relation index, const IvfMetaPage &meta, uint32 list)
{
	BlockNumber blkno;
	Size offset;
	directory_position(meta, list, &blkno, &offset);
	Buffer buf = ReadBuffer(index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	IvfListEntry e;
	memcpy(&e, PageGetContents(BufferGetPage(buf)) + offset, sizeof e);
	UnlockReleaseBuffer(buf);
	return e;
}

void set_list_insert_page(Relation index, const IvfMetaPage &meta, uint32 list, BlockNumber blkno, bool reset)
{
	BlockNumber dir;
	Size offset;
	directory_position(meta, list, &dir, &offset);
	Buffer buf = ReadBuffer(index, dir);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	IvfListEntry e;
	memcpy(&e, PageGetContents(BufferGetPage(buf)) + offset, sizeof e);
	// Inserts only move the hint forward (a later page in the chain is a larger block number,
	// since chains only grow by extension); vacuum resets it to where it freed space.
	if (e.insert == blkno || (!reset && e.insert != InvalidBlockNumber && blkno < e.insert)) {
		UnlockReleaseBuffer(buf);
		return;
	}
	GenericXLogState *state = GenericXLogStart(index);
	Page page = GenericXLogRegisterBuffer(state, buf, 0);
	e.insert = blkno;
	memcpy(PageGetContents(page) + offset, &e, sizeof e);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

ProbeChoice scan_choice(Relation index, const IvfMetaPage &meta)
{
	int lists = std::max<int>(int(meta.lists), 1);
	ProbeChoice c{std::clamp(effective_probes(index), 1, lists), probe_ratio_setting(), effective_target_recall(index), -1, 0};
	if (c.target <= 0)
		return c;
	int point = meta.lists > 0 ? curve_point_for_target(meta.curve, c.target) : -1;
	if (point < 0)
		return c;  // no curve: the target cannot apply
	c.probes = std::clamp(probes_at_point(point, meta.lists), 1, lists);
	c.measured = meta.curve.recall[point];
	c.ratio = 0;
	// Per-query probes when their smallest ratio meeting the target probed fewer lists on the
	// sample than the fixed probes meeting it.
	int points = std::min<int>(meta.ratio_points, kCurveMaxPoints);
	if (!target_per_query_setting() || points == 0)
		return c;
	for (int i = 0; i < points; i++) {
		if (recall_lower_bound(meta.ratio_recall[i], meta.curve.sample) < c.target)
			continue;
		if (meta.ratio_probes[i] < float(c.probes)) {
			c.ratio = meta.ratio_value[i];
			c.measured = meta.ratio_recall[i];
			c.mean_probes = meta.ratio_probes[i];
		}
		break;
	}
	return c;
}

namespace {

// The meta page for an update by the maintenance code: locked, registered with generic WAL, and
// long enough for the fields added after layout 1. Null (nothing held) when the index was rebuilt
// since `stamp` was read.
IvfMetaPage *lock_meta_for_update(Relation index, uint64 stamp, Buffer *buf, GenericXLogState **state)
{
	*buf = ReadBuffer(index, kMetaBlock);
	LockBuffer(*buf, BUFFER_LOCK_EXCLUSIVE);
	*state = GenericXLogStart(index);
	Page page = GenericXLogRegisterBuffer(*state, *buf, 0);
	IvfMetaPage *m = meta_of(page);
	if (m->stamp != stamp) {
		GenericXLogAbort(*state);
		UnlockReleaseBuffer(*buf);
		return nullptr;
	}
	cover_meta(page, sizeof(IvfMetaPage));  // written before these fields existed
	return m;
}

}  // namespace

bool write_recall_estimate(Relation index, uint64 stamp, const RecallEstimate &estimate)
{
	Buffer buf;
	GenericXLogState *state;
	IvfMetaPage *m = lock_meta_for_update(index, stamp, &buf, &state);
	if (!m)
		return false;
	m->recall = estimate;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	return true;
}

void write_recall_curve(Relation index, uint64 stamp, const RecallCurve &curve, const RatioCurve &ratios)
{
	Buffer buf;
	GenericXLogState *state;
	IvfMetaPage *m = lock_meta_for_update(index, stamp, &buf, &state);
	if (!m)  // rebuilt meanwhile: the curve is of another build
		report_rebuilt_while_measured(index);
	m->ratio_points = uint16(std::clamp(ratios.points, 0, kCurveMaxPoints));
	for (int i = 0; i < kCurveMaxPoints; i++) {
		bool used = i < ratios.points;
		m->ratio_value[i] = used ? ratios.value[i] : 0;
		m->ratio_recall[i] = used ? ratios.recall[i] : 0;
		m->ratio_probes[i] = used ? ratios.probes[i] : 0;
	}
	m->curve = curve;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

void decode_entry(const MetricInfo &metric, Quantizer q, const float *ranges, const IvfEntryHeader *e, int dim,
				  float *out)
{
	Assert(q != Quantizer::rabitq);
	if (q == Quantizer::sq8 && !(e->flags & kEntryWholeRow))
		kernels::sq8_decode(kernels::sq8_row_codes(entry_row(e)), ranges, ranges + dim, out, Size(dim));
	else
		metric.element().to_float(entry_row(e), out, Size(dim));
}

double entry_spread(const MetricInfo &metric, Quantizer q, const float *ranges, const IvfEntryHeader *e,
					const float *centroid, int dim, float *scratch)
{
	if (q == Quantizer::rabitq) {
		float r;
		memcpy(&r, entry_row(e), sizeof r);
		return std::isfinite(r) ? r : 0;
	}
	decode_entry(metric, q, ranges, e, dim, scratch);
	return centroid_distance(metric.as_float32(), scratch, centroid, dim);
}

double centroid_distance(const MetricInfo &float32, const float *x, const float *centroid, int dim)
{
	const MetricInfo &m = float32.metric == Metric::ip ? *kernels::find_metric(kernels::ElementType::float32, Metric::cosine)
													   : float32;
	double d = m.distance(kernels::as_row(x), kernels::as_row(centroid), Size(dim));
	return std::isfinite(d) ? d : 0;  // a zero row has no cosine distance
}

ListSizes list_sizes(Relation index, const IvfMetaPage &meta, bool spread)
{
	ListSizes s;
	s.min = meta.lists ? PG_INT64_MAX : 0;
	const MetricInfo *metric = nullptr;
	const Centroids *centroids = nullptr;
	float *ranges = nullptr;
	float *row = nullptr;
	Quantizer q = Quantizer(meta.quantizer);
	int dim = int(meta.dimensions);
	if (spread) {
		metric = &meta_metric(index, meta);
		centroids = &index_centroids(index, meta);
		if (q == Quantizer::sq8)
			ranges = read_sq8_ranges(index, meta);
		row = static_cast<float *>(palloc(sizeof(float) * Size(dim)));
	}
	for (uint32 l = 0; l < meta.lists; l++) {
		IvfListEntry e = read_list_entry(index, meta, l);
		int64 n = 0;
		for (BlockNumber blk = e.start; blk != InvalidBlockNumber;) {
			CHECK_FOR_INTERRUPTS();
			Buffer buf = ReadBuffer(index, blk);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			Page page = BufferGetPage(buf);
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
				ItemId id = PageGetItemId(page, off);
				if (!ItemIdIsNormal(id))
					continue;
				n++;
				if (spread) {
					s.spread_sum += entry_spread(*metric, q, ranges, reinterpret_cast<const IvfEntryHeader *>(PageGetItem(page, id)),
												 centroids->data + Size(l) * dim, dim, row);
				}
			}
			blk = page_opaque(page)->next;
			UnlockReleaseBuffer(buf);
		}
		s.total += n;
		s.min = std::min(s.min, n);
		s.max = std::max(s.max, n);
		s.sum_sq += double(n) * double(n);
	}
	if (ranges)
		pfree(ranges);
	if (row)
		pfree(row);
	return s;
}

}  // namespace ruvector::ivf
