// GNN SQL functions: forward passes over named graphs, over tables, over arrays, and message passing.
//
// The backend reads the model (catalog tables) and the graph (user tables, with the caller's
// privileges and snapshot), the worker runs the layers on its threads. A named graph's CSR is
// cached in the worker's shared store, tagged with the graph's version (bumped by statement
// triggers on both tables at every change); a query uses the cached copy only when its snapshot
// sees exactly that version, the caller may read every column involved, and no row-level security
// applies to the caller on either table. Otherwise it builds a private copy from what it can see.
#include "extension/graph/graph_reader.hpp"
#include "extension/graph/gnn_into.hpp"
#include "extension/graph/gnn_rows.hpp"
#include "extension/table_reader.hpp"
#include "extension/client/worker_client.hpp"
#include "shmem/store.hpp"
#include "worker/kernels/distance.hpp"
#include "worker/kernels/gnn_model.hpp"
#include "worker/kernels/graph.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
}

#include <algorithm>
#include <cmath>

using namespace ruvector;

namespace {

/* Models, from the catalog tables (sql/gnn.sql) */

struct LayerRow {
	int layer;
	char type[32];
	int in_dim, out_dim;
	bool add_self_loops, normalize, root_weight, concat, project, attn;
	char *aggr;  // one name, or a MultiAggregation's names separated by commas
	float eps, negative_slope;
	int heads;
	int processing_steps;
	int nmlp, nnn;
	uint8 *mlp;  // gin (mlp), attentional_aggregation (gate_nn): 0 = linear, 1 = relu, by Sequential position
	uint8 *nn;   // attentional_aggregation (nn)
};

struct ParamRow {
	int layer;
	char *name;
	int ndim;
	uint32 shape[8];
	int64 count;
	float *data;
};

struct ModelRows {
	bool relu_between;
	int nlayers;
	LayerRow *layers;
	int nparams;
	ParamRow *params;
};

const char *schema_prefix()
{
	return quote_identifier(get_namespace_name(extension_schema()));
}

// A query of ruvector's catalog tables with one argument, under SPI, prepared once per session
// (SPI_keepplan): a warm forward pass reads its model and graph through four queries, which were
// parsed and planned on every call. PostgreSQL replans a kept plan itself when a table it reads
// changes; the query text names the extension's schema, so moving the extension prepares anew.
int execute_catalog_query(const char *query, Oid argtype, Datum arg, long count)
{
	struct Kept {
		char *query;
		SPIPlanPtr plan;
	};
	static Kept kept[8];
	static int nkept = 0;
	SPIPlanPtr plan = nullptr;
	for (int i = 0; i < nkept && !plan; i++)
		if (strcmp(kept[i].query, query) == 0)
			plan = kept[i].plan;
	if (!plan) {
		plan = SPI_prepare(query, 1, &argtype);
		if (!plan)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (nkept < int(lengthof(kept)) && SPI_keepplan(plan) == 0)
			kept[nkept++] = Kept{MemoryContextStrdup(TopMemoryContext, query), plan};
	}
	Datum args[1] = {arg};
	return SPI_execute_plan(plan, args, nullptr, true, count);
}

[[noreturn]] void unknown_model(const char *name)
{
	ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("gnn model \"%s\" does not exist", name),
					errhint("See ruvector_gnn_models for the models there are.")));
	pg_unreachable();
}

// The import and create functions and a trigger on the parameter table keep NaN and infinities
// out; this catches what got in around them (options edited by hand, triggers disabled).
[[noreturn]] void non_finite_parameter(const char *model, int layer, const char *param)
{
	ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
					errmsg("gnn model \"%s\" has a NaN or infinite value in \"%s\" of layer %d", model, param, layer),
					errdetail("Model weights and options must be finite."),
					errhint("Import the model again with ruvector_gnn_model_import().")));
	pg_unreachable();
}

