// SQ8 training, coding, the scalar reference kernels and run-time selection (sq8.hpp).
#include "worker/kernels/sq8.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

namespace detail {
const Sq8Kernels &sq8_kernels_avx2();
const Sq8Kernels &sq8_kernels_avx512();
Sq8DotKernel sq8_dot_avx512_bw();
Sq8DotKernel sq8_dot_avx512_vnni();  // null when the CPU lacks VNNI
}  // namespace detail

namespace {

std::int64_t dot_scalar(const std::int16_t *w, const std::uint8_t *codes, std::size_t n)
{
	std::int64_t s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += std::int64_t(w[i]) * codes[i];
	return s;
}

float l1_scalar(const float *a, const float *step, const std::uint8_t *codes, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += std::fabs(a[i] - float(codes[i]) * step[i]);
	return s;
}

const Sq8Kernels kScalar{Isa::scalar, dot_scalar, l1_scalar};

const Sq8Kernels &table_for(Isa isa)
{
	switch (isa) {
	case Isa::avx512:
		return detail::sq8_kernels_avx512();
	case Isa::avx2:
		return detail::sq8_kernels_avx2();
	default:
		return kScalar;
	}
}

}  // namespace

const Sq8Kernels &sq8_kernels_for(Isa isa)
{
	kernels_for(isa);  // throws when the CPU cannot run it
	return table_for(isa);
}

std::vector<std::pair<std::string_view, Sq8DotKernel>> sq8_dot_kernels()
{
	std::vector<std::pair<std::string_view, Sq8DotKernel>> out{{"scalar", kScalar.dot}};
	for (Isa isa : available_isas()) {
		if (isa == Isa::avx2)
			out.emplace_back("avx2", detail::sq8_kernels_avx2().dot);
		if (isa == Isa::avx512) {
			out.emplace_back("avx512bw", detail::sq8_dot_avx512_bw());
			if (Sq8DotKernel vnni = detail::sq8_dot_avx512_vnni())
				out.emplace_back("avx512vnni", vnni);
		}
	}
	return out;
}

const Sq8Kernels &active_sq8_kernels() noexcept
{
	static const Sq8Kernels &best = table_for(active_kernels().isa);
	return best;
}

void sq8_range_init(float *vmin, float *vmax, std::size_t dim) noexcept
{
	std::fill(vmin, vmin + dim, std::numeric_limits<float>::infinity());
	std::fill(vmax, vmax + dim, -std::numeric_limits<float>::infinity());
}

void sq8_range_add(const float *row, float *vmin, float *vmax, std::size_t dim) noexcept
{
	for (std::size_t j = 0; j < dim; j++) {
		vmin[j] = std::min(vmin[j], row[j]);
		vmax[j] = std::max(vmax[j], row[j]);
	}
}

void sq8_range_finish(float *vmin, const float *vmax, float *step, std::size_t dim) noexcept
{
	for (std::size_t j = 0; j < dim; j++) {
		if (vmin[j] > vmax[j]) {  // no row
			vmin[j] = -1;
			step[j] = 2.0f / kSq8Levels;
			continue;
		}
		// In double: vmax - vmin of two finite floats can exceed FLT_MAX.
		step[j] = float((double(vmax[j]) - double(vmin[j])) / kSq8Levels);
		if (!std::isfinite(step[j]))
			step[j] = std::numeric_limits<float>::max() / kSq8Levels;
	}
}

void sq8_encode(const float *x, const float *vmin, const float *step, std::uint8_t *codes, std::size_t dim) noexcept
{
	for (std::size_t j = 0; j < dim; j++) {
		double c = step[j] > 0 ? std::nearbyint((double(x[j]) - double(vmin[j])) / double(step[j])) : 0.0;
		codes[j] = std::uint8_t(std::clamp(c, 0.0, double(kSq8Levels)));  // NaN never reaches here (rows are finite)
	}
}

