// Kernel bodies, written once over an xsimd architecture and instantiated per instruction set in
// distance_{sse,avx2,avx512}.cpp (each compiled with its own -m flags).
//
// ODR safety: every function here is a member of Kernels<Arch> or Scratch<Arch>, so the symbols
// compiled with -mavx512* differ from the -mavx2 and -msse4.2 ones and the linker can never
// substitute a wide-ISA copy into a narrower path. For the same reason the only standard-library
// templates used here are trivially inlined ones (std::min/max): no std::vector, whose
// out-of-line members, compiled with AVX-512 flags, could be picked by the linker for everyone.
#pragma once
#include "worker/kernels/distance.hpp"
#include "worker/kernels/simd_reduce.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace ruvector::kernels::simd {

// A per-thread, per-Arch, cache-line-aligned buffer that only ever grows (GEMM packing space).
template <class Arch>
class Scratch {
public:
	Scratch() = default;
	Scratch(const Scratch &) = delete;
	Scratch &operator=(const Scratch &) = delete;
	~Scratch() { std::free(data_); }

	float *get(std::size_t floats)
	{
		if (floats > capacity_) {
			std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
			void *p = std::aligned_alloc(64, bytes);
			if (!p)
				throw std::bad_alloc();
			std::free(data_);
			data_ = static_cast<float *>(p);
			capacity_ = bytes / sizeof(float);
		}
		return data_;
	}

private:
	float *data_ = nullptr;
	std::size_t capacity_ = 0;
};

// How a batch scan reads rows that are arriving from DRAM: by default a plain unaligned load.
template <class Arch>
struct StreamLoad {
	static xsimd::batch<float, Arch> load(const float *p) { return xsimd::batch<float, Arch>::load_unaligned(p); }
};

#if defined(__AVX512F__) && defined(__AVX512DQ__)
// Only the -mavx512 translation unit sees (and instantiates) this. Rows in PostgreSQL pages and
// malloc'ed tables are rarely 64-byte aligned, and a 512-bit load that splits two lines still in
// flight from DRAM is slow on Zen 5: such a scan ran at ~30 GB/s against ~50 with two 256-bit
// halves, which carry the same values into the same lanes.
template <>
struct StreamLoad<xsimd::avx512f> {
	static xsimd::batch<float, xsimd::avx512f> load(const float *p)
	{
		return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(p + 8), 1);
	}
};
#endif

template <class Arch>
struct Kernels {
	using batch = xsimd::batch<float, Arch>;
	static constexpr std::size_t W = batch::size;

	// ---- one pair ------------------------------------------------------------------------------
	// Load is how the second operand (the row, in a batch) is read; every Load yields the same
	// values, so the choice never changes a result. The reduction is simd_reduce.hpp's.

	struct Plain {
		static batch load(const float *p) { return batch::load_unaligned(p); }
	};
	struct Same {
		static float get(float x) { return x; }
	};
	template <class Load>
	using Pair = PairReduce<batch, float, Plain, Load, Same>;

	template <class Load = Plain>
	static float l2_squared(const float *a, const float *b, std::size_t n) { return Pair<Load>::l2_squared(a, b, n); }
	template <class Load = Plain>
	static float inner_product(const float *a, const float *b, std::size_t n)
	{
		return Pair<Load>::inner_product(a, b, n);
	}
	static float l1(const float *a, const float *b, std::size_t n) { return Pair<Plain>::l1(a, b, n); }

	static CosineParts cosine_parts(const float *a, const float *b, std::size_t n)
	{
		// Two sets of three accumulators (six chains) for the same latency reason as above.
		batch d0(0.0f), d1(0.0f), na0(0.0f), na1(0.0f), nb0(0.0f), nb1(0.0f);
		std::size_t i = 0;
		for (; i + 2 * W <= n; i += 2 * W) {
			batch x0 = batch::load_unaligned(a + i), y0 = batch::load_unaligned(b + i);
			batch x1 = batch::load_unaligned(a + i + W), y1 = batch::load_unaligned(b + i + W);
			d0 = xsimd::fma(x0, y0, d0);
			d1 = xsimd::fma(x1, y1, d1);
			na0 = xsimd::fma(x0, x0, na0);
			na1 = xsimd::fma(x1, x1, na1);
			nb0 = xsimd::fma(y0, y0, nb0);
			nb1 = xsimd::fma(y1, y1, nb1);
		}
		for (; i + W <= n; i += W) {
			batch x = batch::load_unaligned(a + i), y = batch::load_unaligned(b + i);
			d0 = xsimd::fma(x, y, d0);
			na0 = xsimd::fma(x, x, na0);
			nb0 = xsimd::fma(y, y, nb0);
		}
		CosineParts p{xsimd::hadd(d0 + d1), xsimd::hadd(na0 + na1), xsimd::hadd(nb0 + nb1)};
		for (; i < n; i++) {
			p.dot += a[i] * b[i];
			p.norm_a += a[i] * a[i];
			p.norm_b += b[i] * b[i];
		}
		return p;
	}

