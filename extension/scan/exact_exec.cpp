// The executor side of the exact scan: one pass over the heap pages, a bounded top-k, EXPLAIN.
//
// Rows come in TID order (page by page; visibility as a seq scan decides it, with the query's
// snapshot). For each visible row the quals run first (RLS policies included: no distance is
// computed for a row the quals reject, as in the generic plan), then the distance is computed
// with the kernel the operator function itself calls, so it is the operator's value bit for bit.
// The top-k keeps the k = LIMIT + OFFSET smallest (distance, scan position) pairs, so among equal
// distances the earlier row wins; NULL distances sort after every other, as ORDER BY ASC puts
// them; NaN after every number, as float8 sorts it.
#include "extension/recent_buffers.hpp"
#include "extension/scan/exact_scan.hpp"
#include "extension/scan/exact_toast.hpp"

#include <algorithm>
#include <cmath>

extern "C" {
#include "access/heapam.h"
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "nodes/extensible.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

namespace ruvector::scan {

namespace k = ruvector::kernels;

namespace {

struct Candidate {
	double distance;
	uint64 seq;  // position in the scan: the tie-break
	HeapTuple tuple;  // a copy, in the scan's memory context
};

// float8's btree order (NaN after every number, NaN = NaN), then scan position.
int compare_distance(double a, double b)
{
	if (std::isnan(a))
		return std::isnan(b) ? 0 : 1;
	if (std::isnan(b))
		return -1;
	return a < b ? -1 : a > b ? 1 : 0;
}
bool candidate_less(const Candidate &a, const Candidate &b)
{
	int c = compare_distance(a.distance, b.distance);
	return c != 0 ? c < 0 : a.seq < b.seq;
}

// A growable array of candidates in the scan's memory context.
struct Candidates {
	Candidate *items = nullptr;
	int64 len = 0;
	int64 cap = 0;

	void push(MemoryContext cxt, const Candidate &c)
	{
		if (len == cap) {
			int64 n = std::max<int64>(16, cap * 2);
			items = static_cast<Candidate *>(items ? repalloc_huge(items, n * sizeof(Candidate))
												   : MemoryContextAllocHuge(cxt, n * sizeof(Candidate)));
			cap = n;
		}
		items[len++] = c;
	}
	void clear()
	{
		for (int64 i = 0; i < len; i++)
			heap_freetuple(items[i].tuple);
		len = 0;
	}
};

struct ExactScanState {
	CustomScanState css;
	// From the plan.
	Oid funcid;
	Oid collation;
	AttrNumber attno;
	bool query_left;
	bool keep_ties;
	const k::MetricInfo *metric;  // null: call the function for every row
	FmgrInfo finfo;
	ExprState *query_expr;
	ExprState *count_expr;
	ExprState *offset_expr;
	// Per scan.
	MemoryContext scan_cxt;  // the kept tuples and arrays; reset by a rescan
	MemoryContext row_cxt;   // detoasted rows and function calls; reset per row
	bool done;
	int64 k;  // LIMIT + OFFSET; -1 when unbounded
	Datum query;
	bool query_null;
	bool fast;  // the query's header is sound, so rows of its dimensions use the kernel
	int64 query_dims;
	Candidates heap;   // max-heap of the k best
	Candidates ties;   // rows equal in distance to the heap's largest (keep_ties)
	Candidates nulls;  // NULL distances in scan order, while fewer than k rows have a distance
	int64 pos;         // next of heap.items (sorted) to return
	// Out-of-line vectors: fetched one by one through the TOAST index until enough were that one
	// pass over the TOAST table in page order costs less (exact_toast.hpp); then from that pass.
	ToastDistances *toast;
	bool toast_decided;
	uint64 toast_fetches;
	// A parallel-aware plan: the block allocator the participants share (in the query's DSM), each
	// keeping its own top k of the blocks it gets; Gather Merge above merges them.
	ParallelTableScanDesc pscan;
	// EXPLAIN ANALYZE.
	uint64 rows_scanned;
	uint64 pages;
	int64 last_k;
	int64 toast_values;  // computed by the last TOAST pass, -1 when there was none
	BlockNumber toast_pages;
};

void begin_exact_scan(CustomScanState *node, EState *estate, int eflags);
TupleTableSlot *exec_exact_scan(CustomScanState *node);
void end_exact_scan(CustomScanState *node);
void rescan_exact_scan(CustomScanState *node);
void explain_exact_scan(CustomScanState *node, List *ancestors, ExplainState *es);
Node *create_exact_scan_state(CustomScan *cscan);
Size estimate_dsm_exact_scan(CustomScanState *node, ParallelContext *pcxt);
void initialize_dsm_exact_scan(CustomScanState *node, ParallelContext *pcxt, void *coordinate);
void reinitialize_dsm_exact_scan(CustomScanState *node, ParallelContext *pcxt, void *coordinate);
void initialize_worker_exact_scan(CustomScanState *node, shm_toc *toc, void *coordinate);

const CustomScanMethods scan_methods = {
	.CustomName = kExactScanName,
	.CreateCustomScanState = create_exact_scan_state,
};

const CustomExecMethods exec_methods = {
	.CustomName = kExactScanName,
	.BeginCustomScan = begin_exact_scan,
	.ExecCustomScan = exec_exact_scan,
	.EndCustomScan = end_exact_scan,
	.ReScanCustomScan = rescan_exact_scan,
	.MarkPosCustomScan = nullptr,
	.RestrPosCustomScan = nullptr,
	.EstimateDSMCustomScan = estimate_dsm_exact_scan,
	.InitializeDSMCustomScan = initialize_dsm_exact_scan,
	.ReInitializeDSMCustomScan = reinitialize_dsm_exact_scan,
	.InitializeWorkerCustomScan = initialize_worker_exact_scan,
	.ShutdownCustomScan = nullptr,
	.ExplainCustomScan = explain_exact_scan,
};

Node *create_exact_scan_state(CustomScan *cscan)
{
	auto *s = static_cast<ExactScanState *>(palloc0(sizeof(ExactScanState)));
	NodeSetTag(s, T_CustomScanState);
	s->css.flags = cscan->flags;
	s->css.methods = &exec_methods;
	List *priv = cscan->custom_private;
	s->funcid = Oid(intVal(list_nth(priv, kFunction)));
	s->attno = AttrNumber(intVal(list_nth(priv, kAttno)));
	s->query_left = intVal(list_nth(priv, kQueryLeft)) != 0;
	s->keep_ties = intVal(list_nth(priv, kKeepTies)) != 0;
	s->collation = Oid(intVal(list_nth(priv, kCollation)));
	return reinterpret_cast<Node *>(s);
}

void begin_exact_scan(CustomScanState *node, EState *estate, int)
{
	auto *s = reinterpret_cast<ExactScanState *>(node);
	auto *cs = reinterpret_cast<CustomScan *>(node->ss.ps.plan);
	Relation rel = node->ss.ss_currentRelation;
	if (rel->rd_tableam != GetHeapamTableAmRoutine())
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("ruvector exact scan needs a heap table, \"%s\" is not one", RelationGetRelationName(rel)),
						errhint("SET ruvector.enable_exact_scan = off, and prepare the statement again.")));
	// PostgreSQL 15 gives a custom scan a virtual scan slot, which has no system columns: a heap
	// tuple slot instead (rows are stored in it straight from the page the scan holds pinned, so
	// without a pin per row, and the kept copies live as long as the scan), with the quals and
	// projection compiled again for it (PostgreSQL 16 has CustomScanState.slotOps for this).
	ExecInitScanTupleSlot(estate, &node->ss, RelationGetDescr(rel), &TTSOpsHeapTuple);
	ExecAssignScanProjectionInfoWithVarno(&node->ss, cs->scan.scanrelid);
	node->ss.ps.qual = ExecInitQual(cs->scan.plan.qual, &node->ss.ps);
	if (!lookup_distance_function(s->funcid, &s->metric))
		elog(ERROR, "ruvector exact scan: function %u is not a ruvector distance", s->funcid);
	fmgr_info(s->funcid, &s->finfo);
	s->query_expr = ExecInitExpr(static_cast<Expr *>(list_nth(cs->custom_exprs, kQueryExpr)), &node->ss.ps);
	s->count_expr = ExecInitExpr(static_cast<Expr *>(list_nth(cs->custom_exprs, kLimitCount)), &node->ss.ps);
	s->offset_expr = ExecInitExpr(static_cast<Expr *>(list_nth(cs->custom_exprs, kLimitOffset)), &node->ss.ps);
	s->scan_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruvector exact scan", ALLOCSET_DEFAULT_SIZES);
	s->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruvector exact scan rows", ALLOCSET_DEFAULT_SIZES);
	s->done = false;
	s->last_k = -1;
}

// LIMIT + OFFSET as the Limit node evaluates them (NULL count: no limit; NULL offset: 0); -1
// when unbounded. A negative value never gets here: the Limit above raises its error first.
int64 evaluate_k(ExactScanState *s, ExprContext *econtext)
{
	bool null;
	Datum count = ExecEvalExprSwitchContext(s->count_expr, econtext, &null);
	if (null)
		return -1;
	int64 c = std::max<int64>(0, DatumGetInt64(count));
	Datum offset = ExecEvalExprSwitchContext(s->offset_expr, econtext, &null);
	int64 o = null ? 0 : std::max<int64>(0, DatumGetInt64(offset));
	int64 sum;
	if (pg_add_s64_overflow(c, o, &sum))
		return -1;
	return sum;
}

// A detoasted value of the metric's type whose header agrees with its length: its dimensions,
// or -1 (a damaged value goes to the operator function, which reports it).
int64 sound_dims(const k::MetricInfo *m, const varlena *v)
{
	const k::ElementInfo &e = m->element();
	auto *bytes = reinterpret_cast<const std::byte *>(v);
	if (VARSIZE_ANY_EXHDR(v) + VARHDRSZ < e.value_header)
		return -1;
	int64 dims = e.value_dims(bytes);
	if (dims < 0 || Size(VARSIZE(v)) != e.value_header + e.row_bytes(Size(dims)))
		return -1;
	return dims;
}

void prepare_query(ExactScanState *s, ExprContext *econtext)
{
	bool null;
	Datum q = ExecEvalExprSwitchContext(s->query_expr, econtext, &null);
	s->query_null = null;
	s->fast = false;
	if (null)
		return;
	MemoryContext old = MemoryContextSwitchTo(s->scan_cxt);
	s->query = PointerGetDatum(PG_DETOAST_DATUM_COPY(q));
	MemoryContextSwitchTo(old);
	if (s->metric) {
		s->query_dims = sound_dims(s->metric, reinterpret_cast<varlena *>(DatumGetPointer(s->query)));
		s->fast = s->query_dims >= 0;
	}
}

// The kernel's distance between the query and a detoasted row whose dimensions are the query's,
// in the operator's argument order.
double value_distance(const ExactScanState *s, const varlena *v)
{
	const std::byte *r = reinterpret_cast<const std::byte *>(v) + s->metric->element().value_header;
	const std::byte *q = reinterpret_cast<const std::byte *>(DatumGetPointer(s->query)) + s->metric->element().value_header;
	return s->query_left ? s->metric->distance(q, r, Size(s->query_dims)) : s->metric->distance(r, q, Size(s->query_dims));
}

double row_distance(ExactScanState *s, Datum row)
{
	if (s->fast) {
		auto *stored = reinterpret_cast<varlena *>(DatumGetPointer(row));
		if (VARATT_IS_EXTERNAL_ONDISK(stored)) {
			double d;
			if (s->toast && s->toast->lookup(stored, &d))
				return d;
			s->toast_fetches++;
		}
		varlena *v = VARATT_IS_EXTENDED(stored) ? pg_detoast_datum(stored) : stored;
		if (sound_dims(s->metric, v) == s->query_dims) {
			double d = value_distance(s, v);
			if (v != stored)
				pfree(v);  // a toasted row's copy: freed at once, so the next one reuses its memory
			return d;
		}
		row = PointerGetDatum(v);
	}
	// Other types, and rows the operator rejects (it raises the error the generic plan raises).
	Datum d = s->query_left ? FunctionCall2Coll(&s->finfo, s->collation, s->query, row)
							: FunctionCall2Coll(&s->finfo, s->collation, row, s->query);
	return DatumGetFloat8(d);
}

// After a few out-of-line values were fetched by index: whether the rest would cost less from
// one pass over the TOAST table, and if so that pass. A parallel participant reads only some
// pages, so it keeps fetching by index.
void consider_toast_pass(ExactScanState *s, Relation rel, double pages_done, BlockNumber pages)
{
	constexpr uint64 kFetchesBeforeDeciding = 16;
	if (s->toast_decided || s->toast_fetches < kFetchesBeforeDeciding)
		return;
	s->toast_decided = true;
	Relation toast = table_open(rel->rd_rel->reltoastrelid, AccessShareLock);
	BlockNumber toast_pages = RelationGetNumberOfBlocks(toast);
	table_close(toast, AccessShareLock);
	if (!toast_pass_pays(s->toast_fetches, pages_done, pages, toast_pages))
		return;
	auto distance = [](const void *arg, const varlena *v) {
		return value_distance(static_cast<const ExactScanState *>(arg), v);
	};
	s->toast = ToastDistances::build(rel, s->metric->element(), s->query_dims, distance, s, get_hash_memory_limit(),
									 s->scan_cxt);
	if (s->toast) {
		s->toast_values = s->toast->values();
		s->toast_pages = s->toast->pages();
	}
}

HeapTuple copy_tuple(ExactScanState *s, HeapTuple t)
{
	MemoryContext old = MemoryContextSwitchTo(s->scan_cxt);
	HeapTuple c = heap_copytuple(t);
	MemoryContextSwitchTo(old);
	return c;
}

// The bounded top-k: heap.items is a max-heap by candidate_less while it fills.
void offer(ExactScanState *s, double distance, uint64 seq, HeapTuple t)
{
	Candidates &h = s->heap;
	Candidate c{distance, seq, nullptr};
	if (s->k == 0)
		return;
	if (s->k < 0 || h.len < s->k) {
		c.tuple = copy_tuple(s, t);
		h.push(s->scan_cxt, c);
		if (s->k >= 0)
			std::push_heap(h.items, h.items + h.len, candidate_less);
		if (h.len == s->k)
			s->nulls.clear();  // k rows with a distance: no NULL distance can be returned
		return;
	}
	int cmp = compare_distance(distance, h.items[0].distance);
	if (cmp > 0)
		return;
	if (cmp == 0) {  // later in the scan than every kept row: a tie at the boundary
		if (s->keep_ties) {
			c.tuple = copy_tuple(s, t);
			s->ties.push(s->scan_cxt, c);
		}
		return;
	}
	c.tuple = copy_tuple(s, t);
	std::pop_heap(h.items, h.items + h.len, candidate_less);
	Candidate out = h.items[h.len - 1];
	h.items[h.len - 1] = c;
	std::push_heap(h.items, h.items + h.len, candidate_less);
	if (s->keep_ties && compare_distance(out.distance, h.items[0].distance) == 0)
		s->ties.push(s->scan_cxt, out);
	else {
		heap_freetuple(out.tuple);
		s->ties.clear();  // they tied with `out`, now beyond the boundary
	}
}

void offer_null(ExactScanState *s, uint64 seq, HeapTuple t)
{
	if (s->k == 0 || (s->k > 0 && s->heap.len >= s->k))
		return;
	if (s->k >= 0 && !s->keep_ties && s->heap.len + s->nulls.len >= s->k)
		return;  // the first k NULLs in scan order are the ones returned
	s->nulls.push(s->scan_cxt, Candidate{0, seq, copy_tuple(s, t)});
}

// The heap pages are pinned kPagesAhead ahead of the one being computed, and their bytes
// prefetched into the CPU caches: a page in shared buffers is not in cache, and each would
// otherwise start with a full memory stall (reading ahead halved the CPU time of a 100k x 128
// scan, 13-15 ms to 7.5-8 ms per query; 1 or 2 pages alike, 4 no better). With quals too:
// prefetching only the line pointers and tuple heads, for the quals, left the vectors of the rows
// that pass to stall, and a 10%-filtered scan took 6.4 ms instead of 4.5. Pages are pinned through
// the backend's recent-buffer map, without a buffer table lookup (a sixth of the scan's time).
constexpr BlockNumber kPagesAhead = 2;

Buffer pin_and_prefetch(Relation rel, HeapScanDesc hscan, RecentBuffers *recent, BlockNumber blk)
{
	Buffer b = recent->read(rel, blk, hscan->rs_strategy);
	prefetch_page(b);
	return b;
}

// The visible tuples of a pinned page, as heapam's heapgetpage (PostgreSQL 15) lists them for a
// page-mode seq scan: prune if worthwhile, then under a share lock every normal line pointer
// through the snapshot (all visible without a look when the page says so), with the
// serializable conflict check. Done here rather than by heapgetpage so that the page pinned
// ahead is not looked up in the buffer table a second time (a fifth of a filtered scan's time).
int visible_tuples(Relation rel, Snapshot snapshot, Buffer buffer, BlockNumber blk, OffsetNumber *out)
{
	CHECK_FOR_INTERRUPTS();
	heap_page_prune_opt(rel, buffer);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	Page page = BufferGetPage(buffer);
	TestForOldSnapshot(snapshot, rel, page);
	OffsetNumber lines = PageGetMaxOffsetNumber(page);
	bool all_visible = PageIsAllVisible(page) && !snapshot->takenDuringRecovery;
	// Outside SERIALIZABLE there is no conflict to check: asked once per page, not per tuple.
	bool check_serializable = CheckForSerializableConflictOutNeeded(rel, snapshot);
	int n = 0;
	for (OffsetNumber off = FirstOffsetNumber; off <= lines; off++) {
		ItemId id = PageGetItemId(page, off);
		if (!ItemIdIsNormal(id))
			continue;
		HeapTupleData tuple;
		tuple.t_tableOid = RelationGetRelid(rel);
		tuple.t_data = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, id));
		tuple.t_len = ItemIdGetLength(id);
		ItemPointerSet(&tuple.t_self, blk, off);
		bool valid = all_visible || HeapTupleSatisfiesVisibility(&tuple, snapshot, buffer);
		if (check_serializable)
			HeapCheckForSerializableConflictOut(valid, rel, &tuple, buffer, snapshot);
		if (valid)
			out[n++] = off;
	}
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	return n;
}

