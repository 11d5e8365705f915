// SQ8: range training and coding against their definition, and every ISA's code kernels against
// the scalar reference and against the float distance of the decoded rows.
#include "worker/kernels/sq8.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Trained {
	std::vector<float> vmin, step;
};

Trained train(const std::vector<float> &rows, std::size_t dim)
{
	std::vector<float> vmin(dim), vmax(dim), step(dim);
	sq8_range_init(vmin.data(), vmax.data(), dim);
	for (std::size_t r = 0; r < rows.size() / dim; r++)
		sq8_range_add(rows.data() + r * dim, vmin.data(), vmax.data(), dim);
	sq8_range_finish(vmin.data(), vmax.data(), step.data(), dim);
	return {vmin, step};
}

std::vector<float> random_rows(std::size_t n, std::size_t dim, unsigned seed)
{
	std::mt19937 rng(seed);
	std::normal_distribution<float> g(0.0f, 1.0f);
	std::vector<float> v(n * dim);
	for (std::size_t j = 0; j < dim; j++) {
		float scale = 0.1f + float(j % 7), shift = float(j % 5) - 2.0f;  // different range per dimension
		for (std::size_t r = 0; r < n; r++)
			v[r * dim + j] = shift + scale * g(rng);
	}
	return v;
}

}  // namespace

TEST(Sq8, RangesAreMinMaxPerDimension)
{
	std::vector<float> rows{1, -2, 3, 4, 0, -1};  // 3 rows of 2 dimensions
	Trained t = train(rows, 2);
	EXPECT_EQ(t.vmin[0], 0.0f);
	EXPECT_EQ(t.vmin[1], -2.0f);
	EXPECT_FLOAT_EQ(t.step[0], 3.0f / 255);
	EXPECT_FLOAT_EQ(t.step[1], 6.0f / 255);
}

TEST(Sq8, EmptyAndConstantDimensions)
{
	std::vector<float> vmin(2), vmax(2), step(2);
	sq8_range_init(vmin.data(), vmax.data(), 2);
	sq8_range_finish(vmin.data(), vmax.data(), step.data(), 2);
	EXPECT_EQ(vmin[0], -1.0f);  // nothing sampled: [-1, 1]
	EXPECT_FLOAT_EQ(vmin[0] + 255 * step[0], 1.0f);
	std::vector<float> rows{5, 5, 5, 7};
	Trained t = train(rows, 2);
	EXPECT_EQ(t.step[0], 0.0f);  // constant: every code 0, decoded exactly
	std::uint8_t c[2];
	float x[2] = {5, 6}, back[2];
	sq8_encode(x, t.vmin.data(), t.step.data(), c, 2);
	sq8_decode(c, t.vmin.data(), t.step.data(), back, 2);
	EXPECT_EQ(back[0], 5.0f);
	EXPECT_NEAR(back[1], 6.0f, t.step[1] / 2 * 1.0001);
}

TEST(Sq8, EncodeRoundsToNearestAndClamps)
{
	std::size_t dim = 64;
	auto rows = random_rows(500, dim, 1);
	Trained t = train(rows, dim);
	std::vector<std::uint8_t> c(dim);
	std::vector<float> back(dim);
	for (std::size_t r = 0; r < 500; r++) {
		const float *x = rows.data() + r * dim;
		sq8_encode(x, t.vmin.data(), t.step.data(), c.data(), dim);
		sq8_decode(c.data(), t.vmin.data(), t.step.data(), back.data(), dim);
		for (std::size_t j = 0; j < dim; j++)
			ASSERT_LE(std::fabs(back[j] - x[j]), t.step[j] * 0.5f * 1.001f + 1e-6f) << "row " << r << " dim " << j;
	}
	// Outside the trained range: the nearest end.
	std::vector<float> out(dim);
	for (std::size_t j = 0; j < dim; j++)
		out[j] = j % 2 ? 1e30f : -1e30f;
	sq8_encode(out.data(), t.vmin.data(), t.step.data(), c.data(), dim);
	for (std::size_t j = 0; j < dim; j++)
		EXPECT_EQ(c[j], j % 2 ? 255 : 0);
}