void sq8_decode(const std::uint8_t *codes, const float *vmin, const float *step, float *x, std::size_t dim) noexcept
{
	for (std::size_t j = 0; j < dim; j++)
		x[j] = vmin[j] + float(codes[j]) * step[j];
}

void sq8_encode_row(const float *x, const float *vmin, const float *step, std::byte *row, std::size_t dim) noexcept
{
	auto *codes = reinterpret_cast<std::uint8_t *>(row + kSq8RowHeader);
	sq8_encode(x, vmin, step, codes, dim);
	double norm = 0;
	for (std::size_t j = 0; j < dim; j++) {
		double v = double(vmin[j]) + double(codes[j]) * double(step[j]);
		norm += v * v;
	}
	float n = float(norm);
	std::memcpy(row, &n, sizeof n);
}

bool sq8_clamp_exceeds_rounding(const float *x, const float *vmin, const float *step, std::size_t dim) noexcept
{
	double clamp = 0, rounding = 0;
	for (std::size_t j = 0; j < dim; j++) {
		double lo = vmin[j], hi = double(vmin[j]) + double(kSq8Levels) * double(step[j]);
		double excess = x[j] < lo ? lo - x[j] : x[j] > hi ? x[j] - hi : 0.0;
		clamp += excess * excess;
		rounding += 0.25 * double(step[j]) * double(step[j]);
	}
	return clamp > rounding;
}

bool sq8_form(Metric metric, Sq8Form *form) noexcept
{
	switch (metric) {
	case Metric::l2:
		*form = Sq8Form::l2;
		return true;
	case Metric::ip:
	case Metric::cosine:
		*form = Sq8Form::ip;
		return true;
	case Metric::l1:
		*form = Sq8Form::l1;
		return true;
	default:
		return false;
	}
}

Sq8Query sq8_prepare(Sq8Form form, const float *q, const float *vmin, const float *step, float *a, std::int16_t *w,
                     std::size_t dim) noexcept
{
	Sq8Query out{form, a, w, 0.0f, step, 0.0f, dim};
	if (form != Sq8Form::l1) {
		double k = 0, qq = 0, top = 0;
		for (std::size_t j = 0; j < dim; j++) {
			a[j] = q[j] * step[j];
			k += double(q[j]) * double(vmin[j]);
			qq += double(q[j]) * double(q[j]);
			top = std::max(top, std::fabs(double(a[j])));
		}
		out.constant = float(form == Sq8Form::l2 ? qq - 2 * k : k);
		double scale = top / kSq8WeightMax;
		for (std::size_t j = 0; j < dim; j++)
			w[j] = scale > 0 ? std::int16_t(std::lround(double(a[j]) / scale)) : std::int16_t(0);
		out.w_scale = float(scale);
	} else {
		for (std::size_t j = 0; j < dim; j++)
			a[j] = q[j] - vmin[j];
	}
	return out;
}

void sq8_order_batch(const Sq8Query &q, const std::byte *rows, std::size_t count, std::size_t stride,
                     float *out) noexcept
{
	const Sq8Kernels &k = active_sq8_kernels();
	switch (q.form) {
	case Sq8Form::l2:
		for (std::size_t i = 0; i < count; i++) {
			const std::byte *row = rows + i * stride;
			float norm;
			std::memcpy(&norm, row, sizeof norm);
			out[i] = q.constant - float(2 * double(q.w_scale) * double(k.dot(q.w, sq8_row_codes(row), q.dim))) + norm;
		}
		break;
	case Sq8Form::ip:
		for (std::size_t i = 0; i < count; i++)
			out[i] = -(q.constant + float(double(q.w_scale) * double(k.dot(q.w, sq8_row_codes(rows + i * stride), q.dim))));
		break;
	case Sq8Form::l1:
		for (std::size_t i = 0; i < count; i++)
			out[i] = k.l1(q.a, q.step, sq8_row_codes(rows + i * stride), q.dim);
		break;
	}
}

}  // namespace ruvector::kernels
