// The planner side of the exact scan: which queries it takes over, the CustomPath, the plan.
//
// It takes over exactly the queries whose generic plan is `Limit -> Sort -> Seq Scan` of one
// heap table ordered (ASC, NULLS LAST) by a ruvector distance between a column of that table and
// an expression that is constant during the scan ($n, a constant, an initplan result). Anything
// else between the scan and the Limit (grouping, DISTINCT, window functions, set-returning
// functions, row locks, joins) could need more rows than LIMIT + OFFSET, so those queries keep
// the generic plan.
#include "extension/scan/exact_scan.hpp"

#include <algorithm>

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "optimizer/plancat.h"
#include "catalog/pg_class.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "access/stratnum.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace ruvector::scan {

bool enable_exact_scan = true;

namespace {

set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = nullptr;

// What the path carries to PlanCustomPath (custom_private of the CustomPath).
enum PathPrivate { kPathQuery = 0, kPathFunc, kPathAttno, kPathQueryLeft, kPathKeepTies, kPathCollation };

Plan *plan_exact_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *clauses,
					  List *custom_plans);

const CustomPathMethods path_methods = {
	.CustomName = kExactScanName,
	.PlanCustomPath = plan_exact_path,
	.ReparameterizeCustomPathByChild = nullptr,
};

// The query level allows a scan that returns only LIMIT + OFFSET rows (plus ties) to the Limit.
bool query_shape_allows(PlannerInfo *root)
{
	Query *parse = root->parse;
	if (parse->commandType != CMD_SELECT || parse->limitCount == nullptr)
		return false;
	if (parse->groupClause || parse->groupingSets || parse->distinctClause || parse->hasAggs ||
		parse->hasWindowFuncs || parse->hasTargetSRFs || parse->havingQual || parse->setOperations ||
		parse->rowMarks || root->hasHavingQual)
		return false;
	if (bms_membership(root->all_baserels) != BMS_SINGLETON)
		return false;
	// k is evaluated by the scan as the Limit evaluates it: once, so it must not change.
	for (Node *e : {parse->limitCount, parse->limitOffset})
		if (e && (contain_volatile_functions(e) || contain_subplans(e)))
			return false;
	return true;
}

bool is_heap_table(RangeTblEntry *rte)
{
	if (rte->rtekind != RTE_RELATION || rte->inh || rte->tablesample ||
		(rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_MATVIEW))
		return false;
	Relation r = table_open(rte->relid, NoLock);  // the planner holds a lock already
	bool heap = r->rd_tableam == GetHeapamTableAmRoutine();
	table_close(r, NoLock);
	return heap;
}

Expr *strip_relabel(Expr *e)
{
	while (e && IsA(e, RelabelType))
		e = reinterpret_cast<RelabelType *>(e)->arg;
	return e;
}

// The distance ORDER BY key: `col <op> q` or `q <op> col` (or the function called directly) with
// col a column of rel and q free of this query level's columns and of volatile functions.
struct DistanceKey {
	Oid funcid;
	Oid collation;
	AttrNumber attno;
	bool query_left;
	Expr *query;
};

bool match_distance_expr(RelOptInfo *rel, Expr *expr, DistanceKey *key)
{
	Oid funcid;
	Oid collation;
	List *args;
	if (IsA(expr, OpExpr)) {
		auto *op = reinterpret_cast<OpExpr *>(expr);
		funcid = op->opfuncid ? op->opfuncid : get_opcode(op->opno);
		collation = op->inputcollid;
		args = op->args;
	} else if (IsA(expr, FuncExpr)) {
		auto *fn = reinterpret_cast<FuncExpr *>(expr);
		funcid = fn->funcid;
		collation = fn->inputcollid;
		args = fn->args;
	} else
		return false;
	if (list_length(args) != 2)
		return false;
	for (int side = 0; side < 2; side++) {
		Expr *col = strip_relabel(static_cast<Expr *>(list_nth(args, side)));
		Expr *q = static_cast<Expr *>(list_nth(args, 1 - side));
		if (!IsA(col, Var))
			continue;
		auto *var = reinterpret_cast<Var *>(col);
		if (var->varno != int(rel->relid) || var->varlevelsup != 0 || var->varattno <= 0)
			continue;
		if (contain_var_clause(reinterpret_cast<Node *>(q)) || contain_volatile_functions(reinterpret_cast<Node *>(q)) ||
			contain_subplans(reinterpret_cast<Node *>(q)))
			continue;
		const kernels::MetricInfo *metric;
		if (!lookup_distance_function(funcid, &metric))
			return false;
		*key = {funcid, collation, var->varattno, side == 1, q};
		return true;
	}
	return false;
}

