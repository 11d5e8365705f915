#include "extension/graph/graph_reader.hpp"
#include "extension/client/worker_client.hpp"
#include "extension/table_reader.hpp"
#include "worker/kernels/gnn_model.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
}

#include <algorithm>
#include <cmath>

namespace ruvector {

namespace {

// Edge weights feed GCN's sums and its deg^-1/2: NaN or an infinity there can only give
// non-finite results, so they are refused on input (negative finite weights are checked by the
// layer that cannot use them: GCN normalisation, on the node's degree).
void check_edge_weight(float w, int64 a, int64 b, const char *where /* the edge table, or null */)
{
	if (!std::isfinite(w))
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
						errmsg("edge " INT64_FORMAT " -> " INT64_FORMAT "%s%s has weight %s", a, b, where ? " of " : "",
							   where ? where : "", std::isnan(w) ? "NaN" : w > 0 ? "Infinity" : "-Infinity"),
						errdetail("Edge weights must be finite."),
						errhint("Fix or delete the edge, or leave the weight column out (every edge then weighs 1).")));
}

AttrNumber check_column(Oid relid, const char *column, const char *role)
{
	AttrNumber att = get_attnum(relid, column);
	if (att == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation %s does not exist", column, qualified_relation_name(relid)),
						errhint("Name the %s column explicitly.", role)));
	return att;
}

void check_integer_column(Oid relid, const char *column, const char *role)
{
	AttrNumber att = check_column(relid, column, role);
	Oid type = get_atttype(relid, att);
	if (type != INT2OID && type != INT4OID && type != INT8OID)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("%s column \"%s\" of relation %s must be an integer", role, column,
							   qualified_relation_name(relid)),
						errdetail("It is of type %s.", format_type_be(type))));
}

Portal open_cursor(const char *query)
{
	SPIPlanPtr plan = SPI_prepare(query, 0, nullptr);
	if (!plan)
		elog(ERROR, "SPI_prepare failed for \"%s\"", query);
	return SPI_cursor_open(nullptr, plan, nullptr, nullptr, true);
}

// Dense index of a user id (ids sorted), or -1.
int64 find_node(const int64 *ids, int64 n, int64 id)
{
	const int64 *p = std::lower_bound(ids, ids + n, id);
	return (p != ids + n && *p == id) ? p - ids : -1;
}

template <class T>
T *grow(T *p, Size *cap, Size need, MemoryContext cxt)
{
	if (need <= *cap)
		return p;
	*cap = std::max<Size>(need * 2, 1024);
	return static_cast<T *>(p ? repalloc_huge(p, *cap * sizeof(T)) : MemoryContextAllocHuge(cxt, *cap * sizeof(T)));
}

// The planner's row count of a table (pg_class.reltuples): -1 when unknown.
double estimated_rows(Oid relid)
{
	HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return -1;
	double rows = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->reltuples;
	ReleaseSysCache(tup);
	return rows;
}

}  // namespace

// Features read straight into the input room of the request that ships the graph (see
// read_graph_tables): asked for at the first node row, when the width is known, sized from the
// tables' estimates with a margin. x goes where it will be when the estimates are exact.
struct FeatureRoom {
	Size prefix;
	Oid nodes, edges;
	bool weighted;
	Size x_at = 0;  // the features' offset in the room
};

// Node rows as either reader gets them, checked the same way and appended to t.ids / t.x.
struct NodeRows {
	GraphTables &t;
	const char *nodes_name;
	MemoryContext cxt;
	FeatureRoom *room = nullptr;
	Size cap_ids = 0, cap_x = 0;

	void open_room()
	{
		double n_est = estimated_rows(room->nodes), e_est = std::max(estimated_rows(room->edges), 0.0);
		if (n_est < 1 || n_est > double(UINT32_MAX))
			return;
		auto est = [&](double n, double e) { return kernels::graph_layout(uint64(n), uint64(e), uint32(t.dim), room->weighted); };
		Size want = room->prefix + est(n_est * 1.02 + 64, e_est * 1.02 + 64).total;
		std::span<std::byte> r = worker_input_room(want);
		if (r.size() < want) {
			worker_input_room_release();
			return;
		}
		room->x_at = room->prefix + est(n_est, e_est).x_offset;
		t.room = r.data();
		t.room_bytes = r.size();
		t.room_prefix = room->prefix;
		t.x = reinterpret_cast<float *>(t.room + room->x_at);
	}

