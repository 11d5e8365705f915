// The streamed function scan (see function_scan.hpp): the set_rel_pathlist hook that puts it in
// place of a Function Scan, the plan node, and the executor that calls the function row by row.
#include "extension/scan/function_scan.hpp"
#include "extension/graph/gnn_rows.hpp"
#include "extension/table_reader.hpp"
#include "extension/types/vector.hpp"

extern "C" {
#include "access/htup_details.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"

// The functions streamed (RV_FUNCTION in extension/graph/gnn_sql.cpp): value-per-call SRFs whose
// rows are read from a reply they already hold (the last one feeds ruvector_gnn_forward_into's
// INSERT).
Datum ruvector_gnn_forward_graph(PG_FUNCTION_ARGS);
Datum ruvector_gnn_forward_tables(PG_FUNCTION_ARGS);
Datum ruvector_message_pass(PG_FUNCTION_ARGS);
Datum ruvector_gnn_into_rows(PG_FUNCTION_ARGS);
}

namespace ruvector::scan {

bool enable_function_scan = true;

namespace {

/* Planning */

set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = nullptr;

// Recognised by C entry point, so neither the schema nor another same-named function matters.
bool is_streamed_function(Oid funcid)
{
	FmgrInfo finfo;
	fmgr_info(funcid, &finfo);
	return finfo.fn_addr == ruvector_gnn_forward_graph || finfo.fn_addr == ruvector_gnn_forward_tables ||
		   finfo.fn_addr == ruvector_message_pass || finfo.fn_addr == ruvector_gnn_into_rows;
}

// Whether anything reads the whole row of the FROM item (the scan returns its columns only).
bool needs_whole_row(RelOptInfo *rel)
{
	if (!bms_is_empty(rel->attr_needed[0 - rel->min_attr]))
		return true;
	Bitmapset *attrs = nullptr;
	pull_varattnos(reinterpret_cast<Node *>(rel->reltarget->exprs), rel->relid, &attrs);
	ListCell *lc;
	foreach (lc, rel->baserestrictinfo)
		pull_varattnos(reinterpret_cast<Node *>(lfirst_node(RestrictInfo, lc)->clause), rel->relid, &attrs);
	return bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);
}

Plan *plan_function_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *clauses,
						 List *custom_plans);

const CustomPathMethods path_methods = {
	.CustomName = kFunctionScanName,
	.PlanCustomPath = plan_function_path,
	.ReparameterizeCustomPathByChild = nullptr,
};

void add_function_path(RelOptInfo *rel, RangeTblEntry *rte)
{
	if (!enable_function_scan || rte->rtekind != RTE_FUNCTION || rel->reloptkind != RELOPT_BASEREL ||
		rte->funcordinality || list_length(rte->functions) != 1 || rel->lateral_relids != nullptr)
		return;
	auto *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr))
		return;
	auto *fexpr = reinterpret_cast<FuncExpr *>(rtfunc->funcexpr);
	if (!fexpr->funcretset || contain_var_clause(reinterpret_cast<Node *>(fexpr)) || !is_streamed_function(fexpr->funcid) ||
		needs_whole_row(rel))
		return;
	// The Function Scan path it replaces (one, unparameterized, without LATERAL): same row
	// estimate and cost, since both compute the whole result before the first row.
	Path *fs = nullptr;
	ListCell *lc;
	foreach (lc, rel->pathlist) {
		auto *p = static_cast<Path *>(lfirst(lc));
		if (p->pathtype == T_FunctionScan && p->param_info == nullptr)
			fs = p;
	}
	if (!fs)
		return;
	CustomPath *cp = makeNode(CustomPath);
	cp->path.pathtype = T_CustomScan;
	cp->path.parent = rel;
	cp->path.pathtarget = rel->reltarget;
	cp->path.rows = fs->rows;
	cp->path.startup_cost = fs->startup_cost;
	cp->path.total_cost = fs->total_cost;
	cp->flags = CUSTOMPATH_SUPPORT_PROJECTION;
	cp->methods = &path_methods;
	rel->pathlist = NIL;
	add_path(rel, &cp->path);
}

void set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);
	add_function_path(rel, rte);
}

const CustomScanMethods *function_scan_methods();

