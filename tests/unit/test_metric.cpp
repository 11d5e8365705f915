// The metric table: lookups round-trip, codes are unique and keep the values indexes store, and
// every entry's kernels agree with a double-precision reference.
#include "worker/kernels/metric.hpp"

#include "worker/kernels/bitwise.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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
	case Metric::hamming:
		return l2;  // 0/1 rows: the count of differing elements
	case Metric::jaccard: {
		// 0/1 rows: |a & b| = ip, |a| + |b| = na + nb; 1 when no bit is set in either (pgvector)
		double either = na + nb - ip;
		return either == 0 ? 1.0 : 1 - ip / either;
	}
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
		EXPECT_NE(find_metric(ElementType::float32, m.train_as), nullptr);
		EXPECT_TRUE(find_metric(ElementType::float32, m.train_as)->kmeans);
		EXPECT_EQ(m.as_float32().type, ElementType::float32);
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

// A row in an entry's element type, and the float values it holds (the reference's input).
struct Row {
	std::vector<std::byte> bytes;
	std::vector<float> values;
};

Row make_row(const MetricInfo &m, std::vector<float> v)
{
	Row r;
	r.bytes.resize(m.row_bytes(v.size()));
	m.element().from_float(v.data(), r.bytes.data(), v.size());
	r.values.resize(v.size());
	m.element().to_float(r.bytes.data(), r.values.data(), v.size());
	return r;
}

// distance, order, order_batch, from_order and from_dots of every entry (float32 and float16)
// against the reference on the values the rows hold.
TEST(MetricTable, KernelsMatchDoubleReference)
{
	std::mt19937 rng(7);
	for (const MetricInfo &m : metric_table()) {
		for (std::size_t dim : {1, 2, 3, 7, 16, 17, 64, 100, 257, 1000}) {
			SCOPED_TRACE(label(m) + " dim " + std::to_string(dim));
			Row ra = make_row(m, random_row(dim, rng)), rb = make_row(m, random_row(dim, rng));
			const auto &a = ra.values;
			double want = reference(m.metric, a, rb.values);
			double tol = 1e-5 * (1 + std::fabs(want)) * std::sqrt(double(dim));
			EXPECT_NEAR(m.distance(ra.bytes.data(), rb.bytes.data(), dim), want, tol);

			// Prepared rows: order() ranks as the operator does and from_order() gives it back
			// (within the stored type's rounding of the normalised rows).
			Row pa = ra, pb = rb;
			if (m.normalise) {
				ASSERT_TRUE(m.normalise_row(pa.bytes.data(), dim));
				ASSERT_TRUE(m.normalise_row(pb.bytes.data(), dim));
				m.element().to_float(pa.bytes.data(), pa.values.data(), dim);
			}
			double ptol = tol + (m.normalise ? 4 * m.element().unit : 0);
			float order = m.order(pa.bytes.data(), pb.bytes.data(), dim);
			EXPECT_NEAR(m.from_order(order), want, ptol);

			// The batch form: exactly order() of each row, rows a padded stride apart.
			std::size_t count = 5, stride = m.row_bytes(dim + 3);
			std::vector<std::byte> rows(count * stride, std::byte{0x7b});
			std::vector<Row> each;
			for (std::size_t i = 0; i < count; i++) {
				each.push_back(make_row(m, random_row(dim, rng)));
				if (m.normalise) {
					m.normalise_row(each.back().bytes.data(), dim);
					m.element().to_float(each.back().bytes.data(), each.back().values.data(), dim);
				}
				std::copy(each.back().bytes.begin(), each.back().bytes.end(), rows.begin() + std::ptrdiff_t(i * stride));
			}
			std::vector<float> out(count);
			std::vector<std::byte> q(m.batch_query_bytes(dim));
			m.batch_query(pa.bytes.data(), q.data(), dim);
			m.order_batch(q.data(), rows.data(), count, dim, stride, out.data());
			for (std::size_t i = 0; i < count; i++) {
				EXPECT_EQ(out[i], m.order(pa.bytes.data(), each[i].bytes.data(), dim));
				EXPECT_NEAR(m.from_order(out[i]), reference(m.metric, pa.values, each[i].values), ptol);
			}

			// Graph distances from a dot-product table, on prepared rows (float32 only).
			if (m.from_dots) {
				ASSERT_EQ(m.type, ElementType::float32);
				std::vector<float> d(count), norms(count);
				std::vector<float> packed;
				for (std::size_t i = 0; i < count; i++) {
					d[i] = float(dot(pa.values, each[i].values));
					norms[i] = float(dot(each[i].values, each[i].values));
					packed.insert(packed.end(), each[i].values.begin(), each[i].values.end());
				}
				m.from_dots(d.data(), count, pa.values.data(), float(dot(pa.values, pa.values)), packed.data(),
				            norms.data(), dim);
				for (std::size_t i = 0; i < count; i++)
					EXPECT_NEAR(d[i], reference(m.metric, pa.values, each[i].values), 1e-3 * (1 + std::sqrt(double(dim))));
			}
		}
	}
}

