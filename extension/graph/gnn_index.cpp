// The ruvector_gnn index: ruivfflat lists over graph-enhanced embeddings.
//
// At build time the node table (the indexed table) and the edge table go through message passing
// (a trained model, or parameter-free layers) on the worker; every row is then indexed with its
// node's enhanced embedding instead of its own. The index therefore does not know the column's
// own distances, so its operator classes claim no operator: `ORDER BY embedding <=> q` never uses
// it (an index scan must return what the operator means). Graph-enhanced search has its own form,
// ruvector_gnn_search(index, query, k), which scans the index directly and returns ids with their
// distance to the enhanced embeddings. Everything after the build (storage, WAL, vacuum) and the
// scan itself are ruivfflat's.
// The build records the edge table's size and a hash of its rows; ruvector_gnn_index_stats compares
// them with the table now and reports the index stale when the edges changed (REINDEX refreshes).
// Rows inserted after the build are indexed with their own embedding until the next REINDEX.
#include "extension/graph/graph_reader.hpp"
#include "extension/ivfflat/ivfflat.hpp"
#include "extension/table_reader.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"
}

#include <algorithm>
#include <cmath>

using namespace ruvector;
using namespace ruvector::ivf;

namespace {

// The first fields match IvfOptions (lists, probes), so ruivfflat's code reads them unchanged.
struct GnnIndexOptions {
	int32 vl_len_;
	int lists;
	int probes;
	int num_layers;
	int hidden_dim;
	int edge_table;  // string options: offsets from the struct
	int layer_type;
	int aggregator;
	int model;
	int id_column;
	int src_column;
	int dst_column;
};

relopt_kind gnn_relopt_kind;

const char *string_option(const GnnIndexOptions *o, int offset, const char *dflt)
{
	return (o && offset) ? reinterpret_cast<const char *>(o) + offset : dflt;
}

bytea *gnn_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"lists", RELOPT_TYPE_INT, offsetof(GnnIndexOptions, lists)},
		{"probes", RELOPT_TYPE_INT, offsetof(GnnIndexOptions, probes)},
		{"num_layers", RELOPT_TYPE_INT, offsetof(GnnIndexOptions, num_layers)},
		{"hidden_dim", RELOPT_TYPE_INT, offsetof(GnnIndexOptions, hidden_dim)},
		{"edge_table", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, edge_table)},
		{"layer_type", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, layer_type)},
		{"aggregator", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, aggregator)},
		{"model", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, model)},
		{"id_column", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, id_column)},
		{"src_column", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, src_column)},
		{"dst_column", RELOPT_TYPE_STRING, offsetof(GnnIndexOptions, dst_column)},
	};
	return static_cast<bytea *>(build_reloptions(reloptions, validate, gnn_relopt_kind, sizeof(GnnIndexOptions), tab,
												 lengthof(tab)));
}

Oid edge_table_oid(const char *name)
{
	if (!name || !*name)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("a ruvector_gnn index needs the edge_table option"),
						errhint("CREATE INDEX ... USING ruvector_gnn (embedding) WITH (edge_table = 'edges').")));
	RangeVar *rv = makeRangeVarFromNameList(textToQualifiedNameList(cstring_to_text(name)));
	return RangeVarGetRelid(rv, AccessShareLock, false);
}

