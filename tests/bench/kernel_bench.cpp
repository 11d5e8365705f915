// Kernel throughput against the machine's memory bandwidth, single-threaded: memcpy GB/s, then for
// every ISA the one-to-many L2 scan (GB/s of vector data; once over a 100k x 128 table that does
// not fit in cache, once over a 1000 x 128 slice that stays in L2) and gemm_nt GFLOP/s for the
// k-means assignment shape (4096 points x 1000 centroids x 128 dims).
#include "worker/kernels/distance.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace ruvector::kernels;
using Clock = std::chrono::steady_clock;

template <class F>
double median_seconds(int reps, F f)
{
	std::vector<double> t;
	for (int r = 0; r < reps; r++) {
		auto a = Clock::now();
		f();
		t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
	}
	std::sort(t.begin(), t.end());
	return t[t.size() / 2];
}

int main()
{
	const std::size_t bytes = std::size_t(512) << 20;
	std::vector<char> src(bytes, 1), dst(bytes, 0);
	double copy = median_seconds(5, [&] { std::memcpy(dst.data(), src.data(), bytes); });
	std::printf("memcpy 512 MB: %.1f GB/s copied (%.1f GB/s read+write)\n\n", bytes / copy / 1e9,
	            2.0 * bytes / copy / 1e9);
	src = {};
	dst = {};

	const std::size_t n = 100000, dim = 128, hot = 1000;
	std::vector<float> rows(n * dim), q(dim), out(n);
	std::mt19937 rng(1);
	std::uniform_real_distribution<float> u(-1, 1);
	for (float &v : rows)
		v = u(rng);
	for (float &v : q)
		v = u(rng);
	const std::size_t m = 4096, kc = 1000;
	std::vector<float> A(m * dim), B(kc * dim), C(m * kc);
	for (float &v : A)
		v = u(rng);
	for (float &v : B)
		v = u(rng);

	std::printf("%-8s %18s %18s %14s\n", "isa", "l2 scan 51MB GB/s", "l2 scan 512KB GB/s", "gemm GFLOP/s");
	for (Isa isa : available_isas()) {
		const DistanceKernels &K = kernels_for(isa);
		double cold = median_seconds(9, [&] { K.l2_squared_batch(q.data(), rows.data(), n, dim, dim, out.data()); });
		double warm = median_seconds(51, [&] {
			for (int r = 0; r < 20; r++)
				K.l2_squared_batch(q.data(), rows.data(), hot, dim, dim, out.data());
		});
		double gemm = median_seconds(5, [&] { K.gemm_nt(A.data(), dim, B.data(), dim, C.data(), kc, m, kc, dim); });
		std::printf("%-8s %18.1f %18.1f %14.1f\n", std::string(isa_name(isa)).c_str(), n * dim * 4 / cold / 1e9,
		            20.0 * hot * dim * 4 / warm / 1e9, 2.0 * m * kc * dim / gemm / 1e9);
	}
	return 0;
}
