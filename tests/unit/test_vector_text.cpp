// The vector text codec: pgvector's accepted forms and errors, shortest float formatting, and
// randomized round trips.
#include "worker/kernels/vector_text.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Parsed {
	VectorTextResult result;
	std::vector<float> values;
};

Parsed parse(const std::string &text, std::size_t max_dim = kVectorMaxDim)
{
	std::vector<float> buf(kVectorMaxDim + 1);
	Parsed p{parse_vector_text(text.c_str(), buf, max_dim), {}};
	p.values.assign(buf.begin(), buf.begin() + std::ptrdiff_t(p.result.dim));
	return p;
}

std::string fmt(float f)
{
	char buf[kFloatTextMax];
	return std::string(buf, format_float(f, buf));
}

std::string fmt_vec(const std::vector<float> &v)
{
	std::string s(vector_text_capacity(v.size()), '\0');
	s.resize(format_vector_text(v, s.data()));
	return s;
}

}  // namespace

TEST(VectorText, ParsesWhitespaceAndSigns)
{
	auto p = parse("  [ 1 ,-2.5,\t+3e2 ,4.25e-1]\n ");
	ASSERT_EQ(p.result.error, VectorTextError::none);
	EXPECT_EQ(p.values, (std::vector<float>{1.0f, -2.5f, 300.0f, 0.425f}));
}

TEST(VectorText, RejectsWhatPgvectorRejects)
{
	EXPECT_EQ(parse("1,2,3").result.error, VectorTextError::missing_bracket);
	EXPECT_EQ(parse("").result.error, VectorTextError::missing_bracket);
	EXPECT_EQ(parse("[]").result.error, VectorTextError::no_dimensions);
	EXPECT_EQ(parse("[ ]").result.error, VectorTextError::no_dimensions);
	EXPECT_EQ(parse("[1,]").result.error, VectorTextError::syntax);
	EXPECT_EQ(parse("[1,,3]").result.error, VectorTextError::syntax);
	EXPECT_EQ(parse("[1 2]").result.error, VectorTextError::syntax);
	EXPECT_EQ(parse("[1").result.error, VectorTextError::syntax);
	EXPECT_EQ(parse("[1,").result.error, VectorTextError::syntax);
	EXPECT_EQ(parse("[a]").result.error, VectorTextError::syntax);
	EXPECT_EQ(parse("[1]x").result.error, VectorTextError::junk_after);
	EXPECT_EQ(parse("[1] ]").result.error, VectorTextError::junk_after);
	EXPECT_EQ(parse("[NaN]").result.error, VectorTextError::nan);
	EXPECT_EQ(parse("[1,nan]").result.error, VectorTextError::nan);
	EXPECT_EQ(parse("[Infinity]").result.error, VectorTextError::infinite);
	EXPECT_EQ(parse("[-inf]").result.error, VectorTextError::infinite);
	auto big = parse("[1,4e38]");
	EXPECT_EQ(big.result.error, VectorTextError::out_of_range);
	EXPECT_EQ(big.result.token, "4e38");
	EXPECT_EQ(parse("[-1e39]").result.error, VectorTextError::out_of_range);
}

TEST(VectorText, ErrorOrderFollowsPgvector)
{
	// The element check fires before the syntax error that follows it.
	EXPECT_EQ(parse("[NaN,x]").result.error, VectorTextError::nan);
	EXPECT_EQ(parse("[1e39 junk").result.error, VectorTextError::out_of_range);
}

TEST(VectorText, DimensionLimit)
{
	std::string ok = "[", over;
	for (std::size_t i = 0; i < kVectorMaxDim; i++)
		ok += i ? ",1" : "1";
	over = ok + ",1]";
	ok += "]";
	EXPECT_EQ(parse(ok).result.error, VectorTextError::none);
	EXPECT_EQ(parse(ok).result.dim, kVectorMaxDim);
	EXPECT_EQ(parse(over).result.error, VectorTextError::too_many_dims);
	EXPECT_EQ(parse("[1,2,3]", 2).result.error, VectorTextError::too_many_dims);
}