// One visible row (on the pinned page): the quals, then its distance.
void consider_row(ExactScanState *s, HeapTuple tuple, uint64 seq)
{
	ScanState *ss = &s->css.ss;
	ExprContext *econtext = ss->ps.ps_ExprContext;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	s->rows_scanned++;
	Datum value;
	bool isnull;
	if (ss->ps.qual) {
		ExecStoreHeapTuple(tuple, slot, false);
		econtext->ecxt_scantuple = slot;
		if (!ExecQual(ss->ps.qual, econtext)) {
			InstrCountFiltered1(&ss->ps, 1);
			return;
		}
		value = slot_getattr(slot, s->attno, &isnull);
	} else
		value = heap_getattr(tuple, s->attno, RelationGetDescr(ss->ss_currentRelation), &isnull);
	if (isnull || s->query_null)  // the operators are strict
		offer_null(s, seq, tuple);
	else
		offer(s, row_distance(s, value), seq, tuple);
}

void run_scan(ExactScanState *s)
{
	ScanState *ss = &s->css.ss;
	ExprContext *econtext = ss->ps.ps_ExprContext;
	EState *estate = ss->ps.state;
	Relation rel = ss->ss_currentRelation;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	ResetExprContext(econtext);
	s->k = evaluate_k(s, econtext);
	s->last_k = s->k;
	prepare_query(s, econtext);
	s->toast = nullptr;
	// Decided at once where no pass can be taken (so rows of tables without out-of-line values
	// never ask again); otherwise after the first fetches (consider_toast_pass).
	s->toast_decided = s->pscan || !s->fast || !OidIsValid(rel->rd_rel->reltoastrelid);
	s->toast_fetches = 0;
	s->toast_values = -1;

	// Alone, the blocks in order from 0 (no synchronized scan: the scan order breaks ties); in a
	// parallel plan, the blocks the shared allocator hands this participant.
	TableScanDesc scan = s->pscan ? table_beginscan_parallel(rel, s->pscan)
								  : table_beginscan_strat(rel, estate->es_snapshot, 0, nullptr, true, false);
	auto *hscan = reinterpret_cast<HeapScanDesc>(scan);
	uint64 seq = 0;
	// The scan descriptor gives the snapshot, the predicate lock and the ring buffer strategy;
	// pages are read below (visible_tuples follows heapgetpage's page mode, which heapam turns
	// off for a snapshot that is not MVCC; a query's snapshot always is).
	if (!(scan->rs_flags & SO_ALLOW_PAGEMODE))
		elog(ERROR, "ruvector exact scan needs an MVCC snapshot");
	Snapshot snapshot = scan->rs_snapshot;
	auto *pbscan = reinterpret_cast<ParallelBlockTableScanDesc>(s->pscan);
	if (pbscan)
		table_block_parallelscan_startblock_init(rel, hscan->rs_parallelworkerdata, pbscan);
	BlockNumber next = 0, nblocks = hscan->rs_nblocks, pages_done = 0;
	auto next_block = [&]() -> BlockNumber {
		if (pbscan)
			return table_block_parallelscan_nextpage(rel, hscan->rs_parallelworkerdata, pbscan);
		return next < nblocks ? next++ : InvalidBlockNumber;
	};
	// Pages blk .. blk + kPagesAhead, pinned in a ring (blocks[at] is the one computed next).
	Buffer pinned[kPagesAhead + 1] = {};
	BlockNumber blocks[kPagesAhead + 1];
	OffsetNumber visible[MaxHeapTuplesPerPage];
	RecentBuffers *recent = RecentBuffers::for_relation(rel);
	for (BlockNumber i = 0; i <= kPagesAhead; i++) {
		blocks[i] = i < kPagesAhead ? next_block() : InvalidBlockNumber;
		if (blocks[i] != InvalidBlockNumber)
			pinned[i] = pin_and_prefetch(rel, hscan, recent, blocks[i]);
	}
	for (int at = 0; blocks[at] != InvalidBlockNumber; at = (at + 1) % (kPagesAhead + 1)) {
		int ahead = (at + kPagesAhead) % (kPagesAhead + 1);
		blocks[ahead] = next_block();
		if (blocks[ahead] != InvalidBlockNumber)
			pinned[ahead] = pin_and_prefetch(rel, hscan, recent, blocks[ahead]);
		BlockNumber blk = blocks[at];
		Buffer &buf = pinned[at];
		int n = visible_tuples(rel, snapshot, buf, blk, visible);
		s->pages++;
		Page page = BufferGetPage(buf);
		MemoryContext old = MemoryContextSwitchTo(s->row_cxt);
		for (int i = 0; i < n; i++) {
			ItemId id = PageGetItemId(page, visible[i]);
			HeapTupleData tuple;
			tuple.t_data = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, id));
			tuple.t_len = ItemIdGetLength(id);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blk, visible[i]);
			consider_row(s, &tuple, ++seq);
			if (!s->toast_decided)
				consider_toast_pass(s, rel, pages_done + double(i + 1) / n, nblocks);
			// Per row, as the generic plan's per-tuple memory (free when nothing was allocated).
			MemoryContextReset(s->row_cxt);
			ResetExprContext(econtext);
		}
		MemoryContextSwitchTo(old);
		ExecClearTuple(slot);
		ReleaseBuffer(buf);
		buf = InvalidBuffer;
		pages_done++;
	}
	table_endscan(scan);

	// The result: the kept rows by (distance, position), the ties, then the NULLs in scan order.
	Candidates &h = s->heap;
	std::sort(h.items, h.items + h.len, candidate_less);
	for (int64 i = 0; i < s->ties.len; i++)
		h.push(s->scan_cxt, s->ties.items[i]);
	std::sort(h.items, h.items + h.len, candidate_less);
	for (int64 i = 0; i < s->nulls.len; i++)
		h.push(s->scan_cxt, s->nulls.items[i]);
	s->ties.len = s->nulls.len = 0;
	s->pos = 0;
	s->done = true;
}