	// Whether rows node rows fit in the room: features, then the ids after 8 bytes of padding.
	bool room_fits(Size rows) const
	{
		return room->x_at + rows * (sizeof(float) * t.dim + sizeof(int64)) + 8 <= t.room_bytes;
	}

	// Move the features read so far out of the room, into palloc'd memory.
	void leave_room()
	{
		elog(DEBUG1, "ruvector graph read: features copied out of the request's input (%s)",
			 room_fits(Size(t.n + 1)) ? "nodes out of id order" : "more nodes than estimated");
		Size floats = Size(t.n) * t.dim;
		cap_x = std::max<Size>(2 * (floats + t.dim), 1024);
		auto *x = static_cast<float *>(MemoryContextAllocHuge(cxt, cap_x * sizeof(float)));
		memcpy(x, t.x, floats * sizeof(float));
		t.x = x;
		t.room = nullptr;
		worker_input_room_release();
	}

	void add(bool null_id, int64 node, bool null_v, Datum vd)
	{
		if (null_id)
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION), errmsg("node table %s has a NULL id", nodes_name)));
		if (null_v)
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
							errmsg("node " INT64_FORMAT " of %s has a NULL embedding", node, nodes_name)));
		Vector *v = datum_get_vector(vd);
		if (t.n == 0) {
			t.dim = v->dim;
			if (room)
				open_room();
		} else if (v->dim != t.dim)
			ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
							errmsg("node " INT64_FORMAT " of %s has %d dimensions, the others %d", node, nodes_name,
								   v->dim, t.dim)));
		t.ids = grow(t.ids, &cap_ids, Size(t.n + 1), cxt);
		if (t.room && !room_fits(Size(t.n + 1)))
			leave_room();
		if (!t.room)
			t.x = grow(t.x, &cap_x, Size(t.n + 1) * t.dim, cxt);
		t.ids[t.n] = node;
		memcpy(t.x + Size(t.n) * t.dim, v->x, sizeof(float) * t.dim);
		t.n++;
		if (reinterpret_cast<Pointer>(v) != DatumGetPointer(vd))
			pfree(v);
	}

	// Ids must be unique; t is in id order by now.
	void check_unique() const
	{
		for (int64 i = 1; i < t.n; i++)
			if (t.ids[i] == t.ids[i - 1])
				ereport(ERROR, (errcode(ERRCODE_UNIQUE_VIOLATION),
								errmsg("node id " INT64_FORMAT " appears more than once in %s", t.ids[i], nodes_name)));
	}
};

namespace {

// An integer id column's value as bigint (the SQL path casts with ::bigint).
int64 id_value(Datum d, Oid type)
{
	return type == INT2OID ? DatumGetInt16(d) : type == INT4OID ? DatumGetInt32(d) : DatumGetInt64(d);
}

// The weight column types read directly; others go through the SQL path's ::real cast.
bool direct_weight_type(Oid type)
{
	return type == FLOAT4OID || type == FLOAT8OID || type == INT2OID || type == INT4OID || type == INT8OID ||
		   type == NUMERICOID;
}

// A weight as real, as the SQL path's ::real cast gives it (with its errors).
float weight_value(Datum d, Oid type)
{
	switch (type) {
	case FLOAT4OID: return DatumGetFloat4(d);
	case FLOAT8OID: return DatumGetFloat4(DirectFunctionCall1(dtof, d));
	case INT2OID: return float(DatumGetInt16(d));
	case INT4OID: return float(DatumGetInt32(d));
	case INT8OID: return float(DatumGetInt64(d));
	default: return DatumGetFloat4(DirectFunctionCall1(numeric_float4, d));
	}
}

// Put nodes read in table order into id order (a no-op when the table is in id order already).
void sort_nodes(GraphTables &t, MemoryContext cxt)
{
	if (std::is_sorted(t.ids, t.ids + t.n))
		return;
	int64 *order = static_cast<int64 *>(MemoryContextAllocHuge(cxt, sizeof(int64) * (t.n + 1)));
	for (int64 i = 0; i < t.n; i++)
		order[i] = i;
	std::sort(order, order + t.n, [&t](int64 a, int64 b) { return t.ids[a] < t.ids[b]; });
	int64 *ids = static_cast<int64 *>(MemoryContextAllocHuge(cxt, sizeof(int64) * (t.n + 1)));
	float *x = static_cast<float *>(MemoryContextAllocHuge(cxt, sizeof(float) * (Size(t.n) * t.dim + 1)));
	for (int64 i = 0; i < t.n; i++) {
		ids[i] = t.ids[order[i]];
		memcpy(x + Size(i) * t.dim, t.x + Size(order[i]) * t.dim, sizeof(float) * t.dim);
	}
	pfree(t.ids);
	pfree(t.x);
	pfree(order);
	t.ids = ids;
	t.x = x;
}

}  // namespace

