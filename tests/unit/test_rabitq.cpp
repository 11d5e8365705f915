// RaBitQ: the rotation is orthogonal and reproducible, the popcount kernels of every instruction set
// give the scalar reference's counts, the estimator with the 4-bit query equals a scalar reference of
// the paper's formula on the rounded query, and the error bound holds on random and on correlated data.
#include "worker/kernels/rabitq.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

std::vector<float> gaussian(std::size_t n, std::mt19937 &rng, float sigma = 1.0f)
{
	std::normal_distribution<float> g(0.0f, sigma);
	std::vector<float> v(n);
	for (float &x : v)
		x = g(rng);
	return v;
}

double dot(const float *a, const float *b, std::size_t n)
{
	double s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += double(a[i]) * double(b[i]);
	return s;
}

// The estimator straight from its definition: xb = sign(R o)/sqrt(D), <xb, R q> / <xb, R o> for the
// unit residual o, on floats rotated with rabitq_rotate. With `rounding`, the rotated v is first
// rounded to 4 bits (nearest of 16 levels between its min and max), as the scan's query is, and
// *rounding gets |v - rounded v|.
double reference_ip(const std::vector<float> &x, const std::vector<float> &c, const std::vector<float> &v_in,
                    std::size_t dim, std::uint64_t seed, double *rounding = nullptr)
{
	std::size_t d = rabitq_padded_dim(dim);
	std::vector<float> res(dim), ro(d), rv(d);
	for (std::size_t j = 0; j < dim; j++)
		res[j] = x[j] - c[j];
	rabitq_rotate(res.data(), dim, seed, ro.data());
	rabitq_rotate(v_in.data(), dim, seed, rv.data());
	double lo = *std::min_element(rv.begin(), rv.end()), hi = *std::max_element(rv.begin(), rv.end());
	double step = (hi - lo) / 15, xb_o = 0, xb_v = 0, ee = 0;
	for (std::size_t i = 0; i < d; i++) {
		double vq = rv[i];
		if (rounding) {
			double level = step > 0 ? std::round((rv[i] - lo) / step) : 0;
			vq = lo + step * level;
			ee += (rv[i] - vq) * (rv[i] - vq);
		}
		double s = ro[i] > 0 ? 1.0 : -1.0;
		xb_o += s * ro[i];
		xb_v += s * vq;
	}
	if (rounding)
		*rounding = std::sqrt(ee);
	// R (x - c) = |x - c| u: scale back to the unit residual's estimate.
	return xb_v / xb_o * std::sqrt(dot(res.data(), res.data(), dim));
}

}  // namespace

TEST(Rabitq, RotationIsOrthogonalAndSeeded)
{
	std::mt19937 rng(1);
	for (std::size_t dim : {3u, 64u, 100u, 128u, 192u, 1536u}) {
		std::size_t d = rabitq_padded_dim(dim);
		auto a = gaussian(dim, rng), b = gaussian(dim, rng);
		std::vector<float> ra(d), rb(d), ra2(d), other(d);
		rabitq_rotate(a.data(), dim, 7, ra.data());
		rabitq_rotate(b.data(), dim, 7, rb.data());
		rabitq_rotate(a.data(), dim, 7, ra2.data());
		rabitq_rotate(a.data(), dim, 8, other.data());
		EXPECT_EQ(ra, ra2) << "dim " << dim;
		EXPECT_NE(ra, other) << "dim " << dim;
		double na = dot(a.data(), a.data(), dim), ab = dot(a.data(), b.data(), dim);
		EXPECT_NEAR(dot(ra.data(), ra.data(), d), na, 1e-4 * na) << "dim " << dim;
		EXPECT_NEAR(dot(ra.data(), rb.data(), d), ab, 1e-4 * na + 1e-4) << "dim " << dim;
	}
	// The columns of R for a small dimension form an orthonormal basis.
	std::size_t dim = 128;
	std::vector<std::vector<float>> cols(dim, std::vector<float>(dim));
	for (std::size_t i = 0; i < dim; i++) {
		std::vector<float> e(dim, 0.0f);
		e[i] = 1;
		rabitq_rotate(e.data(), dim, 3, cols[i].data());
	}
	for (std::size_t i = 0; i < dim; i++)
		for (std::size_t j = i; j < dim; j++)
			EXPECT_NEAR(dot(cols[i].data(), cols[j].data(), dim), i == j ? 1.0 : 0.0, 1e-5);
}

