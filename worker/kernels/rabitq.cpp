// RaBitQ rotation, coding and the estimator (rabitq.hpp).
#include "worker/kernels/rabitq.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ruvector::kernels {

namespace {

constexpr int kRotationRounds = 4;

std::uint64_t splitmix64(std::uint64_t &state) noexcept
{
	std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

// Normalised Walsh-Hadamard transform of n (a power of two) floats, in place.
void fwht(float *x, std::size_t n) noexcept
{
	for (std::size_t h = 1; h < n; h *= 2)
		for (std::size_t i = 0; i < n; i += 2 * h)
			for (std::size_t j = i; j < i + h; j++) {
				float a = x[j], b = x[j + h];
				x[j] = a + b;
				x[j + h] = a - b;
			}
	float s = float(1.0 / std::sqrt(double(n)));
	for (std::size_t i = 0; i < n; i++)
		x[i] *= s;
}

std::size_t power_of_two_below(std::size_t n) noexcept
{
	std::size_t b = 1;
	while (b * 2 <= n)
		b *= 2;
	return b;
}

// R applied in place to d (padded) floats.
void rotate_in_place(float *x, std::size_t d, std::uint64_t seed) noexcept
{
	std::size_t b = power_of_two_below(d), half = d / 2;
	const float mix = float(1.0 / std::sqrt(2.0));
	std::uint64_t state = seed;
	for (int round = 0; round < kRotationRounds; round++) {
		for (std::size_t i = 0; i < d; i += 64) {
			std::uint64_t bits = splitmix64(state);
			for (std::size_t k = 0; k < 64; k++)
				if (bits >> k & 1)
					x[i + k] = -x[i + k];
		}
		fwht(x, b);
		if (b < d)
			fwht(x + d - b, b);
		for (std::size_t i = 0; i < half; i++) {
			float p = x[i], q = x[i + half];
			x[i] = (p + q) * mix;
			x[i + half] = (p - q) * mix;
		}
	}
}

}  // namespace

void rabitq_rotate(const float *x, std::size_t dim, std::uint64_t seed, float *out) noexcept
{
	std::size_t d = rabitq_padded_dim(dim);
	std::copy(x, x + dim, out);
	std::fill(out + dim, out + d, 0.0f);
	rotate_in_place(out, d, seed);
}

void rabitq_encode_row(const float *x, const float *centroid, std::size_t dim, std::uint64_t seed, float *scratch,
                       std::byte *row) noexcept
{
	std::size_t d = rabitq_padded_dim(dim);
	double rr = 0;
	for (std::size_t j = 0; j < dim; j++) {
		double e = double(x[j]) - double(centroid[j]);
		rr += e * e;
	}
	float header[3] = {float(std::sqrt(rr)), 0.0f, 0.0f};
	auto *codes = reinterpret_cast<std::uint8_t *>(row + kRabitqRowHeader);
	std::memset(codes, 0, d / 8);
	if (rr > 0) {
		float *residual = scratch;
		for (std::size_t j = 0; j < dim; j++)
			residual[j] = float(double(x[j]) - double(centroid[j]));
		std::fill(residual + dim, residual + d, 0.0f);
		rotate_in_place(residual, d, seed);
		double inv_r = 1.0 / std::sqrt(rr), abs_sum = 0;
		for (std::size_t i = 0; i < d; i++) {
			double u = double(residual[i]) * inv_r;
			abs_sum += std::fabs(u);
			if (u > 0)
				codes[i / 8] |= std::uint8_t(1u << (i % 8));
		}
		double a = abs_sum / std::sqrt(double(d));  // <xb, u>, in (0, 1]
		if (a > 0) {
			header[1] = float(1.0 / a);
			header[2] = float(std::sqrt(std::max(0.0, 1.0 - a * a)) / a);
		}
	}
	std::memcpy(row, header, sizeof header);
}

bool rabitq_form(Metric metric, RabitqForm *form) noexcept
{
	switch (metric) {
	case Metric::l2:
		*form = RabitqForm::l2;
		return true;
	case Metric::ip:
	case Metric::cosine:
		*form = RabitqForm::ip;
		return true;
	default:
		return false;
	}
}

RabitqQuery rabitq_prepare(RabitqForm form, const float *q, const float *centroid, std::size_t dim, std::uint64_t seed,
                           float *scratch, std::uint64_t *planes, double epsilon, const BitwiseKernels &kernels) noexcept
{
	std::size_t d = rabitq_padded_dim(dim);
	double constant = 0;
	float *v = scratch;
	for (std::size_t j = 0; j < dim; j++) {
		if (form == RabitqForm::l2)
			v[j] = float(double(q[j]) - double(centroid[j]));
		else {
			v[j] = q[j];
			constant += double(q[j]) * double(centroid[j]);
		}
	}
	std::fill(v + dim, v + d, 0.0f);
	rotate_in_place(v, d, seed);
	return rabitq_prepare_rotated(form, v, dim, float(constant), planes, epsilon, kernels);
}

RabitqQuery rabitq_prepare_rotated(RabitqForm form, const float *v, std::size_t dim, float constant,
                                   std::uint64_t *planes, double epsilon, const BitwiseKernels &kernels) noexcept
{
	std::size_t d = rabitq_padded_dim(dim), words = d / 64;
	float lo = *std::min_element(v, v + d), hi = *std::max_element(v, v + d);
	constexpr int kTop = (1 << kRabitqQueryBits) - 1;
	float delta = (hi - lo) / kTop, inv = delta > 0 ? 1.0f / delta : 0.0f;
	double vv = 0, ee = 0;
	std::int32_t sum_q = 0;
	for (std::size_t w = 0; w < words; w++) {
		std::uint64_t bits[kRabitqQueryBits] = {};
		for (std::size_t k = 0; k < 64; k++) {
			float x = v[64 * w + k];
			// Nearest of lo + delta * code (x - lo >= 0, so + 0.5 and truncation round it).
			int code = std::min(int((x - lo) * inv + 0.5f), kTop);
			float e = x - (lo + delta * float(code));
			vv += double(x) * double(x);
			ee += double(e) * double(e);
			sum_q += code;
			for (int p = 0; p < kRabitqQueryBits; p++)
				bits[p] |= std::uint64_t((code >> p) & 1) << k;
		}
		for (int p = 0; p < kRabitqQueryBits; p++)
			planes[std::size_t(p) * words + w] = bits[p];
	}
	RabitqQuery out;
	out.form = form;
	out.planes = planes;
	out.words = words;
	out.lo = lo;
	out.delta = delta;
	out.dim = std::int32_t(d);
	out.sum_q = sum_q;
	out.scale = float(1.0 / std::sqrt(double(d)));
	out.bound = float(std::sqrt(vv) * epsilon / std::sqrt(double(d - 1)));
	out.rounding = float(std::sqrt(ee) * epsilon / std::sqrt(double(d)));
	out.constant = form == RabitqForm::l2 ? float(vv) : constant;
	out.counts = kernels.plane_counts;
	return out;
}

namespace {

// The estimate from a row's header and counts.
inline RabitqEstimate estimate_from(const RabitqQuery &q, const float header[3], PlaneCounts c) noexcept
{
	// sum (2 x_i - 1)(lo + delta q_i), from integer counts.
	float sum = q.lo * float(2 * std::int32_t(c.ones) - q.dim) + q.delta * float(2 * std::int32_t(c.weighted) - q.sum_q);
	float xb_v = sum * q.scale;  // <xb, v>
	float model = q.bound * header[2], rounding = q.rounding * header[1];
	return {xb_v * header[1], std::sqrt(model * model + rounding * rounding)};
}

}  // namespace

RabitqEstimate rabitq_estimate(const RabitqQuery &q, const std::byte *row) noexcept
{
	float header[3];
	std::memcpy(header, row, sizeof header);
	PlaneCounts c;
	q.counts(q.planes, row + kRabitqRowHeader, q.words, 1, 0, &c);
	return estimate_from(q, header, c);
}

void rabitq_order_batch(const RabitqQuery &q, const std::byte *rows, std::size_t count, std::size_t stride,
                        float *estimate, float *lower) noexcept
{
	constexpr std::size_t kChunk = 64;
	PlaneCounts counts[kChunk];
	for (std::size_t start = 0; start < count; start += kChunk) {
		std::size_t n = std::min(kChunk, count - start);
		const std::byte *chunk = rows + start * stride;
		q.counts(q.planes, chunk + kRabitqRowHeader, q.words, n, stride, counts);
		for (std::size_t i = 0; i < n; i++) {
			float header[3];
			std::memcpy(header, chunk + i * stride, sizeof header);
			RabitqEstimate e = estimate_from(q, header, counts[i]);
			float r = header[0];
			float *est = estimate + start + i, *low = lower + start + i;
			if (q.form == RabitqForm::l2) {
				*est = r * r + q.constant - 2 * r * e.ip;
				*low = *est - 2 * r * e.error;
			} else {
				*est = -(q.constant + r * e.ip);
				*low = *est - r * e.error;
			}
		}
	}
}

}  // namespace ruvector::kernels
