// Wall time and objective of kernels::kmeans() alone (no SQL, no worker), on the benchmark's
// clustered recipe, inside a task_arena of 1 and of 2 threads. The FAISS reference for the same
// shape (faiss.Kmeans, 2 threads, all points, 10 iterations) is tests/bench/kmeans_faiss.py.
//
//   kmeans_bench [--npy FILE] [--n ROWS] [--seeding POINTS] [--iters N] [--reps N] [--k K]...
//
// --n keeps a uniform sample of ROWS rows (seed 7), the shape an index build trains on
// (256 rows per list, as FAISS). --seeding sets the k-means++ sample (default: the kernel's own);
// --iters the Lloyd iterations (default 10, as FAISS; an index build runs up to 25).
//
// Without --npy the data is generated here: n = 100000, d = 128, 1000 Gaussian centres ~ N(0, 10²),
// noise 1.25, seed 42 (the recipe of gen_data.py, with the C++ standard generators instead of
// numpy's, so the points differ but the shape is the same). --npy reads a float32 (n, d) array,
// e.g. tests/bench/data/clustered_100k_128.npy, to time exactly the data FAISS sees.
#include "tests/bench/npy.hpp"
#include "worker/kernels/kmeans.hpp"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ruvector::kernels;
using bench::Dataset;
using bench::read_npy;
using Clock = std::chrono::steady_clock;

namespace {

Dataset generate(std::size_t n, std::size_t dim, std::size_t clusters, float noise, std::uint64_t seed)
{
	std::mt19937_64 rng(seed);
	std::normal_distribution<float> g(0.0f, 1.0f);
	std::vector<float> centres(clusters * dim);
	for (float &v : centres)
		v = 10.0f * g(rng);
	Dataset d{std::vector<float>(n * dim), n, dim};
	for (std::size_t i = 0; i < n; i++) {
		const float *c = centres.data() + (rng() % clusters) * dim;
		for (std::size_t j = 0; j < dim; j++)
			d.x[i * dim + j] = c[j] + noise * g(rng);
	}
	return d;
}

template <class F>
double best_seconds(int reps, F f)
{
	double best = 1e300;
	for (int r = 0; r < reps; r++) {
		auto t0 = Clock::now();
		f();
		best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
	}
	return best;
}

}  // namespace

int main(int argc, char **argv)
{
	std::string npy;
	int reps = 3;
	std::vector<int> ks;
	std::size_t keep = 0, seeding_points = 0;
	int iters = 10;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (a == "--npy" && i + 1 < argc)
			npy = argv[++i];
		else if (a == "--reps" && i + 1 < argc)
			reps = std::max(1, std::atoi(argv[++i]));
		else if (a == "--n" && i + 1 < argc)
			keep = std::size_t(std::atoll(argv[++i]));
		else if (a == "--seeding" && i + 1 < argc)
			seeding_points = std::size_t(std::atoll(argv[++i]));
		else if (a == "--iters" && i + 1 < argc)
			iters = std::max(1, std::atoi(argv[++i]));
		else if (a == "--k" && i + 1 < argc)
			ks.push_back(std::atoi(argv[++i]));
		else {
			std::fprintf(stderr, "usage: %s [--npy FILE] [--n ROWS] [--seeding POINTS] [--iters N] [--reps N] [--k K]...\n", argv[0]);
			return 2;
		}
	}
	if (ks.empty())
		ks = {100, 1000};

	try {
		Dataset d = npy.empty() ? generate(100000, 128, 1000, 1.25f, 42) : read_npy(npy);
		if (keep > 0 && keep < d.n) {
			std::mt19937_64 rng(7);
			std::vector<std::size_t> idx(d.n);
			for (std::size_t i = 0; i < d.n; i++)
				idx[i] = i;
			std::shuffle(idx.begin(), idx.end(), rng);
			idx.resize(keep);
			std::sort(idx.begin(), idx.end());
			std::vector<float> x(keep * d.dim);
			for (std::size_t i = 0; i < keep; i++)
				std::copy_n(d.x.data() + idx[i] * d.dim, d.dim, x.data() + i * d.dim);
			d.x = std::move(x);
			d.n = keep;
		}
		std::printf("data: %s, n = %zu, d = %zu; up to %d iterations, all points, best of %d\n",
		            npy.empty() ? "generated (1000 clusters, noise 1.25, seed 42)" : npy.c_str(), d.n, d.dim, iters, reps);
		std::printf("%-6s %-8s %10s %10s %8s %16s\n", "k", "threads", "total_s", "seeding_s", "iters", "objective");
		for (int k : ks) {
			for (int threads : {1, 2}) {
				tbb::task_arena arena(threads);
				KmeansOptions o;
				o.k = k;
				o.max_iterations = iters;
				o.seed = 42;
				o.seeding_sample = seeding_points;
				KmeansResult r;
				double total = best_seconds(reps, [&] { arena.execute([&] { r = kmeans(d.x.data(), d.n, d.dim, o); }); });
				double seeding = best_seconds(reps, [&] {
					arena.execute([&] { kmeans_plus_plus(d.x.data(), d.n, d.dim, k, o.seed, seeding_points, false); });
				});
				std::printf("%-6d %-8d %10.3f %10.3f %8d %16.6e\n", k, threads, total, seeding, r.iterations,
				            r.objective);
				std::fflush(stdout);
			}
		}
	} catch (const std::exception &e) {
		std::fprintf(stderr, "kmeans_bench: %s\n", e.what());
		return 1;
	}
	return 0;
}
