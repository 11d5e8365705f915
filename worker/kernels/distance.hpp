// Distance kernels: the one implementation of L2, inner product, cosine and L1 used by the
// vector type's operators, the ruivfflat scan, k-means and graph construction.
//
// Each kernel exists once per instruction set (scalar, SSE4.2, AVX2+FMA, AVX-512), compiled in
// its own translation unit with the matching -m flags, and is chosen at run time from what the
// CPU supports, so one binary runs on any x86-64. Accumulation is in float, as in pgvector; SIMD
// lanes sum in a different order than a scalar loop, so results can differ in the last bits.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace ruvector::kernels {

enum class Isa { scalar = 0, sse42 = 1, avx2 = 2, avx512 = 3 };

// Components of the cosine similarity, computed in one pass.
struct CosineParts {
	float dot;
	float norm_a;  // sum of a[i]^2
	float norm_b;  // sum of b[i]^2
};

// One ISA's kernel table. Pointers may be unaligned; n may be any length (including 0).
struct DistanceKernels {
	Isa isa;
	float (*l2_squared)(const float *a, const float *b, std::size_t n);
	float (*inner_product)(const float *a, const float *b, std::size_t n);
	float (*l1)(const float *a, const float *b, std::size_t n);
	CosineParts (*cosine_parts)(const float *a, const float *b, std::size_t n);
	// One query against `count` rows of `dim` floats each, rows `stride` floats apart:
	// out[i] = l2_squared(q, rows + i*stride, dim) (resp. inner_product).
	void (*l2_squared_batch)(const float *q, const float *rows, std::size_t count, std::size_t dim,
	                         std::size_t stride, float *out);
	void (*inner_product_batch)(const float *q, const float *rows, std::size_t count, std::size_t dim,
	                            std::size_t stride, float *out);
	// Dense C = A * B^T, single-threaded (callers split rows across threads):
	//   C[i*ldc + j] = sum_p A[i*lda + p] * B[j*ldb + p]   for i < m, j < n, p < k.
	// Used for k-means assignment, k-NN all-pairs blocks and the GNN transform X W^T (PyTorch
	// stores Linear weights as [out, in], which is exactly B here).
	void (*gemm_nt)(const float *A, std::size_t lda, const float *B, std::size_t ldb, float *C,
	                std::size_t ldc, std::size_t m, std::size_t n, std::size_t k);
};

// The best table this CPU supports (resolved once, thread-safe).
const DistanceKernels &active_kernels() noexcept;
// A specific table; throws std::runtime_error if this CPU cannot run it.
const DistanceKernels &kernels_for(Isa isa);
// Every ISA this CPU can run, scalar first.
std::vector<Isa> available_isas();
std::string_view isa_name(Isa isa) noexcept;

// Convenience wrappers over active_kernels().
inline float l2_squared(std::span<const float> a, std::span<const float> b) noexcept
{
	return active_kernels().l2_squared(a.data(), b.data(), a.size());
}
inline float inner_product(std::span<const float> a, std::span<const float> b) noexcept
{
	return active_kernels().inner_product(a.data(), b.data(), a.size());
}
inline float l1_distance(std::span<const float> a, std::span<const float> b) noexcept
{
	return active_kernels().l1(a.data(), b.data(), a.size());
}
// pgvector's cosine distance: 1 - dot / sqrt(|a|^2 |b|^2), similarity clamped to [-1, 1],
// NaN when either vector has zero norm. Bit-identical to pgvector's float sums where those are
// finite and nonzero; recomputed in double where they overflow or underflow (pgvector: NaN).
double cosine_distance(std::span<const float> a, std::span<const float> b) noexcept;
// 1 - dot / sqrt(norm_product), the similarity clamped to [-1, 1]: the last step of every cosine
// distance (dense, half or sparse), NaN when a norm is zero.
double cosine_distance_from_parts(double dot, double norm_product) noexcept;

}  // namespace ruvector::kernels