// Every popcount table gives the reference's counts: popcount(x) and sum 2^p popcount(x AND plane p),
// for codes at any byte offset (rows are not 8-byte aligned) and lengths with a partial last step.
TEST(Rabitq, CountsMatchReferenceOnEveryIsa)
{
	std::mt19937_64 rng(11);
	for (std::size_t words : {1u, 2u, 7u, 8u, 9u, 24u, 25u}) {
		std::vector<std::uint64_t> planes(kRabitqQueryBits * words);
		std::vector<std::byte> buf(words * 8 + 3);
		for (int trial = 0; trial < 50; trial++) {
			for (auto &p : planes)
				p = rng() & rng();
			for (auto &b : buf)
				b = std::byte(rng());
			const std::byte *code = buf.data() + 3;
			std::uint32_t ones = 0, weighted = 0;
			for (std::size_t i = 0; i < words * 64; i++) {
				bool bit = (std::to_integer<unsigned>(code[i / 8]) >> (i % 8)) & 1;
				if (!bit)
					continue;
				ones++;
				for (int p = 0; p < kRabitqQueryBits; p++)
					weighted += std::uint32_t((planes[p * words + i / 64] >> (i % 64)) & 1) << p;
			}
			for (PopcountIsa isa : available_popcount_isas()) {
				PlaneCounts c;
				bitwise_kernels_for(isa).plane_counts(planes.data(), code, words, 1, 0, &c);
				EXPECT_EQ(c.ones, ones) << popcount_isa_name(isa) << ", " << words << " words";
				EXPECT_EQ(c.weighted, weighted) << popcount_isa_name(isa) << ", " << words << " words";
			}
		}
		// A batch of rows `stride` bytes apart (unaligned) gives each row's own counts.
		std::size_t rows = 9, stride = words * 8 + 13;
		std::vector<std::byte> batch(rows * stride + 3);
		for (auto &b : batch)
			b = std::byte(rng());
		std::vector<PlaneCounts> want(rows), got(rows);
		const BitwiseKernels &ref = bitwise_kernels_for(PopcountIsa::scalar);
		for (std::size_t r = 0; r < rows; r++)
			ref.plane_counts(planes.data(), batch.data() + 3 + r * stride, words, 1, 0, &want[r]);
		for (PopcountIsa isa : available_popcount_isas()) {
			bitwise_kernels_for(isa).plane_counts(planes.data(), batch.data() + 3, words, rows, stride, got.data());
			for (std::size_t r = 0; r < rows; r++) {
				EXPECT_EQ(got[r].ones, want[r].ones) << popcount_isa_name(isa) << ", batch row " << r;
				EXPECT_EQ(got[r].weighted, want[r].weighted) << popcount_isa_name(isa) << ", batch row " << r;
			}
		}
	}
}

