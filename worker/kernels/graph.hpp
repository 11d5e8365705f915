// Graphs for the GNN layers: compressed sparse rows in in-edge orientation.
//
// Row i lists the in-edges of node i (the sources that send it a message), so a layer computes
// each output row from one contiguous run of edges, one thread per row, with no atomics. Within a
// row, edges keep their input order: sums then run in a fixed order and results are the same on
// every run and at every thread count.
//
// The self-loop helpers reproduce PyTorch Geometric's rules exactly (GCNConv uses
// add_remaining_self_loops, GATConv remove_self_loops then add_self_loops, i.e.
// replace_self_loops); the layers in gnn.hpp call them, and callers may too.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ruvector::kernels {

// Read-only CSR arrays held elsewhere: a Csr, or a graph blob read in place (view_graph). What
// only reads a graph takes one of these.
struct CsrView {
	std::size_t n = 0;
	std::span<const std::uint64_t> row_ptr;
	std::span<const std::uint32_t> col;
	std::span<const float> weight;

	std::size_t edges() const noexcept { return col.size(); }
	std::size_t in_degree(std::size_t i) const noexcept { return std::size_t(row_ptr[i + 1] - row_ptr[i]); }
	float edge_weight(std::size_t e) const noexcept { return weight.empty() ? 1.0f : weight[e]; }
};

struct Csr {
	std::size_t n = 0;                    // nodes
	std::vector<std::uint64_t> row_ptr;   // n + 1 offsets into col / weight
	std::vector<std::uint32_t> col;       // source node of each in-edge
	std::vector<float> weight;            // one per edge; empty = every edge weighs 1

	operator CsrView() const noexcept { return {n, row_ptr, col, weight}; }
	CsrView view() const noexcept { return *this; }
	std::size_t edges() const noexcept { return view().edges(); }
	std::size_t in_degree(std::size_t i) const noexcept { return view().in_degree(i); }
	float edge_weight(std::size_t e) const noexcept { return view().edge_weight(e); }
};

// Edge e sends a message from src[e] to dst[e]. weight is empty (all 1) or one per edge.
// Duplicate edges and self-loops are kept as given. Throws std::invalid_argument when the arrays
// disagree in length or an index is not below n.
Csr build_csr(std::size_t n, std::span<const std::uint32_t> src, std::span<const std::uint32_t> dst,
              std::span<const float> weight);

// Structural check for a Csr that did not come from build_csr (e.g. a cached blob): offsets
// monotone and consistent, every col < n, weight empty or one per edge. Throws
// std::invalid_argument.
void validate(CsrView g);

std::size_t max_in_degree(CsrView g) noexcept;

// PyG remove_self_loops: every edge i -> i is dropped.
Csr remove_self_loops(CsrView g);

// PyG add_self_loops: one loop of weight fill_value appended to every row (existing loops stay).
Csr add_self_loops(CsrView g, float fill_value = 1.0f);

// remove_self_loops then add_self_loops in one pass (what GATConv does): every row ends with
// exactly one loop, of weight fill_value.
Csr replace_self_loops(CsrView g, float fill_value = 1.0f);

// PyG add_remaining_self_loops (what GCNConv does): in every row the node's own loops are
// dropped and exactly one is appended at the end of the row, weighing what the last dropped loop
// (in input order) weighed, or fill_value for a node that had none.
Csr add_remaining_self_loops(CsrView g, float fill_value = 1.0f);

// GraphSAGE neighbour sampling: each node keeps at most sample_size of its in-edges, chosen
// uniformly without replacement (duplicate edges are distinct candidates) and kept in their
// original order, with their weights. Reproducible for a seed: node i's choice depends only on
// (seed, i, its degree). When sample_size >= max_in_degree(g) the graph comes back unchanged.
Csr sample_neighbors(CsrView g, std::size_t sample_size, std::uint64_t seed);

// Breadth-first hop counts from `start`, walking every edge in either direction (a subgraph
// search treats the graph as undirected): result[i] is the fewest hops from start to node i, or -1
// when node i is not reachable within max_hops. Throws std::invalid_argument when start >= g.n.
std::vector<std::int32_t> hop_counts(CsrView g, std::size_t start, std::uint32_t max_hops);

// The fixed PRNG of the GNN code (Vigna's splitmix64): the same stream on every platform and
// standard library, so sampled graphs and initial weights never change under a toolchain update.
struct SplitMix64 {
	std::uint64_t state;

	explicit SplitMix64(std::uint64_t seed) noexcept : state(seed) {}
	std::uint64_t next() noexcept
	{
		std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	}
	// Uniform in [0, 1) with 53 random bits.
	double uniform() noexcept { return double(next() >> 11) * 0x1.0p-53; }
};

}  // namespace ruvector::kernels
