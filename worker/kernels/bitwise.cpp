#include "worker/kernels/bitwise.hpp"

#include <immintrin.h>

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

namespace {

constexpr std::array<std::uint8_t, 256> kOnes = [] {
	std::array<std::uint8_t, 256> t{};
	for (int i = 0; i < 256; i++)
		for (int v = i; v; v >>= 1)
			t[i] += std::uint8_t(v & 1);
	return t;
}();

// The reference: one table lookup per byte, no instruction beyond baseline x86-64.
std::uint64_t hamming_scalar(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes)
{
	std::uint64_t d = 0;
	for (std::size_t i = 0; i < bytes; i++)
		d += kOnes[a[i] ^ b[i]];
	return d;
}

JaccardCounts jaccard_scalar(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes)
{
	JaccardCounts c;
	for (std::size_t i = 0; i < bytes; i++) {
		c.both += kOnes[a[i] & b[i]];
		c.a += kOnes[a[i]];
		c.b += kOnes[b[i]];
	}
	return c;
}

// 8 bytes at a time with the POPCNT instruction (memcpy: the strings need not be aligned).
__attribute__((target("popcnt"))) std::uint64_t hamming_popcnt(const std::uint8_t *a, const std::uint8_t *b,
                                                                std::size_t bytes)
{
	std::uint64_t d = 0;
	std::size_t i = 0;
	for (; i + 8 <= bytes; i += 8) {
		std::uint64_t x, y;
		std::memcpy(&x, a + i, 8);
		std::memcpy(&y, b + i, 8);
		d += std::uint64_t(_mm_popcnt_u64(x ^ y));
	}
	return d + hamming_scalar(a + i, b + i, bytes - i);
}

__attribute__((target("popcnt"))) JaccardCounts jaccard_popcnt(const std::uint8_t *a, const std::uint8_t *b,
                                                                std::size_t bytes)
{
	JaccardCounts c;
	std::size_t i = 0;
	for (; i + 8 <= bytes; i += 8) {
		std::uint64_t x, y;
		std::memcpy(&x, a + i, 8);
		std::memcpy(&y, b + i, 8);
		c.both += std::uint64_t(_mm_popcnt_u64(x & y));
		c.a += std::uint64_t(_mm_popcnt_u64(x));
		c.b += std::uint64_t(_mm_popcnt_u64(y));
	}
	JaccardCounts t = jaccard_scalar(a + i, b + i, bytes - i);
	return {c.both + t.both, c.a + t.a, c.b + t.b};
}

// Lane sum; GCC 12's _mm512_reduce_add_epi64 trips -Wuninitialized inside its own header (so do the
// unmasked extracts).
__attribute__((target("avx512f"))) std::uint64_t lane_sum(__m512i v)
{
	__m256i h = _mm256_add_epi64(_mm512_maskz_extracti64x4_epi64(0xFF, v, 0), _mm512_maskz_extracti64x4_epi64(0xFF, v, 1));
	__m128i q = _mm_add_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
	return std::uint64_t(_mm_cvtsi128_si64(q)) + std::uint64_t(_mm_extract_epi64(q, 1));
}

// 64 bytes at a time with VPOPCNTQ; the tail goes through POPCNT (every such CPU has it).
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) std::uint64_t
hamming_avx512(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes)
{
	__m512i acc = _mm512_setzero_si512();
	std::size_t i = 0;
	for (; i + 64 <= bytes; i += 64) {
		__m512i x = _mm512_loadu_si512(a + i), y = _mm512_loadu_si512(b + i);
		acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
	}
	return lane_sum(acc) + hamming_popcnt(a + i, b + i, bytes - i);
}

