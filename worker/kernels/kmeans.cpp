#include "worker/kernels/kmeans.hpp"

#include "worker/kernels/distance.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

namespace {

constexpr std::size_t kRowBlock = 256;       // rows of X per task
constexpr std::size_t kCentroidBlock = 512;  // centroids per GEMM call (the distance tile stays in L2)

// Run body(begin, end) over [0, n) in fixed chunks: the same chunks whatever the thread count.
template <class Body>
void for_blocks(std::size_t n, std::size_t grain, const CancelToken &cancel, Body body)
{
	tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain),
	                  [&](const tbb::blocked_range<std::size_t> &r) {
		                  cancel.check();
		                  body(r.begin(), r.end());
	                  },
	                  tbb::simple_partitioner());
}

std::vector<float> squared_norms(const float *x, std::size_t n, std::size_t dim, const CancelToken &cancel)
{
	std::vector<float> norms(n);
	const auto &K = active_kernels();
	for_blocks(n, 4096, cancel, [&](std::size_t b, std::size_t e) {
		for (std::size_t i = b; i < e; i++)
			norms[i] = K.inner_product(x + i * dim, x + i * dim, dim);
	});
	return norms;
}

void normalize_rows(float *x, std::size_t n, std::size_t dim)
{
	for (std::size_t i = 0; i < n; i++) {
		double s = 0;
		for (std::size_t j = 0; j < dim; j++)
			s += double(x[i * dim + j]) * x[i * dim + j];
		if (s > 0) {
			float inv = float(1.0 / std::sqrt(s));
			for (std::size_t j = 0; j < dim; j++)
				x[i * dim + j] *= inv;
		}
	}
}

// Labels and squared distances for every row; returns how many labels changed.
std::size_t assign(const float *x, const float *xnorm, std::size_t n, std::size_t dim, const float *c,
                   std::size_t k, std::int32_t *labels, float *dist, const CancelToken &cancel)
{
	std::vector<float> cnorm = squared_norms(c, k, dim, cancel);
	const auto &K = active_kernels();
	std::size_t nblocks = (n + kRowBlock - 1) / kRowBlock;
	std::vector<std::size_t> changed(nblocks, 0);
	for_blocks(n, kRowBlock, cancel, [&](std::size_t b, std::size_t e) {
		std::size_t rows = e - b;
		std::vector<float> tile(rows * std::min(k, kCentroidBlock));
		std::vector<float> best(rows, std::numeric_limits<float>::infinity());
		std::vector<std::int32_t> arg(rows, 0);
		for (std::size_t c0 = 0; c0 < k; c0 += kCentroidBlock) {
			std::size_t cols = std::min(kCentroidBlock, k - c0);
			K.gemm_nt(x + b * dim, dim, c + c0 * dim, dim, tile.data(), cols, rows, cols, dim);
			for (std::size_t r = 0; r < rows; r++) {
				const float *t = tile.data() + r * cols;
				for (std::size_t j = 0; j < cols; j++) {
					float d = xnorm[b + r] - 2 * t[j] + cnorm[c0 + j];
					if (d < best[r]) {
						best[r] = d;
						arg[r] = std::int32_t(c0 + j);
					}
				}
			}
		}
		std::size_t moved = 0;
		for (std::size_t r = 0; r < rows; r++) {
			moved += labels[b + r] != arg[r];
			labels[b + r] = arg[r];
			if (dist)
				dist[b + r] = std::max(best[r], 0.0f);  // the expansion can dip below zero by rounding
		}
		changed[b / kRowBlock] = moved;
	});
	return std::accumulate(changed.begin(), changed.end(), std::size_t(0));
}