// Size and an order-independent hash of the edge table's (src, dst) pairs, read as the caller.
void edge_fingerprint(Oid edges, const char *src, const char *dst, uint64 *rows, uint64 *hash)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	const char *q = psprintf("SELECT count(*), coalesce(sum(hashtextextended(%s::text || ',' || %s::text, 7)), 0)::text FROM %s",
							 quote_identifier(src), quote_identifier(dst), qualified_relation_name(edges));
	if (SPI_execute(q, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the edge table failed");
	bool isnull;
	*rows = uint64(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	char *sum = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*hash = 1469598103934665603ULL;
	for (const char *p = sum; *p; p++)
		*hash = (*hash ^ uint64(uint8(*p))) * 1099511628211ULL;
	SPI_finish();
}

int64 node_id(Datum d, Oid type)
{
	return type == INT2OID ? DatumGetInt16(d) : type == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
}

struct EnhanceState {
	EnhancedEmbeddings e;
	Relation heap;
	AttrNumber id_att;
	Oid id_type;
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	int64 replaced;
};

// The row's node id (through its heap tuple) -> that node's enhanced embedding.
bool enhance_row(void *arg, ItemPointer tid, float *inout, int dim)
{
	auto *st = static_cast<EnhanceState *>(arg);
	bool call_again = false, all_dead = false;
	ItemPointerData t = *tid;
	if (!table_index_fetch_tuple(st->fetch, &t, SnapshotAny, st->slot, &call_again, &all_dead))
		return false;
	bool isnull;
	Datum d = slot_getattr(st->slot, st->id_att, &isnull);
	ExecClearTuple(st->slot);
	if (isnull)
		return false;
	int64 id = node_id(d, st->id_type);
	const int64 *p = std::lower_bound(st->e.ids, st->e.ids + st->e.n, id);
	if (p == st->e.ids + st->e.n || *p != id || dim != st->e.dim)
		return false;
	memcpy(inout, st->e.y + Size(p - st->e.ids) * dim, sizeof(float) * dim);
	st->replaced++;
	return true;
}

IndexBuildResult *gnn_build(Relation heap, Relation index, IndexInfo *info)
{
	const auto *o = reinterpret_cast<const GnnIndexOptions *>(index->rd_options);
	AttrNumber col = info->ii_IndexAttrNumbers[0];
	if (col == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("a ruvector_gnn index is built on a plain column, not an expression")));
	const char *column = get_attname(RelationGetRelid(heap), col, false);
	GraphSource src{RelationGetRelid(heap),
					edge_table_oid(string_option(o, o ? o->edge_table : 0, nullptr)),
					column,
					string_option(o, o ? o->id_column : 0, "id"),
					string_option(o, o ? o->src_column : 0, "src_id"),
					string_option(o, o ? o->dst_column : 0, "dst_id"),
					nullptr};
	EnhanceState st{};
	st.e = compute_enhanced_embeddings(src, string_option(o, o ? o->model : 0, nullptr),
									   string_option(o, o ? o->layer_type : 0, "graphsage"), o ? o->num_layers : 2,
									   string_option(o, o ? o->aggregator : 0, "mean"), o ? o->hidden_dim : 0);
	st.heap = heap;
	st.id_att = get_attnum(RelationGetRelid(heap), src.id);
	st.id_type = get_atttype(RelationGetRelid(heap), st.id_att);
	st.fetch = table_index_fetch_begin(heap);
	st.slot = table_slot_create(heap, nullptr);
	BuildHook hook{enhance_row, &st, 0, 0};
	edge_fingerprint(src.edges, src.src, src.dst, &hook.source_rows, &hook.source_fingerprint);

	IndexBuildResult *result;
	ivf_build_hook = &hook;
	PG_TRY();
	{
		// A C++ exception must not unwind this PG_TRY's frame: it becomes an ERROR here.
		result = pg::call_boundary([&] { return ivfbuild(heap, index, info); });
	}
	PG_FINALLY();
	{
		ivf_build_hook = nullptr;
	}
	PG_END_TRY();
	table_index_fetch_end(st.fetch);
	ExecDropSingleTupleTableSlot(st.slot);
	return result;
}

Relation open_gnn_index(Oid relid)
{
	Relation index = open_ivf_index_for_stats(relid);
	if (index->rd_indam->amoptions != gnn_options)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is not a ruvector_gnn index", RelationGetRelationName(index)),
						errhint("Pass an index created with USING ruvector_gnn.")));
	return index;
}

// The operator's distance from the index's ordering distance (prepared vectors: cosine entries
// and the query are unit vectors; a zero query has no direction).
double operator_distance(const MetricInfo &metric, float order, bool zero_query)
{
	return zero_query && metric.normalise ? NAN : metric.from_order(order);
}

struct Hit {
	int64 id;
	double distance;
};

/* The edge_table option names a table the way regclass input does ('edges', '"My Edges"',
 * 'graph.edges'). Resolved later with another search_path (pg_restore runs with an empty one), a
 * name as typed may find nothing or another table, so CREATE INDEX and ALTER INDEX ... SET store
 * the table it names now, schema-qualified and quoted. */