TEST(VectorText, FormatsLikeFloat4out)
{
	// Expected strings are what PostgreSQL 15's float4out prints for these values.
	EXPECT_EQ(fmt(123456.0f), "123456");
	EXPECT_EQ(fmt(1234567.0f), "1.234567e+06");
	EXPECT_EQ(fmt(1e6f), "1e+06");
	EXPECT_EQ(fmt(100000.0f), "100000");
	EXPECT_EQ(fmt(0.0001f), "0.0001");
	EXPECT_EQ(fmt(0.00001f), "1e-05");
	EXPECT_EQ(fmt(1e-07f), "1e-07");
	EXPECT_EQ(fmt(123456789.0f), "1.2345679e+08");
	EXPECT_EQ(fmt(-0.0f), "-0");
	EXPECT_EQ(fmt(0.0f), "0");
	EXPECT_EQ(fmt(1e15f), "1e+15");
	EXPECT_EQ(fmt(3.4028235e38f), "3.4028235e+38");
	EXPECT_EQ(fmt(1.4e-45f), "1e-45");
	EXPECT_EQ(fmt(0.1f), "0.1");
	EXPECT_EQ(fmt(2.5f), "2.5");
	EXPECT_EQ(fmt_vec({1.0f, 2.5f, 300.0f}), "[1,2.5,300]");
	EXPECT_EQ(fmt_vec({0.1f, 1e-07f, 1.2345679e+08f}), "[0.1,1e-07,1.2345679e+08]");
	// A short number right after a long one (the formatter must not read stale digits).
	EXPECT_EQ(fmt_vec({1.2345679e+08f, 20.0f, 19.0f, 20.0f, 200000.0f}), "[1.2345679e+08,20,19,20,200000]");
	std::string many = "[";
	for (int i = 1; i <= 3000; i++) {
		many += (i > 1 ? "," : "") + std::to_string(i);
	}
	many += "]";
	std::vector<float> ints;
	for (int i = 1; i <= 3000; i++)
		ints.push_back(float(i));
	EXPECT_EQ(fmt_vec(ints), many);
}

TEST(VectorText, RandomRoundTripsAreExact)
{
	std::mt19937 rng(1234);
	std::uniform_int_distribution<std::uint32_t> bits;
	std::uniform_int_distribution<int> dims(1, 300);
	for (int trial = 0; trial < 2000; trial++) {
		std::vector<float> v(std::size_t(dims(rng)));
		for (float &x : v) {
			do
				x = std::bit_cast<float>(bits(rng));  // any finite float, denormals included
			while (!std::isfinite(x));
		}
		std::string text = fmt_vec(v);
		ASSERT_LE(text.size(), vector_text_capacity(v.size()));
		auto p = parse(text);
		ASSERT_EQ(p.result.error, VectorTextError::none) << text;
		ASSERT_EQ(p.values.size(), v.size());
		for (std::size_t i = 0; i < v.size(); i++)
			ASSERT_EQ(std::bit_cast<std::uint32_t>(p.values[i]), std::bit_cast<std::uint32_t>(v[i])) << text;
	}
}

TEST(VectorText, RandomGarbageNeverCrashes)
{
	// Fuzz-style: random strings from a small alphabet either parse or fail cleanly, and what
	// parses re-formats to text that parses to the same values.
	std::mt19937 rng(99);
	const std::string alphabet = "[]],,,, 0123456789.-+eEnaifNI\t";
	std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1), len(0, 24);
	int parsed = 0;
	for (int trial = 0; trial < 20000; trial++) {
		std::string s = "[";
		for (std::size_t i = len(rng); i > 0; i--)
			s += alphabet[pick(rng)];
		auto p = parse(s);
		if (p.result.error == VectorTextError::none) {
			parsed++;
			auto again = parse(fmt_vec(p.values));
			ASSERT_EQ(again.result.error, VectorTextError::none);
			ASSERT_EQ(again.values, p.values);
		}
	}
	EXPECT_GT(parsed, 0);
}

// A damaged vector can hold any bit pattern: formatting must not crash and must print what
// PostgreSQL's float4out prints, so such a table can still be read and dumped.
TEST(VectorText, FormatsEveryBitPattern)
{
	EXPECT_EQ(fmt(std::numeric_limits<float>::quiet_NaN()), "NaN");
	EXPECT_EQ(fmt(-std::numeric_limits<float>::quiet_NaN()), "NaN");
	EXPECT_EQ(fmt(std::numeric_limits<float>::infinity()), "Infinity");
	EXPECT_EQ(fmt(-std::numeric_limits<float>::infinity()), "-Infinity");
	EXPECT_EQ(fmt(-0.0f), "-0");
	EXPECT_EQ(fmt(std::numeric_limits<float>::denorm_min()), "1e-45");
	EXPECT_EQ(fmt(-std::numeric_limits<float>::max()), "-3.4028235e+38");
	EXPECT_EQ(fmt_vec({1.0f, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}),
	          "[1,NaN,-Infinity]");

	// Every exponent and sign, with random mantissas (NaN payloads included).
	std::mt19937 rng(7);
	char buf[kFloatTextMax];
	for (std::uint32_t hi = 0; hi < 512; hi++)
		for (int rep = 0; rep < 64; rep++) {
			std::uint32_t bits = (hi << 23) | (rng() & 0x7fffff);
			float f = std::bit_cast<float>(bits);
			std::size_t len = format_float(f, buf);
			ASSERT_LE(len, kFloatTextMax);
			if (std::isfinite(f)) {
				float back = std::strtof(std::string(buf, len).c_str(), nullptr);
				ASSERT_EQ(std::bit_cast<std::uint32_t>(back), bits) << std::string(buf, len);
			}
		}
}