TEST(Rabitq, EstimatorMatchesReference)
{
	std::mt19937 rng(2);
	for (std::size_t dim : {5u, 64u, 100u, 768u}) {
		std::uint64_t seed = 0x1234 + dim;
		auto c = gaussian(dim, rng, 0.5f);
		std::vector<float> scratch(rabitq_padded_dim(dim));
		std::vector<std::uint64_t> table(rabitq_plane_words(dim));
		std::vector<std::byte> row(rabitq_row_bytes(dim));
		for (int trial = 0; trial < 20; trial++) {
			auto x = gaussian(dim, rng), q = gaussian(dim, rng);
			rabitq_encode_row(x.data(), c.data(), dim, seed, scratch.data(), row.data());
			double r = 0;
			for (std::size_t j = 0; j < dim; j++)
				r += double(x[j] - c[j]) * double(x[j] - c[j]);
			r = std::sqrt(r);
			// l2: v = q - c
			std::vector<float> v(dim);
			for (std::size_t j = 0; j < dim; j++)
				v[j] = q[j] - c[j];
			RabitqQuery pq = rabitq_prepare(RabitqForm::l2, q.data(), c.data(), dim, seed, scratch.data(), table.data());
			double rounding;
			double ref = reference_ip(x, c, v, dim, seed, &rounding);
			RabitqEstimate e = rabitq_estimate(pq, row.data());
			EXPECT_NEAR(e.ip, ref, 1e-3 * (1 + std::fabs(ref))) << "dim " << dim;
			// Every popcount table gives the same estimate.
			for (PopcountIsa isa : available_popcount_isas()) {
				RabitqQuery pk = rabitq_prepare(RabitqForm::l2, q.data(), c.data(), dim, seed, scratch.data(), table.data(),
				                                kRabitqEpsilon, bitwise_kernels_for(isa));
				RabitqEstimate ek = rabitq_estimate(pk, row.data());
				EXPECT_EQ(ek.ip, e.ip) << popcount_isa_name(isa);
				EXPECT_EQ(ek.error, e.error) << popcount_isa_name(isa);
			}
			// The rounding moves the estimate by about |e| / (sqrt(D) a), far less than |v|.
			double a = 0;
			{
				std::vector<float> res(dim), ro(rabitq_padded_dim(dim));
				for (std::size_t j = 0; j < dim; j++)
					res[j] = x[j] - c[j];
				rabitq_rotate(res.data(), dim, seed, ro.data());
				for (float u : ro)
					a += std::fabs(u);
				a /= r * std::sqrt(double(rabitq_padded_dim(dim)));
			}
			double vn = std::sqrt(dot(v.data(), v.data(), dim));
			EXPECT_LT(rounding, 0.3 * vn) << "dim " << dim;
			EXPECT_NEAR(e.ip, reference_ip(x, c, v, dim, seed), 6 * rounding * r / (a * std::sqrt(double(rabitq_padded_dim(dim)))) + 1e-3 * vn)
				<< "dim " << dim;
			float est, lower;
			rabitq_order_batch(pq, row.data(), 1, row.size(), &est, &lower);
			double vv = dot(v.data(), v.data(), dim);
			EXPECT_NEAR(est, r * r + vv - 2 * r * ref, 1e-3 * (r * r + vv));
			EXPECT_LE(lower, est);
			// ip: v = q, order = -(<c, q> + r <u, q>)
			RabitqQuery pi = rabitq_prepare(RabitqForm::ip, q.data(), c.data(), dim, seed, scratch.data(), table.data());
			double refi = reference_ip(x, c, q, dim, seed, &rounding);
			rabitq_order_batch(pi, row.data(), 1, row.size(), &est, &lower);
			EXPECT_NEAR(est, -(dot(c.data(), q.data(), dim) + r * refi), 1e-3 * (1 + r * std::sqrt(dot(q.data(), q.data(), dim))));
		}
	}
}