ModelRows read_model(const char *name)
{
	ModelRows m{};
	MemoryContext caller = CurrentMemoryContext;
	const char *nsp = schema_prefix();
	Datum arg = CStringGetTextDatum(name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (execute_catalog_query(psprintf("SELECT activation FROM %s.ruvector_gnn_model_catalog WHERE name = $1", nsp),
							  TEXTOID, arg, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the gnn model catalog failed");
	if (SPI_processed == 0)
		unknown_model(name);
	char *activation = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	m.relu_between = activation && strcmp(activation, "relu") == 0;

	const char *layers_q = psprintf(
		"SELECT layer, type, in_dim, out_dim,"
		" coalesce((options->>'add_self_loops')::bool, true), coalesce((options->>'normalize')::bool, type = 'gcn'),"
		" CASE WHEN jsonb_typeof(options->'aggr') = 'array'"
		"   THEN array_to_string(ARRAY(SELECT jsonb_array_elements_text(options->'aggr')), ',')"
		"   ELSE coalesce(options->>'aggr', 'mean') END, coalesce((options->>'root_weight')::bool, true),"
		" coalesce((options->>'eps')::real, 0), coalesce((options->>'heads')::int, (options->>'num_heads')::int, 1),"
		" coalesce((options->>'concat')::bool, true), coalesce((options->>'negative_slope')::real, 0.2),"
		" coalesce(array_to_string(ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(coalesce(options->'mlp', options->'gate_nn')) = 'array'"
		"   THEN coalesce(options->'mlp', options->'gate_nn') ELSE '[]' END)), ','), ''),"
		" coalesce(array_to_string(ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(options->'nn') = 'array'"
		"   THEN options->'nn' ELSE '[]' END)), ','), ''),"
		" coalesce((options->>'project')::bool, false), coalesce((options->>'processing_steps')::int, 0),"
		" coalesce(options->>'mode' = 'attn', false)"
		" FROM %s.ruvector_gnn_model_layers WHERE model = $1 ORDER BY layer",
		nsp);
	if (execute_catalog_query(layers_q, TEXTOID, arg, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the gnn model layers failed");
	m.nlayers = int(SPI_processed);
	m.layers = static_cast<LayerRow *>(MemoryContextAllocZero(caller, sizeof(LayerRow) * (m.nlayers + 1)));
	for (int i = 0; i < m.nlayers; i++) {
		HeapTuple t = SPI_tuptable->vals[i];
		TupleDesc d = SPI_tuptable->tupdesc;
		bool isnull;
		LayerRow &r = m.layers[i];
		r.layer = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		strlcpy(r.type, SPI_getvalue(t, d, 2), sizeof r.type);
		r.in_dim = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
		r.out_dim = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
		r.add_self_loops = DatumGetBool(SPI_getbinval(t, d, 5, &isnull));
		r.normalize = DatumGetBool(SPI_getbinval(t, d, 6, &isnull));
		{
			MemoryContext old = MemoryContextSwitchTo(caller);
			r.aggr = SPI_getvalue(t, d, 7);
			MemoryContextSwitchTo(old);
		}
		r.root_weight = DatumGetBool(SPI_getbinval(t, d, 8, &isnull));
		r.eps = DatumGetFloat4(SPI_getbinval(t, d, 9, &isnull));
		r.heads = DatumGetInt32(SPI_getbinval(t, d, 10, &isnull));
		r.concat = DatumGetBool(SPI_getbinval(t, d, 11, &isnull));
		r.negative_slope = DatumGetFloat4(SPI_getbinval(t, d, 12, &isnull));
		if (!std::isfinite(r.eps))
			non_finite_parameter(name, r.layer, "eps");
		if (!std::isfinite(r.negative_slope))
			non_finite_parameter(name, r.layer, "negative_slope");
		auto steps = [&](int col, int *count) {
			char *text = SPI_getvalue(t, d, col);
			uint8 *out = static_cast<uint8 *>(MemoryContextAlloc(caller, strlen(text ? text : "") / 2 + 1));
			for (char *tok = text ? strtok(text, ",") : nullptr; tok; tok = strtok(nullptr, ","))
				out[(*count)++] = strcmp(tok, "relu") == 0 ? 1 : 0;
			return out;
		};
		r.mlp = steps(13, &r.nmlp);
		r.nn = steps(14, &r.nnn);
		r.project = DatumGetBool(SPI_getbinval(t, d, 15, &isnull));
		r.processing_steps = DatumGetInt32(SPI_getbinval(t, d, 16, &isnull));
		r.attn = DatumGetBool(SPI_getbinval(t, d, 17, &isnull));
	}
	const char *params_q = psprintf(
		"SELECT layer, name, shape, data FROM %s.ruvector_gnn_model_params WHERE model = $1 ORDER BY layer, name", nsp);
	if (execute_catalog_query(params_q, TEXTOID, arg, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the gnn model parameters failed");
	m.nparams = int(SPI_processed);
	m.params = static_cast<ParamRow *>(MemoryContextAllocZero(caller, sizeof(ParamRow) * (m.nparams + 1)));
	for (int i = 0; i < m.nparams; i++) {
		HeapTuple t = SPI_tuptable->vals[i];
		TupleDesc d = SPI_tuptable->tupdesc;
		bool isnull;
		ParamRow &p = m.params[i];
		p.layer = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(caller);
		p.name = SPI_getvalue(t, d, 2);
		ArrayType *shape = DatumGetArrayTypePCopy(SPI_getbinval(t, d, 3, &isnull));
		ArrayType *data = DatumGetArrayTypePCopy(SPI_getbinval(t, d, 4, &isnull));
		MemoryContextSwitchTo(old);
		p.ndim = std::min(ArrayGetNItems(ARR_NDIM(shape), ARR_DIMS(shape)), 8);
		for (int k = 0; k < p.ndim; k++)
			p.shape[k] = uint32(reinterpret_cast<int32 *>(ARR_DATA_PTR(shape))[k]);
		p.count = ArrayGetNItems(ARR_NDIM(data), ARR_DIMS(data));
		if (ARR_ELEMTYPE(data) != FLOAT4OID || array_contains_nulls(data))
			elog(ERROR, "gnn model parameter \"%s\" is not a real[] without NULLs", p.name);
		p.data = reinterpret_cast<float *>(ARR_DATA_PTR(data));
		for (int64 k = 0; k < p.count; k++)
			if (!std::isfinite(p.data[k]))
				non_finite_parameter(name, p.layer, p.name);
	}
	SPI_finish();
	if (m.nlayers == 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("gnn model \"%s\" has no layers", name)));
	return m;
}

kernels::GnnLayer layer_from_row(const LayerRow &r, const ModelRows &m)
{
	kernels::GnnLayer l;
	std::string_view type = r.type;
	bool known = false;
	for (int t = 0; t <= int(kernels::kLastLayerType) && !known; t++)
		if (type == kernels::layer_type_name(kernels::LayerType(t))) {
			l.type = kernels::LayerType(t);
			known = true;
		}
	if (!known && type == "ruvector")
		throw std::invalid_argument("layer " + std::to_string(r.layer) +
		                            " is a RuVector layer: use the model with ruvector_differentiable_search");
	if (!known)
		throw std::invalid_argument("unknown layer type \"" + std::string(type) + "\"");
	l.in_dim = uint32(r.in_dim);
	l.out_dim = uint32(r.out_dim);
	l.add_self_loops = r.add_self_loops;
	l.normalize = r.normalize;
	auto parse_aggr = [](std::string_view a) {
		return a == "max" ? kernels::Aggr::max : a == "sum" ? kernels::Aggr::sum : a == "min" ? kernels::Aggr::min
			 : a == "lstm" ? kernels::Aggr::lstm : kernels::Aggr::mean;
	};
	std::string_view aggr = r.aggr ? r.aggr : "mean";
	if (aggr.find(',') != std::string_view::npos) {  // MultiAggregation
		for (std::size_t at = 0; at <= aggr.size();) {
			std::size_t comma = std::min(aggr.find(',', at), aggr.size());
			l.aggrs.push_back(parse_aggr(aggr.substr(at, comma - at)));
			at = comma + 1;
		}
		l.attn = r.attn;
	} else {
		l.aggr = parse_aggr(aggr);
	}
	l.root_weight = r.root_weight;
	l.project = r.project;
	l.processing_steps = uint32(std::max(r.processing_steps, 0));
	l.eps = r.eps;
	l.mlp.assign(r.mlp, r.mlp + r.nmlp);
	l.nn_mlp.assign(r.nn, r.nn + r.nnn);
	l.heads = uint32(std::max(r.heads, 1));
	l.concat = r.concat;
	l.negative_slope = r.negative_slope;
	for (int i = 0; i < m.nparams; i++) {
		const ParamRow &p = m.params[i];
		if (p.layer != r.layer)
			continue;
		l.params.push_back({p.name, std::vector<uint32>(p.shape, p.shape + p.ndim), std::vector<float>(p.data, p.data + p.count)});
	}
	return l;
}

// A palloc'd copy of bytes produced by C++ (no PostgreSQL call may happen while they are owned).
std::span<const std::byte> palloc_copy(const std::vector<std::byte> &bytes)
{
	auto *out = static_cast<std::byte *>(palloc_extended(bytes.size(), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM));
	if (!out)
		throw std::bad_alloc();
	memcpy(out, bytes.data(), bytes.size());
	return {out, bytes.size()};
}

struct ForwardOptions {
	uint32 sample_size = 0;
	uint64 seed = 0;
};

// Which graph each node belongs to, for a model that ends with a readout (ruvector_gnn_classify).
// palloc'd: it is read with SPI, before any C++ object exists.
struct GraphBatch {
	int64 nodes = 0;
	const uint32 *batch = nullptr;      // per node, in node (id) order; none: the graph is one graph
	int64 graphs = 0;
	const int64 *graph_ids = nullptr;  // per graph, ascending
	bool need_readout = false;          // the model must end with a readout (else it may)
	bool pooled = false;                // set by encode_model: the model has a readout
};

// Node-level functions pass no batch and refuse a model with a readout; classify passes one.
std::span<const std::byte> encode_model(const ModelRows &rows, const ForwardOptions &fo, GraphBatch *batch = nullptr)
{
	kernels::GnnModel m;
	m.relu_between = rows.relu_between;
	m.sample_size = fo.sample_size;
	m.seed = fo.seed;
	for (int i = 0; i < rows.nlayers; i++)
		m.layers.push_back(layer_from_row(rows.layers[i], rows));
	if (!batch && kernels::has_readout(m)) {
		const char *readout = "";
		for (const kernels::GnnLayer &l : m.layers)
			if (kernels::is_readout(l.type))
				readout = kernels::layer_type_name(l.type);
		throw pg::Error(ERRCODE_INVALID_PARAMETER_VALUE, "gnn model ends with a readout, so it gives one row per graph",
						std::string("Its ") + readout + " layer pools the nodes of each graph into one row.",
						"Run it with ruvector_gnn_classify(graph, model) or ruvector_gnn_classify(graph, model, graph_column).");
	}
	if (batch) {
		batch->pooled = kernels::has_readout(m);
		if (batch->need_readout && !batch->pooled)
			throw pg::Error(ERRCODE_INVALID_PARAMETER_VALUE, "gnn model has no readout layer",
							"Classifying graphs by a graph id column needs a model that pools the nodes of each graph into one row.",
							"End the model with global_mean_pool, global_add_pool, global_max_pool, "
							"attentional_aggregation or set2set (then linear layers), or use ruvector_gnn_forward().");
		m.batch.assign(batch->batch, batch->batch + batch->nodes);
		m.graph_ids.assign(batch->graph_ids, batch->graph_ids + batch->graphs);
	}
	return palloc_copy(kernels::encode(m));
}

/* Running on the worker */

// The width of a model's output rows.
uint32 model_out_dim(std::span<const std::byte> model)
{
	kernels::GnnModel m = kernels::decode_gnn_model(model);
	return m.layers.empty() ? 0 : m.layers.back().out_dim;
}

// The model over the inline graph (of `nodes` nodes), or over the cached graph `key` when its tag
// is still `tag`. The reply goes to reply_cxt (nullptr: the current context): the worker writes
// it into its shared memory, which this backend reads in place as long as that context.
ForwardResult forward(std::span<const std::byte> model, ByteParts graph, uint64 nodes, proto::StoreKey key,
					  uint64 tag, MemoryContext reply_cxt)
{
	Size graph_bytes = 0;
	for (auto part : graph)
		graph_bytes += part.size();
	uint32 out_dim = model_out_dim(model);
	proto::GnnForwardRequest req;
	req.model_bytes = model.size();
	req.graph_bytes = graph_bytes;
	req.graph_database = key.database;
	req.graph_object = key.object;
	req.graph_kind = key.kind;
	req.graph_tag = tag;
	// The reply lives as long as the rows built from it (a set-returning function's calls).
	MemoryContext old = MemoryContextSwitchTo(reply_cxt ? reply_cxt : CurrentMemoryContext);
	proto::GnnForwardReply reply = client::gnn_forward(req, model, graph, nodes, out_dim);
	MemoryContextSwitchTo(old);
	const proto::GnnForwardResult &h = reply.header;
	ForwardResult r{h.stale != 0, int64(h.nodes), int(h.out_dim), reply.ids, reply.y};
	if (r.stale)
		return r;
	// Benchmarks read this (client_min_messages = debug1): the worker's share of the call.
	ereport(DEBUG1, (errmsg_internal("ruvector gnn forward: " INT64_FORMAT " nodes, %d outputs, worker compute %.3f ms",
									 r.nodes, r.out_dim, double(h.compute_ns) / 1e6)));
	return r;
}

ForwardResult forward_graph(std::span<const std::byte> model, const GraphBytes &graph, MemoryContext reply_cxt = nullptr)
{
	return forward(model, graph.parts, graph.nodes, {}, 0, reply_cxt);
}

ForwardResult forward_cached(std::span<const std::byte> model, proto::StoreKey key, uint64 tag, uint64 nodes,
							 MemoryContext reply_cxt)
{
	return forward(model, {}, nodes, key, tag, reply_cxt);
}

/* The rows (node_id, embedding) of a forward pass, one per call (value-per-call): compute(cxt) runs
 * on the first call with its reply kept in the call's multi-call memory (the worker wrote it into
 * the request's shared segment, mapped until the set is done), and each row's vector is built
 * from that reply when the executor asks for it. In a SELECT list nothing is materialized; in
 * FROM, PostgreSQL keeps the rows in its own tuplestore (in memory up to work_mem). */

// Every call after the first: the next row.
Datum forward_rows_next(FunctionCallInfo fcinfo)
{
	FuncCallContext *fc = SRF_PERCALL_SETUP();
	if (fc->call_cntr >= fc->max_calls)
		SRF_RETURN_DONE(fc);
	const auto *r = static_cast<const ForwardResult *>(fc->user_fctx);
	Size i = Size(fc->call_cntr);
	Vector *v = new_vector(r->out_dim);
	memcpy(v->x, r->y + i * r->out_dim, sizeof(float) * r->out_dim);
	Datum values[2] = {Int64GetDatum(r->ids[i]), PointerGetDatum(v)};
	bool nulls[2] = {};
	SRF_RETURN_NEXT(fc, HeapTupleGetDatum(heap_form_tuple(fc->tuple_desc, values, nulls)));
}

// The first call: compute, then the first row. (Callers return forward_rows_next() at once on
// later calls, before reading their arguments again.)
template <class Compute>
Datum forward_rows(FunctionCallInfo fcinfo, Compute compute)
{
	FuncCallContext *fc = SRF_FIRSTCALL_INIT();
	ForwardResult r = compute(fc->multi_call_memory_ctx);
	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	MemoryContext old = MemoryContextSwitchTo(fc->multi_call_memory_ctx);
	fc->tuple_desc = BlessTupleDesc(CreateTupleDescCopy(desc));
	auto *state = static_cast<ForwardResult *>(palloc(sizeof(ForwardResult)));
	*state = r;
	fc->user_fctx = state;
	fc->max_calls = uint64(r.nodes);
	MemoryContextSwitchTo(old);
	return forward_rows_next(fcinfo);
}

}  // namespace

const ForwardResult *ruvector::forward_rows_held(FunctionCallInfo fcinfo, uint64 *returned)
{
	auto *fc = static_cast<FuncCallContext *>(fcinfo->flinfo->fn_extra);
	if (!fc || !fc->user_fctx)
		return nullptr;
	*returned = fc->call_cntr;
	return static_cast<const ForwardResult *>(fc->user_fctx);
}

namespace {

ForwardOptions forward_options(FunctionCallInfo fcinfo, int sample_arg, int seed_arg)
{
	ForwardOptions fo;
	if (!PG_ARGISNULL(sample_arg)) {
		int32 s = PG_GETARG_INT32(sample_arg);
		if (s < 1)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("sample_size must be at least 1")));
		fo.sample_size = uint32(s);
	}
	if (!PG_ARGISNULL(seed_arg))
		fo.seed = uint64(uint32(PG_GETARG_INT32(seed_arg)));
	return fo;
}

const char *name_arg(FunctionCallInfo fcinfo, int n, const char *dflt)
{
	return PG_ARGISNULL(n) ? dflt : pstrdup(NameStr(*PG_GETARG_NAME(n)));
}

/* Named graphs */

struct NamedGraph {
	GraphSource src;
	int32 graph_id;
	int64 version;
	bool changed_here;  // this transaction changed the tables (its snapshot is not the shared one)
};

// The catalog row whose `key` column equals arg (name or graph_id); false when there is none.
bool find_graph(const char *key, Oid argtype, Datum arg, NamedGraph *out)
{
	NamedGraph &g = *out;
	g = NamedGraph{};
	MemoryContext caller = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	const char *q = psprintf("SELECT graph_id, node_table::oid, edge_table::oid, embedding_column, id_column, src_column,"
							 " dst_column, weight_column, version, xmin FROM %s.ruvector_graph_catalog WHERE %s = $1",
							 schema_prefix(), key);
	if (execute_catalog_query(q, argtype, arg, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the graph catalog failed");
	if (SPI_processed == 0) {
		SPI_finish();
		return false;
	}
	HeapTuple t = SPI_tuptable->vals[0];
	TupleDesc d = SPI_tuptable->tupdesc;
	bool isnull;
	g.graph_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	g.src.nodes = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
	g.src.edges = DatumGetObjectId(SPI_getbinval(t, d, 3, &isnull));
	MemoryContext old = MemoryContextSwitchTo(caller);
	g.src.embedding = SPI_getvalue(t, d, 4);
	g.src.id = SPI_getvalue(t, d, 5);
	g.src.src = SPI_getvalue(t, d, 6);
	g.src.dst = SPI_getvalue(t, d, 7);
	g.src.weight = SPI_getvalue(t, d, 8);
	MemoryContextSwitchTo(old);
	g.version = DatumGetInt64(SPI_getbinval(t, d, 9, &isnull));
	TransactionId xmin = DatumGetTransactionId(SPI_getbinval(t, d, 10, &isnull));
	g.changed_here = TransactionIdIsCurrentTransactionId(xmin);
	SPI_finish();
	return true;
}

NamedGraph read_named_graph(const char *name)
{
	NamedGraph g;
	if (!find_graph("name", TEXTOID, CStringGetTextDatum(name), &g))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("graph \"%s\" does not exist", name),
						errhint("Create it with ruvector_graph_create(); ruvector_graphs() lists the graphs.")));
	// Dropping a table drops its graphs (an event trigger); this catches the event trigger being off.
	if (!get_rel_name(g.src.nodes) || !get_rel_name(g.src.edges))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("a table of graph \"%s\" no longer exists", name),
						errhint("Drop the graph with ruvector_graph_drop() and create it again.")));
	return g;
}

proto::StoreKey graph_key(int32 graph_id) { return {MyDatabaseId, uint32(graph_id), kStoreKindGraph}; }

// Publish a graph blob for other sessions (best effort: skipped when the worker is busy restarting).
void publish_graph(int32 graph_id, int64 version, ByteParts graph)
{
	worker_best_effort([&] { client::store_put(graph_key(graph_id), uint64(version), graph); });
}

}  // namespace

// ruvector_gnn_forward(model text, graph text)
namespace {

// The model over a named graph: the worker's cached copy when this query may use it, else the
// tables read with the query's snapshot (and then cached for others when allowed and newer).
// `model_of` builds the model once the graph is known (some models depend on its width).
// Only moves the cache forward: an older snapshot must not replace a newer version.
// Returns whether the store now holds this version.
bool publish_if_newer(const NamedGraph &g, ByteParts graph)
{
	uint64 tag = 0;
	bool present = store_current_version(graph_key(g.graph_id), &tag) != 0;
	if (!present || tag < uint64(g.version))
		publish_graph(g.graph_id, g.version, graph);
	return store_current_version(graph_key(g.graph_id), &tag) != 0 && tag == uint64(g.version);
}

template <class ModelOf>
ForwardResult forward_named_graph(const char *graph_name, ModelOf model_of, MemoryContext reply_cxt = nullptr)
{
	require_worker_support();
	NamedGraph g = read_named_graph(graph_name);
	// Checked on every call, cached or not: a role without SELECT gets an error even when cached.
	bool shareable = may_share_graph(g.src) && !g.changed_here;
	proto::StoreKey key = graph_key(g.graph_id);
	if (shareable) {
		uint64 tag = 0;
		if (store_current_version(key, &tag) != 0 && tag == uint64(g.version)) {
			uint64 bytes;
			auto *head = static_cast<kernels::GraphHeader *>(store_copy_prefix(key, sizeof(kernels::GraphHeader), &tag, &bytes, nullptr));
			if (head && tag == uint64(g.version)) {
				ForwardResult r = forward_cached(model_of(int(head->dim)), key, tag, head->nodes, reply_cxt);
				if (!r.stale)
					return r;
			}
		}
	}
	// The graph goes to the worker once: published, then run from the store by key; inline only
	// when it was not published (or was replaced in between). Its features are read straight into
	// the input of the store_put (a room, read_graph_tables).
	Size no_prefix = 0;
	GraphTables t = read_graph_tables(g.src, false, shareable ? &no_prefix : nullptr);
	GraphBytes graph = graph_bytes(t);
	if (shareable) {
		bool published = publish_if_newer(g, graph.parts);
		if (t.room) {
			worker_input_room_release();  // when no store_put took it
			graph = {};                   // the features went with the room
		}
		if (published) {
			ForwardResult r = forward_cached(model_of(t.dim), key, uint64(g.version), uint64(t.n), reply_cxt);
			if (!r.stale)
				return r;
		}
		if (t.room) {  // rare: not published, or replaced in between; read again
			t = read_graph_tables(g.src);
			graph = graph_bytes(t);
		}
	}
	return forward_graph(model_of(t.dim), graph, reply_cxt);
}

// A named graph's blob in this backend's memory, for work done here: the cached copy when this
// query may use it, else read from the tables (and then cached for others when allowed and newer).
std::span<const std::byte> named_graph_blob(const NamedGraph &g)
{
	bool shareable = may_share_graph(g.src) && !g.changed_here;
	if (shareable) {
		uint64 version = 0, tag = 0, bytes = 0;
		void *copy = store_copy_out(graph_key(g.graph_id), &version, &tag, &bytes);
		if (copy && tag == uint64(g.version))
			return {static_cast<const std::byte *>(copy), Size(bytes)};
		if (copy)
			pfree(copy);
	}
	GraphTables t = read_graph_tables(g.src);
	std::span<const std::byte> blob = graph_blob(t);
	if (shareable)
		(void) publish_if_newer(g, std::span(&blob, 1));
	return blob;
}

}  // namespace

RV_FUNCTION(ruvector_gnn_forward_graph)
{
	if (!SRF_IS_FIRSTCALL())
		return forward_rows_next(fcinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("model and graph must not be NULL")));
	const char *model_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *graph_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	return forward_rows(fcinfo, [&](MemoryContext cxt) {
		std::span<const std::byte> model;
		return forward_named_graph(
			graph_name,
			[&](int) {
				if (model.empty())
					model = encode_model(read_model(model_name), {});
				return model;
			},
			cxt);
	});
}