// The plan: no relation to open (scanrelid 0); the scan tuple is the function's columns
// (custom_scan_tlist), the function call is custom_exprs' only member, so that setrefs fixes its
// Params and records its dependencies as for any expression.
Plan *plan_function_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *clauses, List *)
{
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	auto *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	CustomScan *cs = makeNode(CustomScan);
	cs->scan.plan.targetlist = tlist;
	cs->scan.plan.qual = extract_actual_clauses(clauses, false);
	cs->scan.scanrelid = 0;
	cs->flags = best_path->flags;
	cs->custom_exprs = list_make1(copyObjectImpl(rtfunc->funcexpr));
	List *colvars = NIL;
	expandRTE(rte, int(rel->relid), 0, -1, false, nullptr, &colvars);
	List *scan_tlist = NIL;
	ListCell *lc;
	foreach (lc, colvars)
		scan_tlist = lappend(scan_tlist, makeTargetEntry(static_cast<Expr *>(lfirst(lc)), AttrNumber(list_length(scan_tlist) + 1),
														 nullptr, false));
	cs->custom_scan_tlist = scan_tlist;
	cs->methods = function_scan_methods();
	return &cs->scan.plan;
}

/* Execution */

struct FunctionScanState {
	CustomScanState css;
	FuncExpr *fexpr;
	List *args;                 // ExprStates of the arguments
	FmgrInfo flinfo;
	FunctionCallInfo fcinfo;
	ReturnSetInfo rsinfo;
	ExprContext *fn_econtext;   // the arguments' memory and the function's shutdown callbacks
	MemoryContext row_cxt;      // one row's memory, reset before the next call
	bool started;
	bool done;
	// Once the first call computed the result: the rows read straight from it (no call per row).
	const ForwardResult *held;
	uint64 next;                // the next row of `held`
	bool rows_are_vectors;      // the scan tuple is (bigint, vector), as held rows are
};

void begin_scan(CustomScanState *node, EState *estate, int)
{
	auto *s = reinterpret_cast<FunctionScanState *>(node);
	auto *cscan = reinterpret_cast<CustomScan *>(node->ss.ps.plan);
	s->fexpr = linitial_node(FuncExpr, cscan->custom_exprs);
	s->args = ExecInitExprList(s->fexpr->args, &node->ss.ps);
	fmgr_info(s->fexpr->funcid, &s->flinfo);
	fmgr_info_set_expr(reinterpret_cast<Node *>(s->fexpr), &s->flinfo);
	int nargs = list_length(s->fexpr->args);
	s->fcinfo = static_cast<FunctionCallInfo>(palloc0(SizeForFunctionCallInfo(nargs)));
	s->fn_econtext = CreateExprContext(estate);
	s->rsinfo.type = T_ReturnSetInfo;
	s->rsinfo.econtext = s->fn_econtext;
	s->rsinfo.expectedDesc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	s->rsinfo.allowedModes = SFRM_ValuePerCall;
	InitFunctionCallInfoData(*s->fcinfo, &s->flinfo, nargs, s->fexpr->inputcollid, nullptr,
							 reinterpret_cast<Node *>(&s->rsinfo));
	s->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruvector function scan row", ALLOCSET_DEFAULT_SIZES);
	TupleDesc desc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	s->rows_are_vectors = desc->natts == 2 && TupleDescAttr(desc, 0)->atttypid == INT8OID &&
						  TupleDescAttr(desc, 1)->atttypid == vector_type_oid();
}

// The arguments, once per (re)scan, into memory that lasts until the rescan. False when a strict
// function has a NULL argument: then, as in a Function Scan, there are no rows.
bool evaluate_arguments(FunctionScanState *s)
{
	MemoryContext old = MemoryContextSwitchTo(s->fn_econtext->ecxt_per_tuple_memory);
	int i = 0;
	bool call = true;
	ListCell *lc;
	foreach (lc, s->args) {
		auto *arg = static_cast<ExprState *>(lfirst(lc));
		s->fcinfo->args[i].value = ExecEvalExpr(arg, s->fn_econtext, &s->fcinfo->args[i].isnull);
		if (s->fcinfo->args[i].isnull && s->flinfo.fn_strict)
			call = false;
		i++;
	}
	MemoryContextSwitchTo(old);
	return call;
}