// New centroids = means of their members, summed in double in row order (deterministic).
void update_centroids(const float *x, std::size_t n, std::size_t dim, const std::int32_t *labels, std::size_t k,
                      float *c, std::vector<std::int64_t> &sizes, const CancelToken &cancel)
{
	// Counting sort of the rows by label, so each centroid's sum is one sequential pass.
	std::vector<std::size_t> start(k + 1, 0);
	for (std::size_t i = 0; i < n; i++)
		start[std::size_t(labels[i]) + 1]++;
	for (std::size_t j = 0; j < k; j++)
		start[j + 1] += start[j];
	std::vector<std::size_t> members(n), fill(start.begin(), start.end() - 1);
	for (std::size_t i = 0; i < n; i++)
		members[fill[std::size_t(labels[i])]++] = i;

	for_blocks(k, 16, cancel, [&](std::size_t b, std::size_t e) {
		std::vector<double> sum(dim);
		for (std::size_t j = b; j < e; j++) {
			sizes[j] = std::int64_t(start[j + 1] - start[j]);
			if (sizes[j] == 0)
				continue;  // repaired afterwards
			std::fill(sum.begin(), sum.end(), 0.0);
			for (std::size_t m = start[j]; m < start[j + 1]; m++) {
				const float *row = x + members[m] * dim;
				for (std::size_t d = 0; d < dim; d++)
					sum[d] += row[d];
			}
			for (std::size_t d = 0; d < dim; d++)
				c[j * dim + d] = float(sum[d] / double(sizes[j]));
		}
	});
}

// An empty cluster takes half of the largest one: both get its centroid, nudged apart (as FAISS does).
void repair_empty_clusters(float *c, std::size_t dim, std::vector<std::int64_t> &sizes, std::mt19937_64 &rng)
{
	constexpr float kEps = 1.0f / 1024;
	for (std::size_t j = 0; j < sizes.size(); j++) {
		if (sizes[j] != 0)
			continue;
		std::size_t big = std::size_t(std::max_element(sizes.begin(), sizes.end()) - sizes.begin());
		if (sizes[big] < 2)
			return;  // nothing left to split (duplicate points): keep the empty centroid
		for (std::size_t d = 0; d < dim; d++) {
			float v = c[big * dim + d];
			float delta = kEps * (std::fabs(v) + 1e-6f) * ((rng() & 1) ? 1.0f : -1.0f);
			c[j * dim + d] = v + delta;
			c[big * dim + d] = v - delta;
		}
		sizes[j] = sizes[big] / 2;
		sizes[big] -= sizes[j];
	}
}

void check_arguments(std::size_t n, std::size_t dim, int k)
{
	if (n == 0)
		throw std::invalid_argument("k-means needs at least one vector");
	if (dim == 0)
		throw std::invalid_argument("k-means needs vectors of at least one dimension");
	if (k < 1 || std::size_t(k) > n)
		throw std::invalid_argument("k must be between 1 and the number of vectors (" + std::to_string(n) + ")");
}

}  // namespace

std::vector<float> kmeans_plus_plus(const float *data, std::size_t n, std::size_t dim, int k, std::uint64_t seed,
                                    std::size_t sample, CancelToken cancel)
{
	check_arguments(n, dim, k);
	std::mt19937_64 rng(seed);
	if (sample == 0)
		sample = std::max<std::size_t>(10000, 40 * std::size_t(k));
	sample = std::clamp(sample, std::size_t(k), n);

	// A uniform sample without replacement (partial Fisher-Yates), kept in index order.
	std::vector<std::size_t> idx(n);
	std::iota(idx.begin(), idx.end(), 0);
	if (sample < n) {
		for (std::size_t i = 0; i < sample; i++)
			std::swap(idx[i], idx[i + rng() % (n - i)]);
		idx.resize(sample);
		std::sort(idx.begin(), idx.end());
	}
	std::vector<float> pts(sample * dim);
	for (std::size_t i = 0; i < sample; i++)
		std::copy_n(data + idx[i] * dim, dim, pts.begin() + std::ptrdiff_t(i * dim));

	const auto &K = active_kernels();
	std::vector<float> centroids(std::size_t(k) * dim);
	std::vector<float> d2(sample, std::numeric_limits<float>::infinity());
	std::size_t chosen = rng() % sample;
	for (int c = 0; c < k; c++) {
		cancel.check();
		std::copy_n(pts.begin() + std::ptrdiff_t(chosen * dim), dim, centroids.begin() + std::ptrdiff_t(c * dim));
		const float *center = pts.data() + chosen * dim;
		for_blocks(sample, 2048, cancel, [&](std::size_t b, std::size_t e) {
			for (std::size_t i = b; i < e; i++)
				d2[i] = std::min(d2[i], K.l2_squared(pts.data() + i * dim, center, dim));
		});
		if (c + 1 == k)
			break;
		// Next centre with probability proportional to D^2; a plain sequential sum keeps it deterministic.
		double total = 0;
		for (float v : d2)
			total += v;
		if (total <= 0) {
			chosen = rng() % sample;  // every point coincides with a centre: any point will do
			continue;
		}
		double r = std::uniform_real_distribution<double>(0, total)(rng);
		std::size_t i = 0;
		for (double acc = 0; i + 1 < sample; i++) {
			acc += d2[i];
			if (acc > r)
				break;
		}
		chosen = i;
	}
	return centroids;
}