/* ruvector_gnn_forward_into(model, graph, target, id_column, embedding_column): the forward pass
 * written into a table. Where the target allows it (gnn_into.hpp) the rows are written in bulk as
 * COPY FROM writes them; otherwise they go through INSERT INTO target (id_column,
 * embedding_column) run as the caller (privileges, RLS WITH CHECK, triggers, rules, constraints,
 * indexes and partitions as for any INSERT), fed by the internal SRF below in FROM (the streamed
 * function scan), so they stream from the worker's reply into the table without a tuplestore. */

namespace {

// The result being inserted (only while ruvector_gnn_forward_into's INSERT runs), taken by the
// first call of _ruvector_gnn_into_rows.
const ForwardResult *pending_into = nullptr;

// What the target column must accept by assignment (as INSERT ... SELECT would cast), or 42804.
void check_into_column(Oid relid, const char *column, const char *role, Oid from, const char *arg)
{
	AttrNumber att = get_attnum(relid, column);
	if (att == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation %s does not exist", column, qualified_relation_name(relid)),
						errhint("Name the target's %s column with %s.", role, arg)));
	Oid type = get_atttype(relid, att);
	if (!can_coerce_type(1, &from, &type, COERCION_ASSIGNMENT))
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("column \"%s\" of relation %s is of type %s, but the %s are of type %s", column,
							   qualified_relation_name(relid), format_type_be(type), role, format_type_be(from)),
						errhint("Name a %s column with %s.", format_type_be(from), arg)));
	AclMode need = ACL_INSERT;
	if (pg_class_aclcheck(relid, GetUserId(), need) != ACLCHECK_OK &&
		pg_attribute_aclcheck(relid, att, GetUserId(), need) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)), get_rel_name(relid));
}

}  // namespace

