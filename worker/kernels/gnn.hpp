// Graph neural network layers, forward pass only, matching PyTorch Geometric 2.x in eval mode
// (GCNConv, SAGEConv, GINConv, GATConv) to float32 precision.
//
// Conventions shared by every layer:
//   - X is g.n rows of in features, row-major; the result is g.n rows of the layer's output width.
//   - An edge src -> dst sends a message from src to dst; node i aggregates over its in-edges (its
//     Csr row). Duplicate edges count once per copy; a node without in-edges aggregates to zero.
//   - Parameters are viewed exactly as PyTorch stores them (Linear weight [out, in]), in caller
//     memory; nothing is copied out of it except small concatenations.
//
// Each layer comes twice: returning a new matrix, or writing into caller memory of exactly
// g.n x output-width floats (the *_into form, for a caller that owns the destination, e.g. a
// worker writing straight into shared memory; it also spares the zero-fill of a fresh vector; out
// must not overlap x). Shape mismatches throw std::invalid_argument.
//
// Dense transforms go through the distance table's gemm_nt (C = A B^T is x weight^T as PyTorch
// stores weight). Work is cut into fixed row blocks run on the TBB arena the caller runs in; each
// output row is computed by one thread in a fixed order, so results are bit-for-bit the same at
// any thread count (across instruction sets they can differ in the last bits, as the distance
// kernels' do). Linear maps commute with sums, so GCN, GIN and SAGE (mean/sum) transform
// before aggregating when that makes the aggregated rows narrower (out < in), which moves the
// result by rounding only. The cancel token is polled between blocks.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "worker/kernels/cancel.hpp"
#include "worker/kernels/graph.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <variant>
#include <vector>

