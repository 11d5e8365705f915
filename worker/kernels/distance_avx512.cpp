// Distance kernels compiled for AVX-512 (see CMakeLists.txt for the flags of *_avx512.cpp).
#include "worker/kernels/distance_impl.hpp"

namespace ruvector::kernels::detail {

const DistanceKernels &kernels_avx512()
{
	static const DistanceKernels table = simd::Kernels<xsimd::avx512f>::table(Isa::avx512);
	return table;
}

}  // namespace ruvector::kernels::detail
