// Run-time selection of the distance kernels.
#include "worker/kernels/distance.hpp"

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

namespace detail {
const DistanceKernels &kernels_scalar();
const DistanceKernels &kernels_sse42();
const DistanceKernels &kernels_avx2();
const DistanceKernels &kernels_avx512();
}  // namespace detail

namespace {

// GCC/Clang's CPU model (libgcc) rather than xsimd 8.1's available_architectures(): the latter
// reads CPUID bits only, without checking that the OS saves the YMM/ZMM state (XCR0), and has no
// AVX512VL flag, while the AVX-512 file is compiled with -mavx512f/bw/dq/vl and may use any of them.
bool cpu_supports(Isa isa)
{
	__builtin_cpu_init();  // idempotent; needed if we run before libgcc's own constructor
	switch (isa) {
	case Isa::scalar:
		return true;
	case Isa::sse42:
		return __builtin_cpu_supports("sse4.2");
	case Isa::avx2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case Isa::avx512:
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	return false;
}

// RUVECTOR_ISA=scalar|sse42|avx2|avx512 caps the choice (to test the fallbacks); anything else,
// or nothing, means no cap.
Isa isa_cap()
{
	const char *env = std::getenv("RUVECTOR_ISA");
	for (Isa isa : {Isa::scalar, Isa::sse42, Isa::avx2, Isa::avx512})
		if (env && isa_name(isa) == env)
			return isa;
	return Isa::avx512;
}

const DistanceKernels &table_for(Isa isa)
{
	switch (isa) {
	case Isa::sse42:
		return detail::kernels_sse42();
	case Isa::avx2:
		return detail::kernels_avx2();
	case Isa::avx512:
		return detail::kernels_avx512();
	default:
		return detail::kernels_scalar();
	}
}

const DistanceKernels &select_best()
{
	Isa cap = isa_cap(), best = Isa::scalar;
	for (Isa isa : available_isas())  // ascending
		if (int(isa) <= int(cap))
			best = isa;
	return table_for(best);
}

}  // namespace

std::vector<Isa> available_isas()
{
	std::vector<Isa> out;
	for (Isa isa : {Isa::scalar, Isa::sse42, Isa::avx2, Isa::avx512})
		if (cpu_supports(isa))
			out.push_back(isa);
	return out;
}

std::string_view isa_name(Isa isa) noexcept
{
	switch (isa) {
	case Isa::scalar:
		return "scalar";
	case Isa::sse42:
		return "sse42";
	case Isa::avx2:
		return "avx2";
	case Isa::avx512:
		return "avx512";
	}
	return "unknown";
}

const DistanceKernels &kernels_for(Isa isa)
{
	if (!cpu_supports(isa))
		throw std::runtime_error("this CPU cannot run the " + std::string(isa_name(isa)) + " kernels");
	return table_for(isa);
}

const DistanceKernels &active_kernels() noexcept
{
	static const DistanceKernels &best = select_best();
	return best;
}

double cosine_distance_from_parts(double dot, double norm_product) noexcept
{
	// sqrt(a * b) rather than sqrt(a) * sqrt(b), as pgvector does.
	double similarity = dot / std::sqrt(norm_product);
	if (similarity > 1)
		similarity = 1;
	else if (similarity < -1)
		similarity = -1;
	return 1 - similarity;  // NaN for a zero vector: comparisons with NaN are false
}

double cosine_distance(std::span<const float> a, std::span<const float> b) noexcept
{
	CosineParts p = active_kernels().cosine_parts(a.data(), b.data(), a.size());
	if (std::isfinite(p.dot) && std::isfinite(p.norm_a) && std::isfinite(p.norm_b) && p.norm_a > 0 && p.norm_b > 0)
		return cosine_distance_from_parts(double(p.dot), double(p.norm_a) * double(p.norm_b));

	// The float sums overflowed (components beyond ~1e19) or underflowed to zero (below ~1e-19),
	// where pgvector answers NaN. In double they cannot, so every nonzero finite pair has a
	// distance, the one a cosine ruivfflat index (which normalises in double) orders by.
	double dot = 0, norm_a = 0, norm_b = 0;
	for (std::size_t i = 0; i < a.size(); i++) {
		dot += double(a[i]) * double(b[i]);
		norm_a += double(a[i]) * double(a[i]);
		norm_b += double(b[i]) * double(b[i]);
	}
	return cosine_distance_from_parts(dot, norm_a * norm_b);
}

}  // namespace ruvector::kernels
