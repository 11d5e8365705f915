#include "worker/kernels/sparse.hpp"

#include "worker/kernels/distance.hpp"

#include <cmath>
#include <cstddef>

namespace ruvector::kernels {

namespace {

// Walk both index lists in ascending order: on_a(x) for an index only a has, on_b(y) for one only
// b has, on_both(x, y) for a shared one.
template <class OnA, class OnB, class OnBoth>
void merge(SparseView a, SparseView b, OnA on_a, OnB on_b, OnBoth on_both)
{
	std::size_t i = 0, j = 0;
	const std::size_t na = a.indices.size(), nb = b.indices.size();
	while (i < na && j < nb) {
		if (a.indices[i] < b.indices[j])
			on_a(a.values[i++]);
		else if (a.indices[i] > b.indices[j])
			on_b(b.values[j++]);
		else
			on_both(a.values[i++], b.values[j++]);
	}
	for (; i < na; i++)
		on_a(a.values[i]);
	for (; j < nb; j++)
		on_b(b.values[j]);
}

}  // namespace

float sparse_l2_squared(SparseView a, SparseView b) noexcept
{
	float d = 0;
	auto one = [&](float x) { d += x * x; };
	merge(a, b, one, one, [&](float x, float y) {
		float diff = x - y;
		d += diff * diff;
	});
	return d;
}

float sparse_inner_product(SparseView a, SparseView b) noexcept
{
	float d = 0;
	auto none = [](float) {};
	merge(a, b, none, none, [&](float x, float y) { d += x * y; });
	return d;
}

float sparse_l1(SparseView a, SparseView b) noexcept
{
	float d = 0;
	auto one = [&](float x) { d += std::fabs(x); };
	merge(a, b, one, one, [&](float x, float y) { d += std::fabs(x - y); });
	return d;
}

double sparse_cosine_distance(SparseView a, SparseView b) noexcept
{
	float dot = sparse_inner_product(a, b), norm_a = 0, norm_b = 0;
	for (float x : a.values)
		norm_a += x * x;
	for (float y : b.values)
		norm_b += y * y;
	if (std::isfinite(dot) && std::isfinite(norm_a) && std::isfinite(norm_b) && norm_a > 0 && norm_b > 0)
		return cosine_distance_from_parts(double(dot), double(norm_a) * double(norm_b));

	// Overflowed or underflowed float sums: redo them in double, where finite floats cannot.
	double ddot = 0, dna = 0, dnb = 0;
	auto none = [](float) {};
	merge(a, b, none, none, [&](float x, float y) { ddot += double(x) * double(y); });
	for (float x : a.values)
		dna += double(x) * double(x);
	for (float y : b.values)
		dnb += double(y) * double(y);
	return cosine_distance_from_parts(ddot, dna * dnb);
}

double sparse_l2_norm(std::span<const float> values) noexcept
{
	double norm = 0;
	for (float x : values)
		norm += double(x) * double(x);
	return std::sqrt(norm);
}

}  // namespace ruvector::kernels
