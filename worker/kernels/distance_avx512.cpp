// Distance kernels for AVX-512 (see CMakeLists.txt for the flags of *_avx512.cpp).
// The GEMM uses 512-bit registers. The pair and batch kernels are the AVX2 ones, called through
// their table: at typical dimensions (128-1536) the 512-bit horizontal sum at the end of every row
// costs more than the wider loads save (tests/bench/kernel_bench: 37 vs 19 GB/s at d=128).
#include "worker/kernels/distance_impl.hpp"

namespace ruvector::kernels::detail {

const DistanceKernels &kernels_avx2();

const DistanceKernels &kernels_avx512()
{
	static const DistanceKernels table = [] {
		DistanceKernels t = kernels_avx2();
		t.isa = Isa::avx512;
		t.gemm_nt = simd::Kernels<xsimd::avx512f>::gemm_nt;
		return t;
	}();
	return table;
}

}  // namespace ruvector::kernels::detail
