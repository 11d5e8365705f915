// Kernel bodies, written once over an xsimd architecture and instantiated per instruction set in
// distance_{sse,avx2,avx512}.cpp (each compiled with its own -m flags). Everything here is a
// template on Arch or file-static in those files, so code compiled for a wide ISA can never be
// picked by the linker for a narrower one.
#pragma once
#include "worker/kernels/distance.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>

namespace ruvector::kernels::simd {

template <class Arch>
struct Kernels {
	using batch = xsimd::batch<float, Arch>;
	static constexpr std::size_t W = batch::size;

	static float l2_squared(const float *a, const float *b, std::size_t n)
	{
		batch s0(0.0f), s1(0.0f);
		std::size_t i = 0;
		for (; i + 2 * W <= n; i += 2 * W) {
			batch d0 = batch::load_unaligned(a + i) - batch::load_unaligned(b + i);
			batch d1 = batch::load_unaligned(a + i + W) - batch::load_unaligned(b + i + W);
			s0 = xsimd::fma(d0, d0, s0);
			s1 = xsimd::fma(d1, d1, s1);
		}
		for (; i + W <= n; i += W) {
			batch d = batch::load_unaligned(a + i) - batch::load_unaligned(b + i);
			s0 = xsimd::fma(d, d, s0);
		}
		float s = xsimd::hadd(s0 + s1);
		for (; i < n; i++) {
			float d = a[i] - b[i];
			s += d * d;
		}
		return s;
	}

	static float inner_product(const float *a, const float *b, std::size_t n)
	{
		batch s0(0.0f), s1(0.0f);
		std::size_t i = 0;
		for (; i + 2 * W <= n; i += 2 * W) {
			s0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), s0);
			s1 = xsimd::fma(batch::load_unaligned(a + i + W), batch::load_unaligned(b + i + W), s1);
		}
		for (; i + W <= n; i += W)
			s0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), s0);
		float s = xsimd::hadd(s0 + s1);
		for (; i < n; i++)
			s += a[i] * b[i];
		return s;
	}

	static float l1(const float *a, const float *b, std::size_t n)
	{
		batch s0(0.0f), s1(0.0f);
		std::size_t i = 0;
		for (; i + 2 * W <= n; i += 2 * W) {
			s0 += xsimd::abs(batch::load_unaligned(a + i) - batch::load_unaligned(b + i));
			s1 += xsimd::abs(batch::load_unaligned(a + i + W) - batch::load_unaligned(b + i + W));
		}
		for (; i + W <= n; i += W)
			s0 += xsimd::abs(batch::load_unaligned(a + i) - batch::load_unaligned(b + i));
		float s = xsimd::hadd(s0 + s1);
		for (; i < n; i++)
			s += std::fabs(a[i] - b[i]);
		return s;
	}

	static CosineParts cosine_parts(const float *a, const float *b, std::size_t n)
	{
		batch dot(0.0f), na(0.0f), nb(0.0f);
		std::size_t i = 0;
		for (; i + W <= n; i += W) {
			batch x = batch::load_unaligned(a + i), y = batch::load_unaligned(b + i);
			dot = xsimd::fma(x, y, dot);
			na = xsimd::fma(x, x, na);
			nb = xsimd::fma(y, y, nb);
		}
		CosineParts p{xsimd::hadd(dot), xsimd::hadd(na), xsimd::hadd(nb)};
		for (; i < n; i++) {
			p.dot += a[i] * b[i];
			p.norm_a += a[i] * a[i];
			p.norm_b += b[i] * b[i];
		}
		return p;
	}

	static void l2_squared_batch(const float *q, const float *rows, std::size_t count, std::size_t dim,
	                             std::size_t stride, float *out)
	{
		for (std::size_t r = 0; r < count; r++)
			out[r] = l2_squared(q, rows + r * stride, dim);
	}

	static void inner_product_batch(const float *q, const float *rows, std::size_t count, std::size_t dim,
	                                std::size_t stride, float *out)
	{
		for (std::size_t r = 0; r < count; r++)
			out[r] = inner_product(q, rows + r * stride, dim);
	}

	// C = A B^T in dot-product form: a tile of MR rows of A against NR rows of B keeps MR*NR
	// accumulators in registers, loading MR + NR vectors per MR*NR FMAs. B is walked in panels
	// that stay in cache while every row of A passes over them.
	static constexpr std::size_t MR = 4;
	static constexpr std::size_t NR = W >= 16 ? 4 : 3;
	static constexpr std::size_t kPanelRows = 96;

	template <std::size_t R, std::size_t C>
	static void tile(const float *A, std::size_t lda, const float *B, std::size_t ldb, float *Cm, std::size_t ldc,
	                 std::size_t k)
	{
		batch acc[R][C];
		for (std::size_t i = 0; i < R; i++)
			for (std::size_t j = 0; j < C; j++)
				acc[i][j] = batch(0.0f);
		std::size_t p = 0;
		for (; p + W <= k; p += W) {
			batch a[R], b[C];
			for (std::size_t i = 0; i < R; i++)
				a[i] = batch::load_unaligned(A + i * lda + p);
			for (std::size_t j = 0; j < C; j++)
				b[j] = batch::load_unaligned(B + j * ldb + p);
			for (std::size_t i = 0; i < R; i++)
				for (std::size_t j = 0; j < C; j++)
					acc[i][j] = xsimd::fma(a[i], b[j], acc[i][j]);
		}
		for (std::size_t i = 0; i < R; i++)
			for (std::size_t j = 0; j < C; j++) {
				float s = xsimd::hadd(acc[i][j]);
				for (std::size_t q = p; q < k; q++)
					s += A[i * lda + q] * B[j * ldb + q];
				Cm[i * ldc + j] = s;
			}
	}

	template <std::size_t R>
	static void row_block(const float *A, std::size_t lda, const float *B, std::size_t ldb, float *C, std::size_t ldc,
	                      std::size_t n, std::size_t k)
	{
		std::size_t j = 0;
		for (; j + NR <= n; j += NR)
			tile<R, NR>(A, lda, B + j * ldb, ldb, C + j, ldc, k);
		for (; j < n; j++)
			tile<R, 1>(A, lda, B + j * ldb, ldb, C + j, ldc, k);
	}

	static void gemm_nt(const float *A, std::size_t lda, const float *B, std::size_t ldb, float *C, std::size_t ldc,
	                    std::size_t m, std::size_t n, std::size_t k)
	{
		for (std::size_t j0 = 0; j0 < n; j0 += kPanelRows) {
			std::size_t nb = std::min(kPanelRows, n - j0);
			const float *Bp = B + j0 * ldb;
			std::size_t i = 0;
			for (; i + MR <= m; i += MR)
				row_block<MR>(A + i * lda, lda, Bp, ldb, C + i * ldc + j0, ldc, nb, k);
			for (; i < m; i++)
				row_block<1>(A + i * lda, lda, Bp, ldb, C + i * ldc + j0, ldc, nb, k);
		}
	}

	static DistanceKernels table(Isa isa)
	{
		return {isa, l2_squared, inner_product, l1, cosine_parts, l2_squared_batch, inner_product_batch, gemm_nt};
	}
};

}  // namespace ruvector::kernels::simd
