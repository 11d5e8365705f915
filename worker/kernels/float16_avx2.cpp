// Half kernels with F16C conversions and AVX2+FMA arithmetic (flags: see CMakeLists.txt).
#include "worker/kernels/float16_impl.hpp"

namespace ruvector::kernels::detail {

namespace {
using Arch = xsimd::fma3<xsimd::avx2>;
struct Cvt {
	static xsimd::batch<float, Arch> load(const half *p)
	{
		return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
	}
	static void store(half *p, xsimd::batch<float, Arch> v)
	{
		_mm_storeu_si128(reinterpret_cast<__m128i *>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	}
};
}  // namespace

const HalfKernels &half_kernels_avx2()
{
	static const HalfKernels table = simd::HalfKernelsImpl<Arch, Cvt>::table(Isa::avx2);
	return table;
}

}  // namespace ruvector::kernels::detail
