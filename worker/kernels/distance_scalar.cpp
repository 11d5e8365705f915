// Portable fallback: plain loops, accumulated in float like the SIMD versions.
#include "worker/kernels/distance.hpp"

#include <cmath>

namespace ruvector::kernels::detail {

namespace {

float l2_squared(const float *a, const float *b, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++) {
		float d = a[i] - b[i];
		s += d * d;
	}
	return s;
}

float inner_product(const float *a, const float *b, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

float l1(const float *a, const float *b, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += std::fabs(a[i] - b[i]);
	return s;
}

CosineParts cosine_parts(const float *a, const float *b, std::size_t n)
{
	CosineParts p{0, 0, 0};
	for (std::size_t i = 0; i < n; i++) {
		p.dot += a[i] * b[i];
		p.norm_a += a[i] * a[i];
		p.norm_b += b[i] * b[i];
	}
	return p;
}

void l2_squared_batch(const float *q, const float *rows, std::size_t count, std::size_t dim, std::size_t stride,
                      float *out)
{
	for (std::size_t r = 0; r < count; r++)
		out[r] = l2_squared(q, rows + r * stride, dim);
}

void inner_product_batch(const float *q, const float *rows, std::size_t count, std::size_t dim, std::size_t stride,
                         float *out)
{
	for (std::size_t r = 0; r < count; r++)
		out[r] = inner_product(q, rows + r * stride, dim);
}

void gemm_nt(const float *A, std::size_t lda, const float *B, std::size_t ldb, float *C, std::size_t ldc,
             std::size_t m, std::size_t n, std::size_t k)
{
	for (std::size_t i = 0; i < m; i++)
		for (std::size_t j = 0; j < n; j++)
			C[i * ldc + j] = inner_product(A + i * lda, B + j * ldb, k);
}

}  // namespace

const DistanceKernels &kernels_scalar()
{
	static const DistanceKernels table{Isa::scalar, l2_squared, inner_product, l1, cosine_parts,
	                                   l2_squared_batch, inner_product_batch, gemm_nt};
	return table;
}

}  // namespace ruvector::kernels::detail