// Nodes, in id order: the dense index of a node is its rank. A direct scan of the table when it
// may be read so (scan_table), else `SELECT id::bigint, embedding ... ORDER BY 1` through SPI.
static void read_nodes(const GraphSource &s, const char *nodes_name, GraphTables &t, MemoryContext caller, ScanAs as,
					   FeatureRoom *room = nullptr)
{
	AttrNumber atts[2] = {get_attnum(s.nodes, s.id), get_attnum(s.nodes, s.embedding)};
	Oid id_type = get_atttype(s.nodes, atts[0]);
	NodeRows rows{t, nodes_name, caller, room};
	auto row = [&](const Datum *v, const bool *n) { rows.add(n[0], n[0] ? 0 : id_value(v[0], id_type), n[1], v[1]); };
	if (scan_table(s.nodes, atts, as, row)) {
		if (t.room && !std::is_sorted(t.ids, t.ids + t.n))
			rows.leave_room();  // sorted into new arrays
		if (t.n > 0)
			sort_nodes(t, caller);
		rows.check_unique();
		return;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	Portal portal = open_cursor(psprintf("SELECT %s::bigint, %s FROM %s ORDER BY 1", quote_identifier(s.id),
										 quote_identifier(s.embedding), nodes_name));
	for (;;) {
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++) {
			bool null_id, null_v;
			HeapTuple tup = SPI_tuptable->vals[i];
			Datum id = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &null_id);
			Datum vd = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &null_v);
			rows.add(null_id, null_id ? 0 : DatumGetInt64(id), null_v, vd);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	rows.check_unique();
}

// Edge rows as either reader gets them, checked the same way and appended to t.src / t.dst / t.w.
struct EdgeRows {
	GraphTables &t;
	const GraphSource &s;
	const char *nodes_name;
	const char *edges_name;
	MemoryContext cxt;
	Size cap_e = 0, cap_d = 0, cap_w = 0;
	// Ids without gaps (the common case; sorted and unique by now) map to their index by subtraction.
	bool dense = t.n > 0 && uint64(t.ids[t.n - 1]) - uint64(t.ids[0]) == uint64(t.n - 1);

	int64 index_of(int64 id) const
	{
		if (dense)
			return id >= t.ids[0] && id <= t.ids[t.n - 1] ? id - t.ids[0] : -1;
		return find_node(t.ids, t.n, id);
	}

	void add(bool n1, int64 a, bool n2, int64 b, bool n3, float w)
	{
		if (n1 || n2)
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION), errmsg("edge table %s has a NULL endpoint", edges_name)));
		if (s.weight) {
			if (n3)
				ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
								errmsg("edge " INT64_FORMAT " -> " INT64_FORMAT " of %s has a NULL weight", a, b, edges_name)));
			check_edge_weight(w, a, b, edges_name);
		}
		int64 ia = index_of(a), ib = index_of(b);
		if (ia < 0 || ib < 0)
			ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
							errmsg("edge " INT64_FORMAT " -> " INT64_FORMAT " of %s has a dangling endpoint", a, b, edges_name),
							errdetail("Node " INT64_FORMAT " is not in %s.", ia < 0 ? a : b, nodes_name)));
		t.src = grow(t.src, &cap_e, Size(t.e + 1), cxt);
		t.dst = grow(t.dst, &cap_d, Size(t.e + 1), cxt);
		t.src[t.e] = uint32(ia);
		t.dst[t.e] = uint32(ib);
		if (s.weight) {
			t.w = grow(t.w, &cap_w, Size(t.e + 1), cxt);
			t.w[t.e] = w;
		}
		t.e++;
	}
};