	// ---- one query against many rows -----------------------------------------------------------
	// The pair kernel inlined, so a batch result is bit-identical to the pair result. When the rows
	// cannot all sit in L2, the scan is bound by DRAM, and two things help (measured on Zen 5,
	// d = 128): prefetching the rows ~12 KB ahead (the hardware prefetcher alone keeps too few
	// lines in flight: ~35 -> ~50 GB/s), and StreamLoad<Arch> for the rows (see below). On cached
	// rows both would only cost, so small scans run the plain pair kernel.
	static constexpr std::size_t kPrefetchAhead = 12 << 10;
	static constexpr std::size_t kPrefetchAbove = 1 << 20;

	template <float (*Cached)(const float *, const float *, std::size_t),
	          float (*Streamed)(const float *, const float *, std::size_t)>
	static void scan(const float *q, const float *rows, std::size_t count, std::size_t dim, std::size_t stride,
	                 float *out)
	{
		std::size_t row_bytes = stride * sizeof(float);
		if (count * row_bytes < kPrefetchAbove || dim == 0) {
			for (std::size_t r = 0; r < count; r++)
				out[r] = Cached(q, rows + r * stride, dim);
			return;
		}
		std::size_t ahead = std::max<std::size_t>(1, kPrefetchAhead / row_bytes);
		for (std::size_t r = 0; r < count; r++) {
			if (r + ahead < count) {
				auto first = reinterpret_cast<std::uintptr_t>(rows + (r + ahead) * stride) & ~std::uintptr_t(63);
				auto last = reinterpret_cast<std::uintptr_t>(rows + (r + ahead) * stride + dim - 1);
				for (std::uintptr_t line = first; line <= last; line += 64)
					__builtin_prefetch(reinterpret_cast<const void *>(line));
			}
			out[r] = Streamed(q, rows + r * stride, dim);
		}
	}

	static void l2_squared_batch(const float *q, const float *rows, std::size_t count, std::size_t dim,
	                             std::size_t stride, float *out)
	{
		scan<l2_squared<Plain>, l2_squared<StreamLoad<Arch>>>(q, rows, count, dim, stride, out);
	}

	static void inner_product_batch(const float *q, const float *rows, std::size_t count, std::size_t dim,
	                                std::size_t stride, float *out)
	{
		scan<inner_product<Plain>, inner_product<StreamLoad<Arch>>>(q, rows, count, dim, stride, out);
	}

	// ---- GEMM: C = A B^T ------------------------------------------------------------------------
	// Outer-product form. B is packed into strips of NR = NV*W columns laid out [p][NR] (that is,
	// transposed), so for every p the microkernel loads NV vectors of B, broadcasts one element of
	// each of MR rows of A straight from A, and does MR*NV FMAs into accumulators that live in
	// registers for the whole k loop: no horizontal sums at all. A needs no packing: its MR rows
	// are read sequentially and stay in L1.
	//
	// Blocking: the packed B block (kc x nc) is sized for L2; one MR-row slice of A (MR x kc)
	// stays in L1 while it sweeps every strip of that block.
	static constexpr std::size_t NV = 2;
	static constexpr std::size_t NR = NV * W;
	// Accumulators + NV B vectors + one broadcast must fit the register file:
	// 32 zmm (AVX-512): 8x2 = 16 accumulators; 16 ymm/xmm: 6x2 = 12.
	static constexpr std::size_t MR = W >= 16 ? 8 : 6;
	static constexpr std::size_t KC = 256;                // floats of k per packed block
	static constexpr std::size_t kBBlockBytes = 384 << 10;  // packed B block budget (~L2)