// Whether the planner would take an index path it built for this ORDER BY (ruivfflat, ruhnsw)
// over the generic plan (a top-N sort of the seq scan): then the exact scan stays out, since it
// only replaces the generic plan and never an index scan. Where the index loses anyway (say
// ivfflat.probes at half the lists or more, where pgvector's cost estimate, which ours follows,
// hands the query to the seq scan), the exact scan takes the generic plan's place. Costs as the
// planner compares them under LIMIT (an index path yields its first rows after startup); with a
// LIMIT the planner cannot see (a parameter), any index path wins.
Path *make_exact_path(PlannerInfo *root, RelOptInfo *rel, PathKey *pk, const DistanceKey &key, bool keep_ties,
					  Cost distance_cost, int workers);

bool index_beats_generic(PlannerInfo *root, RelOptInfo *rel, PathKey *key, Cost distance_cost)
{
	Path *seq = nullptr;
	bool any_index = false;
	ListCell *lc;
	foreach (lc, rel->pathlist) {
		auto *p = static_cast<Path *>(lfirst(lc));
		if (p->pathtype == T_SeqScan && p->param_info == nullptr && (!seq || p->total_cost < seq->total_cost))
			seq = p;
		any_index |= (p->pathtype == T_IndexScan || p->pathtype == T_IndexOnlyScan) && p->pathkeys != NIL &&
					 linitial(p->pathkeys) == key && p->total_cost < disable_cost;
	}
	if (!any_index)
		return false;
	if (!seq || root->limit_tuples <= 0)
		return true;
	double rows = std::max(rel->rows, 1.0);
	double fraction = std::min(1.0, root->limit_tuples / rows);
	Path sort;
	cost_sort(&sort, root, list_make1(key), seq->total_cost + (distance_cost + cpu_operator_cost) * rel->rows, rel->rows,
			  rel->reltarget->width, 0.0, work_mem, root->limit_tuples);
	Cost generic = sort.startup_cost + fraction * (sort.total_cost - sort.startup_cost);
	foreach (lc, rel->pathlist) {
		auto *p = static_cast<Path *>(lfirst(lc));
		if ((p->pathtype == T_IndexScan || p->pathtype == T_IndexOnlyScan) && p->pathkeys != NIL &&
			linitial(p->pathkeys) == key && p->total_cost < disable_cost &&
			p->startup_cost + fraction * (p->total_cost - p->startup_cost) <= generic)
			return true;
	}
	return false;
}

void add_exact_path(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte)
{
	if (!enable_exact_scan || rel->reloptkind != RELOPT_BASEREL || root->query_pathkeys == NIL)
		return;
	if (!query_shape_allows(root) || !is_heap_table(rte))
		return;
	auto *pk = static_cast<PathKey *>(linitial(root->query_pathkeys));
	if (pk->pk_strategy != BTLessStrategyNumber || pk->pk_nulls_first || pk->pk_opfamily != get_opclass_family(GetDefaultOpClass(FLOAT8OID, BTREE_AM_OID)) ||
		pk->pk_eclass->ec_has_volatile)
		return;
	DistanceKey key;
	bool found = false;
	ListCell *lc;
	foreach (lc, pk->pk_eclass->ec_members) {
		auto *em = static_cast<EquivalenceMember *>(lfirst(lc));
		if (!em->em_is_child && bms_equal(em->em_relids, rel->relids) && match_distance_expr(rel, em->em_expr, &key)) {
			found = true;
			break;
		}
	}
	if (!found)
		return;
	QualCost distance_cost{0, 0};
	add_function_cost(root, key.funcid, nullptr, &distance_cost);
	if (index_beats_generic(root, rel, pk, distance_cost.per_tuple))
		return;

	// With more ORDER BY keys (an Incremental Sort above breaks ties) or WITH TIES, the scan
	// also returns the rows tied with the last one, which those may need.
	bool keep_ties = list_length(root->query_pathkeys) > 1 || root->parse->limitOption == LIMIT_OPTION_WITH_TIES;
	add_path(rel, make_exact_path(root, rel, pk, key, keep_ties, distance_cost.per_tuple, 0));

	// A parallel-aware partial path too, when the planner may run this rel in workers: each
	// participant keeps the top k of the blocks it is handed, and Gather Merge (which the planner
	// puts above a partial path with pathkeys) merges them. The query vector, LIMIT and OFFSET
	// are evaluated in every participant, so they must be parallel safe.
	if (rel->consider_parallel && rel->lateral_relids == nullptr && max_parallel_workers_per_gather > 0 &&
		is_parallel_safe(root, reinterpret_cast<Node *>(key.query)) &&
		is_parallel_safe(root, root->parse->limitCount) && is_parallel_safe(root, root->parse->limitOffset)) {
		int workers = compute_parallel_worker(rel, double(rel->pages), -1, max_parallel_workers_per_gather);
		if (workers > 0)
			add_partial_path(rel, make_exact_path(root, rel, pk, key, keep_ties, distance_cost.per_tuple, workers));
	}
}