// The next row into the scan slot (empty at the end). The row's values live in row_cxt until the
// next call, which is as long as a scan's tuple is valid.
TupleTableSlot *next_row(ScanState *ss)
{
	auto *s = reinterpret_cast<FunctionScanState *>(ss);
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	ExecClearTuple(slot);
	if (!s->started) {
		s->started = true;
		s->done = !evaluate_arguments(s);
	}
	if (s->done)
		return slot;
	CHECK_FOR_INTERRUPTS();
	MemoryContextReset(s->row_cxt);
	if (s->held) {  // row `next` of the result, built as the function would build it
		if (s->next >= uint64(s->held->nodes)) {
			s->done = true;
			return slot;
		}
		Vector *v = static_cast<Vector *>(MemoryContextAlloc(s->row_cxt, vector_size(s->held->out_dim)));
		SET_VARSIZE(v, vector_size(s->held->out_dim));
		v->dim = int16(s->held->out_dim);
		v->unused = 0;
		memcpy(v->x, s->held->y + s->next * Size(s->held->out_dim), sizeof(float) * Size(s->held->out_dim));
		slot->tts_values[0] = Int64GetDatum(s->held->ids[s->next]);
		slot->tts_values[1] = PointerGetDatum(v);
		slot->tts_isnull[0] = slot->tts_isnull[1] = false;
		s->next++;
		return ExecStoreVirtualTuple(slot);
	}
	MemoryContext old = MemoryContextSwitchTo(s->row_cxt);
	s->fcinfo->isnull = false;
	s->rsinfo.isDone = ExprSingleResult;
	s->rsinfo.returnMode = SFRM_ValuePerCall;
	Datum row = FunctionCallInvoke(s->fcinfo);
	if (s->rsinfo.returnMode != SFRM_ValuePerCall)
		elog(ERROR, "%s: the function did not return its rows one per call", kFunctionScanName);
	if (s->rsinfo.isDone == ExprEndResult) {
		MemoryContextSwitchTo(old);
		s->done = true;
		return slot;
	}
	TupleDesc desc = slot->tts_tupleDescriptor;
	if (s->fcinfo->isnull) {
		for (int i = 0; i < desc->natts; i++)
			slot->tts_isnull[i] = true;
	} else {
		HeapTupleHeader td = DatumGetHeapTupleHeader(row);
		HeapTupleData tuple;
		tuple.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = td;
		heap_deform_tuple(&tuple, desc, slot->tts_values, slot->tts_isnull);
	}
	MemoryContextSwitchTo(old);
	if (s->rsinfo.isDone != ExprMultipleResult)  // a single row, not a set
		s->done = true;
	else if (s->rows_are_vectors)
		s->held = forward_rows_held(s->fcinfo, &s->next);
	return ExecStoreVirtualTuple(slot);
}

bool recheck_row(ScanState *, TupleTableSlot *) { return true; }

TupleTableSlot *exec_scan(CustomScanState *node)
{
	return ExecScan(&node->ss, next_row, recheck_row);
}

// Stop the function (its shutdown callback frees its result) and forget the arguments.
void reset_call(FunctionScanState *s)
{
	ReScanExprContext(s->fn_econtext);
	MemoryContextReset(s->row_cxt);
	s->started = s->done = false;
	s->held = nullptr;
}

void end_scan(CustomScanState *node)
{
	auto *s = reinterpret_cast<FunctionScanState *>(node);
	FreeExprContext(s->fn_econtext, true);
	MemoryContextDelete(s->row_cxt);
}

void rescan(CustomScanState *node)
{
	reset_call(reinterpret_cast<FunctionScanState *>(node));
}

void explain_scan(CustomScanState *node, List *ancestors, ExplainState *es)
{
	auto *s = reinterpret_cast<FunctionScanState *>(node);
	ExplainPropertyText("Function", get_func_name(s->fexpr->funcid), es);
	if (es->verbose) {
		List *context = set_deparse_context_plan(es->deparse_cxt, node->ss.ps.plan, ancestors);
		ExplainPropertyText("Function Call", deparse_expression(reinterpret_cast<Node *>(s->fexpr), context, true, false), es);
	}
}

const CustomExecMethods exec_methods = {
	.CustomName = kFunctionScanName,
	.BeginCustomScan = begin_scan,
	.ExecCustomScan = exec_scan,
	.EndCustomScan = end_scan,
	.ReScanCustomScan = rescan,
	.MarkPosCustomScan = nullptr,
	.RestrPosCustomScan = nullptr,
	.EstimateDSMCustomScan = nullptr,
	.InitializeDSMCustomScan = nullptr,
	.ReInitializeDSMCustomScan = nullptr,
	.InitializeWorkerCustomScan = nullptr,
	.ShutdownCustomScan = nullptr,
	.ExplainCustomScan = explain_scan,
};

Node *create_scan_state(CustomScan *)
{
	auto *s = static_cast<FunctionScanState *>(palloc0(sizeof(FunctionScanState)));
	NodeSetTag(s, T_CustomScanState);
	s->css.methods = &exec_methods;
	return reinterpret_cast<Node *>(s);
}

const CustomScanMethods scan_methods = {
	.CustomName = kFunctionScanName,
	.CreateCustomScanState = create_scan_state,
};

const CustomScanMethods *function_scan_methods() { return &scan_methods; }

}  // namespace

void define_function_scan_gucs()
{
	DefineCustomBoolVariable("ruvector.enable_function_scan",
							 "Streams the rows of ruvector_gnn_forward and ruvector_message_pass in FROM.",
							 "Off, PostgreSQL's Function Scan first stores every row in a tuplestore (on disk past work_mem).",
							 &enable_function_scan, true, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
}

void install_function_scan()
{
	RegisterCustomScanMethods(&scan_methods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = set_rel_pathlist;
}

}  // namespace ruvector::scan