// The scan's preparation from R q and a list's R c (rotated once each) gives the estimates of the
// preparation from q and c: R is linear, so R q - R c = R (q - c) up to float rounding.
TEST(Rabitq, RotatedPreparationMatchesDirect)
{
	std::mt19937 rng(8);
	for (std::size_t dim : {100u, 1536u}) {
		std::uint64_t seed = 5 + dim;
		std::size_t d = rabitq_padded_dim(dim);
		auto c = gaussian(dim, rng, 0.5f), q = gaussian(dim, rng);
		std::vector<float> scratch(d), rq(d), rc(d), v(d);
		std::vector<std::uint64_t> direct(rabitq_plane_words(dim)), rotated(rabitq_plane_words(dim));
		rabitq_rotate(q.data(), dim, seed, rq.data());
		rabitq_rotate(c.data(), dim, seed, rc.data());
		for (std::size_t i = 0; i < d; i++)
			v[i] = rq[i] - rc[i];
		std::size_t n = 20, stride = rabitq_row_bytes(dim) + 5;
		std::vector<std::byte> rows(n * stride);
		for (std::size_t r = 0; r < n; r++) {
			auto x = gaussian(dim, rng);
			rabitq_encode_row(x.data(), c.data(), dim, seed, scratch.data(), rows.data() + r * stride);
		}
		for (RabitqForm form : {RabitqForm::l2, RabitqForm::ip}) {
			RabitqQuery a = rabitq_prepare(form, q.data(), c.data(), dim, seed, scratch.data(), direct.data());
			RabitqQuery b = rabitq_prepare_rotated(form, form == RabitqForm::l2 ? v.data() : rq.data(), dim,
			                                       float(dot(q.data(), c.data(), dim)), rotated.data());
			std::vector<float> ea(n), la(n), eb(n), lb(n);
			rabitq_order_batch(a, rows.data(), n, stride, ea.data(), la.data());
			rabitq_order_batch(b, rows.data(), n, stride, eb.data(), lb.data());
			for (std::size_t r = 0; r < n; r++) {
				// A code of the query may round the other way where R q - R c and R (q - c) differ in
				// the last bits: one step, delta, moves <xb, v> by at most delta / sqrt(D) * (a few).
				double tol = 1e-3 * (1 + std::fabs(ea[r]));
				EXPECT_NEAR(eb[r], ea[r], tol) << "dim " << dim << ", form " << int(form) << ", row " << r;
				EXPECT_NEAR(lb[r], la[r], tol) << "dim " << dim << ", form " << int(form) << ", row " << r;
			}
		}
	}
}

TEST(Rabitq, RowAtItsCentroidEstimatesExactly)
{
	std::size_t dim = 32;
	std::mt19937 rng(3);
	auto c = gaussian(dim, rng), q = gaussian(dim, rng);
	std::vector<float> scratch(rabitq_padded_dim(dim));
	std::vector<std::uint64_t> table(rabitq_plane_words(dim));
	std::vector<std::byte> row(rabitq_row_bytes(dim));
	rabitq_encode_row(c.data(), c.data(), dim, 9, scratch.data(), row.data());
	RabitqQuery pq = rabitq_prepare(RabitqForm::l2, q.data(), c.data(), dim, 9, scratch.data(), table.data());
	float est, lower;
	rabitq_order_batch(pq, row.data(), 1, row.size(), &est, &lower);
	double want = 0;
	for (std::size_t j = 0; j < dim; j++)
		want += double(q[j] - c[j]) * double(q[j] - c[j]);
	EXPECT_NEAR(est, want, 1e-4 * want);
	EXPECT_FLOAT_EQ(lower, est);
}