RV_FUNCTION(ruvector_gnn_forward_into)
{
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("arguments of ruvector_gnn_forward_into must not be NULL")));
	const char *model_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *graph_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Oid target = PG_GETARG_OID(2);
	const char *id_column = NameStr(*PG_GETARG_NAME(3));
	const char *embedding_column = NameStr(*PG_GETARG_NAME(4));
	if (!get_rel_name(target))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", target)));
	if (strcmp(id_column, embedding_column) == 0)
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_COLUMN), errmsg("id_column and embedding_column are both \"%s\"", id_column),
						errhint("Name two different columns of the target table.")));
	// Before the work: the INSERT checks all of this again.
	check_into_column(target, id_column, "node ids", INT8OID, "id_column");
	check_into_column(target, embedding_column, "embeddings", vector_type_oid(), "embedding_column");
	require_worker_support();
	std::span<const std::byte> model;
	ForwardResult r = forward_named_graph(graph_name, [&](int) {
		if (model.empty())
			model = encode_model(read_model(model_name), {});
		return model;
	});
	int64 inserted = 0;
	if (gnn_into_bulk_insert(target, get_attnum(target, id_column), get_attnum(target, embedding_column), r, &inserted))
		PG_RETURN_INT64(inserted);
	const char *query = psprintf("INSERT INTO %s (%s, %s) SELECT node_id, embedding FROM %s._ruvector_gnn_into_rows()",
								 qualified_relation_name(target), quote_identifier(id_column),
								 quote_identifier(embedding_column), schema_prefix());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pending_into = &r;
	int rc;
	PG_TRY();
	{
		rc = SPI_execute(query, false, 0);
	}
	PG_FINALLY();
	{
		pending_into = nullptr;
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "ruvector_gnn_forward_into: INSERT failed (%d)", rc);
	inserted = int64(SPI_processed);
	SPI_finish();
	PG_RETURN_INT64(inserted);
}

// _ruvector_gnn_into_rows(): the rows ruvector_gnn_forward_into is inserting (internal).
RV_FUNCTION(ruvector_gnn_into_rows)
{
	if (!SRF_IS_FIRSTCALL())
		return forward_rows_next(fcinfo);
	if (!pending_into)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("_ruvector_gnn_into_rows() is internal to ruvector_gnn_forward_into()")));
	const ForwardResult *r = pending_into;
	pending_into = nullptr;
	return forward_rows(fcinfo, [r](MemoryContext) { return *r; });
}

// ruvector_gnn_forward(model, node_table, edge_table, embedding_column, id_column, src_column,
//                      dst_column, weight_column, sample_size, seed): a private read every call.
RV_FUNCTION(ruvector_gnn_forward_tables)
{
	if (!SRF_IS_FIRSTCALL())
		return forward_rows_next(fcinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("model, node_table and edge_table must not be NULL")));
	const char *model_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	GraphSource src{PG_GETARG_OID(1), PG_GETARG_OID(2), name_arg(fcinfo, 3, "embedding"), name_arg(fcinfo, 4, "id"),
					name_arg(fcinfo, 5, "src_id"), name_arg(fcinfo, 6, "dst_id"), name_arg(fcinfo, 7, nullptr)};
	ForwardOptions fo = forward_options(fcinfo, 8, 9);
	require_worker_support();
	return forward_rows(fcinfo, [&](MemoryContext cxt) {
		ModelRows rows = read_model(model_name);
		std::span<const std::byte> model = encode_model(rows, fo);
		// The features go straight into the request's input, after the model (a room).
		Size prefix = (model.size() + 7) & ~Size(7);
		GraphTables t = read_graph_tables(src, false, &prefix);
		return forward_graph(model, graph_bytes(t), cxt);
	});
}

namespace {

kernels::LayerType parse_layer_type(const char *s)
{
	if (strcmp(s, "gcn") == 0)
		return kernels::LayerType::gcn;
	if (strcmp(s, "sage") == 0 || strcmp(s, "graphsage") == 0)
		return kernels::LayerType::sage;
	if (strcmp(s, "gin") == 0)
		return kernels::LayerType::gin;
	if (strcmp(s, "gat") == 0)
		return kernels::LayerType::gat;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown layer type \"%s\"", s),
					errhint("Use one of: gcn, sage, gin, gat.")));
	pg_unreachable();
}

std::span<const std::byte> identity_model(kernels::LayerType type, int hops, int dim)
{
	kernels::GnnModel m;
	m.relu_between = false;
	for (int h = 0; h < hops; h++)
		m.layers.push_back(kernels::identity_layer(type, uint32(dim)));
	return palloc_copy(kernels::encode(m));
}

}  // namespace

