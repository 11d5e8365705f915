// Parallel k-means: k-means++ seeding on a sample, then Lloyd iterations whose assignment step is
// GEMM-shaped (||x||^2 - 2 x.c + ||c||^2 over blocks of rows and centroids), split across the TBB
// arena the caller runs in. Results are bit-for-bit deterministic for a given seed, whatever the
// thread count: every block is computed the same way and sums are reduced in a fixed order.
#pragma once
#include "worker/kernels/pg_free.hpp"

#include "worker/kernels/cancel.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ruvector::kernels {

struct KmeansOptions {
	int k = 0;
	int max_iterations = 10;         // Lloyd iterations after seeding; stops early when no point moves
	std::uint64_t seed = 42;
	bool spherical = false;          // cosine / inner product: unit-norm points and centroids
	std::size_t seeding_sample = 0;  // points k-means++ runs on; 0 = min(n, max(10000, 40 k))
};

struct KmeansResult {
	std::vector<float> centroids;     // k * dim, row-major
	std::vector<std::int64_t> sizes;  // points per centroid in the final assignment
	double objective = 0;             // sum of squared L2 distances to the assigned centroid
	int iterations = 0;               // Lloyd updates actually run
};

// data: n rows of dim floats. Requires 1 <= k <= n and dim >= 1 (std::invalid_argument otherwise).
// Spherical mode works on normalised copies; zero vectors stay zero and are still assigned.
KmeansResult kmeans(const float *data, std::size_t n, std::size_t dim, const KmeansOptions &opts,
                    CancelToken cancel = {});

// k-means++ seeding alone (tests run a reference Lloyd from the same seeds). `data` is used as
// given (callers normalise for spherical mode).
std::vector<float> kmeans_plus_plus(const float *data, std::size_t n, std::size_t dim, int k, std::uint64_t seed,
                                    std::size_t sample, CancelToken cancel = {});

// Nearest centroid of every row (parallel). spherical: maximum inner product. dist_out may be null;
// otherwise it receives the squared L2 distance to the chosen centroid.
void assign_nearest(const float *data, std::size_t n, std::size_t dim, const float *centroids, std::size_t k,
                    bool spherical, std::int32_t *labels_out, float *dist_out, CancelToken cancel = {});

}  // namespace ruvector::kernels