// Edges in table order: a direct scan when the table may be read so and its weight type is one
// weight_value() knows, else through SPI.
static void read_edges(const GraphSource &s, const char *nodes_name, const char *edges_name, GraphTables &t,
					   MemoryContext caller)
{
	AttrNumber atts[3] = {get_attnum(s.edges, s.src), get_attnum(s.edges, s.dst),
						  AttrNumber(s.weight ? get_attnum(s.edges, s.weight) : InvalidAttrNumber)};
	Oid src_type = get_atttype(s.edges, atts[0]), dst_type = get_atttype(s.edges, atts[1]);
	Oid w_type = s.weight ? get_atttype(s.edges, atts[2]) : InvalidOid;
	bool direct_weight = !s.weight || direct_weight_type(w_type);
	EdgeRows rows{t, s, nodes_name, edges_name, caller};
	auto row = [&](const Datum *v, const bool *n) {
		float w = 1;
		if (s.weight && !n[2])
			w = weight_value(v[2], w_type);
		rows.add(n[0], n[0] ? 0 : id_value(v[0], src_type), n[1], n[1] ? 0 : id_value(v[1], dst_type), s.weight && n[2], w);
	};
	if (direct_weight && scan_table(s.edges, std::span(atts, s.weight ? 3 : 2), ScanAs::caller, row))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	Portal portal = open_cursor(psprintf("SELECT %s::bigint, %s::bigint%s%s FROM %s", quote_identifier(s.src),
										 quote_identifier(s.dst), s.weight ? ", " : "",
										 s.weight ? psprintf("%s::real", quote_identifier(s.weight)) : "", edges_name));
	for (;;) {
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++) {
			HeapTuple tup = SPI_tuptable->vals[i];
			TupleDesc d = SPI_tuptable->tupdesc;
			bool n1, n2 = false, n3 = false;
			int64 a = DatumGetInt64(SPI_getbinval(tup, d, 1, &n1));
			int64 b = DatumGetInt64(SPI_getbinval(tup, d, 2, &n2));
			float w = 1;
			if (s.weight) {
				Datum wd = SPI_getbinval(tup, d, 3, &n3);
				if (!n3)
					w = DatumGetFloat4(wd);
			}
			rows.add(n1, a, n2, b, n3, w);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

GraphTables read_graph_tables(const GraphSource &s, bool nodes_by_scan, const Size *room_prefix)
{
	check_vector_column(s.nodes, s.embedding);
	check_integer_column(s.nodes, s.id, "id");
	check_integer_column(s.edges, s.src, "source");
	check_integer_column(s.edges, s.dst, "destination");
	if (s.weight)
		check_column(s.edges, s.weight, "weight");
	char *nodes_name = qualified_relation_name(s.nodes);
	char *edges_name = qualified_relation_name(s.edges);
	MemoryContext caller = CurrentMemoryContext;
	GraphTables t{};

	FeatureRoom room{room_prefix ? *room_prefix : 0, s.nodes, s.edges, s.weight != nullptr};
	read_nodes(s, nodes_name, t, caller, nodes_by_scan ? ScanAs::index_build : ScanAs::caller,
			   room_prefix ? &room : nullptr);
	if (t.n == 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("node table %s has no rows", nodes_name),
						errhint("A graph needs at least one node.")));
	if (t.n > int64(UINT32_MAX))
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("graphs are limited to 2^32 - 1 nodes")));
	read_edges(s, nodes_name, edges_name, t, caller);
	return t;
}

