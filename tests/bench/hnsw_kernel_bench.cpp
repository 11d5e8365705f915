// Build time and recall@10 of kernels::hnsw::build() alone (no SQL, no worker), on
// gen_data.py's files, inside a task_arena of each given thread count. The FAISS reference for
// the same data and parameters is `tests/bench/hnsw_faiss.py kernel`; run both in the same session and
// compare ratios (the machine may be shared).
//
//   hnsw_kernel_bench --npy BASE.npy --queries QUERIES.npy [--m 16] [--ef-construction 64]
//                     [--threads 1,2] [--ef 40,100,200] [--k 10] [--n FIRST_ROWS]
#include "tests/bench/npy.hpp"
#include "worker/kernels/distance.hpp"
#include "worker/kernels/hnsw_graph.hpp"

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

using namespace ruvector::kernels;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::size_t> list(const std::string &s)
{
	std::vector<std::size_t> out;
	std::stringstream in(s);
	for (std::string item; std::getline(in, item, ',');)
		out.push_back(std::size_t(std::atoll(item.c_str())));
	return out;
}

// Exact k nearest base rows of each query (squared L2), ascending.
std::vector<std::int64_t> truth(const bench::Dataset &base, const bench::Dataset &q, std::size_t k)
{
	std::vector<std::int64_t> out(q.n * k);
	tbb::parallel_for(std::size_t(0), q.n, [&](std::size_t i) {
		std::vector<std::pair<float, std::int64_t>> d(base.n);
		for (std::size_t j = 0; j < base.n; j++)
			d[j] = {l2_squared({q.x.data() + i * q.dim, q.dim}, {base.x.data() + j * base.dim, base.dim}),
			        std::int64_t(j)};
		std::partial_sort(d.begin(), d.begin() + std::ptrdiff_t(k), d.end());
		for (std::size_t r = 0; r < k; r++)
			out[i * k + r] = d[r].second;
	});
	return out;
}

}  // namespace

int main(int argc, char **argv)
{
	std::string base_path, query_path;
	hnsw::BuildParams p;
	std::vector<std::size_t> threads{1, 2}, efs{40, 100, 200};
	std::size_t k = 10, keep = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		std::string a = argv[i], v = argv[i + 1];
		if (a == "--npy")
			base_path = v;
		else if (a == "--queries")
			query_path = v;
		else if (a == "--seed")
			p.seed = std::uint64_t(std::atoll(v.c_str()));
		else if (a == "--m")
			p.m = std::uint32_t(std::atoi(v.c_str()));
		else if (a == "--ef-construction")
			p.ef_construction = std::uint32_t(std::atoi(v.c_str()));
		else if (a == "--threads")
			threads = list(v);
		else if (a == "--ef")
			efs = list(v);
		else if (a == "--n")
			keep = std::size_t(std::atoll(v.c_str()));
		else if (a == "--k")
			k = std::size_t(std::atoll(v.c_str()));
	}
	if (base_path.empty() || query_path.empty()) {
		std::fprintf(stderr, "usage: %s --npy BASE.npy --queries QUERIES.npy [...]\n", argv[0]);
		return 2;
	}
	bench::Dataset base = bench::read_npy(base_path), queries = bench::read_npy(query_path);
	if (keep && keep < base.n) {  // the first rows only (quicker runs)
		base.n = keep;
		base.x.resize(keep * base.dim);
	}
	const MetricInfo &metric = *find_metric(ElementType::float32, Metric::l2);
	std::vector<std::int64_t> exact = truth(base, queries, k);
	const auto *rows = reinterpret_cast<const std::byte *>(base.x.data());

	std::printf("%zu x %zu, m %u, ef_construction %u, isa %s\n", base.n, base.dim, p.m, p.ef_construction,
	            std::string(isa_name(active_kernels().isa)).c_str());
	std::printf("%-8s %10s %10s", "threads", "build_s", "cpu_s");
	for (std::size_t ef : efs)
		std::printf("  recall@%zu(ef=%zu)", k, ef);
	std::printf("  mean_degree0\n");
	for (std::size_t t : threads) {
		tbb::task_arena arena{int(t)};
		hnsw::Graph g;
		auto t0 = Clock::now();
		std::clock_t c0 = std::clock();
		arena.execute([&] { g = hnsw::build(metric, rows, base.n, base.dim, p, CancelToken()); });
		double secs = std::chrono::duration<double>(Clock::now() - t0).count();
		double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
		std::printf("%-8zu %10.2f %10.2f", t, secs, cpu);
		for (std::size_t ef : efs) {
			std::size_t hit = 0;
			for (std::size_t i = 0; i < queries.n; i++) {
				auto found = hnsw::search(g, metric, rows, base.dim,
				                          reinterpret_cast<const std::byte *>(queries.x.data() + i * queries.dim), k, ef);
				for (const auto &h : found)
					hit += std::count(exact.begin() + std::ptrdiff_t(i * k), exact.begin() + std::ptrdiff_t((i + 1) * k),
					                  h.node);
			}
			std::printf("  %18.4f", double(hit) / double(queries.n * k));
		}
		std::size_t links = 0, bad = 0;
		for (std::size_t i = 0; i < g.size(); i++)
			for (std::uint32_t l = 0; l <= g.levels[i]; l++) {
				auto nbs = g.neighbours(i, l);
				for (std::size_t a = 0; a < nbs.size(); a++) {
					links += l == 0 && nbs[a] >= 0;
					if (nbs[a] >= 0 && (std::size_t(nbs[a]) == i || g.levels[std::size_t(nbs[a])] < l ||
					                    std::count(nbs.begin(), nbs.begin() + std::ptrdiff_t(a), nbs[a])))
						bad++;
				}
			}
		if (bad)
			std::printf("  (%zu bad links)", bad);
		std::printf("  %12.2f\n", double(links) / double(std::max<std::size_t>(g.size(), 1)));
		std::fflush(stdout);
	}
	return 0;
}
