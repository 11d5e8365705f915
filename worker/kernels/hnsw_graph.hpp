// An in-memory HNSW graph (Malkov & Yashunin), built in parallel on the worker's threads.
//
// PG-free: the worker builds the graph of an index build here (request hnsw_build), and the
// backend writes it to the index pages (extension/hnsw/). Rows are in any element type of the
// metric table and are compared with the entry's order(); they are prepared (normalised for
// cosine) by the caller. Neighbour selection is the paper's heuristic with kept pruned
// connections, as pgvector's, so neighbour lists are full whenever there are enough candidates.
//
// Large float32 builds compare their rows in half precision (a scaled binary16 copy, see
// BuildParams::half_min_bytes): the build is bound by fetching rows from memory.
//
// Rows are inserted in a random order drawn from the seed (never the caller's: tables are often
// grouped by cluster or time, and HNSW inserted in such an order splits clusters). Levels are drawn
// from (seed, row number), never from thread timing, so a build's levels do not depend on the
// thread count; the links do a little (which inserts overlap differs), which the tests bound
// (recall on 1 and 2 threads within 0.01).
#pragma once
#include "worker/kernels/cancel.hpp"
#include "worker/kernels/hnsw_layout.hpp"
#include "worker/kernels/metric.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ruvector::kernels::hnsw {

struct BuildParams {
	std::uint32_t m = 16;                 // neighbours per upper layer; 2m at layer 0
	std::uint32_t ef_construction = 64;
	std::uint32_t max_level = 63;         // levels are capped here (the page layout's limit)
	std::uint64_t seed = 42;
	// float32 rows of at least this many bytes are built on a copy grouped by locality (the graph
	// is the same, faster to build); see hnsw_graph.cpp.
	std::size_t locality_min_bytes = std::size_t(16) << 20;
	// float32 rows (l2, ip, cosine) of at least this many bytes are compared during the build in
	// half precision, on a scaled copy (half the bytes per distance; see hnsw_graph.cpp). The
	// graph's searches and the index keep the float rows.
	std::size_t half_min_bytes = std::size_t(16) << 20;
};

// The level of row `row`: floor(-ln(U) / ln(m)) with U uniform in (0, 1] from (seed, row),
// capped at max_level.
std::uint32_t draw_level(const BuildParams &p, std::uint64_t row) noexcept;

// The built graph: plain arrays, so that it encodes into a reply and writes to pages directly.
struct Graph {
	std::uint32_t m = 0;
	std::int64_t entry = -1;                // entry point (a node of the top level), -1 when empty
	std::vector<std::uint8_t> levels;       // per node
	std::vector<std::uint64_t> offsets;     // per node + 1: where its links start in `links`
	std::vector<std::int32_t> links;        // per node: link_slots(m, level) node numbers, -1 empty

	std::size_t size() const noexcept { return levels.size(); }
	std::span<const std::int32_t> neighbours(std::size_t node, std::uint32_t layer) const noexcept
	{
		return {links.data() + offsets[node] + layer_offset(m, layer), layer_slots(m, layer)};
	}
};

// Graph memory for n rows (bytes), beside the rows themselves (and the copy of them a build
// grouped by locality makes): what a build checks against its memory budget before it starts.
std::size_t graph_bytes(std::size_t n, const BuildParams &p) noexcept;

// Build the graph of `n` rows of `row_bytes` bytes each (dim elements of metric.type), on the
// worker's threads (parallel.hpp). Throws Cancelled when cancel is requested.
Graph build(const MetricInfo &metric, const std::byte *rows, std::size_t n, std::size_t dim,
            const BuildParams &params, const CancelToken &cancel);

// How many candidates a query keeps at layer 1, where pgvector's search keeps 1: a query descends
// greedily (ef 1) to layer 2, searches layer 1 with this many candidates and starts its layer-0
// search from all of them. One greedy path ends in a neighbouring cluster often enough to cost
// recall at small ef_search (100k x 128 clustered rows, m 16, ef_search 40: recall@10 0.966-0.974
// with one entry, 0.982-0.985 with m of them, for about 12% more distances; no change at
// ef_search 100 and 200). The build's inserts keep pgvector's descent (their ef_construction search
// is wide, and they come in a random order); on-disk inserts, in the table's order, enter their top
// layer as queries enter layer 0 (extension/hnsw/hnswinsert.cpp).
constexpr std::size_t query_layer1_ef(std::uint32_t m) noexcept { return m; }

// Nearest `k` nodes to `query` (a prepared row): the entry as above, then a layer-0 search with
// max(ef, k) candidates. Nearest first, as (order distance, node). For tests and benchmarks; index
// scans search the pages the same way.
struct Hit {
	float distance;
	std::int64_t node;
};
std::vector<Hit> search(const Graph &g, const MetricInfo &metric, const std::byte *rows, std::size_t dim,
                        const std::byte *query, std::size_t k, std::size_t ef);

}  // namespace ruvector::kernels::hnsw