__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) JaccardCounts
jaccard_avx512(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes)
{
	__m512i both = _mm512_setzero_si512(), ca = _mm512_setzero_si512(), cb = _mm512_setzero_si512();
	std::size_t i = 0;
	for (; i + 64 <= bytes; i += 64) {
		__m512i x = _mm512_loadu_si512(a + i), y = _mm512_loadu_si512(b + i);
		both = _mm512_add_epi64(both, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
		ca = _mm512_add_epi64(ca, _mm512_popcnt_epi64(x));
		cb = _mm512_add_epi64(cb, _mm512_popcnt_epi64(y));
	}
	JaccardCounts t = jaccard_popcnt(a + i, b + i, bytes - i);
	return {t.both + lane_sum(both), t.a + lane_sum(ca), t.b + lane_sum(cb)};
}

// Counts against 4 bit planes (plane_counts), row after row. The reference: std::popcount on
// baseline x86-64.
void plane_counts_scalar(const std::uint64_t *planes, const std::byte *x, std::size_t words, std::size_t count,
                         std::size_t stride, PlaneCounts *out)
{
	for (std::size_t r = 0; r < count; r++) {
		const std::byte *code = x + r * stride;
		std::uint32_t ones = 0, weighted = 0;
		for (std::size_t w = 0; w < words; w++) {
			std::uint64_t v;
			std::memcpy(&v, code + 8 * w, 8);
			ones += std::uint32_t(std::popcount(v));
			for (int p = 0; p < kPlaneBits; p++)
				weighted += std::uint32_t(std::popcount(v & planes[std::size_t(p) * words + w])) << p;
		}
		out[r] = {ones, weighted};
	}
}

// The rows ahead of the one being counted that are pulled towards the cache (rows are a few cache
// lines each; the scan prefetches whole pages further ahead).
constexpr std::size_t kPrefetchRows = 2;
inline void prefetch_row(const std::byte *row, std::size_t bytes)
{
	for (std::size_t off = 0; off < bytes; off += 64)
		__builtin_prefetch(row + off);
}

__attribute__((target("popcnt"))) void plane_counts_popcnt(const std::uint64_t *planes, const std::byte *x,
                                                           std::size_t words, std::size_t count, std::size_t stride,
                                                           PlaneCounts *out)
{
	const std::uint64_t *p1 = planes + words, *p2 = p1 + words, *p3 = p2 + words;
	for (std::size_t r = 0; r < count; r++) {
		const std::byte *code = x + r * stride;
		if (r + kPrefetchRows < count)
			prefetch_row(code + kPrefetchRows * stride, 8 * words);
		std::uint64_t ones = 0, w0 = 0, w1 = 0, w2 = 0, w3 = 0;
		for (std::size_t w = 0; w < words; w++) {
			std::uint64_t v;
			std::memcpy(&v, code + 8 * w, 8);
			ones += std::uint64_t(_mm_popcnt_u64(v));
			w0 += std::uint64_t(_mm_popcnt_u64(v & planes[w]));
			w1 += std::uint64_t(_mm_popcnt_u64(v & p1[w]));
			w2 += std::uint64_t(_mm_popcnt_u64(v & p2[w]));
			w3 += std::uint64_t(_mm_popcnt_u64(v & p3[w]));
		}
		out[r] = {std::uint32_t(ones), std::uint32_t(w0 + 2 * w1 + 4 * w2 + 8 * w3)};
	}
}

// Eight words a step; the last step loads only the words left (masked). A row's two counts share
// one reduction: weighted in the low 32 bits of each lane, ones in the high.
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) void
plane_counts_avx512(const std::uint64_t *planes, const std::byte *x, std::size_t words, std::size_t count,
                    std::size_t stride, PlaneCounts *out)
{
	static_assert(kPlaneBits == 4);
	const std::uint64_t *p1 = planes + words, *p2 = p1 + words, *p3 = p2 + words;
	for (std::size_t r = 0; r < count; r++) {
		const std::byte *code = x + r * stride;
		if (r + kPrefetchRows < count)
			prefetch_row(code + kPrefetchRows * stride, 8 * words);
		__m512i ones = _mm512_setzero_si512(), w0 = ones, w1 = ones, w2 = ones, w3 = ones;
		for (std::size_t w = 0; w < words; w += 8) {
			__mmask8 m = words - w >= 8 ? __mmask8(0xFF) : __mmask8((1u << (words - w)) - 1);
			__m512i v = _mm512_maskz_loadu_epi64(m, code + 8 * w);
			ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(v));
			w0 = _mm512_add_epi64(w0, _mm512_popcnt_epi64(_mm512_and_si512(v, _mm512_maskz_loadu_epi64(m, planes + w))));
			w1 = _mm512_add_epi64(w1, _mm512_popcnt_epi64(_mm512_and_si512(v, _mm512_maskz_loadu_epi64(m, p1 + w))));
			w2 = _mm512_add_epi64(w2, _mm512_popcnt_epi64(_mm512_and_si512(v, _mm512_maskz_loadu_epi64(m, p2 + w))));
			w3 = _mm512_add_epi64(w3, _mm512_popcnt_epi64(_mm512_and_si512(v, _mm512_maskz_loadu_epi64(m, p3 + w))));
		}
		// w0 + 2 w1 + 4 w2 + 8 w3 by doubling, plus ones * 2^32 (GCC 12 warns on the unmasked
		// shifts' undefined source).
		__m512i both = _mm512_add_epi64(w3, w3);
		both = _mm512_add_epi64(_mm512_add_epi64(both, w2), _mm512_add_epi64(both, w2));
		both = _mm512_add_epi64(_mm512_add_epi64(both, w1), _mm512_add_epi64(both, w1));
		both = _mm512_add_epi64(_mm512_add_epi64(both, w0), _mm512_maskz_slli_epi64(0xFF, ones, 32));
		std::uint64_t sum = lane_sum(both);
		out[r] = {std::uint32_t(sum >> 32), std::uint32_t(sum)};
	}
}

