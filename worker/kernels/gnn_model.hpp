// A GNN model and a graph as the worker receives them, and running a model over a graph.
//
// GnnModel is the catalog's model (sql/gnn.sql: ruvector_gnn_model_layers / _params) in plain
// memory; the backend fills it from the tables, encodes it, and the worker decodes and runs it.
// GraphBlob is the one binary form of a graph: what the backend builds from the node and edge
// tables, what the shared store caches, and what a request carries inline.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "shmem/codec/protocol.hpp"
#include "worker/kernels/cancel.hpp"
#include "worker/kernels/gnn.hpp"
#include "worker/kernels/graph.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ruvector::kernels {

// Graph convolutions (one row per node in and out), then the readouts (one row per graph out) and
// linear (torch.nn.Linear per row, e.g. a classifier head after a readout).
enum class LayerType : std::uint8_t {
	gcn = 0,
	sage = 1,
	gin = 2,
	gat = 3,
	global_add_pool = 4,
	global_mean_pool = 5,
	global_max_pool = 6,
	attentional_aggregation = 7,
	set2set = 8,
	linear = 9,
};
inline constexpr LayerType kLastLayerType = LayerType::linear;
bool is_readout(LayerType t) noexcept;
const char *layer_type_name(LayerType t) noexcept;

struct GnnParam {
	std::string name;                 // normalised state_dict key, e.g. "lin.weight"
	std::vector<std::uint32_t> shape;
	std::vector<float> data;          // row-major
};

// The longest GIN MLP (Sequential positions 0 .. kMaxMlpSteps - 1); model import (sql/gnn.sql) refuses longer.
inline constexpr std::size_t kMaxMlpSteps = 1024;

struct GnnLayer {
	LayerType type = LayerType::gcn;
	std::uint32_t in_dim = 0;
	std::uint32_t out_dim = 0;
	// options (each type reads its own)
	bool add_self_loops = true;  // gcn, gat
	bool normalize = true;       // gcn (default true); sage (default false)
	Aggr aggr = Aggr::mean;      // sage
	bool root_weight = true;     // sage
	bool project = false;        // sage
	std::vector<Aggr> aggrs;     // sage MultiAggregation (two or more; aggr is then not read)
	bool attn = false;           // sage MultiAggregation mode: "attn" (heads: num_heads), else "cat"
	float eps = 0;               // gin
	std::vector<std::uint8_t> mlp;  // gin (nn.K), attentional_aggregation (gate_nn.K): 0 = linear, 1 = relu
	std::vector<std::uint8_t> nn_mlp;  // attentional_aggregation's optional nn (nn.K)
	std::uint32_t processing_steps = 0;  // set2set
	std::uint32_t heads = 1;     // gat; sage MultiAggregation "attn" (num_heads)
	bool concat = true;          // gat
	float negative_slope = 0.2f; // gat
	std::vector<GnnParam> params;

	const GnnParam *param(std::string_view name) const noexcept;
};

struct GnnModel {
	bool relu_between = true;       // activation between layers (never after the last, nor after a readout)
	std::uint32_t sample_size = 0;  // GraphSAGE neighbour sampling per layer; 0 = all neighbours
	std::uint64_t seed = 0;         // sampling seed
	std::vector<GnnLayer> layers;
	// For a model with a readout: the graph of each node (0 .. graph_ids.size() - 1, in node
	// order) and each graph's key. Empty: the whole graph is one graph, key 0.
	std::vector<std::uint32_t> batch;
	std::vector<std::int64_t> graph_ids;
};

std::vector<std::byte> encode(const GnnModel &m);
GnnModel decode_gnn_model(std::span<const std::byte> bytes);

// Checks shapes and the dimension chain, and that only linear layers follow the (at most one,
// as only convolutions may precede it) readout; throws std::invalid_argument naming the layer.
void check_model(const GnnModel &m, std::size_t in_dim);
bool has_readout(const GnnModel &m) noexcept;

// Runs every layer over g, x (g.n x in_dim). Returns g.n x out_dim of the last layer, or with a
// readout graphs x out_dim (rows in graph order, see GnnModel::batch). A layer whose result is
// not finite throws NodeError with its layer number (no NaN or Inf leaves here; after a readout
// the NodeError's node is the graph's index).
std::vector<float> run_model(const GnnModel &m, CsrView g, std::span<const float> x, std::size_t in_dim,
                             CancelToken cancel = {});

// The identity-weight layer of each type (ruvector_message_pass without a model): GCN normalised
// propagation, sage x_i + mean_j x_j, gin x_i + sum_j x_j, gat uniform attention over in-neighbours
// and self; no bias, no activation.
GnnLayer identity_layer(LayerType type, std::uint32_t dim);

/* Graph blobs */

struct GraphHeader {
	std::uint32_t magic;     // kGraphMagic
	std::uint32_t dim;
	std::uint64_t nodes;
	std::uint64_t edges;
	std::uint32_t has_weight;
	std::uint32_t reserved;
};
inline constexpr std::uint32_t kGraphMagic = 0x52474731;  // "RGG1"

// Layout after the header: row_ptr u64[n+1], col u32[e], weight f32[e] (if has_weight),
// x f32[n*dim], ids i64[n] (user ids in node order). All sections 8-byte aligned.
std::vector<std::byte> encode_graph(const Csr &g, std::span<const float> x, std::uint32_t dim,
                                    std::span<const std::int64_t> ids);
// The same into a buffer the caller allocated (of encoded_graph_size bytes), without a vector.
std::size_t encoded_graph_size(const Csr &g, std::uint32_t dim);
// Where x and ids start in the blob, and its size: the blob is the head (header, CSR, weights,
// zero-padded to x_offset), then x, then zeros up to ids_offset, then ids. A caller can send the
// head (encode_graph_head_into) and the features and ids from where they are, without one copy.
struct GraphLayout {
	std::size_t x_offset, ids_offset, total;
};
GraphLayout graph_layout(const Csr &g, std::uint32_t dim);
GraphLayout graph_layout(std::uint64_t nodes, std::uint64_t edges, std::uint32_t dim, bool weighted);
void encode_graph_head_into(std::span<std::byte> head, const Csr &g, std::uint32_t dim);
void encode_graph_into(std::span<std::byte> out, const Csr &g, std::span<const float> x, std::uint32_t dim,
                       std::span<const std::int64_t> ids);

struct Graph {
	Csr csr;
	std::vector<float> x;
	std::vector<std::int64_t> ids;
	std::uint32_t dim = 0;
};
// Copies out of `bytes` and validates the structure; throws std::invalid_argument.
Graph decode_graph(std::span<const std::byte> bytes);

// The graph inside `bytes`, read in place (no copy: `bytes` must outlive the view, and start
// 8-byte aligned, as palloc and operator new give); validated as decode_graph does. Throws
// std::invalid_argument.
struct GraphView {
	CsrView csr;
	std::span<const float> x;
	std::span<const std::int64_t> ids;
	std::uint32_t dim = 0;
};
GraphView view_graph(std::span<const std::byte> bytes);

// view_graph, or, when `bytes` do not start 8-byte aligned (a graph behind a model in one
// request), the view of an aligned copy kept in `storage`.
GraphView view_graph(std::span<const std::byte> bytes, std::vector<std::uint64_t> &storage);
GraphHeader graph_header(std::span<const std::byte> bytes);

}  // namespace ruvector::kernels