// ruvector_message_pass(node_table, edge_table, embedding_column, num_hops, layer_type, model)
RV_FUNCTION(ruvector_message_pass)
{
	if (!SRF_IS_FIRSTCALL())
		return forward_rows_next(fcinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("node_table and edge_table must not be NULL")));
	GraphSource src{PG_GETARG_OID(0), PG_GETARG_OID(1), name_arg(fcinfo, 2, "embedding"), "id", "src_id", "dst_id", nullptr};
	int32 hops = PG_ARGISNULL(3) ? 2 : PG_GETARG_INT32(3);
	const char *type = PG_ARGISNULL(4) ? "gcn" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	kernels::LayerType lt = parse_layer_type(type);
	if (hops < 1 || hops > 64)  // checked with a model too, which ignores it
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("num_hops must be between 1 and 64")));
	require_worker_support();
	return forward_rows(fcinfo, [&](MemoryContext cxt) {
		GraphTables t = read_graph_tables(src);
		std::span<const std::byte> model;
		if (PG_ARGISNULL(5))
			model = identity_model(lt, hops, t.dim);
		else
			model = encode_model(read_model(text_to_cstring(PG_GETARG_TEXT_PP(5))), {});
		return forward_graph(model, graph_bytes(t), cxt);
	});
}

namespace {

// The widest output the array forms build a layer for (the widest feature width a graph carries).
inline constexpr int kMaxForwardWidth = 65536;

// The array forms: one layer of `type` with Glorot weights (seed 42) when no model is named.
Datum array_forward(FunctionCallInfo fcinfo, kernels::LayerType type)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("embeddings, edge_src and edge_dst must not be NULL")));
	GraphTables t = graph_from_arrays(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_ARRAYTYPE_P(2),
									  PG_ARGISNULL(3) ? nullptr : PG_GETARG_ARRAYTYPE_P(3));
	// sage: sample_size (NULL: no sampling) and seed; gat: heads (NULL: 1, or the model's)
	ForwardOptions fo;
	if (type == kernels::LayerType::sage) {
		fo = forward_options(fcinfo, 6, 7);
		if (PG_ARGISNULL(7))
			fo.seed = 42;
	}
	int heads = 0;
	if (type == kernels::LayerType::gat && !PG_ARGISNULL(6)) {
		heads = PG_GETARG_INT32(6);
		if (heads < 1 || heads > 65536)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("heads must be between 1 and 65536")));
	}
	int out = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);
	if (!PG_ARGISNULL(5) && (out < 1 || out > kMaxForwardWidth))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("out_features must be between 1 and %d", kMaxForwardWidth)));
	require_worker_support();
	std::span<const std::byte> model;
	if (!PG_ARGISNULL(4)) {
		const char *name = text_to_cstring(PG_GETARG_TEXT_PP(4));
		ModelRows rows = read_model(name);
		for (int i = 0; i < rows.nlayers; i++) {
			const LayerRow &l = rows.layers[i];
			if (strcmp(l.type, kernels::layer_type_name(type)) != 0)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("gnn model \"%s\" has a %s layer, this function runs %s layers", name,
									   l.type, kernels::layer_type_name(type))));
			// The model decides its shape: the arguments may only agree with it.
			if (heads != 0 && l.heads != heads)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("heads is %d, but layer %d of gnn model \"%s\" has %d", heads, l.layer, name, l.heads),
								errhint("Leave heads NULL to run the model as it is.")));
		}
		if (out != 0 && rows.layers[rows.nlayers - 1].out_dim != out)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("out_features is %d, but gnn model \"%s\" outputs %d features", out, name,
								   rows.layers[rows.nlayers - 1].out_dim),
							errhint("Leave out_features NULL to run the model as it is.")));
		model = encode_model(rows, fo);
	} else {
		if (out == 0)
			out = t.dim;
		heads = std::max(heads, 1);
		if (type == kernels::LayerType::gat && out % heads != 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("out_features must be a multiple of heads")));
		std::vector<std::byte> bytes;
		{
			kernels::GnnModel m;
			m.relu_between = false;
			m.sample_size = fo.sample_size;
			m.seed = fo.seed;
			kernels::GnnLayer l;
			l.type = type;
			l.in_dim = uint32(t.dim);
			l.out_dim = uint32(out);
			l.normalize = type == kernels::LayerType::gcn;
			uint32 o = uint32(out), i = uint32(t.dim);
			switch (type) {
			case kernels::LayerType::gcn:
				l.params.push_back({"lin.weight", {o, i}, kernels::glorot(o, i, 42)});
				break;
			case kernels::LayerType::sage:
				l.params.push_back({"lin_l.weight", {o, i}, kernels::glorot(o, i, 42)});
				l.params.push_back({"lin_r.weight", {o, i}, kernels::glorot(o, i, 43)});
				break;
			case kernels::LayerType::gin:
				l.mlp = {0, 1, 0};
				l.params.push_back({"nn.0.weight", {o, i}, kernels::glorot(o, i, 42)});
				l.params.push_back({"nn.2.weight", {o, o}, kernels::glorot(o, o, 43)});
				break;
			case kernels::LayerType::gat:
				l.heads = uint32(heads);
				l.params.push_back({"lin.weight", {o, i}, kernels::glorot(o, i, 42)});
				l.params.push_back({"att_src", {1, uint32(heads), o / uint32(heads)}, kernels::glorot(1, o, 43)});
				l.params.push_back({"att_dst", {1, uint32(heads), o / uint32(heads)}, kernels::glorot(1, o, 44)});
				break;
			default:  // the array forms are the four graph convolutions
				break;
			}
			m.layers.push_back(std::move(l));
			bytes = kernels::encode(m);
		}
		model = palloc_copy(bytes);
	}
	ForwardResult r = forward_graph(model, graph_bytes(t));
	Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * Size(r.nodes) * r.out_dim + 1));
	for (Size k = 0; k < Size(r.nodes) * r.out_dim; k++)
		elems[k] = Float4GetDatum(r.y[k]);
	int dims[2] = {int(r.nodes), r.out_dim};
	int lbs[2] = {1, 1};
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nullptr, 2, dims, lbs, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

}  // namespace

RV_FUNCTION(ruvector_gcn_forward) { return array_forward(fcinfo, kernels::LayerType::gcn); }
RV_FUNCTION(ruvector_graphsage_forward) { return array_forward(fcinfo, kernels::LayerType::sage); }
RV_FUNCTION(ruvector_gat_forward) { return array_forward(fcinfo, kernels::LayerType::gat); }
RV_FUNCTION(ruvector_gin_forward) { return array_forward(fcinfo, kernels::LayerType::gin); }

bool ruvector::may_read_graph_id(int32 graph_id)
{
	NamedGraph g;
	return find_graph("graph_id", INT4OID, Int32GetDatum(graph_id), &g) && may_read_graph(g.src);
}