// The float16 rows order exactly as the halfvec operators compute (the same half kernels), and
// their codes carry the element type while float32 codes stay the plain metric values.
TEST(MetricTable, Float16Rows)
{
	for (Metric metric : {Metric::l2, Metric::ip, Metric::cosine, Metric::l1}) {
		const MetricInfo *h = find_metric(ElementType::float16, metric);
		ASSERT_NE(h, nullptr);
		const MetricInfo &f = h->as_float32();
		EXPECT_EQ(f.type, ElementType::float32);
		EXPECT_EQ(f.metric, metric);
		EXPECT_EQ(f.code(), unsigned(metric));
		EXPECT_EQ(h->code(), 0x100u | unsigned(metric));
		EXPECT_EQ(find_metric_code(h->code()), h);
		EXPECT_EQ(find_metric_code(f.code()), &f);
		EXPECT_EQ(h->normalise, f.normalise);
		EXPECT_EQ(h->spherical, f.spherical);
		EXPECT_EQ(h->train_as, f.train_as);
		EXPECT_EQ(h->from_dots, nullptr);
		EXPECT_EQ(h->row_bytes(5), 10u);
	}
	EXPECT_EQ(find_metric_code(0x105u), nullptr);
	EXPECT_EQ(find_metric_code(0x10001u), nullptr);
	EXPECT_EQ(std::string_view(find_metric(ElementType::float16, Metric::cosine)->opclass), "halfvec_cosine_ops");
	EXPECT_EQ(std::string_view(element_info(ElementType::float16).sql_type), "halfvec");

	// The order of l2 / ip / l1 is the operator's own float sum (exactly, not approximately).
	std::mt19937 rng(11);
	for (std::size_t dim : {1, 3, 15, 16, 17, 100, 1536}) {
		SCOPED_TRACE("dim " + std::to_string(dim));
		const MetricInfo &l2 = *find_metric(ElementType::float16, Metric::l2);
		Row a = make_row(l2, random_row(dim, rng)), b = make_row(l2, random_row(dim, rng));
		for (Metric metric : {Metric::l2, Metric::ip, Metric::l1}) {
			const MetricInfo &m = *find_metric(ElementType::float16, metric);
			float o = m.order(a.bytes.data(), b.bytes.data(), dim);
			EXPECT_EQ(m.from_order(o), m.distance(a.bytes.data(), b.bytes.data(), dim));
		}
	}

	// Cosine rows are normalised as pgvector's l2_normalize(halfvec): the norm in double, each
	// element divided in double, rounded to float, then to half.
	const MetricInfo &cos = *find_metric(ElementType::float16, Metric::cosine);
	for (std::size_t dim : {1, 4, 33, 1000}) {
		Row r = make_row(cos, random_row(dim, rng));
		double n = std::sqrt(dot(r.values, r.values));
		std::vector<float> want(dim);
		for (std::size_t i = 0; i < dim; i++)
			want[i] = float(r.values[i] / n);
		Row w = make_row(cos, want);
		ASSERT_TRUE(cos.normalise_row(r.bytes.data(), dim));
		std::size_t differ = 0;
		for (std::size_t i = 0; i < dim; i++) {
			float got;
			cos.element().to_float(r.bytes.data() + 2 * i, &got, 1);
			// v * (1 / n) and v / n may differ in the float's last bit, rarely the half's.
			EXPECT_NEAR(got, w.values[i], std::fabs(w.values[i]) / 1024 + 1e-7) << i;
			differ += got != w.values[i];
		}
		EXPECT_LE(differ, dim / 100 + 1);
	}
}