constexpr BitwiseKernels kScalar{PopcountIsa::scalar, hamming_scalar, jaccard_scalar, plane_counts_scalar};
constexpr BitwiseKernels kPopcnt{PopcountIsa::popcnt, hamming_popcnt, jaccard_popcnt, plane_counts_popcnt};
constexpr BitwiseKernels kAvx512{PopcountIsa::avx512, hamming_avx512, jaccard_avx512, plane_counts_avx512};

// libgcc's CPU model checks that the OS saves the ZMM state, as distance.cpp relies on.
bool cpu_supports(PopcountIsa isa)
{
	__builtin_cpu_init();
	switch (isa) {
	case PopcountIsa::scalar:
		return true;
	case PopcountIsa::popcnt:
		return __builtin_cpu_supports("popcnt");
	case PopcountIsa::avx512:
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq") &&
		       __builtin_cpu_supports("popcnt");
	}
	return false;
}

const BitwiseKernels &table_for(PopcountIsa isa)
{
	switch (isa) {
	case PopcountIsa::popcnt:
		return kPopcnt;
	case PopcountIsa::avx512:
		return kAvx512;
	default:
		return kScalar;
	}
}

// The same RUVECTOR_ISA cap as the distance kernels: scalar means no POPCNT, sse42 and avx2 mean
// no AVX-512.
PopcountIsa isa_cap()
{
	const char *env = std::getenv("RUVECTOR_ISA");
	if (!env)
		return PopcountIsa::avx512;
	std::string_view cap(env);
	if (cap == "scalar")
		return PopcountIsa::scalar;
	if (cap == "sse42" || cap == "avx2")
		return PopcountIsa::popcnt;
	return PopcountIsa::avx512;
}

const BitwiseKernels &select_best()
{
	PopcountIsa cap = isa_cap(), best = PopcountIsa::scalar;
	for (PopcountIsa isa : available_popcount_isas())
		if (int(isa) <= int(cap))
			best = isa;
	return table_for(best);
}

}  // namespace

std::vector<PopcountIsa> available_popcount_isas()
{
	std::vector<PopcountIsa> out;
	for (PopcountIsa isa : {PopcountIsa::scalar, PopcountIsa::popcnt, PopcountIsa::avx512})
		if (cpu_supports(isa))
			out.push_back(isa);
	return out;
}

std::string_view popcount_isa_name(PopcountIsa isa) noexcept
{
	switch (isa) {
	case PopcountIsa::scalar:
		return "scalar";
	case PopcountIsa::popcnt:
		return "popcnt";
	case PopcountIsa::avx512:
		return "avx512_vpopcntdq";
	}
	return "unknown";
}

const BitwiseKernels &bitwise_kernels_for(PopcountIsa isa)
{
	if (!cpu_supports(isa))
		throw std::runtime_error("this CPU cannot run the " + std::string(popcount_isa_name(isa)) + " kernels");
	return table_for(isa);
}

const BitwiseKernels &active_bitwise_kernels() noexcept
{
	static const BitwiseKernels &best = select_best();
	return best;
}

double jaccard_distance(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes) noexcept
{
	JaccardCounts c = active_bitwise_kernels().jaccard_counts(a, b, bytes);
	if (c.both == 0)
		return 1;
	return 1 - double(c.both) / double(c.a + c.b - c.both);
}

}  // namespace ruvector::kernels