TupleTableSlot *exec_exact_scan(CustomScanState *node)
{
	auto *s = reinterpret_cast<ExactScanState *>(node);
	if (!s->done)
		run_scan(s);
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	if (s->pos >= s->heap.len)
		return ExecClearTuple(slot);
	ExecStoreHeapTuple(s->heap.items[s->pos++].tuple, slot, false);
	ProjectionInfo *proj = node->ss.ps.ps_ProjInfo;
	if (!proj)
		return slot;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ResetExprContext(econtext);
	econtext->ecxt_scantuple = slot;
	return ExecProject(proj);
}

void reset(ExactScanState *s)
{
	ExecClearTuple(s->css.ss.ss_ScanTupleSlot);  // it may point at a kept row
	MemoryContextReset(s->scan_cxt);
	MemoryContextReset(s->row_cxt);
	s->heap = Candidates{};
	s->ties = Candidates{};
	s->nulls = Candidates{};
	s->done = false;
}

void end_exact_scan(CustomScanState *node)
{
	auto *s = reinterpret_cast<ExactScanState *>(node);
	MemoryContextDelete(s->scan_cxt);
	MemoryContextDelete(s->row_cxt);
}

void rescan_exact_scan(CustomScanState *node)
{
	// Parameters may have changed (a correlated subquery): the next fetch scans again.
	reset(reinterpret_cast<ExactScanState *>(node));
}