TEST(Sq8, ClampBeyondRounding)
{
	std::vector<float> rows{0, 0, 10, 10};  // 2 rows, 2 dims: ranges [0, 10]
	Trained t = train(rows, 2);
	float inside[2] = {3, 7}, slightly[2] = {10.01f, 5}, far[2] = {1000, 5};
	EXPECT_FALSE(sq8_clamp_exceeds_rounding(inside, t.vmin.data(), t.step.data(), 2));
	// rounding moves a row up to sqrt(2) * step / 2 = 0.028: 0.01 outside is within it
	EXPECT_FALSE(sq8_clamp_exceeds_rounding(slightly, t.vmin.data(), t.step.data(), 2));
	EXPECT_TRUE(sq8_clamp_exceeds_rounding(far, t.vmin.data(), t.step.data(), 2));
}

// Every ISA's kernels agree with the scalar reference: l1 is the float distance to the decoded row;
// the integer dot product is exact, so every ISA (AVX-512 with and without VNNI) gives the same sum,
// extreme weights and codes included, over lengths that cross the 32-bit lanes' blocks.
TEST(Sq8, KernelsMatchScalarReference)
{
	for (std::size_t dim : {1, 7, 8, 15, 16, 31, 33, 128, 1536}) {
		auto rows = random_rows(40, dim, unsigned(dim));
		Trained t = train(rows, dim);
		auto queries = random_rows(3, dim, unsigned(dim) + 99);
		std::vector<std::uint8_t> codes(40 * dim);
		for (std::size_t r = 0; r < 40; r++)
			sq8_encode(rows.data() + r * dim, t.vmin.data(), t.step.data(), codes.data() + r * dim, dim);
		const Sq8Kernels &ref = sq8_kernels_for(Isa::scalar);
		for (Isa isa : available_isas()) {
			const Sq8Kernels &k = sq8_kernels_for(isa);
			for (std::size_t qi = 0; qi < 3; qi++) {
				const float *q = queries.data() + qi * dim;
				std::vector<float> a(dim), decoded(dim);
				std::vector<std::int16_t> w(dim);
				std::mt19937 gen(unsigned(qi + dim));
				std::uniform_int_distribution<int> weight(-kSq8WeightMax, kSq8WeightMax);
				for (std::size_t j = 0; j < dim; j++) {
					a[j] = q[j] - t.vmin[j];
					w[j] = std::int16_t(weight(gen));
				}
				for (std::size_t r = 0; r < 40; r++) {
					const std::uint8_t *c = codes.data() + r * dim;
					sq8_decode(c, t.vmin.data(), t.step.data(), decoded.data(), dim);
					double l1 = 0;
					std::int64_t dot = 0;
					for (std::size_t j = 0; j < dim; j++) {
						l1 += std::fabs(double(q[j]) - double(decoded[j]));
						dot += std::int64_t(w[j]) * c[j];
					}
					float r_l1 = ref.l1(a.data(), t.step.data(), c, dim);
					double tol = 1e-4 * std::sqrt(double(dim));
					EXPECT_EQ(ref.dot(w.data(), c, dim), dot) << "scalar dot, dim " << dim;
					EXPECT_NEAR(r_l1, l1, tol * (1 + l1)) << "scalar l1, dim " << dim;
					for (auto [name, kernel] : sq8_dot_kernels())
						EXPECT_EQ(kernel(w.data(), c, dim), dot) << name << " dot, dim " << dim;
					EXPECT_NEAR(k.l1(a.data(), t.step.data(), c, dim), r_l1, tol * (1 + l1))
						<< isa_name(isa) << " l1, dim " << dim;
				}
			}
		}
	}
	// The largest terms: every lane at its bound, past one 32-bit block (kSq8DotBlock).
	for (std::size_t dim : {kSq8DotBlock - 1, kSq8DotBlock + 33, 3 * kSq8DotBlock}) {
		std::vector<std::uint8_t> codes(dim, 255);
		for (std::int16_t extreme : {std::int16_t(kSq8WeightMax), std::int16_t(-kSq8WeightMax)}) {
			std::vector<std::int16_t> w(dim, extreme);
			std::int64_t want = std::int64_t(dim) * 255 * extreme;
			for (auto [name, kernel] : sq8_dot_kernels())
				EXPECT_EQ(kernel(w.data(), codes.data(), dim), want) << name << ", dim " << dim;
			for (Isa isa : available_isas())
				EXPECT_EQ(sq8_kernels_for(isa).dot(w.data(), codes.data(), dim), want) << isa_name(isa) << ", dim " << dim;
		}
	}
}

