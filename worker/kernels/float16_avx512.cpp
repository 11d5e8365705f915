// Half kernels with AVX-512F conversions (vcvtph2ps/vcvtps2ph on 16 lanes; flags: CMakeLists.txt).
#include "worker/kernels/float16_impl.hpp"

namespace ruvector::kernels::detail {

namespace {
using Arch = xsimd::avx512f;
struct Cvt {
	static xsimd::batch<float, Arch> load(const half *p)
	{
		// The masked forms: GCC 12's unmasked ones start from an "undefined" register it then warns about.
		return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
	}
	static void store(half *p, xsimd::batch<float, Arch> v)
	{
		_mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_maskz_cvtps_ph(0xFFFF, v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	}
};
}  // namespace

const HalfKernels &half_kernels_avx512()
{
	static const HalfKernels table = simd::HalfKernelsImpl<Arch, Cvt>::table(Isa::avx512);
	return table;
}

}  // namespace ruvector::kernels::detail