GraphTables graph_from_arrays(ArrayType *emb, ArrayType *src, ArrayType *dst, ArrayType *weights)
{
	GraphTables t{};
	if (ARR_NDIM(emb) != 2 || ARR_ELEMTYPE(emb) != FLOAT4OID)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("embeddings must be a two-dimensional real array"),
						errhint("One row per node, e.g. ARRAY[[1,0],[0,1]]::real[][].")));
	if (array_contains_nulls(emb))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("embeddings must not contain NULLs")));
	t.n = ARR_DIMS(emb)[0];
	t.dim = ARR_DIMS(emb)[1];
	t.x = static_cast<float *>(palloc(sizeof(float) * Size(t.n) * t.dim));
	memcpy(t.x, ARR_DATA_PTR(emb), sizeof(float) * Size(t.n) * t.dim);
	for (Size i = 0; i < Size(t.n) * t.dim; i++)
		check_element(t.x[i]);
	t.ids = static_cast<int64 *>(palloc(sizeof(int64) * t.n));
	for (int64 i = 0; i < t.n; i++)
		t.ids[i] = i;
	auto int64s = [](ArrayType *a, const char *what, int *count) -> int64 * {
		if (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != INT8OID || array_contains_nulls(a))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must be a one-dimensional bigint array without NULLs", what)));
		*count = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
		return reinterpret_cast<int64 *>(ARR_DATA_PTR(a));
	};
	int ns, nd;
	int64 *s = int64s(src, "edge_src", &ns);
	int64 *d = int64s(dst, "edge_dst", &nd);
	if (ns != nd)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("edge_src has %d entries, edge_dst %d", ns, nd)));
	t.e = ns;
	t.src = static_cast<uint32 *>(palloc(sizeof(uint32) * (ns + 1)));
	t.dst = static_cast<uint32 *>(palloc(sizeof(uint32) * (ns + 1)));
	for (int i = 0; i < ns; i++) {
		if (s[i] < 0 || s[i] >= t.n || d[i] < 0 || d[i] >= t.n)
			ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
							errmsg("edge " INT64_FORMAT " -> " INT64_FORMAT " has a dangling endpoint", s[i], d[i]),
							errdetail("Nodes are the embedding rows, numbered from 0 to " INT64_FORMAT ".", t.n - 1)));
		t.src[i] = uint32(s[i]);
		t.dst[i] = uint32(d[i]);
	}
	if (weights) {
		if (ARR_NDIM(weights) > 1 || ARR_ELEMTYPE(weights) != FLOAT4OID || array_contains_nulls(weights))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("edge_weights must be a one-dimensional real array without NULLs")));
		int nw = ARR_NDIM(weights) == 0 ? 0 : ARR_DIMS(weights)[0];
		if (nw != ns)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("edge_weights has %d entries, the edges %d", nw, ns)));
		t.w = static_cast<float *>(palloc(sizeof(float) * (ns + 1)));
		memcpy(t.w, ARR_DATA_PTR(weights), sizeof(float) * ns);
		for (int i = 0; i < ns; i++)
			check_edge_weight(t.w[i], s[i], d[i], nullptr);
	}
	return t;
}

GraphTables read_node_vectors(Oid relid, const char *id_column, const char *embedding_column)
{
	GraphSource s{relid, relid, embedding_column, id_column, nullptr, nullptr, nullptr};
	check_vector_column(relid, embedding_column);
	check_integer_column(relid, id_column, "id");
	char *nodes_name = qualified_relation_name(relid);
	GraphTables t{};
	read_nodes(s, nodes_name, t, CurrentMemoryContext, ScanAs::caller);
	if (t.n == 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("node table %s has no rows", nodes_name),
						errhint("A graph needs at least one node.")));
	return t;
}

Size GraphBytes::size() const
{
	Size n = 0;
	for (auto p : parts)
		n += p.size();
	return n;
}