TEST(MetricTable, NormaliserGivesUnitNorm)
{
	std::mt19937 rng(3);
	for (const MetricInfo &m : metric_table())
		for (std::size_t dim : {1, 5, 128, 1536}) {
			if (!m.normalise_row) {
				EXPECT_EQ(m.type, ElementType::bit);
				continue;
			}
			SCOPED_TRACE(label(m) + " dim " + std::to_string(dim));
			Row v = make_row(m, random_row(dim, rng));
			ASSERT_TRUE(m.normalise_row(v.bytes.data(), dim));
			m.element().to_float(v.bytes.data(), v.values.data(), dim);
			EXPECT_NEAR(dot(v.values, v.values), 1.0, m.type == ElementType::float32 ? 1e-5 : 4e-3);
			Row zero = make_row(m, std::vector<float>(dim, 0.0f));
			auto before = zero.bytes;
			EXPECT_FALSE(m.normalise_row(zero.bytes.data(), dim));
			EXPECT_EQ(zero.bytes, before);
		}
	// Extreme but finite components: the sum is in double, so nothing overflows.
	std::vector<float> big{3e38f, -3e38f, 1e-38f};
	ASSERT_TRUE(normalize_f32(big.data(), big.size()));
	EXPECT_NEAR(dot(big, big), 1.0, 1e-6);
	std::vector<float> tiny{1e-45f, 0, 0};
	ASSERT_TRUE(normalize_f32(tiny.data(), tiny.size()));
	EXPECT_EQ(tiny[0], 1.0f);
}

// Bit rows: PostgreSQL's bit layout (first dimension in the high bit, padding zero), the distance
// and order are exactly the popcount of the XOR on every popcount ISA, the float form is 0/1
// (squared L2 between float forms = Hamming, so lists rank as <~>), centroids round by majority
// (> 0.5), rows hold up to 65152 bits in 8144 bytes, and the value header is VarBit's.
TEST(MetricTable, BitRows)
{
	const MetricInfo *h = find_metric(ElementType::bit, Metric::hamming);
	ASSERT_NE(h, nullptr);
	EXPECT_EQ(h->code(), 0x205u);
	EXPECT_EQ(find_metric_code(0x205u), h);
	EXPECT_EQ(find_metric(ElementType::bit, "hamming"), h);
	EXPECT_EQ(std::string_view(h->opclass), "bit_hamming_ops");
	EXPECT_EQ(std::string_view(h->sql_operator), "<~>");
	EXPECT_FALSE(h->normalise || h->spherical);
	const MetricInfo &f = h->as_float32();
	EXPECT_EQ(f.type, ElementType::float32);
	EXPECT_EQ(f.metric, Metric::l2);
	EXPECT_EQ(h->train_as, Metric::l2);
	const ElementInfo &e = h->element();
	EXPECT_TRUE(e.round_centroids);
	EXPECT_FALSE(element_info(ElementType::float32).round_centroids || element_info(ElementType::float16).round_centroids);
	EXPECT_EQ(std::string_view(e.sql_type), "bit");
	EXPECT_EQ(h->row_bytes(1), 1u);
	EXPECT_EQ(h->row_bytes(8), 1u);
	EXPECT_EQ(h->row_bytes(9), 2u);
	EXPECT_EQ(h->row_bytes(64000), 8000u);
	EXPECT_EQ(e.dims_in(8144), 65152u);
	EXPECT_EQ(element_info(ElementType::float16).dims_in(8144), 4072u);
	EXPECT_EQ(element_info(ElementType::float32).dims_in(8144), 2036u);

	// Layout: B'101' is 0xA0; from_float sets bits above 0.5 only, padding zero.
	std::vector<float> v{1, 0, 1};
	std::vector<std::byte> row(1, std::byte{0xff});
	e.from_float(v.data(), row.data(), 3);
	EXPECT_EQ(row[0], std::byte{0xA0});
	std::vector<float> means{0.5f, 0.51f, 0.49f, 1.0f, 0.0f, 0.75f, 0.25f, 0.5001f, 0.9f};
	std::vector<std::byte> c(2);
	e.from_float(means.data(), c.data(), means.size());
	EXPECT_EQ(c[0], std::byte{0b01010101});
	EXPECT_EQ(c[1], std::byte{0b10000000});
	std::vector<float> back(9);
	e.to_float(c.data(), back.data(), 9);
	EXPECT_EQ(back, (std::vector<float>{0, 1, 0, 1, 0, 1, 0, 1, 1}));

	// VarBit header: int32 bit length after the varlena length.
	std::byte value[12] = {};
	std::int32_t len = 70000;
	std::memcpy(value + 4, &len, 4);
	EXPECT_EQ(e.value_dims(value), 70000);
	EXPECT_EQ(e.value_header, 8u);

	std::mt19937 rng(5);
	for (std::size_t dim : {1, 7, 8, 9, 63, 64, 65, 500, 1536, 64000}) {
		SCOPED_TRACE("dim " + std::to_string(dim));
		std::bernoulli_distribution bit(0.5);
		std::vector<float> fa(dim), fb(dim);
		std::uint64_t want = 0;
		for (std::size_t j = 0; j < dim; j++) {
			fa[j] = float(bit(rng));
			fb[j] = float(bit(rng));
			want += fa[j] != fb[j];
		}
		std::vector<std::byte> a(h->row_bytes(dim)), b(h->row_bytes(dim));
		e.from_float(fa.data(), a.data(), dim);
		e.from_float(fb.data(), b.data(), dim);
		std::vector<float> ta(dim);
		e.to_float(a.data(), ta.data(), dim);
		EXPECT_EQ(ta, fa);
		auto *ua = reinterpret_cast<const std::uint8_t *>(a.data());
		auto *ub = reinterpret_cast<const std::uint8_t *>(b.data());
		for (PopcountIsa isa : available_popcount_isas())
			EXPECT_EQ(bitwise_kernels_for(isa).hamming(ua, ub, a.size()), want) << popcount_isa_name(isa);
		EXPECT_EQ(h->distance(a.data(), b.data(), dim), double(want));
		EXPECT_EQ(h->order(a.data(), b.data(), dim), float(want));
		EXPECT_EQ(h->from_order(h->order(a.data(), b.data(), dim)), double(want));
		// The float form ranks lists: squared L2 of the 0/1 rows is the Hamming distance.
		EXPECT_EQ(f.order(as_row(fa.data()), as_row(fb.data()), dim), float(want));
		std::vector<float> batch(2);
		std::vector<std::byte> rows(2 * a.size());
		std::copy(a.begin(), a.end(), rows.begin());
		std::copy(b.begin(), b.end(), rows.begin() + std::ptrdiff_t(a.size()));
		h->order_batch(b.data(), rows.data(), 2, dim, a.size(), batch.data());
		EXPECT_EQ(batch[0], float(want));
		EXPECT_EQ(batch[1], 0.0f);
	}
}

