#include "worker/kernels/knn.hpp"

#include "worker/kernels/distance.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ruvector::kernels {

namespace {

constexpr std::size_t kRowBlock = 128;   // query rows per task
constexpr std::size_t kColBlock = 1024;  // base rows per GEMM call (128 x 1024 floats of C: 512 KB)

// Distances of rows [r0, r1) against base rows [c0, c1) into d (row-major, (r1-r0) x (c1-c0)).
void distance_block(const float *base, std::size_t dim, const MetricInfo &metric, const float *sq_norms, std::size_t r0,
                    std::size_t r1, std::size_t c0, std::size_t c1, float *d)
{
	std::size_t rows = r1 - r0, cols = c1 - c0;
	if (!metric.from_dots) {
		for (std::size_t i = 0; i < rows; i++)
			for (std::size_t j = 0; j < cols; j++)
				d[i * cols + j] = float(metric.distance(as_row(base + (r0 + i) * dim), as_row(base + (c0 + j) * dim), dim));
		return;
	}
	active_kernels().gemm_nt(base + r0 * dim, dim, base + c0 * dim, dim, d, cols, rows, cols, dim);
	for (std::size_t i = 0; i < rows; i++)
		metric.from_dots(d + i * cols, cols, base + (r0 + i) * dim, sq_norms[r0 + i], base + c0 * dim, sq_norms + c0, dim);
}

std::vector<float> squared_norms(const float *base, std::size_t n, std::size_t dim)
{
	std::vector<float> out(n);
	const auto &k = active_kernels();
	tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 4096), [&](const tbb::blocked_range<std::size_t> &r) {
		for (std::size_t i = r.begin(); i < r.end(); i++)
			out[i] = k.inner_product(base + i * dim, base + i * dim, dim);
	});
	return out;
}

void check(const MetricInfo &metric, std::size_t n, std::size_t dim, std::size_t begin, std::size_t end)
{
	if (metric.type != ElementType::float32)
		throw std::invalid_argument("graph building needs float32 rows");
	if (dim == 0)
		throw std::invalid_argument("vectors need at least one dimension");
	if (begin > end || end > n)
		throw std::invalid_argument("row range out of bounds");
	if (n > std::size_t(std::numeric_limits<std::int32_t>::max()))
		throw std::invalid_argument("too many vectors for a graph");
}

// Fixed row blocks, independent of the thread count.
template <class Body>
void for_row_blocks(std::size_t begin, std::size_t end, const CancelToken &cancel, const Body &body)
{
	std::size_t count = (end - begin + kRowBlock - 1) / kRowBlock;
	tbb::parallel_for(
		tbb::blocked_range<std::size_t>(0, count, 1),
		[&](const tbb::blocked_range<std::size_t> &r) {
			for (std::size_t b = r.begin(); b != r.end(); b++) {
				cancel.check();
				std::size_t r0 = begin + b * kRowBlock;
				body(r0, std::min(end, r0 + kRowBlock));
			}
		},
		tbb::simple_partitioner());
}

}  // namespace

void knn_rows(const float *base, std::size_t n, std::size_t dim, const MetricInfo &metric, std::size_t begin,
              std::size_t end, std::size_t k, Neighbor *out, CancelToken cancel)
{
	check(metric, n, dim, begin, end);
	if (k == 0)
		throw std::invalid_argument("k must be at least 1");
	std::vector<float> norms = metric.from_dots ? squared_norms(base, n, dim) : std::vector<float>();
	tbb::enumerable_thread_specific<std::vector<float>> scratch;
	for_row_blocks(begin, end, cancel, [&](std::size_t r0, std::size_t r1) {
		auto &d = scratch.local();
		d.resize(kRowBlock * kColBlock);
		std::size_t rows = r1 - r0;
		Neighbor *res = out + (r0 - begin) * k;
		for (std::size_t i = 0; i < rows * k; i++)
			res[i] = {-1, std::numeric_limits<float>::infinity()};
		for (std::size_t c0 = 0; c0 < n; c0 += kColBlock) {
			std::size_t c1 = std::min(n, c0 + kColBlock), cols = c1 - c0;
			distance_block(base, dim, metric, norms.data(), r0, r1, c0, c1, d.data());
			for (std::size_t i = 0; i < rows; i++) {
				Neighbor *top = res + i * k;  // sorted ascending by (distance, index)
				const float *row = d.data() + i * cols;
				for (std::size_t j = 0; j < cols; j++) {
					float dist = row[j];
					std::int32_t idx = std::int32_t(c0 + j);
					if (std::size_t(idx) == r0 + i || std::isnan(dist))
						continue;
					const Neighbor &worst = top[k - 1];
					if (!(dist < worst.distance || (dist == worst.distance && worst.index >= 0 && idx < worst.index) ||
					      worst.index < 0))
						continue;
					// Insert, keeping the order.
					std::size_t pos = k - 1;
					while (pos > 0 && (top[pos - 1].index < 0 || dist < top[pos - 1].distance ||
					                   (dist == top[pos - 1].distance && idx < top[pos - 1].index))) {
						top[pos] = top[pos - 1];
						pos--;
					}
					top[pos] = {idx, dist};
				}
			}
		}
	});
}

std::vector<EpsEdge> eps_rows(const float *base, std::size_t n, std::size_t dim, const MetricInfo &metric,
                              std::size_t begin, std::size_t end, float eps, std::size_t max_edges, CancelToken cancel)
{
	check(metric, n, dim, begin, end);
	if (!(eps >= 0))
		throw std::invalid_argument("epsilon must be at least 0");
	std::vector<float> norms = metric.from_dots ? squared_norms(base, n, dim) : std::vector<float>();
	std::size_t blocks = (end - begin + kRowBlock - 1) / kRowBlock;
	std::vector<std::vector<EpsEdge>> per_block(blocks);
	std::atomic<std::size_t> total{0};
	std::atomic<bool> over{false};
	tbb::enumerable_thread_specific<std::vector<float>> scratch;
	for_row_blocks(begin, end, cancel, [&](std::size_t r0, std::size_t r1) {
		if (over.load(std::memory_order_relaxed))
			return;
		auto &d = scratch.local();
		d.resize(kRowBlock * kColBlock);
		std::vector<EpsEdge> &edges = per_block[(r0 - begin) / kRowBlock];
		std::size_t rows = r1 - r0;
		for (std::size_t c0 = 0; c0 < n; c0 += kColBlock) {
			std::size_t c1 = std::min(n, c0 + kColBlock), cols = c1 - c0;
			distance_block(base, dim, metric, norms.data(), r0, r1, c0, c1, d.data());
			for (std::size_t i = 0; i < rows; i++)
				for (std::size_t j = 0; j < cols; j++)
					if (c0 + j != r0 + i && d[i * cols + j] <= eps)
						edges.push_back({std::uint32_t(c0 + j), std::uint32_t(r0 + i), d[i * cols + j]});
			if (total.load(std::memory_order_relaxed) + edges.size() > max_edges) {
				over = true;
				return;
			}
		}
		// Within a block, order by dst then src (the column blocks were visited in order per row).
		std::stable_sort(edges.begin(), edges.end(), [](const EpsEdge &a, const EpsEdge &b) { return a.dst < b.dst; });
		if (total.fetch_add(edges.size()) + edges.size() > max_edges)
			over = true;
	});
	if (over)
		throw std::length_error("more pairs are within epsilon than max_edges allows");
	std::vector<EpsEdge> out;
	out.reserve(total);
	for (auto &b : per_block)
		out.insert(out.end(), b.begin(), b.end());
	return out;
}

}  // namespace ruvector::kernels