GraphBytes graph_bytes(GraphTables &t)
{
	static const std::byte zeros[8] = {};
	std::byte *head = nullptr;
	kernels::GraphLayout layout;
	{
		kernels::Csr g = kernels::build_csr(Size(t.n), std::span(t.src, Size(t.e)), std::span(t.dst, Size(t.e)),
											t.w ? std::span<const float>(t.w, Size(t.e)) : std::span<const float>());
		layout = kernels::graph_layout(g, uint32(t.dim));
		// palloc without erroring (no PostgreSQL error may unwind the CSR's vectors)
		head = static_cast<std::byte *>(palloc_extended(layout.x_offset, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM));
		if (head)
			kernels::encode_graph_head_into({head, layout.x_offset}, g, uint32(t.dim));
	}
	if (!head)
		throw std::bad_alloc();
	Size x_bytes = sizeof(float) * Size(t.n) * t.dim;
	// Features in a room: moved to their place there (nothing to do when the estimates were exact),
	// or out of it when the graph does not fit after all.
	if (t.room) {
		std::byte *at = t.room + t.room_prefix + layout.x_offset;
		if (t.room_prefix + layout.total <= t.room_bytes) {
			bool moved = at != reinterpret_cast<std::byte *>(t.x);
			if (moved)
				memmove(at, t.x, x_bytes);
			t.x = reinterpret_cast<float *>(at);
			// tests/sh/091 reads these
			elog(DEBUG1, "ruvector graph read: features in the request's input%s", moved ? ", moved to their place" : "");
		} else {
			elog(DEBUG1, "ruvector graph read: features copied out of the request's input (the graph outgrew it)");
			auto *x = static_cast<float *>(palloc_extended(x_bytes + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM));
			if (!x)
				throw std::bad_alloc();
			memcpy(x, t.x, x_bytes);
			t.x = x;
			t.room = nullptr;
			worker_input_room_release();
		}
	}
	GraphBytes b;
	b.parts = {std::span<const std::byte>(head, layout.x_offset),
			   std::as_bytes(std::span(t.x, Size(t.n) * t.dim)),
			   std::span<const std::byte>(zeros, layout.ids_offset - layout.x_offset - x_bytes),
			   std::as_bytes(std::span(t.ids, Size(t.n)))};
	b.nodes = uint64(t.n);
	return b;
}

std::span<const std::byte> graph_blob(GraphTables &t)
{
	GraphBytes b = graph_bytes(t);
	Size len = b.size();
	auto *out = static_cast<std::byte *>(palloc_extended(len, MCXT_ALLOC_HUGE));
	Size at = 0;
	for (auto p : b.parts) {
		memcpy(out + at, p.data(), p.size());
		at += p.size();
	}
	pfree(const_cast<std::byte *>(b.parts[0].data()));
	return {out, len};
}

namespace {

// The first of the graph's tables on which the current user lacks SELECT on a column used (or which
// no longer exists), else InvalidOid.
Oid unreadable_graph_table(const GraphSource &s)
{
	Oid user = GetUserId();
	struct Col {
		Oid rel;
		const char *name;
	} cols[] = {{s.nodes, s.embedding}, {s.nodes, s.id}, {s.edges, s.src}, {s.edges, s.dst}, {s.edges, s.weight}};
	for (const Col &c : cols) {
		if (!c.name)
			continue;
		if (!get_rel_name(c.rel))
			return c.rel;
		if (pg_class_aclcheck(c.rel, user, ACL_SELECT) == ACLCHECK_OK)
			continue;
		AttrNumber att = get_attnum(c.rel, c.name);
		if (att == InvalidAttrNumber || pg_attribute_aclcheck(c.rel, att, user, ACL_SELECT) != ACLCHECK_OK)
			return c.rel;
	}
	return InvalidOid;
}

}  // namespace

bool may_read_graph(const GraphSource &s) { return !OidIsValid(unreadable_graph_table(s)); }

bool may_share_graph(const GraphSource &s)
{
	if (Oid rel = unreadable_graph_table(s); OidIsValid(rel))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied for table %s", get_rel_name(rel))));
	return check_enable_rls(s.nodes, InvalidOid, true) != RLS_ENABLED &&
		   check_enable_rls(s.edges, InvalidOid, true) != RLS_ENABLED;
}

}  // namespace ruvector