/* Parallel query: the shared state is heapam's parallel block scan descriptor. */

Size estimate_dsm_exact_scan(CustomScanState *node, ParallelContext *)
{
	return table_parallelscan_estimate(node->ss.ss_currentRelation, node->ss.ps.state->es_snapshot);
}

void initialize_dsm_exact_scan(CustomScanState *node, ParallelContext *, void *coordinate)
{
	auto *s = reinterpret_cast<ExactScanState *>(node);
	s->pscan = static_cast<ParallelTableScanDesc>(coordinate);
	table_parallelscan_initialize(node->ss.ss_currentRelation, s->pscan, node->ss.ps.state->es_snapshot);
}

void reinitialize_dsm_exact_scan(CustomScanState *node, ParallelContext *, void *coordinate)
{
	table_parallelscan_reinitialize(node->ss.ss_currentRelation, static_cast<ParallelTableScanDesc>(coordinate));
}

void initialize_worker_exact_scan(CustomScanState *node, shm_toc *, void *coordinate)
{
	reinterpret_cast<ExactScanState *>(node)->pscan = static_cast<ParallelTableScanDesc>(coordinate);
}

void explain_exact_scan(CustomScanState *node, List *, ExplainState *es)
{
	auto *s = reinterpret_cast<ExactScanState *>(node);
	const char *fn = get_func_name(s->funcid);
	ExplainPropertyText("Distance", fn ? fn : "?", es);
	ExplainPropertyText("Kernel", s->metric ? "ruvector SIMD (per row, in place on the page)" : "operator function", es);
	ExplainPropertyText("Batch", "one heap page", es);
	if (es->analyze) {
		if (s->last_k >= 0)
			ExplainPropertyInteger("Top K", nullptr, s->last_k, es);
		ExplainPropertyInteger("Heap Pages", nullptr, int64(s->pages), es);
		ExplainPropertyInteger("Rows Scanned", nullptr, int64(s->rows_scanned), es);
		if (s->toast_values >= 0) {
			ExplainPropertyInteger("TOAST Pages Read in Order", nullptr, int64(s->toast_pages), es);
			ExplainPropertyInteger("TOAST Values Computed", nullptr, s->toast_values, es);
		}
		if (s->toast_fetches > 0)
			ExplainPropertyInteger("TOAST Values Fetched", nullptr, int64(s->toast_fetches), es);
	}
}

}  // namespace

const CustomScanMethods *exact_scan_methods() { return &scan_methods; }

void register_exact_scan_exec() { RegisterCustomScanMethods(&scan_methods); }

}  // namespace ruvector::scan
