// Hamming and Jaccard counts on every popcount instruction set this CPU runs, against a bit-by-bit
// reference: lengths 0..300 bytes (every tail around the 8- and 64-byte steps), unaligned
// pointers, all-zero, all-one and random strings.
#include "worker/kernels/bitwise.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

int bit(const std::uint8_t *p, std::size_t i) { return (p[i / 8] >> (7 - i % 8)) & 1; }

class BitwiseIsa : public ::testing::TestWithParam<PopcountIsa> {};

TEST_P(BitwiseIsa, MatchesBitByBitReference)
{
	const BitwiseKernels &k = bitwise_kernels_for(GetParam());
	std::mt19937 rng(7);
	for (std::size_t bytes = 0; bytes <= 300; bytes++) {
		for (int fill = 0; fill < 4; fill++) {
			// +1 so that the strings start at an odd address.
			std::vector<std::uint8_t> abuf(bytes + 1), bbuf(bytes + 1);
			for (std::size_t i = 1; i <= bytes; i++) {
				abuf[i] = fill == 0 ? 0 : fill == 1 ? 0xff : std::uint8_t(rng());
				bbuf[i] = fill == 1 ? 0xff : std::uint8_t(rng() & rng());
			}
			const std::uint8_t *a = abuf.data() + 1, *b = bbuf.data() + 1;
			std::uint64_t ham = 0, both = 0, ca = 0, cb = 0;
			for (std::size_t i = 0; i < bytes * 8; i++) {
				ham += bit(a, i) != bit(b, i);
				both += bit(a, i) & bit(b, i);
				ca += bit(a, i);
				cb += bit(b, i);
			}
			EXPECT_EQ(k.hamming(a, b, bytes), ham) << bytes << " bytes, fill " << fill;
			JaccardCounts c = k.jaccard_counts(a, b, bytes);
			EXPECT_EQ(c.both, both) << bytes << " bytes, fill " << fill;
			EXPECT_EQ(c.a, ca) << bytes << " bytes, fill " << fill;
			EXPECT_EQ(c.b, cb) << bytes << " bytes, fill " << fill;
		}
	}
}

INSTANTIATE_TEST_SUITE_P(AllIsas, BitwiseIsa, ::testing::ValuesIn(available_popcount_isas()),
                         [](const auto &info) { return std::string(popcount_isa_name(info.param)); });

TEST(Bitwise, JaccardDistanceAsPgvector)
{
	const std::uint8_t ones[] = {0xf0}, three[] = {0xe0}, none[] = {0x00};
	EXPECT_DOUBLE_EQ(jaccard_distance(ones, ones, 1), 0);
	EXPECT_DOUBLE_EQ(jaccard_distance(ones, three, 1), 0.25);
	EXPECT_DOUBLE_EQ(jaccard_distance(ones, none, 1), 1);
	EXPECT_DOUBLE_EQ(jaccard_distance(none, none, 1), 1);  // no shared bit: 1, never NaN
	EXPECT_DOUBLE_EQ(jaccard_distance(none, none, 0), 1);
	EXPECT_EQ(hamming_distance(ones, none, 1), 4u);
}

TEST(Bitwise, BestIsaIsActive)
{
	// Without a RUVECTOR_ISA cap the dispatcher takes the widest the CPU has.
	if (std::getenv("RUVECTOR_ISA"))
		GTEST_SKIP();
	EXPECT_EQ(active_bitwise_kernels().isa, available_popcount_isas().back());
}

}  // namespace
