// Exact k-nearest-neighbour and epsilon graphs over a set of vectors (graph construction).
//
// All pairs are computed block by block: a block of query rows against a block of base rows is one
// GEMM (the distance table's gemm_nt), turned into distances with precomputed norms, then folded
// into each row's running top-k (or compared with epsilon). L1 has no GEMM form and uses the pair
// kernel. Row blocks run on the TBB arena; each row's answer is computed by one thread in a fixed
// order, so results do not depend on the thread count.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "worker/kernels/cancel.hpp"
#include "worker/kernels/metric.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ruvector::kernels {

// Distances are the SQL operator's of a float32 metric table entry (metric.hpp), computed from a
// GEMM block where the entry has a dot-product form (from_dots) and pair by pair otherwise. Rows
// are prepared: for cosine unit-norm or zero (zero rows get distance NaN and are never neighbours).

struct Neighbor {
	std::int32_t index;  // -1 when a row has fewer than k other rows
	float distance;
};

// For rows [begin, end) of base (n x dim, row-major): the k nearest other rows, nearest first, ties
// by the lower index. out has (end - begin) * k entries.
void knn_rows(const float *base, std::size_t n, std::size_t dim, const MetricInfo &metric, std::size_t begin,
              std::size_t end, std::size_t k, Neighbor *out, CancelToken cancel = {});

struct EpsEdge {
	std::uint32_t src;  // the neighbour (sends the message)
	std::uint32_t dst;  // the row in [begin, end)
	float distance;
};

// For rows [begin, end): every other row within distance eps (distance <= eps), ordered by dst
// then src. Throws std::length_error when more than max_edges pairs qualify.
std::vector<EpsEdge> eps_rows(const float *base, std::size_t n, std::size_t dim, const MetricInfo &metric,
                              std::size_t begin, std::size_t end, float eps, std::size_t max_edges,
                              CancelToken cancel = {});

}  // namespace ruvector::kernels
