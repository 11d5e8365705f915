// Distance kernels compiled for AVX2 with FMA (see CMakeLists.txt for the flags of *_avx2.cpp).
#include "worker/kernels/distance_impl.hpp"

namespace ruvector::kernels::detail {

const DistanceKernels &kernels_avx2()
{
	static const DistanceKernels table = simd::Kernels<xsimd::fma3<xsimd::avx2>>::table(Isa::avx2);
	return table;
}

}  // namespace ruvector::kernels::detail
