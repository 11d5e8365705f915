// Distance kernels compiled for sse42 (see CMakeLists.txt for the flags of *_sse.cpp).
#include "worker/kernels/distance_impl.hpp"

namespace ruvector::kernels::detail {

const DistanceKernels &kernels_sse42()
{
	static const DistanceKernels table = simd::Kernels<xsimd::sse4_2>::table(Isa::sse42);
	return table;
}

}  // namespace ruvector::kernels::detail
