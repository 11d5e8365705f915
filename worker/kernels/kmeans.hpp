// Parallel k-means: k-means++ seeding on a sample, then Lloyd iterations.
//
// Assignment is GEMM-shaped: ||x||^2 - 2 x.c + ||c||^2 over blocks of rows against blocks of
// centroids (the distance table's gemm_nt), split across the TBB arena the caller runs in. After
// the first pass, Hamerly bounds (an upper bound on the distance to the own centroid, a lower
// bound on the distance to every other one, both moved by how far the centroids moved) let most
// points keep their list without any distance computed; only the others go through the GEMM.
// From 512 dimensions on, with k <= 256 and n * k <= 16M, Elkan's bounds (one lower bound per
// point and centroid) replace Hamerly's: there, distances crowd together and one lower bound
// settles almost nothing.
//
// Results are bit-for-bit deterministic for a given seed, whatever the thread count: work is cut
// into fixed blocks, each block is computed the same way, and sums are reduced in a fixed order.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "worker/kernels/cancel.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ruvector::kernels {

struct KmeansOptions {
	int k = 0;
	int max_iterations = 10;         // Lloyd iterations after seeding (>= 1); stops early when no point moves
	std::uint64_t seed = 42;
	bool spherical = false;          // cosine / inner product: unit-norm points and centroids, max dot
	std::size_t seeding_sample = 0;  // points k-means++ runs on (clamped to [k, n]); 0 = max(10000, 16 k)
};

struct KmeansResult {
	std::vector<float> centroids;     // k * dim, row-major
	std::vector<std::int64_t> sizes;  // points per centroid in the final assignment
	double objective = 0;             // sum of squared L2 distances to the assigned centroid
	int iterations = 0;               // Lloyd updates actually run
};

// data: n rows of dim floats, contiguous. Requires 1 <= k <= n, dim >= 1 and finite values
// (std::invalid_argument otherwise). The final assignment is the nearest centroid of every point,
// and sizes / objective describe it. Any finite floats work: L2 data whose squared norms would
// overflow float (components from 2^42 up) or underflow (all below 2^-40) is clustered on a copy
// scaled by a power of two, so the result is that of the scaled data, scaled back (centroids stay
// within the data's range).
//
// Spherical mode works on an L2-normalised copy of the data and keeps centroids unit-norm (the
// objective is then measured on the normalised points). Zero vectors stay zero: they are
// assigned (and counted in sizes) but add nothing to a centroid's direction, and are never
// chosen as seeds; a list holding only zero vectors keeps its previous centroid.
KmeansResult kmeans(const float *data, std::size_t n, std::size_t dim, const KmeansOptions &opts,
                    CancelToken cancel = {});

// k-means++ seeding alone, exactly as kmeans() seeds (tests run a reference Lloyd from the same
// seeds). sample = 0 picks the automatic size; spherical normalises the sampled points first.
std::vector<float> kmeans_plus_plus(const float *data, std::size_t n, std::size_t dim, int k, std::uint64_t seed,
                                    std::size_t sample, bool spherical, CancelToken cancel = {});

// Nearest centroid of every row (parallel); ties go to the lower centroid number.
// L2: minimum squared distance, dist_out = squared L2 distance.
// spherical: maximum inner product with the rows as given, dist_out = 1 - dot (the cosine distance
// when rows and centroids are unit-norm). dist_out may be null.
void assign_nearest(const float *data, std::size_t n, std::size_t dim, const float *centroids, std::size_t k,
                    bool spherical, std::int32_t *labels_out, float *dist_out, CancelToken cancel = {});

// The largest |component| of n rows of dim floats (parallel; 0 for no rows).
float max_abs(const float *x, std::size_t n, std::size_t dim, const CancelToken &cancel);

}  // namespace ruvector::kernels
