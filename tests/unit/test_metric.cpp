// The metric table: lookups round-trip, codes are unique and keep the values indexes store, and
// every entry's kernels agree with a double-precision reference.
#include "worker/kernels/metric.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace ruvector::kernels;

namespace {

std::vector<float> random_row(std::size_t dim, std::mt19937 &rng)
{
	std::uniform_real_distribution<float> u(-2.0f, 2.0f);
	std::vector<float> v(dim);
	for (float &x : v)
		x = u(rng);
	return v;
}

// The operator's distance, in double.
double reference(Metric m, const std::vector<float> &a, const std::vector<float> &b)
{
	double l2 = 0, ip = 0, l1 = 0, na = 0, nb = 0;
	for (std::size_t i = 0; i < a.size(); i++) {
		double x = a[i], y = b[i];
		l2 += (x - y) * (x - y);
		ip += x * y;
		l1 += std::fabs(x - y);
		na += x * x;
		nb += y * y;
	}
	switch (m) {
	case Metric::l2:
		return std::sqrt(l2);
	case Metric::ip:
		return -ip;
	case Metric::cosine:
		return 1 - ip / std::sqrt(na * nb);
	case Metric::l1:
		return l1;
	}
	return NAN;
}

double dot(const std::vector<float> &a, const std::vector<float> &b)
{
	double s = 0;
	for (std::size_t i = 0; i < a.size(); i++)
		s += double(a[i]) * b[i];
	return s;
}

std::string label(const MetricInfo &m) { return std::string(m.name) + " type " + std::to_string(int(m.type)); }

}  // namespace

TEST(MetricTable, LookupsRoundTrip)
{
	ASSERT_FALSE(metric_table().empty());
	for (const MetricInfo &m : metric_table()) {
		SCOPED_TRACE(label(m));
		EXPECT_EQ(find_metric(m.type, m.metric), &m);
		EXPECT_EQ(find_metric(m.type, m.name), &m);
		EXPECT_EQ(find_metric_code(m.type, unsigned(m.metric)), &m);
		EXPECT_EQ(&metric_info(m.type, m.metric), &m);
		if (*m.alias) {
			EXPECT_EQ(find_metric(m.type, m.alias), &m);
		}
		EXPECT_NE(find_metric(m.type, m.train_as), nullptr);
		EXPECT_TRUE(find_metric(m.type, m.train_as)->kmeans);
	}
	EXPECT_EQ(find_metric(ElementType::float32, "inner_product"), find_metric(ElementType::float32, Metric::ip));
	EXPECT_EQ(find_metric(ElementType::float32, "L2"), nullptr);
	EXPECT_EQ(find_metric(ElementType::float32, ""), nullptr);
	EXPECT_EQ(find_metric_code(ElementType::float32, 0), nullptr);
	EXPECT_EQ(find_metric_code(ElementType::float32, 5), nullptr);
	EXPECT_THROW(metric_info(ElementType::float32, Metric(0)), std::invalid_argument);
}

// The codes are what ruivfflat meta pages and support functions have always stored.
TEST(MetricTable, CodesAreUniqueAndStable)
{
	EXPECT_EQ(unsigned(Metric::l2), 1u);
	EXPECT_EQ(unsigned(Metric::ip), 2u);
	EXPECT_EQ(unsigned(Metric::cosine), 3u);
	EXPECT_EQ(unsigned(Metric::l1), 4u);
	std::set<std::pair<int, int>> keys;
	std::set<std::pair<int, std::string>> names, operators, opclasses;
	for (const MetricInfo &m : metric_table()) {
		EXPECT_TRUE(keys.insert({int(m.type), int(m.metric)}).second) << label(m);
		EXPECT_TRUE(names.insert({int(m.type), std::string(m.name)}).second) << label(m);
		EXPECT_TRUE(operators.insert({int(m.type), std::string(m.sql_operator)}).second) << label(m);
		EXPECT_TRUE(opclasses.insert({0, std::string(m.opclass)}).second) << label(m);
	}
	for (Metric m : {Metric::l2, Metric::ip, Metric::cosine, Metric::l1})
		EXPECT_NE(find_metric(ElementType::float32, m), nullptr);
}

TEST(MetricTable, Properties)
{
	auto f = [](Metric m) { return *find_metric(ElementType::float32, m); };
	EXPECT_TRUE(f(Metric::cosine).normalise);
	EXPECT_FALSE(f(Metric::l2).normalise || f(Metric::ip).normalise || f(Metric::l1).normalise);
	EXPECT_TRUE(f(Metric::cosine).spherical && f(Metric::ip).spherical);
	EXPECT_FALSE(f(Metric::l2).spherical || f(Metric::l1).spherical);
	EXPECT_FALSE(f(Metric::l1).kmeans);
	EXPECT_EQ(f(Metric::l1).train_as, Metric::l2);
	EXPECT_EQ(f(Metric::l1).from_dots, nullptr);
	EXPECT_EQ(std::string_view(f(Metric::l2).sql_operator), "<->");
	EXPECT_EQ(std::string_view(f(Metric::cosine).opclass), "vector_cosine_ops");
	EXPECT_EQ(f(Metric::l2).row_bytes(3), 3 * sizeof(float));
}