// ruvector_graph_cache(graph_id int): what the shared store holds for a named graph; no row when
// the caller may not read the graph (its sizes are not everybody's business).
RV_FUNCTION(ruvector_graph_cache)
{
	InitMaterializedSRF(fcinfo, 0);
	if (!may_read_graph_id(PG_GETARG_INT32(0)))
		return Datum(0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	Datum values[5] = {};
	bool nulls[5] = {true, true, true, true, true};
	if (rv_control) {
		uint64 tag = 0, bytes = 0;
		TimestampTz published = 0;
		void *head = store_copy_prefix(graph_key(PG_GETARG_INT32(0)), sizeof(kernels::GraphHeader), &tag, &bytes, &published);
		if (head && bytes >= sizeof(kernels::GraphHeader)) {
			kernels::GraphHeader h;
			memcpy(&h, head, sizeof h);
			values[0] = Int64GetDatum(int64(h.nodes));
			values[1] = Int64GetDatum(int64(h.edges));
			values[2] = Int64GetDatum(int64(bytes));
			values[3] = Int64GetDatum(int64(tag));
			values[4] = TimestampTzGetDatum(published);
			for (bool &n : nulls)
				n = false;
		}
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return Datum(0);
}

// ruvector_graph_uncache(graph_id int): drop a named graph's cached copy (on ruvector_graph_drop).
RV_FUNCTION(ruvector_graph_uncache)
{
	proto::StoreKey key = graph_key(PG_GETARG_INT32(0));
	if (!rv_control || store_current_version(key) == 0)
		PG_RETURN_BOOL(false);
	client::store_drop(key);
	PG_RETURN_BOOL(true);
}

/* Per-row graph functions: the whole graph's result is computed once per query (kept in fn_extra,
 * which lives as long as the query's function call site) and looked up per row. */

namespace {

struct NodeTable {
	char *graph;
	char *model;  // or the hop count, for gnn_score
	int32 hops;
	int64 n;
	int dim;
	int64 *ids;  // sorted
	float *y;
};

NodeTable *node_table_for(FunctionCallInfo fcinfo, const char *graph, const char *model, int32 hops,
						  std::span<const std::byte> (*make_model)(const char *model, int32 hops, int dim))
{
	auto *nt = static_cast<NodeTable *>(fcinfo->flinfo->fn_extra);
	if (nt && strcmp(nt->graph, graph) == 0 && strcmp(nt->model, model) == 0 && nt->hops == hops)
		return nt;
	ForwardResult r = forward_named_graph(graph, [&](int dim) { return make_model(model, hops, dim); });
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	nt = static_cast<NodeTable *>(palloc0(sizeof(NodeTable)));
	nt->graph = pstrdup(graph);
	nt->model = pstrdup(model);
	nt->hops = hops;
	nt->n = r.nodes;
	nt->dim = r.out_dim;
	nt->ids = static_cast<int64 *>(palloc(sizeof(int64) * (r.nodes + 1)));
	nt->y = static_cast<float *>(palloc(sizeof(float) * (Size(r.nodes) * r.out_dim + 1)));
	memcpy(nt->ids, r.ids, sizeof(int64) * r.nodes);
	memcpy(nt->y, r.y, sizeof(float) * Size(r.nodes) * r.out_dim);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = nt;
	return nt;
}

const float *node_row(const NodeTable *nt, int64 node, const char *graph)
{
	const int64 *p = std::lower_bound(nt->ids, nt->ids + nt->n, node);
	if (p == nt->ids + nt->n || *p != node)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("node " INT64_FORMAT " is not in graph \"%s\"", node, graph)));
	return nt->y + Size(p - nt->ids) * nt->dim;
}

std::span<const std::byte> propagation_model(const char *, int32 hops, int dim)
{
	return identity_model(kernels::LayerType::gcn, hops, dim);
}

std::span<const std::byte> catalog_model(const char *model, int32, int)
{
	return encode_model(read_model(model), {});
}

double cosine(const float *a, const float *b, int dim)
{
	double dot = 0, na = 0, nb = 0;
	for (int i = 0; i < dim; i++) {
		dot += double(a[i]) * b[i];
		na += double(a[i]) * a[i];
		nb += double(b[i]) * b[i];
	}
	return (na == 0 || nb == 0) ? std::nan("") : dot / std::sqrt(na * nb);
}

// argmax and its softmax probability
void classify_row(const float *logits, int dim, int32 *cls, double *prob)
{
	int best = 0;
	for (int i = 1; i < dim; i++)
		if (logits[i] > logits[best])
			best = i;
	double sum = 0;
	for (int i = 0; i < dim; i++)
		sum += std::exp(double(logits[i]) - logits[best]);
	*cls = best;
	*prob = 1.0 / sum;
}

}  // namespace

// ruvector_gnn_score(node_id bigint, query vector, graph text, num_hops int): cosine similarity of
// the query and the node's embedding after num_hops of parameter-free GCN propagation.
RV_FUNCTION(ruvector_gnn_score)
{
	int64 node = PG_GETARG_INT64(0);
	Vector *q = RV_GETARG_VECTOR(1);
	const char *graph = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int32 hops = PG_GETARG_INT32(3);
	if (hops < 1 || hops > 64)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("num_hops must be between 1 and 64")));
	NodeTable *nt = node_table_for(fcinfo, graph, "", hops, propagation_model);
	const float *row = node_row(nt, node, graph);
	if (q->dim != nt->dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("different vector dimensions %d and %d", q->dim, nt->dim)));
	PG_RETURN_FLOAT8(cosine(q->x, row, nt->dim));
}

// ruvector_gnn_classify(node_id bigint, graph text, model text, OUT class int, OUT score float8)
RV_FUNCTION(ruvector_gnn_classify_node)
{
	int64 node = PG_GETARG_INT64(0);
	const char *graph = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	NodeTable *nt = node_table_for(fcinfo, graph, model, 0, catalog_model);
	int32 cls;
	double prob;
	classify_row(node_row(nt, node, graph), nt->dim, &cls, &prob);
	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	Datum values[2] = {Int32GetDatum(cls), Float8GetDatum(prob)};
	bool nulls[2] = {};
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

// ruvector_gnn_classify(graph text, model text) RETURNS TABLE(node_id bigint, class int, score float8)
// Every node; or, for a model that ends with a readout, the whole graph (one row, node_id NULL).
RV_FUNCTION(ruvector_gnn_classify_graph)
{
	const char *graph = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *model = text_to_cstring(PG_GETARG_TEXT_PP(1));
	std::span<const std::byte> m;
	GraphBatch whole;  // a model that ends with a readout classifies the whole graph: one row, node_id NULL
	ForwardResult r = forward_named_graph(graph, [&](int) {
		if (m.empty())
			m = encode_model(read_model(model), {}, &whole);
		return m;
	});
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (int64 i = 0; i < r.nodes; i++) {
		int32 cls;
		double prob;
		classify_row(r.y + Size(i) * r.out_dim, r.out_dim, &cls, &prob);
		Datum values[3] = {Int64GetDatum(r.ids[i]), Int32GetDatum(cls), Float8GetDatum(prob)};
		bool nulls[3] = {whole.pooled, false, false};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}

/* ruvector_differentiable_search's arithmetic, in double: every finite float32 vector works (a
 * float dot product or norm of components near 3e38 overflows, and float8 arithmetic in SQL raises
 * underflow errors on subnormal products). */

namespace {

// The non-NULL vectors of a vector[] (each of q's dimensions); returns their count.
int candidate_vectors(const Vector *q, ArrayType *arr, Vector ***out)
{
	int16 typlen;
	bool typbyval;
	char typalign;
	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	Datum *elems;
	bool *nulls;
	int n;
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign, &elems, &nulls, &n);
	Vector **x = static_cast<Vector **>(palloc(sizeof(Vector *) * (n + 1)));
	int count = 0;
	for (int c = 0; c < n; c++) {
		if (nulls[c])
			continue;
		x[count] = datum_get_vector(elems[c]);
		check_same_dims(q, x[count]);
		count++;
	}
	*out = x;
	return count;
}

// y = W x + b in double, W [rows, cols] row-major over x's first `cols` entries (b may be null).
void affine(const ParamRow *w, const ParamRow *b, const double *x, double *y)
{
	const uint32 rows = w->shape[0], cols = w->shape[1];
	for (uint32 r = 0; r < rows; r++) {
		const float *wr = w->data + Size(r) * cols;
		double acc = b ? double(b->data[r]) : 0.0;
		for (uint32 c = 0; c < cols; c++)
			acc += double(wr[c]) * x[c];
		y[r] = acc;
	}
}

}  // namespace

// _ruvector_attention_query(query vector, candidates vector[]) RETURNS vector:
// alpha_c = softmax_c(<q, x_c> / sqrt(d)), q' = (q + sum_c alpha_c x_c) / 2 (NULL without candidates).
RV_FUNCTION(ruvector_attention_query)
{
	Vector *q = RV_GETARG_VECTOR(0);
	Vector **x;
	int count = candidate_vectors(q, PG_GETARG_ARRAYTYPE_P(1), &x);
	if (count == 0)
		PG_RETURN_NULL();
	const int dim = q->dim;
	double *logit = static_cast<double *>(palloc(sizeof(double) * count));
	double *v = static_cast<double *>(palloc0(sizeof(double) * dim));
	double top = -HUGE_VAL;
	for (int c = 0; c < count; c++) {
		double dot = 0;
		for (int k = 0; k < dim; k++)
			dot += double(q->x[k]) * x[c]->x[k];
		logit[c] = dot / std::sqrt(double(dim));
		top = std::max(top, logit[c]);
	}
	double sum = 0;
	for (int c = 0; c < count; c++)
		sum += (logit[c] = std::exp(logit[c] - top));  // the largest is 1, so sum >= 1
	for (int c = 0; c < count; c++)
		for (int k = 0; k < dim; k++)
			v[k] += logit[c] / sum * x[c]->x[k];
	Vector *out = new_vector(dim);
	for (int k = 0; k < dim; k++) {
		// A mean of floats, so it fits a float; checked anyway, as everything that makes a vector.
		out->x[k] = float((double(q->x[k]) + v[k]) / 2);
		if (!std::isfinite(out->x[k]))
			float_overflow_error();
	}
	PG_RETURN_POINTER(out);
}

// _ruvector_attention_query(query vector, candidates vector[], model text) RETURNS vector: the
// RuVector layer of a model whose one layer has type "ruvector" (docs/gnn-models.md), in double:
//   q_h = (W_q q + b_q)_h, k_ch = (W_k x_c + b_k)_h, v_ch = (W_v x_c + b_v)_h   (h: a head's C columns)
//   alpha_ch = softmax_c(<q_h, k_ch> / sqrt(C)),  m_h = sum_c alpha_ch v_ch,
//   q' = W_out [q ; m_1 .. m_H] + b_out.
RV_FUNCTION(ruvector_attention_query_model)
{
	Vector *q = RV_GETARG_VECTOR(0);
	ArrayType *arr = PG_GETARG_ARRAYTYPE_P(1);
	const char *name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	ModelRows m = read_model(name);
	if (m.nlayers != 1 || strcmp(m.layers[0].type, "ruvector") != 0)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("gnn model \"%s\" is not a RuVector layer", name),
						errdetail("ruvector_differentiable_search takes a model of one layer of type \"ruvector\"."),
						errhint("Import one with ruvector_gnn_model_import (see docs/gnn-models.md).")));
	const LayerRow &l = m.layers[0];
	auto param = [&](const char *key) -> const ParamRow * {
		for (int i = 0; i < m.nparams; i++)
			if (strcmp(m.params[i].name, key) == 0)
				return &m.params[i];
		return nullptr;
	};
	const ParamRow *wq = param("q.weight"), *wk = param("k.weight"), *wv = param("v.weight"), *wo = param("out.weight");
	if (!wq || !wk || !wv || !wo)
		elog(ERROR, "gnn model \"%s\" lacks a weight of its RuVector layer", name);
	const int dim = q->dim;
	if (dim != l.in_dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
						errmsg("gnn model \"%s\" takes %d dimensions, the vectors have %d", name, l.in_dim, dim)));
	Vector **x;
	int count = candidate_vectors(q, arr, &x);
	if (count == 0)
		PG_RETURN_NULL();
	const int width = int(wq->shape[0]), heads = l.heads, ch = width / heads;
	const ParamRow *bq = param("q.bias"), *bk = param("k.bias"), *bv = param("v.bias"), *bo = param("out.bias");

	double *in = static_cast<double *>(palloc(sizeof(double) * Size(dim + width)));  // [q ; m]
	for (int j = 0; j < dim; j++)
		in[j] = q->x[j];
	double *qh = static_cast<double *>(palloc(sizeof(double) * Size(width)));
	affine(wq, bq, in, qh);
	// Per candidate: its keys and values, and per head its logit.
	double *kv = static_cast<double *>(palloc(sizeof(double) * Size(2 * width)));
	double *xc = static_cast<double *>(palloc(sizeof(double) * Size(dim)));
	double *v = static_cast<double *>(palloc_extended(sizeof(double) * Size(count) * Size(width), MCXT_ALLOC_HUGE));
	double *logit = static_cast<double *>(palloc_extended(sizeof(double) * Size(count) * Size(heads), MCXT_ALLOC_HUGE));
	const double scale = 1.0 / std::sqrt(double(ch));
	for (int c = 0; c < count; c++) {
		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < dim; j++)
			xc[j] = x[c]->x[j];
		affine(wk, bk, xc, kv);
		affine(wv, bv, xc, v + Size(c) * Size(width));
		for (int h = 0; h < heads; h++) {
			double dot = 0;
			for (int j = h * ch; j < (h + 1) * ch; j++)
				dot += qh[j] * kv[j];
			logit[Size(c) * Size(heads) + Size(h)] = dot * scale;
		}
	}
	double *msg = in + dim;
	for (int h = 0; h < heads; h++) {
		double top = -HUGE_VAL, sum = 0;
		for (int c = 0; c < count; c++)
			top = std::max(top, logit[Size(c) * Size(heads) + Size(h)]);
		for (int c = 0; c < count; c++)
			sum += (logit[Size(c) * Size(heads) + Size(h)] = std::exp(logit[Size(c) * Size(heads) + Size(h)] - top));
		for (int j = h * ch; j < (h + 1) * ch; j++) {
			double acc = 0;
			for (int c = 0; c < count; c++)
				acc += logit[Size(c) * Size(heads) + Size(h)] / sum * v[Size(c) * Size(width) + Size(j)];
			msg[j] = acc;
		}
	}
	double *y = static_cast<double *>(palloc(sizeof(double) * Size(dim)));
	affine(wo, bo, in, y);
	Vector *out = new_vector(dim);
	for (int j = 0; j < dim; j++) {
		out->x[j] = float(y[j]);
		if (!std::isfinite(out->x[j]))
			float_overflow_error();
	}
	PG_RETURN_POINTER(out);
}

