// Graph construction from vectors: k-NN and epsilon graphs written to a new edge table.
//
// The backend reads the node table (caller's privileges and snapshot), places the vectors in the
// worker's shared store under a per-backend scratch key, and asks for the edges of one block of
// rows at a time. Between blocks it inserts the edges, reports progress (a NOTICE every few
// seconds) and honours cancel; the worker computes each block on all its threads (GEMM blocks).
#include "extension/graph/graph_reader.hpp"
#include "extension/table_reader.hpp"
#include "extension/client/worker_client.hpp"
#include "shmem/store.hpp"
#include "worker/kernels/knn.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"
}

#include <cmath>

using namespace ruvector;

namespace ruvector {

const kernels::MetricInfo &parse_graph_metric(const char *name)
{
	if (const kernels::MetricInfo *m = kernels::find_metric(kernels::ElementType::float32, name))
		return *m;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown distance metric \"%s\"", name),
					errhint("Use one of: l2, cosine, ip, l1.")));
	pg_unreachable();
}

}  // namespace ruvector

namespace {

inline constexpr int64 kRowsPerRequest = 4096;

// The new edge table's name, refusing to overwrite anything.
char *new_table_name(text *name)
{
	List *names = textToQualifiedNameList(name);
	RangeVar *rv = makeRangeVarFromNameList(names);
	if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_TABLE), errmsg("relation \"%s\" already exists", text_to_cstring(name)),
						errhint("Graph construction creates its edge table and never overwrites one; drop it or choose another name.")));
	return rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname) : pstrdup(quote_identifier(rv->relname));
}

struct Builder {
	GraphTables nodes;
	const kernels::MetricInfo *metric;
	const char *table;
	proto::StoreKey key;
	uint64 tag;
	SPIPlanPtr insert;
	int64 edges;
	instr_time started, last_notice;
	const char *what;
};

void create_edge_table(Builder &b)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(psprintf("CREATE TABLE %s (src_id bigint NOT NULL, dst_id bigint NOT NULL, weight real NOT NULL)", b.table),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "creating the edge table failed");
	Oid types[3] = {INT8ARRAYOID, INT8ARRAYOID, FLOAT4ARRAYOID};
	b.insert = SPI_prepare(psprintf("INSERT INTO %s (src_id, dst_id, weight) SELECT * FROM unnest($1, $2, $3)", b.table), 3, types);
	if (!b.insert)
		elog(ERROR, "preparing the edge insert failed");
	SPI_keepplan(b.insert);
	SPI_finish();
}

void insert_edges(Builder &b, const int64 *src, const int64 *dst, const float *w, int count)
{
	if (count == 0)
		return;
	Datum *s = static_cast<Datum *>(palloc(sizeof(Datum) * count));
	Datum *d = static_cast<Datum *>(palloc(sizeof(Datum) * count));
	Datum *x = static_cast<Datum *>(palloc(sizeof(Datum) * count));
	for (int i = 0; i < count; i++) {
		s[i] = Int64GetDatum(src[i]);
		d[i] = Int64GetDatum(dst[i]);
		x[i] = Float4GetDatum(w[i]);
	}
	Datum args[3] = {PointerGetDatum(construct_array(s, count, INT8OID, 8, true, TYPALIGN_DOUBLE)),
					 PointerGetDatum(construct_array(d, count, INT8OID, 8, true, TYPALIGN_DOUBLE)),
					 PointerGetDatum(construct_array(x, count, FLOAT4OID, 4, true, TYPALIGN_INT))};
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(b.insert, args, nullptr, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "inserting edges failed");
	SPI_finish();
	b.edges += count;
	pfree(s);
	pfree(d);
	pfree(x);
}

void progress(Builder &b, int64 done)
{
	instr_time now;
	INSTR_TIME_SET_CURRENT(now);
	instr_time since = now;
	INSTR_TIME_SUBTRACT(since, b.last_notice);
	if (INSTR_TIME_GET_DOUBLE(since) * 1000 < rv_progress_interval_ms || done >= b.nodes.n)
		return;
	b.last_notice = now;
	instr_time total = now;
	INSTR_TIME_SUBTRACT(total, b.started);
	double elapsed = INSTR_TIME_GET_DOUBLE(total);
	ereport(NOTICE, (errmsg("%s: " INT64_FORMAT " of " INT64_FORMAT " nodes, " INT64_FORMAT " edges, %.0f s, about %.0f s to go",
							b.what, done, b.nodes.n, b.edges, elapsed, elapsed * double(b.nodes.n - done) / double(done))));
}