void qualify_edge_table(List *options)
{
	ListCell *lc;
	foreach (lc, options) {
		auto *d = lfirst_node(DefElem, lc);
		if (d->defnamespace || strcmp(d->defname, "edge_table") != 0 || !d->arg)
			continue;
		Oid rel = edge_table_oid(defGetString(d));
		d->arg = reinterpret_cast<Node *>(
			makeString(const_cast<char *>(quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)), get_rel_name(rel)))));
	}
}

}  // namespace

namespace ruvector::ivf {

PlannedStmt *qualify_gnn_edge_table(PlannedStmt *pstmt, bool &read_only_tree)
{
	Node *stmt = pstmt->utilityStmt;
	bool create = false, alter = false;
	if (IsA(stmt, IndexStmt) || (IsA(stmt, AlterTableStmt) && castNode(AlterTableStmt, stmt)->objtype == OBJECT_INDEX)) {
		Oid am = get_am_oid("ruvector_gnn", true);  // invalid where the extension is not installed
		if (IsA(stmt, IndexStmt)) {
			const char *name = castNode(IndexStmt, stmt)->accessMethod;
			create = OidIsValid(am) && name && strcmp(name, "ruvector_gnn") == 0;
		} else if (OidIsValid(am)) {
			Oid index = RangeVarGetRelid(castNode(AlterTableStmt, stmt)->relation, NoLock, true);
			HeapTuple tup = OidIsValid(index) ? SearchSysCache1(RELOID, ObjectIdGetDatum(index)) : nullptr;
			if (HeapTupleIsValid(tup)) {
				alter = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relam == am;
				ReleaseSysCache(tup);
			}
		}
	}
	if (create || alter) {
		if (read_only_tree) {  // a cached plan's tree: change a copy
			pstmt = static_cast<PlannedStmt *>(copyObjectImpl(pstmt));
			read_only_tree = false;
			stmt = pstmt->utilityStmt;
		}
		if (create)
			qualify_edge_table(castNode(IndexStmt, stmt)->options);
		else {
			ListCell *lc;
			foreach (lc, castNode(AlterTableStmt, stmt)->cmds) {
				auto *cmd = lfirst_node(AlterTableCmd, lc);
				if (cmd->subtype == AT_SetRelOptions || cmd->subtype == AT_ReplaceRelOptions)
					qualify_edge_table(reinterpret_cast<List *>(cmd->def));
			}
		}
	}
	return pstmt;
}

void register_gnn_index_reloptions()
{
	gnn_relopt_kind = add_reloption_kind();
	add_int_reloption(gnn_relopt_kind, "lists", "Number of inverted lists", kDefaultLists, 1, kMaxLists, AccessExclusiveLock);
	add_int_reloption(gnn_relopt_kind, "probes", "Default number of lists a scan probes", 1, 1, kMaxLists, ShareUpdateExclusiveLock);
	add_int_reloption(gnn_relopt_kind, "num_layers", "Message-passing layers", 2, 1, 64, AccessExclusiveLock);
	add_int_reloption(gnn_relopt_kind, "hidden_dim", "Layer width (0: the column's)", 0, 0, kMaxDimensions, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "edge_table", "Edge table (src, dst)", nullptr, nullptr, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "layer_type", "gcn, graphsage, gin or gat", "graphsage", nullptr, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "aggregator", "GraphSAGE aggregator", "mean", nullptr, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "model", "A trained model from the catalog", nullptr, nullptr, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "id_column", "Node id column", "id", nullptr, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "src_column", "Edge source column", "src_id", nullptr, AccessExclusiveLock);
	add_string_reloption(gnn_relopt_kind, "dst_column", "Edge destination column", "dst_id", nullptr, AccessExclusiveLock);
}

}  // namespace ruvector::ivf

RV_FUNCTION(ruvector_gnn_handler)
{
	IndexAmRoutine *am = make_ivf_routine();
	am->ambuild = [](Relation heap, Relation index, IndexInfo *info) {
		return pg::call_boundary([&] { return gnn_build(heap, index, info); });
	};
	am->amoptions = gnn_options;
	PG_RETURN_POINTER(am);
}