// Sparse rows: a sparsevec after its varlena header, sized by the row itself. Rows with mostly
// zero elements (the generic tests above cover dense ones) against the double reference, exactly
// the sparsevec operators' kernels, and pgvector's l2_normalize (values that underflow leave).
TEST(MetricTable, SparseRows)
{
	const ElementInfo &e = element_info(ElementType::sparse);
	EXPECT_EQ(e.type, ElementType::sparse);
	EXPECT_EQ(std::string_view(e.sql_type), "sparsevec");
	EXPECT_TRUE(e.variable_size());
	EXPECT_FALSE(element_info(ElementType::float32).variable_size() || element_info(ElementType::bit).variable_size());
	EXPECT_EQ(e.row_bytes(0), 12u);
	EXPECT_EQ(e.row_bytes(1000), 8012u);      // every element non-zero: the largest row
	EXPECT_EQ(e.dims_in(8012), 1000u);
	EXPECT_EQ(e.dims_in(8), 0u);
	EXPECT_EQ(e.value_header, 4u);
	std::byte value[16] = {};
	std::int32_t d = 1000000000;
	std::memcpy(value + 4, &d, 4);
	EXPECT_EQ(e.value_dims(value), 1000000000);
	for (Metric metric : {Metric::l2, Metric::ip, Metric::cosine, Metric::l1}) {
		const MetricInfo *m = find_metric(ElementType::sparse, metric);
		ASSERT_NE(m, nullptr);
		EXPECT_EQ(m->code(), 0x300u | unsigned(metric));
		EXPECT_EQ(find_metric_code(m->code()), m);
		EXPECT_FALSE(m->kmeans);  // no ivfflat for sparsevec, as pgvector
		EXPECT_EQ(m->normalise, metric == Metric::cosine);
		EXPECT_EQ(m->from_dots, nullptr);
		EXPECT_EQ(std::string_view(m->opclass), "sparsevec_" + std::string(m->name) + "_ops");
	}
	EXPECT_EQ(find_metric(ElementType::sparse, Metric::hamming), nullptr);

	std::mt19937 rng(13);
	std::bernoulli_distribution nonzero(0.1);
	auto sparse_row = [&](std::size_t dim) {
		std::vector<float> v = random_row(dim, rng);
		for (float &x : v)
			if (!nonzero(rng))
				x = 0;
		return v;
	};
	for (std::size_t dim : {1, 2, 10, 100, 1000, 20000}) {
		SCOPED_TRACE("dim " + std::to_string(dim));
		std::vector<float> fa = sparse_row(dim), fb = sparse_row(dim);
		std::size_t nnz = 0;
		for (float x : fa)
			nnz += x != 0;
		Row a = make_row(*find_metric(ElementType::sparse, Metric::l2), fa);
		Row b = make_row(*find_metric(ElementType::sparse, Metric::l2), fb);
		EXPECT_EQ(a.values, fa);
		EXPECT_EQ(e.row_size(a.bytes.data()), 12 + 8 * nnz);
		EXPECT_EQ(e.size_of(a.bytes.data(), dim), 12 + 8 * nnz);
		std::int32_t header[3];
		std::memcpy(header, a.bytes.data(), sizeof header);
		EXPECT_EQ(header[0], std::int32_t(dim));
		EXPECT_EQ(header[1], std::int32_t(nnz));
		EXPECT_EQ(header[2], 0);
		for (Metric metric : {Metric::l2, Metric::ip, Metric::cosine, Metric::l1}) {
			const MetricInfo &m = *find_metric(ElementType::sparse, metric);
			SCOPED_TRACE(label(m));
			double want = reference(metric, fa, fb);
			if (std::isnan(want)) {  // a zero row under cosine
				EXPECT_TRUE(std::isnan(m.distance(a.bytes.data(), b.bytes.data(), dim)));
				continue;
			}
			double tol = 1e-5 * (1 + std::fabs(want)) * std::sqrt(double(dim));
			EXPECT_NEAR(m.distance(a.bytes.data(), b.bytes.data(), dim), want, tol);
			// Rows packed one after another in a stride that holds the largest of them.
			std::size_t stride = std::max(a.bytes.size(), b.bytes.size());
			std::vector<std::byte> rows(2 * stride);
			std::copy(a.bytes.begin(), a.bytes.end(), rows.begin());
			std::copy(b.bytes.begin(), b.bytes.end(), rows.begin() + std::ptrdiff_t(stride));
			Row pa = a, pb = b;
			if (m.normalise && !(m.normalise_row(pa.bytes.data(), dim) && m.normalise_row(pb.bytes.data(), dim)))
				continue;
			float o = m.order(pa.bytes.data(), pb.bytes.data(), dim);
			EXPECT_NEAR(m.from_order(o), want, tol + 4 * e.unit);
			std::vector<float> out(2);
			m.order_batch(a.bytes.data(), rows.data(), 2, dim, stride, out.data());
			EXPECT_EQ(out[0], m.order(a.bytes.data(), a.bytes.data(), dim));
			EXPECT_EQ(out[1], m.order(a.bytes.data(), b.bytes.data(), dim));
		}
	}

	// l2_normalize: values divided by the double norm; one that underflows to zero leaves the row.
	const MetricInfo &cos = *find_metric(ElementType::sparse, Metric::cosine);
	std::vector<float> v(5, 0.0f);
	v[1] = 3e38f;
	v[3] = 1e-45f;
	v[4] = -3e38f;
	Row r = make_row(cos, v);
	ASSERT_EQ(e.row_size(r.bytes.data()), 12u + 3 * 8);
	ASSERT_TRUE(cos.normalise_row(r.bytes.data(), 5));
	EXPECT_EQ(e.row_size(r.bytes.data()), 12u + 2 * 8);
	std::vector<float> back(5);
	e.to_float(r.bytes.data(), back.data(), 5);
	double x = double(3e38f);
	float h = float(x / std::sqrt(2 * x * x));
	EXPECT_EQ(back, (std::vector<float>{0, h, 0, 0, -h}));
}