void assign_nearest(const float *data, std::size_t n, std::size_t dim, const float *centroids, std::size_t k,
                    bool spherical, std::int32_t *labels_out, float *dist_out, CancelToken cancel)
{
	const float *x = data;
	std::vector<float> normalized;
	if (spherical) {
		normalized.assign(data, data + n * dim);
		normalize_rows(normalized.data(), n, dim);
		x = normalized.data();
	}
	std::vector<float> xnorm = squared_norms(x, n, dim, cancel);
	std::fill(labels_out, labels_out + n, -1);
	assign(x, xnorm.data(), n, dim, centroids, k, labels_out, dist_out, cancel);
}

KmeansResult kmeans(const float *data, std::size_t n, std::size_t dim, const KmeansOptions &opts, CancelToken cancel)
{
	check_arguments(n, dim, opts.k);
	if (opts.max_iterations < 1)
		throw std::invalid_argument("max_iterations must be at least 1");
	const std::size_t k = std::size_t(opts.k);

	const float *x = data;
	std::vector<float> normalized;
	if (opts.spherical) {
		normalized.assign(data, data + n * dim);
		normalize_rows(normalized.data(), n, dim);
		x = normalized.data();
	}

	KmeansResult r;
	r.centroids = kmeans_plus_plus(x, n, dim, opts.k, opts.seed, opts.seeding_sample, cancel);
	r.sizes.assign(k, 0);
	std::mt19937_64 rng(opts.seed ^ 0x9e3779b97f4a7c15ULL);
	std::vector<float> xnorm = squared_norms(x, n, dim, cancel);
	std::vector<std::int32_t> labels(n, -1);
	std::vector<float> dist(n);

	for (int it = 0; it < opts.max_iterations; it++) {
		std::size_t moved = assign(x, xnorm.data(), n, dim, r.centroids.data(), k, labels.data(), dist.data(), cancel);
		if (it > 0 && moved == 0)
			break;  // converged: the centroids are already the means of this assignment
		update_centroids(x, n, dim, labels.data(), k, r.centroids.data(), r.sizes, cancel);
		repair_empty_clusters(r.centroids.data(), dim, r.sizes, rng);
		if (opts.spherical)
			normalize_rows(r.centroids.data(), k, dim);
		r.iterations = it + 1;
	}
	// The reported sizes and objective belong to the final centroids.
	assign(x, xnorm.data(), n, dim, r.centroids.data(), k, labels.data(), dist.data(), cancel);
	std::fill(r.sizes.begin(), r.sizes.end(), 0);
	r.objective = 0;
	for (std::size_t i = 0; i < n; i++) {
		r.sizes[std::size_t(labels[i])]++;
		r.objective += dist[i];
	}
	return r;
}

}  // namespace ruvector::kernels