// The bound on random and correlated pairs. Its error term is the projection of the query's part
// orthogonal to o onto a random direction, about normal with the scale the bound divides out, so
// the bound holds for a pair with probability about P(|N(0,1)| <= eps0): 94% at the paper's 1.9
// (95% for unrelated pairs, more for near ones, whose orthogonal part is small), 99% at 2.6. The
// scan needs only the lower side (P(N <= eps0), 97% at 1.9).
TEST(Rabitq, ErrorBoundHolds)
{
	std::mt19937 rng(4);
	for (std::size_t dim : {64u, 100u, 128u, 960u, 1536u}) {
		std::uint64_t seed = 77 + dim;
		auto centre = gaussian(dim, rng, 0.3f);
		std::vector<float> scratch(rabitq_padded_dim(dim));
		std::vector<std::uint64_t> table(rabitq_plane_words(dim));
		std::vector<std::byte> row(rabitq_row_bytes(dim));
		int pairs = 0, held = 0, held_26 = 0, l2_held = 0, ip_held = 0, near_held = 0, near = 0;
		for (int i = 0; i < 100; i++) {
			auto x = gaussian(dim, rng);
			for (std::size_t j = 0; j < dim; j++)
				x[j] += centre[j];
			rabitq_encode_row(x.data(), centre.data(), dim, seed, scratch.data(), row.data());
			for (int k = 0; k < 20; k++) {
				// Half the queries near the row (large <o, q>), half anywhere.
				bool close = k % 2 == 0;
				auto q = gaussian(dim, rng, close ? 0.3f : 1.0f);
				for (std::size_t j = 0; j < dim; j++)
					q[j] += close ? x[j] : centre[j];
				std::vector<float> o(dim), v(dim);
				for (std::size_t j = 0; j < dim; j++) {
					o[j] = x[j] - centre[j];
					v[j] = q[j] - centre[j];
				}
				double truth = dot(o.data(), v.data(), dim) / std::sqrt(dot(o.data(), o.data(), dim));
				RabitqQuery pq = rabitq_prepare(RabitqForm::l2, q.data(), centre.data(), dim, seed, scratch.data(), table.data());
				RabitqEstimate e = rabitq_estimate(pq, row.data());
				pairs++;
				held += std::fabs(e.ip - truth) <= e.error;
				near += close;
				near_held += close && std::fabs(e.ip - truth) <= e.error;
				float est, lower;
				rabitq_order_batch(pq, row.data(), 1, row.size(), &est, &lower);
				double l2 = 0;
				for (std::size_t j = 0; j < dim; j++)
					l2 += double(x[j] - q[j]) * double(x[j] - q[j]);
				l2_held += lower <= l2 * (1 + 1e-5);
				// ip: order() is -<x, q>, its lower bound below it.
				RabitqQuery pi = rabitq_prepare(RabitqForm::ip, q.data(), centre.data(), dim, seed, scratch.data(), table.data());
				rabitq_order_batch(pi, row.data(), 1, row.size(), &est, &lower);
				double ip = dot(x.data(), q.data(), dim);
				ip_held += lower <= -ip + 1e-5 * (1 + std::fabs(ip));
				RabitqQuery p26 = rabitq_prepare(RabitqForm::l2, q.data(), centre.data(), dim, seed, scratch.data(),
				                                 table.data(), 2.6);
				RabitqEstimate e26 = rabitq_estimate(p26, row.data());
				EXPECT_FLOAT_EQ(e26.ip, e.ip);
				held_26 += std::fabs(e26.ip - truth) <= e26.error;
				// Not vacuous: the bound is a small fraction of |v|, the trivial one.
				EXPECT_LT(e.error, 0.5 * std::sqrt(dot(v.data(), v.data(), dim)) * 1.9 / std::sqrt(dim / 64.0));
			}
		}
		EXPECT_GE(held, pairs * 94 / 100) << "dim " << dim;
		EXPECT_GE(near_held, near * 97 / 100) << "dim " << dim;
		EXPECT_GE(l2_held, pairs * 97 / 100) << "dim " << dim;
		EXPECT_GE(ip_held, pairs * 97 / 100) << "dim " << dim;
		EXPECT_GE(held_26, pairs * 99 / 100) << "dim " << dim;
	}
}

TEST(Rabitq, FormsFollowTheMetric)
{
	RabitqForm f;
	EXPECT_TRUE(rabitq_form(Metric::l2, &f));
	EXPECT_EQ(f, RabitqForm::l2);
	EXPECT_TRUE(rabitq_form(Metric::cosine, &f));
	EXPECT_EQ(f, RabitqForm::ip);
	EXPECT_FALSE(rabitq_form(Metric::l1, &f));
}