// _ruvector_cosine_similarity(a vector, b vector) RETURNS float8: in [-1, 1]; NULL when either
// is the zero vector (it has no direction).
RV_FUNCTION(ruvector_cosine_similarity)
{
	Vector *a = RV_GETARG_VECTOR(0);
	Vector *b = RV_GETARG_VECTOR(1);
	check_same_dims(a, b);
	double s = cosine(a->x, b->x, a->dim);
	if (std::isnan(s))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(std::clamp(s, -1.0, 1.0));
}

// ruvector_graphsage_search(node_table, edge_table, query, num_layers, sample_size, k, model)
// RETURNS TABLE(id bigint, score float8): nodes ranked by cosine similarity between the query and
// their GraphSAGE-enhanced embeddings (identity-weight mean SAGE layers, or the model), with
// neighbour sampling.
RV_FUNCTION(ruvector_graphsage_search)
{
	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("only model may be NULL")));
	GraphSource src{PG_GETARG_OID(0), PG_GETARG_OID(1), "embedding", "id", "src_id", "dst_id", nullptr};
	Vector *q = RV_GETARG_VECTOR(2);
	int32 layers = PG_GETARG_INT32(3), sample = PG_GETARG_INT32(4), k = PG_GETARG_INT32(5);
	if (layers < 1 || layers > 64)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("num_layers must be between 1 and 64")));
	if (sample < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("sample_size must be at least 1")));
	if (k < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be at least 1")));
	require_worker_support();
	GraphTables t = read_graph_tables(src);
	std::span<const std::byte> model;
	if (PG_ARGISNULL(6)) {
		std::vector<std::byte> bytes;
		{
			kernels::GnnModel m;
			m.relu_between = false;
			m.sample_size = uint32(sample);
			m.seed = 42;
			for (int h = 0; h < layers; h++)
				m.layers.push_back(kernels::identity_layer(kernels::LayerType::sage, uint32(t.dim)));
			bytes = kernels::encode(m);
		}
		model = palloc_copy(bytes);
	} else {
		ForwardOptions fo;
		fo.sample_size = uint32(sample);
		fo.seed = 42;
		model = encode_model(read_model(text_to_cstring(PG_GETARG_TEXT_PP(6))), fo);
	}
	ForwardResult r = forward_graph(model, graph_bytes(t));
	if (q->dim != r.out_dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("different vector dimensions %d and %d", q->dim, r.out_dim),
						errdetail("The query must have the width of the enhanced embeddings.")));
	// Top k by score (descending), ties by id.
	int64 *order = static_cast<int64 *>(palloc(sizeof(int64) * r.nodes));
	double *score = static_cast<double *>(palloc(sizeof(double) * r.nodes));
	int64 valid = 0;
	for (int64 i = 0; i < r.nodes; i++) {
		score[i] = cosine(q->x, r.y + Size(i) * r.out_dim, r.out_dim);
		if (!std::isnan(score[i]))
			order[valid++] = i;
	}
	int64 take = std::min<int64>(k, valid);
	std::partial_sort(order, order + take, order + valid, [&](int64 a, int64 b) {
		return score[a] > score[b] || (score[a] == score[b] && r.ids[a] < r.ids[b]);
	});
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (int64 i = 0; i < take; i++) {
		Datum values[2] = {Int64GetDatum(r.ids[order[i]]), Float8GetDatum(score[order[i]])};
		bool nulls[2] = {};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}