// distance, order, order_batch, from_order and from_dots of every entry against the reference.
TEST(MetricTable, KernelsMatchDoubleReference)
{
	std::mt19937 rng(7);
	for (const MetricInfo &m : metric_table()) {
		ASSERT_EQ(m.type, ElementType::float32);  // the float32 reference below
		for (std::size_t dim : {1, 2, 3, 7, 16, 17, 64, 100, 257, 1000}) {
			SCOPED_TRACE(label(m) + " dim " + std::to_string(dim));
			auto a = random_row(dim, rng), b = random_row(dim, rng);
			double want = reference(m.metric, a, b);
			double tol = 1e-5 * (1 + std::fabs(want)) * std::sqrt(double(dim));
			EXPECT_NEAR(m.distance(as_row(a.data()), as_row(b.data()), dim), want, tol);

			// Prepared rows: order() ranks as the operator does and from_order() gives it back.
			std::vector<float> pa = a, pb = b;
			if (m.normalise) {
				ASSERT_TRUE(m.normalise_row(as_row(pa.data()), dim));
				ASSERT_TRUE(m.normalise_row(as_row(pb.data()), dim));
			}
			float order = m.order(as_row(pa.data()), as_row(pb.data()), dim);
			EXPECT_NEAR(m.from_order(order), want, tol);

			// The batch form: exactly order() of each row, rows a padded stride apart.
			std::size_t count = 5, stride = dim + 3;
			std::vector<float> rows(count * stride, 1e30f);
			std::vector<std::vector<float>> each;
			for (std::size_t i = 0; i < count; i++) {
				each.push_back(random_row(dim, rng));
				if (m.normalise)
					m.normalise_row(as_row(each.back().data()), dim);
				std::copy(each.back().begin(), each.back().end(), rows.begin() + std::ptrdiff_t(i * stride));
			}
			std::vector<float> out(count);
			m.order_batch(as_row(pa.data()), as_row(rows.data()), count, dim, stride * sizeof(float), out.data());
			for (std::size_t i = 0; i < count; i++) {
				EXPECT_NEAR(out[i], m.order(as_row(pa.data()), as_row(each[i].data()), dim), 1e-5 * (1 + std::fabs(out[i])));
				EXPECT_NEAR(m.from_order(out[i]), reference(m.metric, pa, each[i]), tol);
			}

			// Graph distances from a dot-product table, on prepared rows.
			if (m.from_dots) {
				std::vector<float> d(count), norms(count);
				std::vector<float> packed;
				for (std::size_t i = 0; i < count; i++) {
					d[i] = float(dot(pa, each[i]));
					norms[i] = float(dot(each[i], each[i]));
					packed.insert(packed.end(), each[i].begin(), each[i].end());
				}
				m.from_dots(d.data(), count, pa.data(), float(dot(pa, pa)), packed.data(), norms.data(), dim);
				for (std::size_t i = 0; i < count; i++)
					EXPECT_NEAR(d[i], reference(m.metric, pa, each[i]), 1e-3 * (1 + std::sqrt(double(dim))));
			}
		}
	}
}

TEST(MetricTable, NormaliserGivesUnitNorm)
{
	std::mt19937 rng(3);
	for (const MetricInfo &m : metric_table())
		for (std::size_t dim : {1, 5, 128, 1536}) {
			SCOPED_TRACE(label(m) + " dim " + std::to_string(dim));
			auto v = random_row(dim, rng);
			ASSERT_TRUE(m.normalise_row(as_row(v.data()), dim));
			EXPECT_NEAR(dot(v, v), 1.0, 1e-5);
			std::vector<float> zero(dim, 0.0f);
			EXPECT_FALSE(m.normalise_row(as_row(zero.data()), dim));
			EXPECT_EQ(zero, std::vector<float>(dim, 0.0f));
		}
	// Extreme but finite components: the sum is in double, so nothing overflows.
	std::vector<float> big{3e38f, -3e38f, 1e-38f};
	ASSERT_TRUE(normalize_f32(big.data(), big.size()));
	EXPECT_NEAR(dot(big, big), 1.0, 1e-6);
	std::vector<float> tiny{1e-45f, 0, 0};
	ASSERT_TRUE(normalize_f32(tiny.data(), tiny.size()));
	EXPECT_EQ(tiny[0], 1.0f);
}