// The CustomPath: a plain one (workers 0) or a partial, parallel-aware one.
Path *make_exact_path(PlannerInfo *root, RelOptInfo *rel, PathKey *pk, const DistanceKey &key, bool keep_ties,
					  Cost distance_cost, int workers)
{
	CustomPath *cp = makeNode(CustomPath);
	cp->path.pathtype = T_CustomScan;
	cp->path.parent = rel;
	cp->path.pathtarget = rel->reltarget;
	cp->path.param_info = nullptr;
	cp->path.parallel_aware = workers > 0;
	cp->path.parallel_safe = workers > 0;
	cp->path.parallel_workers = workers;
	cp->path.rows = rel->rows;
	cp->path.pathkeys = list_make1(pk);
	cp->flags = CUSTOMPATH_SUPPORT_PROJECTION;
	cp->custom_private = list_make5(key.query, makeInteger(int(key.funcid)), makeInteger(key.attno),
									makeInteger(key.query_left), makeInteger(keep_ties));
	cp->custom_private = lappend(cp->custom_private, makeInteger(int(key.collation)));
	cp->methods = &path_methods;
	cost_exact_scan(root, rel, &cp->path, distance_cost);
	return &cp->path;
}

void set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);
	add_exact_path(root, rel, rte);
}

Node *null_int8() { return reinterpret_cast<Node *>(makeNullConst(INT8OID, -1, InvalidOid)); }

Plan *plan_exact_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path, List *tlist, List *clauses, List *)
{
	List *priv = best_path->custom_private;
	Query *parse = root->parse;
	CustomScan *cs = makeNode(CustomScan);
	cs->scan.plan.targetlist = tlist;
	// Every qual, RLS ones included, in the order the planner gave them (security level first):
	// the scan evaluates them before it computes a distance, as the generic plan does.
	cs->scan.plan.qual = extract_actual_clauses(clauses, false);
	cs->scan.scanrelid = rel->relid;
	cs->flags = best_path->flags;
	cs->custom_exprs = list_make3(copyObjectImpl(list_nth(priv, kPathQuery)),
								  parse->limitCount ? static_cast<Node *>(copyObjectImpl(parse->limitCount)) : null_int8(),
								  parse->limitOffset ? static_cast<Node *>(copyObjectImpl(parse->limitOffset)) : null_int8());
	cs->custom_private = list_make4(list_nth(priv, kPathFunc), list_nth(priv, kPathAttno),
									list_nth(priv, kPathQueryLeft), list_nth(priv, kPathKeepTies));
	cs->custom_private = lappend(cs->custom_private, list_nth(priv, kPathCollation));
	cs->methods = exact_scan_methods();
	return &cs->scan.plan;
}

}  // namespace

void define_exact_scan_gucs()
{
	DefineCustomBoolVariable("ruvector.enable_exact_scan",
							 "Lets the planner answer ORDER BY distance LIMIT k with ruvector's exact scan.",
							 "Off, such queries use the generic plan: a seq scan and a top-N sort.", &enable_exact_scan,
							 true, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
}

void install_exact_scan()
{
	register_exact_scan_exec();
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = set_rel_pathlist;
}

}  // namespace ruvector::scan