// ruvector_gnn_index_stats(index regclass): what the build used and whether the edges changed since.
RV_FUNCTION(ruvector_gnn_index_stats)
{
	Relation index = open_gnn_index(PG_GETARG_OID(0));
	const auto *o = reinterpret_cast<const GnnIndexOptions *>(index->rd_options);
	IvfMetaPage meta = read_meta(index);
	const char *edges = string_option(o, o ? o->edge_table : 0, nullptr);
	Oid edge_oid = edge_table_oid(edges);
	uint64 rows, hash;
	edge_fingerprint(edge_oid, string_option(o, o ? o->src_column : 0, "src_id"), string_option(o, o ? o->dst_column : 0, "dst_id"),
					 &rows, &hash);
	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	const char *model = string_option(o, o ? o->model : 0, nullptr);
	Datum values[7] = {CStringGetTextDatum(edges),
					   CStringGetTextDatum(model && *model ? "model" : string_option(o, o ? o->layer_type : 0, "graphsage")),
					   Int32GetDatum(o ? o->num_layers : 2),
					   model ? CStringGetTextDatum(model) : Datum(0),
					   Int64GetDatum(int64(meta.source_rows)),
					   Int64GetDatum(int64(rows)),
					   BoolGetDatum(rows != meta.source_rows || hash != meta.source_fingerprint)};
	bool nulls[7] = {false, false, false, !(model && *model), false, false, false};
	relation_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

// ruvector_gnn_search(index regclass, query vector, k integer): the k rows whose graph-enhanced
// embeddings (as the index holds them) are nearest to the query, with that distance, nearest first.
// Approximate like any ruivfflat scan: ivfflat.probes and ivfflat.iterative_scan apply.
RV_FUNCTION(ruvector_gnn_search)
{
	int32 k = PG_GETARG_INT32(2);
	if (k < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be at least 1, got %d", k)));
	Relation index = open_gnn_index(PG_GETARG_OID(0));
	Oid heap_oid = index->rd_index->indrelid;
	if (check_enable_rls(heap_oid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("ruvector_gnn_search does not support tables with row-level security"),
						errdetail("Table \"%s\" has row-level security enabled for the current user.", get_rel_name(heap_oid))));
	const auto *o = reinterpret_cast<const GnnIndexOptions *>(index->rd_options);
	const char *id_column = string_option(o, o ? o->id_column : 0, "id");
	AttrNumber id_att = get_attnum(heap_oid, id_column);
	if (id_att == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("column \"%s\" of relation \"%s\" does not exist", id_column, get_rel_name(heap_oid)),
						errhint("The index's id_column option names the node id column.")));
	Oid id_type = get_atttype(heap_oid, id_att);
	Vector *q = RV_GETARG_VECTOR(1);
	bool zero_query = true;
	for (int i = 0; i < q->dim; i++)
		zero_query = zero_query && q->x[i] == 0;
	const MetricInfo &metric = index_metric(index);

	Relation heap = table_open(heap_oid, AccessShareLock);
	ScanKeyData key;
	ScanKeyEntryInitialize(&key, 0, 1, InvalidStrategy, InvalidOid, InvalidOid, InvalidOid, PointerGetDatum(q));
	IndexScanDesc scan = index_beginscan(heap, index, GetActiveSnapshot(), 0, 1);
	index_rescan(scan, nullptr, 0, &key, 1);
	TupleTableSlot *slot = table_slot_create(heap, nullptr);
	int n = 0, cap = std::min(k, 1024);
	Hit *hits = static_cast<Hit *>(palloc(sizeof(Hit) * cap));
	while (n < k && index_getnext_slot(scan, ForwardScanDirection, slot)) {
		bool isnull;
		Datum d = slot_getattr(slot, id_att, &isnull);
		if (isnull)
			continue;
		if (n == cap) {
			cap = int(std::min<int64>(int64(cap) * 2, k));
			hits = static_cast<Hit *>(repalloc_huge(hits, sizeof(Hit) * Size(cap)));
		}
		hits[n++] = Hit{node_id(d, id_type), operator_distance(metric, last_order_distance(scan), zero_query)};
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	table_close(heap, AccessShareLock);
	relation_close(index, AccessShareLock);

	// An iterative relaxed_order scan orders each batch of lists, not the whole: sort what it found.
	std::sort(hits, hits + n, [](const Hit &a, const Hit &b) {
		if (std::isnan(a.distance) != std::isnan(b.distance))
			return std::isnan(b.distance);
		return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
	});
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (int i = 0; i < n; i++) {
		Datum values[2] = {Int64GetDatum(hits[i].id), Float8GetDatum(hits[i].distance)};
		bool nulls[2] = {};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}