	// R (<= MR) rows of A times one packed strip; writes (or, with add, accumulates) R x cols of C.
	template <std::size_t R>
	static void micro(std::size_t kb, const float *A, std::size_t lda, const float *Bp, float *C, std::size_t ldc,
	                  std::size_t cols, bool add)
	{
		batch acc[R][NV];
#pragma GCC unroll 16
		for (std::size_t i = 0; i < R; i++)
#pragma GCC unroll 4
			for (std::size_t v = 0; v < NV; v++)
				acc[i][v] = batch(0.0f);
		const float *a[R];
#pragma GCC unroll 16
		for (std::size_t i = 0; i < R; i++)
			a[i] = A + i * lda;
		for (std::size_t p = 0; p < kb; p++, Bp += NR) {
			batch b[NV];
#pragma GCC unroll 4
			for (std::size_t v = 0; v < NV; v++)
				b[v] = batch::load_aligned(Bp + v * W);
#pragma GCC unroll 16
			for (std::size_t i = 0; i < R; i++) {
				batch x(a[i][p]);
#pragma GCC unroll 4
				for (std::size_t v = 0; v < NV; v++)
					acc[i][v] = xsimd::fma(x, b[v], acc[i][v]);
			}
		}
		if (cols == NR) {
#pragma GCC unroll 16
			for (std::size_t i = 0; i < R; i++)
#pragma GCC unroll 4
				for (std::size_t v = 0; v < NV; v++) {
					float *c = C + i * ldc + v * W;
					batch r = add ? acc[i][v] + batch::load_unaligned(c) : acc[i][v];
					r.store_unaligned(c);
				}
			return;
		}
		alignas(64) float tmp[NR];  // right edge: only `cols` columns of C exist
		for (std::size_t i = 0; i < R; i++) {
			for (std::size_t v = 0; v < NV; v++)
				acc[i][v].store_aligned(tmp + v * W);
			float *c = C + i * ldc;
			for (std::size_t j = 0; j < cols; j++)
				c[j] = add ? c[j] + tmp[j] : tmp[j];
		}
	}

	template <std::size_t... R>
	static void micro_rows(std::size_t rows, std::index_sequence<R...>, std::size_t kb, const float *A,
	                       std::size_t lda, const float *Bp, float *C, std::size_t ldc, std::size_t cols, bool add)
	{
		// rows in [1, MR]: call micro<rows>
		((rows == R + 1 ? micro<R + 1>(kb, A, lda, Bp, C, ldc, cols, add) : void()), ...);
	}

	// Strips of NR columns of B (rows j0.. of B), k range [p0, p0 + kb), transposed and zero-padded.
	static void pack_b(const float *B, std::size_t ldb, std::size_t nb, std::size_t p0, std::size_t kb, float *out)
	{
		for (std::size_t j0 = 0; j0 < nb; j0 += NR, out += kb * NR) {
			std::size_t cols = std::min(NR, nb - j0);
			for (std::size_t jj = 0; jj < cols; jj++) {
				const float *src = B + (j0 + jj) * ldb + p0;
				for (std::size_t p = 0; p < kb; p++)
					out[p * NR + jj] = src[p];
			}
			for (std::size_t jj = cols; jj < NR; jj++)
				for (std::size_t p = 0; p < kb; p++)
					out[p * NR + jj] = 0.0f;
		}
	}

	static void gemm_nt(const float *A, std::size_t lda, const float *B, std::size_t ldb, float *C, std::size_t ldc,
	                    std::size_t m, std::size_t n, std::size_t k)
	{
		if (m == 0 || n == 0)
			return;
		if (k == 0) {  // empty sums
			for (std::size_t i = 0; i < m; i++)
				for (std::size_t j = 0; j < n; j++)
					C[i * ldc + j] = 0.0f;
			return;
		}
		// Split k evenly into blocks of at most KC (k = 300 -> 150 + 150, not 256 + 44).
		std::size_t kblocks = (k + KC - 1) / KC;
		std::size_t kc = (k + kblocks - 1) / kblocks;
		std::size_t nc = std::max(NR, kBBlockBytes / (kc * sizeof(float)) / NR * NR);
		nc = std::min(nc, (n + NR - 1) / NR * NR);
		static thread_local Scratch<Arch> scratch;
		float *Bp = scratch.get(nc * kc);

		for (std::size_t j0 = 0; j0 < n; j0 += nc) {
			std::size_t nb = std::min(nc, n - j0);
			for (std::size_t p0 = 0; p0 < k; p0 += kc) {
				std::size_t kb = std::min(kc, k - p0);
				bool add = p0 > 0;
				pack_b(B + j0 * ldb, ldb, nb, p0, kb, Bp);
				for (std::size_t i0 = 0; i0 < m; i0 += MR) {
					std::size_t rows = std::min(MR, m - i0);
					const float *a = A + i0 * lda + p0;
					for (std::size_t s = 0; s * NR < nb; s++) {
						float *c = C + i0 * ldc + j0 + s * NR;
						std::size_t cols = std::min(NR, nb - s * NR);
						if (rows == MR)
							micro<MR>(kb, a, lda, Bp + s * kb * NR, c, ldc, cols, add);
						else
							micro_rows(rows, std::make_index_sequence<MR>{}, kb, a, lda, Bp + s * kb * NR, c,
							           ldc, cols, add);
					}
				}
			}
		}
	}

	static DistanceKernels table(Isa isa)
	{
		return {isa, l2_squared<Plain>, inner_product<Plain>, l1, cosine_parts, l2_squared_batch, inner_product_batch, gemm_nt};
	}
};

}  // namespace ruvector::kernels::simd