void setup(Builder &b, FunctionCallInfo fcinfo, const char *what)
{
	Oid relid = PG_GETARG_OID(0);
	const char *embedding = NameStr(*PG_GETARG_NAME(1));
	b.table = new_table_name(PG_GETARG_TEXT_PP(2));
	b.metric = &parse_graph_metric(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	const char *id = NameStr(*PG_GETARG_NAME(5));
	b.what = what;
	require_worker_support();
	b.nodes = read_node_vectors(relid, id, embedding);
	if (b.metric->normalise)  // the worker's k-NN takes prepared rows (cosine: unit-norm)
		for (int64 i = 0; i < b.nodes.n; i++)
			b.metric->normalise_row(kernels::as_row(b.nodes.x + Size(i) * b.nodes.dim), Size(b.nodes.dim));
	// The vectors go to the shared store once; every block request refers to them.
	b.key = worker_scratch_key();  // released by finish(), or by the error, cancel or exit
	b.tag = uint64(GetCurrentTimestamp()) | 1;
	client::store_put(b.key, b.tag, {std::as_bytes(std::span(b.nodes.x, Size(b.nodes.n) * b.nodes.dim))});
	create_edge_table(b);
	INSTR_TIME_SET_CURRENT(b.started);
	b.last_notice = b.started;
}

proto::GraphBuildRequest request(const Builder &b, int64 begin, int64 end, uint32 k, bool eps, float epsilon,
								 uint64 max_edges)
{
	proto::GraphBuildRequest req;
	req.database = b.key.database;
	req.object = b.key.object;
	req.kind = b.key.kind;
	req.metric = b.metric->metric;
	req.epsilon_mode = eps;
	req.tag = b.tag;
	req.n = uint64(b.nodes.n);
	req.dim = uint32(b.nodes.dim);
	req.k = k;
	req.row_begin = uint64(begin);
	req.row_end = uint64(end);
	req.epsilon = epsilon;
	req.max_edges = max_edges;
	return req;
}

void finish(Builder &b)
{
	proto::StoreKey key = b.key;
	worker_best_effort([&] { client::store_drop(key); });
	worker_scratch_release();  // in case the drop above failed
}

// A valid ruivfflat index on the column with the metric's opclass, or nullptr.
const char *ivf_index_for(Oid relid, const char *column, const kernels::MetricInfo &m)
{
	const char *found = nullptr;
	Oid types[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum args[3] = {ObjectIdGetDatum(relid), CStringGetTextDatum(column), CStringGetTextDatum(m.opclass)};
	MemoryContext caller = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(
			"SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
			" JOIN pg_opclass o ON o.oid = i.indclass[0] JOIN pg_attribute t ON t.attrelid = i.indrelid AND t.attnum = i.indkey[0]"
			" WHERE i.indrelid = $1 AND t.attname = $2 AND o.opcname = $3 AND a.amname IN ('ruivfflat', 'ivfflat')"
			" AND i.indisvalid AND i.indpred IS NULL AND i.indnatts = 1 LIMIT 1",
			3, types, args, nullptr, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "looking for a ruivfflat index failed");
	if (SPI_processed > 0) {
		MemoryContext old = MemoryContextSwitchTo(caller);
		found = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return found;
}

// The approximate mode: one index scan per node (ORDER BY <op> LIMIT k + 1), the node itself dropped.
void approximate_knn(Builder &b, Oid relid, const char *column, const char *id_column, int k)
{
	const char *rel = qualified_relation_name(relid);
	const char *op = b.metric->sql_operator;
	Oid vtype = vector_type_oid();
	int64 *src = static_cast<int64 *>(palloc(sizeof(int64) * (k + 1)));
	int64 *dst = static_cast<int64 *>(palloc(sizeof(int64) * (k + 1)));
	float *w = static_cast<float *>(palloc(sizeof(float) * (k + 1)));
	Vector *q = new_vector(b.nodes.dim);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPIPlanPtr plan = SPI_prepare(psprintf("SELECT %s::bigint, (%s %s $1)::real FROM %s ORDER BY %s %s $1 LIMIT %d",
										   quote_identifier(id_column), quote_identifier(column), op, rel,
										   quote_identifier(column), op, k + 1),
								  1, &vtype);
	if (!plan)
		elog(ERROR, "preparing the neighbour query failed");
	SPI_keepplan(plan);
	SPI_finish();
	// The vectors read earlier: cosine ones were normalised, which the operator does not mind.
	for (int64 r = 0; r < b.nodes.n; r++) {
		memcpy(q->x, b.nodes.x + Size(r) * b.nodes.dim, sizeof(float) * b.nodes.dim);
		Datum arg = PointerGetDatum(q);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_plan(plan, &arg, nullptr, true, k + 1) != SPI_OK_SELECT)
			elog(ERROR, "the neighbour query failed");
		int count = 0;
		for (uint64 i = 0; i < SPI_processed && count < k; i++) {
			bool n1, n2;
			int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &n1));
			Datum dd = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &n2);
			if (n1 || n2 || id == b.nodes.ids[r])
				continue;
			src[count] = id;
			dst[count] = b.nodes.ids[r];
			w[count] = DatumGetFloat4(dd);
			count++;
		}
		SPI_finish();
		insert_edges(b, src, dst, w, count);
		progress(b, r + 1);
	}
	SPI_freeplan(plan);
}

}  // namespace