// sq8_order_batch gives each metric's order() against the decoded rows (ip: -<q, x>).
TEST(Sq8, OrderBatchIsOrderOfDecodedRows)
{
	std::size_t dim = 100, n = 30, stride = 107;  // rows padded, and unaligned
	auto rows = random_rows(n, dim, 5);
	Trained t = train(rows, dim);
	std::vector<std::byte> coded(n * stride, std::byte(0xAB));
	for (std::size_t r = 0; r < n; r++)
		sq8_encode_row(rows.data() + r * dim, t.vmin.data(), t.step.data(), coded.data() + r * stride, dim);
	auto q = random_rows(1, dim, 6);
	for (Metric m : {Metric::l2, Metric::ip, Metric::cosine, Metric::l1}) {
		Sq8Form form;
		ASSERT_TRUE(sq8_form(m, &form));
		std::vector<float> a(dim), out(n), decoded(dim);
		std::vector<std::int16_t> w(dim);
		Sq8Query sq = sq8_prepare(form, q.data(), t.vmin.data(), t.step.data(), a.data(), w.data(), dim);
		sq8_order_batch(sq, coded.data(), n, stride, out.data());
		for (std::size_t r = 0; r < n; r++) {
			sq8_decode(sq8_row_codes(coded.data() + r * stride), t.vmin.data(), t.step.data(), decoded.data(), dim);
			double want = 0, weights = 0;  // weights: how far the query's 16-bit weights can move sum w_j c_j
			const std::uint8_t *c = sq8_row_codes(coded.data() + r * stride);
			for (std::size_t j = 0; j < dim; j++) {
				double d = double(q[j]) - decoded[j];
				want += form == Sq8Form::l2 ? d * d : form == Sq8Form::l1 ? std::fabs(d) : -double(q[j]) * decoded[j];
				weights += 0.5 * sq.w_scale * c[j];
				if (form != Sq8Form::l1) {
					EXPECT_LE(std::fabs(double(a[j]) - double(sq.w_scale) * w[j]), 0.5 * sq.w_scale * (1 + 1e-6));
				}
			}
			double tol = 1e-3 * (1 + std::fabs(want)) + (form == Sq8Form::l2 ? 2 : 1) * weights;
			EXPECT_NEAR(out[r], want, tol) << "metric " << int(m) << " row " << r;
		}
	}
	Sq8Form form;
	EXPECT_FALSE(sq8_form(Metric::hamming, &form));
}

// Ranking by codes finds the true nearest neighbours: recall@10 among the top 40 by sq8 distance.
TEST(Sq8, RankingKeepsNearestNeighbours)
{
	std::size_t dim = 256, n = 2000;
	auto rows = random_rows(n, dim, 11);
	Trained t = train(rows, dim);
	std::size_t stride = sq8_row_bytes(dim);
	std::vector<std::byte> coded(n * stride);
	for (std::size_t r = 0; r < n; r++)
		sq8_encode_row(rows.data() + r * dim, t.vmin.data(), t.step.data(), coded.data() + r * stride, dim);
	auto queries = random_rows(20, dim, 12);
	int found = 0;
	for (std::size_t qi = 0; qi < 20; qi++) {
		const float *q = queries.data() + qi * dim;
		std::vector<float> a(dim), approx(n);
		std::vector<std::int16_t> w(dim);
		std::vector<std::pair<float, std::size_t>> exact(n);
		Sq8Query sq = sq8_prepare(Sq8Form::l2, q, t.vmin.data(), t.step.data(), a.data(), w.data(), dim);
		sq8_order_batch(sq, coded.data(), n, stride, approx.data());
		for (std::size_t r = 0; r < n; r++)
			exact[r] = {l2_squared({q, dim}, {rows.data() + r * dim, dim}), r};
		std::vector<std::pair<float, std::size_t>> by_code(n);
		for (std::size_t r = 0; r < n; r++)
			by_code[r] = {approx[r], r};
		std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
		std::partial_sort(by_code.begin(), by_code.begin() + 40, by_code.end());
		for (int i = 0; i < 10; i++)
			for (int j = 0; j < 40; j++)
				if (by_code[j].second == exact[i].second)
					found++;
	}
	EXPECT_GE(found, 199) << "recall@10 in the top 40 by code over 20 queries";
}