namespace ruvector::kernels {

// torch.nn.Linear: y = x weight^T + bias.
struct Linear {
	std::span<const float> weight;  // [out, in], row-major
	std::span<const float> bias;    // [out], or empty for none
	std::size_t in = 0;
	std::size_t out = 0;
};

struct Relu {};

// One step of a GIN MLP (torch.nn.Sequential of Linear and ReLU).
using MlpStep = std::variant<Linear, Relu>;

// Width of the rows an MLP produces from rows of in_dim features (in_dim when it has no Linear).
std::size_t mlp_output_dim(std::size_t in_dim, std::span<const MlpStep> mlp) noexcept;

// ---- GCNConv ------------------------------------------------------------------------------------
struct GcnOptions {
	bool add_self_loops = true;  // add_remaining_self_loops before normalising (only with normalize)
	bool normalize = true;       // false: plain weighted sum over in-edges, no loops
};

// out_i = bias + sum_{j->i} w_ji / sqrt(deg_j deg_i) (x_j W), deg = weighted in-degree after
// the self-loop rule (both factors are in-degrees, directed graphs too); zero degree, zero factor
// (PyG's masked_fill). A negative degree has no deg^-1/2 (PyG gives NaN): NodeError.
// x: g.n x lin.in. Result: g.n x lin.out.
std::vector<float> gcn_conv(CsrView g, std::span<const float> x, const Linear &lin, const GcnOptions &opts = {},
                            CancelToken cancel = {});
void gcn_conv_into(CsrView g, std::span<const float> x, const Linear &lin, std::span<float> out,
                   const GcnOptions &opts = {}, CancelToken cancel = {});

// torch.nn.LSTM with one unidirectional layer: rows of weight_ih/weight_hh and the biases are the
// gates i, f, g, o stacked (PyTorch's order). h0 = c0 = 0.
struct Lstm {
	std::span<const float> weight_ih;  // [4 hidden, in]
	std::span<const float> weight_hh;  // [4 hidden, hidden]
	std::span<const float> bias_ih;    // [4 hidden], or empty
	std::span<const float> bias_hh;    // [4 hidden], or empty
	std::size_t in = 0;
	std::size_t hidden = 0;
};

// ---- SAGEConv -----------------------------------------------------------------------------------
// lstm: PyG's LSTMAggregation. Each node's in-neighbours form a sequence in ascending node order
// (what sort_edge_index(edge_index, sort_by_row=False) gives: edges sorted by target, then
// source; duplicate edges repeat their source), zero-padded at the end to the largest in-degree
// of the graph (to_dense_batch); the aggregate is the LSTM's last hidden state. So a node's
// result depends on the graph's largest in-degree, exactly as in PyG. A graph without edges
// aggregates to zero (PyG cannot run an LSTM over empty sequences).
enum class Aggr { mean, max, sum, min, lstm };

struct SageOptions {
	Aggr aggr = Aggr::mean;
	bool normalize = false;    // L2-normalise each output row (norm floored at 1e-12)
	bool root_weight = true;   // false: no lin_r term (lin_r is then not read)
	bool project = false;      // aggregate relu(lin(x_j)) instead of x_j (lin is then read)
	// PyG's MultiAggregation (SAGEConv(aggr=[...])): two or more of mean, max, sum, min (aggr is
	// then not read), combined side by side (mode "cat": lin_l reads A x in features) or by
	// multi-head attention (mode "attn": each aggregate through its own Linear(in, C), a
	// torch.nn.MultiheadAttention(C, heads) over a node's A aggregates as a sequence, then their
	// mean; lin_l reads C features).
	std::vector<Aggr> aggrs{};
	bool attn = false;
	std::size_t heads = 1;
};

// Everything SAGEConv reads; lin (project) is [in, in] with bias, lstm is in -> in.
struct SageParams {
	Linear lin_l;  // [out, aggregate width]: applied to the aggregate
	Linear lin_r;  // [out, in]: applied to x_i (root_weight)
	Linear lin;    // project
	Lstm lstm;     // aggr lstm
	// MultiAggregation "attn": one Linear(in, C) per aggregation, then the attention's packed
	// q/k/v projection ([3C, C], bias [3C] or empty) and its output projection [C, C].
	std::vector<Linear> lin_heads{};
	std::span<const float> in_proj_weight{};
	std::span<const float> in_proj_bias{};
	Linear out_proj{};
};

// out_i = lin_l(aggr_{j->i} x_j) + lin_r(x_i). Edge weights are not used; self-loops in g are
// ordinary edges and none are added. PyG gives lin_l the bias and lin_r none; a bias on lin_r is
// added if present. x: g.n x lin_l.in. Result: g.n x lin_l.out.
std::vector<float> sage_conv(CsrView g, std::span<const float> x, const Linear &lin_l, const Linear &lin_r,
                             const SageOptions &opts = {}, CancelToken cancel = {});
void sage_conv_into(CsrView g, std::span<const float> x, const Linear &lin_l, const Linear &lin_r,
                    std::span<float> out, const SageOptions &opts = {}, CancelToken cancel = {});
// The full form: with project, out_i = lin_l(aggr_{j->i} relu(lin(x_j))) + lin_r(x_i) (lin_r
// reads the unprojected x, as in PyG).
std::vector<float> sage_conv(CsrView g, std::span<const float> x, const SageParams &p, const SageOptions &opts,
                             CancelToken cancel = {});
void sage_conv_into(CsrView g, std::span<const float> x, const SageParams &p, std::span<float> out,
                    const SageOptions &opts, CancelToken cancel = {});

// ---- GINConv ------------------------------------------------------------------------------------
// out_i = mlp((1 + eps) x_i + sum_{j->i} x_j). Edge weights are not used; self-loops in g are
// ordinary edges. x: g.n x in_dim. Result: g.n x mlp_output_dim(in_dim, mlp).
std::vector<float> gin_conv(CsrView g, std::span<const float> x, std::size_t in_dim,
                            std::span<const MlpStep> mlp, float eps = 0.0f, CancelToken cancel = {});
void gin_conv_into(CsrView g, std::span<const float> x, std::size_t in_dim, std::span<const MlpStep> mlp,
                   std::span<float> out, float eps = 0.0f, CancelToken cancel = {});

// ---- GATConv (eval mode, no edge features) ------------------------------------------------------
struct GatParams {
	std::span<const float> weight;   // lin.weight [heads * channels, in]; head h is rows h*C .. h*C+C-1
	std::span<const float> att_src;  // [heads * channels] (PyG's [1, heads, channels], flattened)
	std::span<const float> att_dst;  // [heads * channels]
	std::span<const float> bias;     // [heads * channels] with concat, [channels] without; empty = none
	std::size_t in = 0;
	std::size_t heads = 1;
	std::size_t channels = 0;
};

struct GatOptions {
	bool concat = true;           // heads side by side (heads * channels wide) or averaged (channels)
	float negative_slope = 0.2f;  // of the LeakyReLU on attention logits
	bool add_self_loops = true;   // drop every existing loop, then add exactly one per node
};

// Z = x W^T; e_ji = LeakyReLU(<Z_j, att_src_h> + <Z_i, att_dst_h>) per head, softmax over the
// in-edges of i, out_i = sum_j alpha_ji Z_j, heads concatenated or averaged, then bias. Edge
// weights are ignored. x: g.n x p.in. (<Z_i, att_h> is computed as x_i . (W_h^T att_h), equal up
// to rounding.)
std::vector<float> gat_conv(CsrView g, std::span<const float> x, const GatParams &p, const GatOptions &opts = {},
                            CancelToken cancel = {});
void gat_conv_into(CsrView g, std::span<const float> x, const GatParams &p, std::span<float> out,
                   const GatOptions &opts = {}, CancelToken cancel = {});

// ---- Per-row and graph-level layers ----------------------------------------------------------------
// torch.nn.Sequential of Linear and ReLU steps on every row of x (rows x in_dim). Result: rows x
// mlp_output_dim(in_dim, mlp). A lone Linear is the one-step MLP.
std::vector<float> mlp_rows(std::span<const float> x, std::size_t rows, std::size_t in_dim,
                            std::span<const MlpStep> mlp, CancelToken cancel = {});

// Readouts, as PyG's global_*_pool / aggr modules with a `batch` vector: batch[i] is the graph of
// node i (0 .. graphs - 1), x holds batch.size() rows of d. The result has one row per graph, in
// graph order; a graph without nodes reads as zeros (PyG's scatter gives the same).
enum class Pool { add, mean, max };
// global_add_pool, global_mean_pool, global_max_pool: graphs x d.
std::vector<float> global_pool(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch,
                               std::size_t graphs, Pool pool, CancelToken cancel = {});

// AttentionalAggregation(gate_nn, nn): gate = gate_nn(x) (1 column, or as many as nn's output),
// softmax over each graph's nodes per column (shifted by the maximum, denominator + 1e-16, as
// torch_geometric.utils.softmax), out_g = sum_i gate_i * nn(x_i) (x_i when nn is empty).
// Result: graphs x mlp_output_dim(d, nn).
std::vector<float> attentional_aggregation(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch,
                                           std::size_t graphs, std::span<const MlpStep> gate_nn,
                                           std::span<const MlpStep> nn, CancelToken cancel = {});

// Set2Set(d, processing_steps): lstm is 2d -> d. q* = 0; each step q = LSTM(q*), a_i = softmax
// over the graph of <x_i, q>, r = sum a_i x_i, q* = [q, r]. Result: graphs x 2d.
std::vector<float> set2set(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch,
                           std::size_t graphs, const Lstm &lstm, std::size_t processing_steps,
                           CancelToken cancel = {});

// ---- Non-finite results --------------------------------------------------------------------------
// A GNN result never holds NaN or ±Infinity: inputs and parameters are finite (the backend checks
// them on input), so a non-finite value means float32 overflowed (or GCN normalisation met a
// negative degree). Thrown with the node's index; the caller that knows the ids names it
// (jobs::run_gnn_forward), and run_model fills in the layer.
struct NodeError : std::runtime_error {
	enum class Kind {
		overflow,         // a value of the node's output row is not finite
		negative_degree,  // GCN: the node's weighted in-degree (self-loop included) is negative or not finite
	};
	NodeError(Kind kind, std::size_t node, double value = 0);
	Kind kind;
	std::size_t node;  // row index in the layer's input/output
	double value;      // negative_degree: the degree
	std::size_t layer = std::numeric_limits<std::size_t>::max();  // unknown until run_model sets it
};

// Throws NodeError(overflow) naming the first row (of `width` floats) that holds NaN or ±Infinity.
void check_finite_rows(std::span<const float> rows, std::size_t width);

// ---- Helpers ------------------------------------------------------------------------------------
// max(v, 0) elementwise (NaN stays NaN), for the activation a caller puts between layers.
void relu_inplace(std::span<float> v) noexcept;

// Glorot (Xavier) uniform initial weights for a Linear [out, in]: U(-b, b), b = sqrt(6 / (in + out)),
// from SplitMix64(seed), so the values depend on nothing but (out, in, seed).
std::vector<float> glorot(std::size_t out, std::size_t in, std::uint64_t seed);

}  // namespace ruvector::kernels