// ruvector_subgraph_search(center_node bigint, query vector, graph text, max_hops int, k int,
// distance_metric text) RETURNS TABLE(node_id bigint, hops int, distance float8): breadth-first
// from the center over the graph's CSR, following edges in either direction, then the k reached
// nodes closest to the query (ties by id; NaN distances last).
RV_FUNCTION(ruvector_subgraph_search)
{
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("graph must be given"),
						errhint("Pass graph => 'name' (see ruvector_graphs()).")));
	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("arguments must not be NULL")));
	int64 center = PG_GETARG_INT64(0);
	Vector *q = RV_GETARG_VECTOR(1);
	const char *graph = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int32 max_hops = PG_GETARG_INT32(3), k = PG_GETARG_INT32(4);
	if (k < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be at least 1")));
	if (max_hops < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_hops must be at least 0")));
	const kernels::MetricInfo &metric = parse_graph_metric(text_to_cstring(PG_GETARG_TEXT_PP(5)));
	std::span<const std::byte> blob = named_graph_blob(read_named_graph(graph));

	// The search itself allocates with C++ and calls no PostgreSQL function; results land in
	// arrays palloc'd beforehand and errors are raised after the scope.
	kernels::GraphHeader head = kernels::graph_header(blob);
	Size cap = Size(std::min<uint64>(uint64(k), head.nodes));
	int64 *out_id = static_cast<int64 *>(palloc(sizeof(int64) * (cap + 1)));
	int32 *out_hops = static_cast<int32 *>(palloc(sizeof(int32) * (cap + 1)));
	double *out_dist = static_cast<double *>(palloc(sizeof(double) * (cap + 1)));
	Size found = 0;
	enum class Outcome { ok, no_center, bad_dim } outcome = Outcome::ok;
	uint32 graph_dim = head.dim;
	{
		kernels::GraphView gr = kernels::view_graph(blob);  // in place: the blob is this call's own copy
		auto at = std::lower_bound(gr.ids.begin(), gr.ids.end(), center);
		if (at == gr.ids.end() || *at != center)
			outcome = Outcome::no_center;
		else if (uint32(q->dim) != gr.dim)
			outcome = Outcome::bad_dim;
		else {
			std::vector<std::int32_t> hops = kernels::hop_counts(gr.csr, Size(at - gr.ids.begin()), uint32(max_hops));
			struct Hit {
				double distance;
				std::size_t node;
			};
			std::vector<Hit> hits;
			for (std::size_t i = 0; i < hops.size(); i++) {
				if (hops[i] < 0)
					continue;
				double d = metric.distance(kernels::as_row(q->x), kernels::as_row(gr.x.data() + i * gr.dim), gr.dim);
				hits.push_back({d, i});
			}
			// PostgreSQL's float order: NaN after every number.
			auto before = [&](const Hit &a, const Hit &b) {
				bool an = std::isnan(a.distance), bn = std::isnan(b.distance);
				if (an != bn)
					return bn;
				if (!an && a.distance != b.distance)
					return a.distance < b.distance;
				return gr.ids[a.node] < gr.ids[b.node];
			};
			found = std::min(cap, hits.size());
			std::partial_sort(hits.begin(), hits.begin() + std::ptrdiff_t(found), hits.end(), before);
			for (Size r = 0; r < found; r++) {
				out_id[r] = gr.ids[hits[r].node];
				out_hops[r] = hops[hits[r].node];
				out_dist[r] = hits[r].distance;
			}
		}
	}
	if (outcome == Outcome::no_center)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("node " INT64_FORMAT " is not in graph \"%s\"", center, graph)));
	if (outcome == Outcome::bad_dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("different vector dimensions %u and %d", graph_dim, q->dim)));
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (Size r = 0; r < found; r++) {
		Datum values[3] = {Int64GetDatum(out_id[r]), Int32GetDatum(out_hops[r]), Float8GetDatum(out_dist[r])};
		bool nulls[3] = {};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}

namespace ruvector {

EnhancedEmbeddings compute_enhanced_embeddings(const GraphSource &src, const char *model_name, const char *layer_type,
											   int num_layers, const char *aggregator, int hidden_dim)
{
	require_worker_support();
	GraphTables t = read_graph_tables(src, true);
	std::span<const std::byte> model;
	if (model_name && *model_name) {
		model = encode_model(read_model(model_name), {});
	} else {
		kernels::LayerType lt = parse_layer_type(layer_type);
		if (num_layers < 1 || num_layers > 64)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("num_layers must be between 1 and 64")));
		if (hidden_dim != 0 && hidden_dim != t.dim)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("hidden_dim must be %d (the embedding width) without a model", t.dim),
							errdetail("Without a model the layers are parameter-free and keep the width; queries compare with the enhanced embeddings."),
							errhint("Name a trained model with the model option to use other widths.")));
		std::string_view aggr = aggregator ? aggregator : "mean";
		kernels::Aggr a = aggr == "mean" ? kernels::Aggr::mean : aggr == "max" ? kernels::Aggr::max
						: aggr == "sum" ? kernels::Aggr::sum : aggr == "min" ? kernels::Aggr::min
										: throw pg::Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown aggregator \"" + std::string(aggr) + "\"",
														  "", "Use one of: mean, max, sum, min.");
		std::vector<std::byte> bytes;
		{
			kernels::GnnModel m;
			m.relu_between = false;
			for (int h = 0; h < num_layers; h++) {
				kernels::GnnLayer l = kernels::identity_layer(lt, uint32(t.dim));
				l.aggr = a;
				m.layers.push_back(std::move(l));
			}
			bytes = kernels::encode(m);
		}
		model = palloc_copy(bytes);
	}
	ForwardResult r = forward_graph(model, graph_bytes(t));
	if (r.out_dim != t.dim)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the model outputs %d features, the indexed column has %d", r.out_dim, t.dim),
						errdetail("Queries are compared with the enhanced embeddings, so they must have the column's width.")));
	return EnhancedEmbeddings{r.nodes, r.out_dim, r.ids, r.y, uint64(t.e)};
}

}  // namespace ruvector

/* Graph classification */

namespace {

// Each node's graph from `column` of the node table, read with the caller's rights and snapshot
// (the same the graph itself is read with), in node (id) order.
GraphBatch read_graph_batch(const GraphSource &src, const char *column)
{
	AttrNumber att = get_attnum(src.nodes, column);
	if (att == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation %s does not exist", column, qualified_relation_name(src.nodes)),
						errhint("Name the node table's graph id column.")));
	Oid type = get_atttype(src.nodes, att);
	if (type != INT2OID && type != INT4OID && type != INT8OID)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("graph id column \"%s\" of relation %s must be an integer", column,
							   qualified_relation_name(src.nodes)),
						errdetail("It is of type %s.", format_type_be(type))));
	const char *nodes_name = qualified_relation_name(src.nodes);
	MemoryContext caller = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	const char *q = psprintf("SELECT %s::bigint, %s::bigint FROM %s ORDER BY 1", quote_identifier(src.id),
							 quote_identifier(column), nodes_name);
	if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the graph ids of %s failed", nodes_name);
	GraphBatch b;
	b.nodes = int64(SPI_processed);
	int64 *keys = static_cast<int64 *>(MemoryContextAllocHuge(caller, sizeof(int64) * (b.nodes + 1)));
	for (int64 i = 0; i < b.nodes; i++) {
		bool null_id, null_g;
		HeapTuple t = SPI_tuptable->vals[i];
		int64 id = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &null_id));
		Datum gd = SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &null_g);
		if (null_g)
			ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
							errmsg("node " INT64_FORMAT " of %s has a NULL graph id", id, nodes_name),
							errhint("Every node must belong to a graph.")));
		keys[i] = DatumGetInt64(gd);
	}
	SPI_finish();
	// Graphs in ascending key order; a node's graph is its key's rank.
	int64 *ids = static_cast<int64 *>(palloc(sizeof(int64) * (b.nodes + 1)));
	memcpy(ids, keys, sizeof(int64) * b.nodes);
	std::sort(ids, ids + b.nodes);
	b.graphs = std::unique(ids, ids + b.nodes) - ids;
	uint32 *batch = static_cast<uint32 *>(MemoryContextAllocHuge(caller, sizeof(uint32) * (b.nodes + 1)));
	for (int64 i = 0; i < b.nodes; i++)
		batch[i] = uint32(std::lower_bound(ids, ids + b.graphs, keys[i]) - ids);
	b.batch = batch;
	b.graph_ids = ids;
	return b;
}

}  // namespace

// ruvector_gnn_classify(graph text, model text, graph_column text)
//   RETURNS TABLE (graph_id bigint, class integer, score double precision, logits vector)
// A model that ends with a readout over a named graph, one row per value of graph_column of the
// node table (read with the caller's rights and snapshot, as the graph is): the argmax of the
// model's output, its softmax probability, and the output itself.
RV_FUNCTION(ruvector_gnn_classify_graphs)
{
	const char *graph_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *model_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *column = text_to_cstring(PG_GETARG_TEXT_PP(2));  // text, not name: see sql/gnn.sql
	require_worker_support();
	GraphBatch batch = read_graph_batch(read_named_graph(graph_name).src, column);
	batch.need_readout = true;
	std::span<const std::byte> model;
	ForwardResult r = forward_named_graph(graph_name, [&](int) {
		if (model.empty())
			model = encode_model(read_model(model_name), {}, &batch);
		return model;
	});
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (int64 i = 0; i < r.nodes; i++) {
		const float *row = r.y + Size(i) * r.out_dim;
		int32 cls;
		double prob;
		classify_row(row, r.out_dim, &cls, &prob);
		Vector *v = new_vector(r.out_dim);
		memcpy(v->x, row, sizeof(float) * r.out_dim);
		Datum values[4] = {Int64GetDatum(r.ids[i]), Int32GetDatum(cls), Float8GetDatum(prob), PointerGetDatum(v)};
		bool nulls[4] = {};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(v);
	}
	return Datum(0);
}