// ruvector_build_knn_graph(node_table regclass, embedding_column name, edge_table text, k int,
//                          distance_metric text, id_column name, exact bool) RETURNS bigint
RV_FUNCTION(ruvector_build_knn_graph)
{
	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("arguments must not be NULL")));
	int32 k = PG_GETARG_INT32(3);
	if (k < 1 || k > 10000)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be between 1 and 10000")));
	bool exact = PG_GETARG_BOOL(6);
	Builder b{};
	setup(b, fcinfo, "k-NN graph");
	if (!exact) {
		const char *index = ivf_index_for(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), *b.metric);
		if (index) {
			approximate_knn(b, PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), NameStr(*PG_GETARG_NAME(5)), k);
			finish(b);
			PG_RETURN_INT64(b.edges);
		}
		ereport(NOTICE, (errmsg("no ruivfflat index on the column for this metric; building the exact graph"),
						 errhint("Create one with USING ruivfflat (%s %s) for the approximate mode.", NameStr(*PG_GETARG_NAME(1)),
								 b.metric->opclass)));
	}
	int64 *src = static_cast<int64 *>(palloc(sizeof(int64) * kRowsPerRequest * k));
	int64 *dst = static_cast<int64 *>(palloc(sizeof(int64) * kRowsPerRequest * k));
	float *w = static_cast<float *>(palloc(sizeof(float) * kRowsPerRequest * k));
	for (int64 begin = 0; begin < b.nodes.n; begin += kRowsPerRequest) {
		int64 end = std::min(b.nodes.n, begin + kRowsPerRequest);
		std::span<const kernels::Neighbor> nb = client::knn_graph(request(b, begin, end, uint32(k), false, 0, 0));
		int count = 0;
		for (int64 r = begin; r < end; r++)
			for (int j = 0; j < k; j++) {
				const kernels::Neighbor &e = nb[(r - begin) * k + j];
				if (e.index < 0)
					continue;
				src[count] = b.nodes.ids[e.index];  // the neighbour sends to the node
				dst[count] = b.nodes.ids[r];
				w[count] = e.distance;
				count++;
			}
		client::free_reply(nb);
		insert_edges(b, src, dst, w, count);
		progress(b, end);
	}
	finish(b);
	PG_RETURN_INT64(b.edges);
}

// ruvector_build_eps_graph(node_table regclass, embedding_column name, edge_table text, epsilon real,
//                          distance_metric text, id_column name, max_edges bigint) RETURNS bigint
RV_FUNCTION(ruvector_build_eps_graph)
{
	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("arguments must not be NULL")));
	float epsilon = PG_GETARG_FLOAT4(3);
	int64 max_edges = PG_GETARG_INT64(6);
	if (!(epsilon >= 0) || std::isinf(epsilon))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("epsilon must be a finite number of at least 0")));
	if (max_edges < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_edges must be at least 0")));
	Builder b{};
	setup(b, fcinfo, "epsilon graph");
	for (int64 begin = 0; begin < b.nodes.n; begin += kRowsPerRequest) {
		int64 end = std::min(b.nodes.n, begin + kRowsPerRequest);
		std::span<const kernels::EpsEdge> edges =
			client::eps_graph(request(b, begin, end, 0, true, epsilon, uint64(max_edges - b.edges)));
		uint64 count = edges.size();
		int64 *src = static_cast<int64 *>(palloc(sizeof(int64) * (count + 1)));
		int64 *dst = static_cast<int64 *>(palloc(sizeof(int64) * (count + 1)));
		float *w = static_cast<float *>(palloc(sizeof(float) * (count + 1)));
		for (uint64 i = 0; i < count; i++) {
			src[i] = b.nodes.ids[edges[i].src];
			dst[i] = b.nodes.ids[edges[i].dst];
			w[i] = edges[i].distance;
		}
		client::free_reply(edges);
		for (uint64 off = 0; off < count; off += 100000)
			insert_edges(b, src + off, dst + off, w + off, int(std::min<uint64>(100000, count - off)));
		pfree(src);
		pfree(dst);
		pfree(w);
		progress(b, end);
	}
	finish(b);
	PG_RETURN_INT64(b.edges);
}
