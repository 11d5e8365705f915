// Hamming and Jaccard distances between bit strings (PostgreSQL's bit type, as pgvector defines
// them), by population count. One table per instruction set, chosen at run time like the
// distance kernels: a portable byte-table loop, the POPCNT instruction, and AVX-512 VPOPCNTDQ
// (64 bytes per step) where the CPU has it. All give identical (integer) counts. The same tables
// count a bit string against the bit planes of a 4-bit vector (RaBitQ's estimator).
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ruvector::kernels {

enum class PopcountIsa { scalar = 0, popcnt = 1, avx512 = 2 };

// Counts over two equal-length byte strings (bits beyond the string's length must be zero).
struct JaccardCounts {
	std::uint64_t both = 0;  // popcount(a & b)
	std::uint64_t a = 0;     // popcount(a)
	std::uint64_t b = 0;     // popcount(b)
};

// A bit string x against kPlaneBits bit planes of a 4-bit vector q (plane p: bit p of every q_i,
// at planes + p * words): popcount(x) and sum over p of 2^p popcount(x AND plane p), i.e. <x, q>
// for x's 0/1 bits (RaBitQ's query, rabitq.hpp).
inline constexpr int kPlaneBits = 4;
struct PlaneCounts {
	std::uint32_t ones, weighted;
};

struct BitwiseKernels {
	PopcountIsa isa;
	std::uint64_t (*hamming)(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes);
	JaccardCounts (*jaccard_counts)(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes);
	// `count` bit strings of `words` 64-bit words, `stride` bytes apart from x, any alignment: out[i].
	void (*plane_counts)(const std::uint64_t *planes, const std::byte *x, std::size_t words, std::size_t count,
	                     std::size_t stride, PlaneCounts *out);
};

// The best table this CPU supports (RUVECTOR_ISA=scalar caps it to the byte loop, sse42/avx2 to
// POPCNT, as it caps the distance kernels).
const BitwiseKernels &active_bitwise_kernels() noexcept;
// A specific table; throws std::runtime_error if this CPU cannot run it.
const BitwiseKernels &bitwise_kernels_for(PopcountIsa isa);
std::vector<PopcountIsa> available_popcount_isas();
std::string_view popcount_isa_name(PopcountIsa isa) noexcept;

// pgvector's distances: the number of differing bits; 1 - |a & b| / |a | b|, which is 1 when the
// strings share no set bit (including two empty or all-zero strings).
inline std::uint64_t hamming_distance(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes) noexcept
{
	return active_bitwise_kernels().hamming(a, b, bytes);
}
double jaccard_distance(const std::uint8_t *a, const std::uint8_t *b, std::size_t bytes) noexcept;

}  // namespace ruvector::kernels
