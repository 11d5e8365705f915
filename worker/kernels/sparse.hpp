// Distances between sparse vectors (the sparsevec type): a merge-join over two sorted, duplicate-
// free lists of 0-based indices. Sums are accumulated in float and in pgvector's order (the
// entries of both operands by ascending index), so results match pgvector's bit for bit; cosine
// falls back to double where the float sums overflow or underflow, as the dense kernel does.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstdint>
#include <span>

namespace ruvector::kernels {

// The non-zero entries of a sparse vector: indices strictly ascending, one value per index.
struct SparseView {
	std::span<const std::int32_t> indices;
	std::span<const float> values;
};

float sparse_l2_squared(SparseView a, SparseView b) noexcept;
float sparse_inner_product(SparseView a, SparseView b) noexcept;
float sparse_l1(SparseView a, SparseView b) noexcept;
// pgvector's cosine distance (1 - similarity, clamped to [-1, 1]; NaN for a zero vector), with
// the double-precision fallback of kernels::cosine_distance.
double sparse_cosine_distance(SparseView a, SparseView b) noexcept;
// sqrt of the sum of squares, accumulated in double (never overflows for finite floats).
double sparse_l2_norm(std::span<const float> values) noexcept;

}  // namespace ruvector::kernels
