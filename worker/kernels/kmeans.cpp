#include "worker/kernels/kmeans.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/metric.hpp"
#include "worker/kernels/parallel.hpp"

#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ruvector::kernels {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Block sizes. A GEMM call multiplies kGemmRows points by kGemmCols centroids: at d = 128 the
// row block (128 KB), the centroid block (128 KB) and the product tile (256 KB) share L2.
constexpr std::size_t kGemmRows = 256;
constexpr std::size_t kGemmCols = 256;
constexpr std::size_t kBoundBlock = 1024;  // points per task when bounds decide who needs the GEMM
constexpr std::size_t kRowBlock = 2048;    // points per task in one-distance-per-point passes
constexpr std::size_t kSumChunk = 2048;    // members per partial sum in the centroid update
constexpr float kSplitEps = 1.0f / 1024;   // relative nudge when an empty list takes half of another
constexpr std::size_t kElkanBounds = std::size_t(16) << 20;  // most per-centroid bounds kept (64 MB)
constexpr std::size_t kElkanDim = 512;  // Elkan's bounds from this dimension on, Hamerly's below

template <class T>
std::unique_ptr<T[]> scratch(std::size_t count)
{
	return std::make_unique_for_overwrite<T[]>(count);  // filled before read: skip the zeroing
}

double uniform01(std::mt19937_64 &rng)
{
	return double(rng() >> 11) * 0x1.0p-53;  // our own mapping: the same on every standard library
}

void check_arguments(std::size_t n, std::size_t dim, int k)
{
	if (n == 0)
		throw std::invalid_argument("k-means needs at least one vector");
	if (dim == 0)
		throw std::invalid_argument("vectors must have at least one dimension");
	if (k < 1 || std::size_t(k) > n)
		throw std::invalid_argument("k must be between 1 and the number of vectors (" + std::to_string(n) + ")");
}

// ---- Range -------------------------------------------------------------------------------------
// L2 assignment expands ||x||^2 - 2 x.c + ||c||^2 in float, which overflows once components
// reach ~1e19 and underflows to 0 below ~1e-19, while the vector type accepts any finite float.
// Such data runs on a copy scaled by 2^-shift: multiplying by a power of two is exact (short of
// components far below the largest, which may lose low bits), so every distance, seed and
// assignment is the same one, only scaled. Centroids, means of their members, scale back into the
// members' (finite) range.
constexpr int kSafeExponent = 42;   // |component| < 2^42: ||x||^2 <= 16000 * 2^84 < 2^98
constexpr int kTinyExponent = -40;  // all |component| < 2^-40: squares near float's smallest

}  // namespace

float max_abs(const float *x, std::size_t n, std::size_t dim, const CancelToken &cancel)
{
	std::vector<float> part((n + kRowBlock - 1) / kRowBlock, 0.0f);
	for_blocks(n, kRowBlock, cancel, [&](std::size_t b, std::size_t lo, std::size_t hi) {
		float m = 0;
		for (std::size_t i = lo * dim; i < hi * dim; i++)
			m = std::max(m, std::fabs(x[i]));
		part[b] = m;
	});
	return part.empty() ? 0.0f : *std::max_element(part.begin(), part.end());
}

namespace {

// The shift that brings the largest component below 2^kSafeExponent, or tiny data up to [0.5, 1);
// 0 for ordinary data, all-zero data and non-finite data (which the caller rejects).
int range_shift(float largest)
{
	if (!std::isfinite(largest) || largest == 0)
		return 0;
	if (largest >= std::ldexp(1.0f, kSafeExponent))
		return std::ilogb(largest) + 1 - kSafeExponent;
	if (largest < std::ldexp(1.0f, kTinyExponent))
		return std::ilogb(largest) + 1;
	return 0;
}

std::vector<float> scaled_copy(const float *x, std::size_t n, std::size_t dim, int shift, const CancelToken &cancel)
{
	std::vector<float> out(n * dim);
	for_blocks(n, kRowBlock, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		for (std::size_t i = lo * dim; i < hi * dim; i++)
			out[i] = std::ldexp(x[i], -shift);
	});
	return out;
}

// ---- Nearest two centroids through the GEMM ---------------------------------------------------

// Centroids as the assignment sees them: score(x, j) = term[j] - 2 x.c_j, so that ||x||^2 + score
// is the squared distance. L2: term = ||c||^2. Max inner product: term = 1 for all, which makes
// the argmin the argmax of the dot product (and the squared distance exact for unit centroids).
struct Centroids {
	const float *data;
	std::size_t k;
	std::vector<float> term;
};

Centroids make_centroids(const float *c, std::size_t k, std::size_t dim, bool max_dot)
{
	Centroids cs{c, k, std::vector<float>(k, 1.0f)};
	if (!max_dot) {
		const auto &K = active_kernels();
		for (std::size_t j = 0; j < k; j++)
			cs.term[j] = K.inner_product(c + j * dim, c + j * dim, dim);
	}
	return cs;
}

struct Best2 {
	float s1 = kInf;  // smallest score
	float s2 = kInf;  // second smallest (equal to s1 on a tie)
	std::int32_t j1 = 0;
};

inline void push2(float v, float &m1, float &m2)
{
	if (v < m1) {
		m2 = m1;
		m1 = v;
	} else if (v < m2) {
		m2 = v;
	}
}

// Turns one row of products x.c (centroids c0 .. c0+cols) into scores in place and folds its two
// smallest into best; ties go to the lowest centroid number.
void fold_row(float *t, const float *term, std::size_t cols, std::size_t c0, Best2 &best)
{
	float m1 = kInf, m2 = kInf;
	std::size_t j = 0;
#if defined(__SSE2__)
	// Per-lane two smallest; the row's two smallest are among the lanes' (baseline SSE2: this file
	// is compiled for any x86-64, the wide kernels live behind the distance table).
	__m128 v1 = _mm_set1_ps(kInf), v2 = v1;
	for (; j + 4 <= cols; j += 4) {
		__m128 p = _mm_loadu_ps(t + j);
		__m128 s = _mm_sub_ps(_mm_loadu_ps(term + j), _mm_add_ps(p, p));
		_mm_storeu_ps(t + j, s);
		v2 = _mm_min_ps(v2, _mm_max_ps(v1, s));
		v1 = _mm_min_ps(v1, s);
	}
	alignas(16) std::array<float, 8> lanes;
	_mm_store_ps(lanes.data(), v1);
	_mm_store_ps(lanes.data() + 4, v2);
	for (float v : lanes)
		push2(v, m1, m2);
#endif
	for (; j < cols; j++) {
		float s = term[j] - (t[j] + t[j]);
		t[j] = s;
		push2(s, m1, m2);
	}
	if (m1 < best.s1) {
		std::size_t at = 0;
		while (t[at] != m1)  // m1 is one of the stored scores, bit for bit
			at++;
		best.s2 = std::min(best.s1, m2);
		best.s1 = m1;
		best.j1 = std::int32_t(c0 + at);
	} else {
		best.s2 = std::min(best.s2, m1);
	}
}

// The two best centroids of the m (<= kGemmRows) contiguous rows x, through gemm_nt tiles.
void nearest2(const float *x, std::size_t m, std::size_t dim, const Centroids &c, std::span<Best2> best, float *tile,
              const CancelToken &cancel)
{
	const auto &K = active_kernels();
	std::fill(best.begin(), best.begin() + std::ptrdiff_t(m), Best2{});
	for (std::size_t c0 = 0; c0 < c.k; c0 += kGemmCols) {
		if (c0 > 0)
			cancel.check();  // a block against many centroids is long: poll inside it too
		std::size_t cols = std::min(kGemmCols, c.k - c0);
		K.gemm_nt(x, dim, c.data + c0 * dim, dim, tile, cols, m, cols, dim);
		for (std::size_t r = 0; r < m; r++)
			fold_row(tile + r * cols, c.term.data() + c0, cols, c0, best[r]);
	}
}

float to_distance(float xnorm, float score)
{
	return std::sqrt(std::max(xnorm + score, 0.0f));  // the expansion can dip below zero by rounding
}

std::vector<float> squared_norms(const float *x, std::size_t n, std::size_t dim, const CancelToken &cancel)
{
	std::vector<float> norms(n);
	const auto &K = active_kernels();
	for_blocks(n, kRowBlock, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		for (std::size_t i = lo; i < hi; i++)
			norms[i] = K.inner_product(x + i * dim, x + i * dim, dim);
	});
	return norms;
}

// ---- k-means++ --------------------------------------------------------------------------------

// Seeding makes k passes over its sample, each memory-bound once the sample outgrows the cache
// (at 1536 dimensions and k = 1000 a 40 k-point sample took 12 s of a 32 s build). 16 points per
// seed gave lists as balanced as 40 (imbalance 3.81 against 4.10 at 100k x 1536, 1.35 against
// 1.32 at 1M x 128); 8 did not (6.22).
std::size_t sample_size(std::size_t n, std::size_t k, std::size_t requested)
{
	std::size_t s = requested ? requested : std::max<std::size_t>(10000, 16 * k);
	return std::clamp(s, k, n);
}

// The rows k-means++ runs on: a uniform sample without replacement (Floyd's algorithm), in row
// order, or all rows. Copies only when sampling or normalising.
struct Sample {
	std::vector<float> copy;
	const float *rows;
	std::size_t count;
};

Sample take_sample(const float *data, std::size_t n, std::size_t dim, std::size_t count, bool normalize,
                   std::mt19937_64 &rng)
{
	Sample s{{}, data, count};
	if (count == n && !normalize)
		return s;
	std::vector<std::size_t> picked;
	if (count == n) {
		picked.resize(n);
		for (std::size_t i = 0; i < n; i++)
			picked[i] = i;
	} else {
		std::vector<bool> chosen(n, false);
		for (std::size_t j = n - count; j < n; j++) {
			std::size_t t = std::size_t(rng() % (j + 1));
			chosen[chosen[t] ? j : t] = true;
		}
		picked.reserve(count);
		for (std::size_t i = 0; i < n; i++)
			if (chosen[i])
				picked.push_back(i);
	}
	s.copy.resize(count * dim);
	for (std::size_t i = 0; i < count; i++) {
		float *dst = s.copy.data() + i * dim;
		std::copy_n(data + picked[i] * dim, dim, dst);
		if (normalize)
			normalize_f32(dst, dim);  // the same bits as normalising all rows first, then sampling
	}
	s.rows = s.copy.data();
	return s;
}

// k-means++ (D^2 weighting) over pts. The triangle inequality skips most distance computations:
// with o a point's nearest seed so far, d(x, new) >= d(new, o) - d(x, o) >= d(x, o) whenever
// d(new, o)^2 >= 4 d(x, o)^2, so the point cannot get closer. skip_zero (spherical): zero rows
// weigh nothing and never become seeds while another row is left.
std::vector<float> plus_plus(const float *pts, std::size_t s, std::size_t dim, std::size_t k, bool skip_zero,
                             std::mt19937_64 &rng, const CancelToken &cancel)
{
	constexpr std::size_t kSeedBlock = 256;
	const auto &K = active_kernels();
	std::vector<float> seeds(k * dim);
	std::vector<float> d2(s, kInf);
	std::vector<std::int32_t> owner(s, -1);
	std::vector<float> seed_gap(k);  // squared distance from the newest seed to each earlier one
	std::vector<double> block_sum((s + kSeedBlock - 1) / kSeedBlock);

	std::vector<std::size_t> eligible;  // only filled when some rows are excluded
	if (skip_zero) {
		for (std::size_t i = 0; i < s; i++) {
			const float *row = pts + i * dim;
			if (std::all_of(row, row + dim, [](float v) { return v == 0.0f; }))
				d2[i] = 0;  // weight zero, and never updated (nothing is closer than 0)
			else
				eligible.push_back(i);
		}
		if (eligible.size() == s || eligible.empty())
			eligible.clear();
	}
	auto uniform_pick = [&] {
		return eligible.empty() ? std::size_t(rng() % s) : eligible[std::size_t(rng() % eligible.size())];
	};

	std::size_t pick = uniform_pick();
	for (std::size_t t = 0; t < k; t++) {
		cancel.check();
		float *seed = seeds.data() + t * dim;
		std::copy_n(pts + pick * dim, dim, seed);
		if (t + 1 == k)
			break;
		if (t > 0)
			for_blocks(t, 1024, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
				K.l2_squared_batch(seed, seeds.data() + lo * dim, hi - lo, dim, dim, seed_gap.data() + lo);
			});
		for_blocks(s, kSeedBlock, cancel, [&](std::size_t b, std::size_t lo, std::size_t hi) {
			double sum = 0;
			for (std::size_t i = lo; i < hi; i++) {
				float cur = d2[i];
				if (cur > 0 && (owner[i] < 0 || seed_gap[std::size_t(owner[i])] < 4 * cur)) {
					float v = K.l2_squared(pts + i * dim, seed, dim);
					if (v < cur) {
						d2[i] = cur = v;
						owner[i] = std::int32_t(t);
					}
				}
				sum += cur;
			}
			block_sum[b] = sum;
		});

		double total = 0;
		for (double v : block_sum)
			total += v;
		if (!(total > 0)) {
			pick = uniform_pick();  // every remaining row coincides with a seed: any will do
			continue;
		}
		// Draw r in [0, total): find its block from the block sums, then its row.
		double r = uniform01(rng) * total, acc = 0;
		std::size_t b = 0;
		for (; b + 1 < block_sum.size() && acc + block_sum[b] <= r; b++)
			acc += block_sum[b];
		pick = s;
		std::size_t last = s;
		for (std::size_t i = b * kSeedBlock, hi = std::min(s, (b + 1) * kSeedBlock); i < hi; i++) {
			if (d2[i] > 0) {
				last = i;
				acc += d2[i];
				if (acc > r) {
					pick = i;
					break;
				}
			}
		}
		if (pick == s)
			pick = last;
		for (std::size_t i = s; pick == s && i-- > 0;)  // rounding left r past every weight
			if (d2[i] > 0)
				pick = i;
	}
	return seeds;
}

// ---- Lloyd ------------------------------------------------------------------------------------

// Lloyd iterations with Hamerly bounds. Per point: label, upper >= d(x, own centroid) and
// lower <= d(x, any other centroid), kept as distances (not squared). After an update, upper
// grows by the own centroid's shift and lower shrinks by the largest other shift; a point whose
// bounds still separate keeps its list without any distance computed.
//
// A few centroids moving far (typical right after seeding) would shrink every lower bound, so
// those `movers` are checked explicitly, with one small GEMM per block, and lower only shrinks by
// the largest shift of the rest. Points the bounds cannot settle go through the full GEMM.
class Lloyd {
public:
	Lloyd(const float *x, std::size_t n, std::size_t dim, std::size_t k, bool spherical, std::uint64_t seed,
	      const CancelToken &cancel)
		: x_(x), n_(n), dim_(dim), k_(k), spherical_(spherical), cancel_(cancel),
		  xnorm_(squared_norms(x, n, dim, cancel)), label_(n, 0), upper_(n, 0), lower_(n, 0), shift_(k, 0),
		  dirty_(k, 1), split_rng_(seed ^ 0x9e3779b97f4a7c15ULL)
	{
		if (dim >= kElkanDim && k <= kGemmCols && n * k <= kElkanBounds)
			bound_.resize(n * k);
		double mean_norm = 0;
		for (float v : xnorm_) {
			if (!std::isfinite(v))
				throw std::invalid_argument("k-means input vectors must have finite values and norms");
			mean_norm += v;
		}
		data_scale_ = float(std::sqrt(mean_norm / double(n) / double(dim)));
		if (!(data_scale_ > 0))
			data_scale_ = 1;
	}

	std::vector<float> &centroids() { return c_; }
	const std::vector<std::int32_t> &labels() const { return label_; }

	// Nearest centroid of every point by GEMM, with fresh bounds.
	void full_pass()
	{
		Centroids cs = make_centroids(c_.data(), k_, dim_, spherical_);
		for_blocks(n_, kGemmRows, cancel_, [&](std::size_t, std::size_t lo, std::size_t hi) {
			auto tile = scratch<float>(kGemmRows * std::min(k_, kGemmCols));
			std::array<Best2, kGemmRows> best;
			nearest2(x_ + lo * dim_, hi - lo, dim_, cs, best, tile.get(), cancel_);
			for (std::size_t i = lo; i < hi; i++) {
				settle(i, best[i - lo]);
				keep_bounds(i, tile.get() + (i - lo) * k_);
			}
		});
	}

	// Reassignment after an update. Returns how many points changed list.
	std::size_t bounded_pass()
	{
		if (!bound_.empty())
			return elkan_pass();
		const auto &K = active_kernels();
		Centroids cs = make_centroids(c_.data(), k_, dim_, spherical_);
		Movers mv = movers();
		Centroids ms = make_centroids(mv.rows.data(), mv.ids.size(), dim_, spherical_);
		const std::size_t m = mv.ids.size();

		std::vector<std::vector<Move>> moves((n_ + kBoundBlock - 1) / kBoundBlock);
		for_blocks(n_, kBoundBlock, cancel_, [&](std::size_t blk, std::size_t lo, std::size_t hi) {
			std::vector<Move> &out = moves[blk];  // in row order
			// 1. Bounds alone, then with the exact distance to the own centroid. With movers, a
			// point whose margin is thinner than what checking them would add goes to step 2 even
			// if it stays: otherwise its lower bound collapses and the next pass needs the GEMM.
			std::array<std::size_t, kBoundBlock> check, full;
			std::size_t ncheck = 0, nfull = 0;
			for (std::size_t i = lo; i < hi; i++) {
				std::size_t a = std::size_t(label_[i]);
				float u = upper_[i] + shift_[a];
				float l = lower_[i] - (a == max_shift_at_ ? second_shift_ : max_shift_);
				auto settled = [&] { return u <= l && (m == 0 || l - u >= mv.gain); };
				if (!settled())
					u = std::sqrt(K.l2_squared(x_ + i * dim_, c_.data() + a * dim_, dim_));
				upper_[i] = u;  // exact from here on unless settled
				if (settled())
					lower_[i] = l;
				else
					(m ? check[ncheck++] : full[nfull++]) = i;  // lower_[i] stays the old bound
			}
			if (ncheck + nfull == 0)
				return;
			auto rows = scratch<float>(kGemmRows * dim_);
			// 2. Against the movers only: every other centroid is at least lower - rest_shift away.
			if (ncheck) {
				auto tile = scratch<float>(kGemmRows * m);
				for (std::size_t t0 = 0; t0 < ncheck; t0 += kGemmRows) {
					std::size_t cnt = std::min(kGemmRows, ncheck - t0);
					gather(check.data() + t0, cnt, rows.get());
					K.gemm_nt(rows.get(), dim_, ms.data, dim_, tile.get(), m, cnt, m, dim_);
					for (std::size_t r = 0; r < cnt; r++) {
						std::size_t i = check[t0 + r];
						std::int32_t a = label_[i];
						float l = lower_[i] - mv.rest_shift;
						float d1 = upper_[i], d2 = kInf;
						std::int32_t j1 = a;
						for (std::size_t q = 0; q < m; q++) {
							if (mv.ids[q] == a)
								continue;  // the own centroid's exact distance is upper_[i]
							float d = to_distance(xnorm_[i], ms.term[q] - 2 * tile[r * m + q]);
							if (d < d1) {
								d2 = d1;
								d1 = d;
								j1 = mv.ids[q];
							} else {
								d2 = std::min(d2, d);
							}
						}
						if (d1 > l) {
							full[nfull++] = i;
							continue;
						}
						if (j1 != a)
							out.push_back({i, a, j1});
						label_[i] = j1;
						upper_[i] = d1;
						lower_[i] = std::min(l, d2);
					}
				}
			}
			// 3. The rest against every centroid.
			if (nfull) {
				std::sort(full.begin(), full.begin() + std::ptrdiff_t(nfull));  // row order, as in step 1
				reassign_by_gemm(cs, full.data(), nfull, rows.get(), out);
			}
		});
		return keep_moves(std::move(moves));
	}

	// Elkan's variant, for high dimensions and k small enough to keep a lower bound per (point,
	// centroid): each bound shrinks only by its own centroid's shift, and d(x, j) matters only
	// when the upper bound exceeds both that bound and half of d(own, j). At high dimension
	// distances crowd together, so Hamerly's one lower bound (second-nearest minus the largest
	// shift) stays below the upper bound for nearly every point, even when a few dozen points move
	// (1536 dimensions, 100 lists: 80-95% of the points fell through in every pass). Here a point
	// near a boundary checks the few centroids it might go to, one distance each; a point with
	// many candidates (early passes, when centroids move far) goes through the GEMM instead.
	// kmeans_bench, 25.6k points, 25 iterations, k = 100: 1536 dimensions 2.7-2.95 -> 2.2 s on 1
	// thread, 1.55 -> 1.1 s on 2; 768: 1.7 -> 1.2 s; 384: even; 128: 0.40 -> 0.57 s (keeping k
	// bounds per point costs more than Hamerly's misses there), hence kElkanDim.
	std::size_t elkan_pass()
	{
		const auto &K = active_kernels();
		Centroids cs = make_centroids(c_.data(), k_, dim_, spherical_);
		std::vector<float> half(k_ * k_), reach(k_, kInf);  // half the centroid gaps; their minimum
		for_blocks(k_, 16, cancel_, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t a = lo; a < hi; a++)
				for (std::size_t j = 0; j < k_; j++) {
					if (j == a)
						continue;
					float h = 0.5f * std::sqrt(K.l2_squared(c_.data() + a * dim_, c_.data() + j * dim_, dim_));
					half[a * k_ + j] = h;
					reach[a] = std::min(reach[a], h);
				}
		});
		auto distance = [&](std::size_t i, std::size_t j) {
			return std::sqrt(K.l2_squared(x_ + i * dim_, c_.data() + j * dim_, dim_));
		};

		std::vector<std::vector<Move>> moves((n_ + kBoundBlock - 1) / kBoundBlock);
		for_blocks(n_, kBoundBlock, cancel_, [&](std::size_t blk, std::size_t lo, std::size_t hi) {
			std::vector<Move> &out = moves[blk];  // in row order
			std::array<std::size_t, kBoundBlock> full;
			std::size_t nfull = 0;
			for (std::size_t i = lo; i < hi; i++) {
				float *lb = bound_.data() + i * k_;
				for (std::size_t j = 0; j < k_; j++)
					lb[j] = std::max(lb[j] - shift_[j], 0.0f);
				std::size_t a = std::size_t(label_[i]);
				float u = upper_[i] + shift_[a];
				upper_[i] = u;
				if (u <= reach[a])
					continue;
				auto candidate = [&](std::size_t j) { return j != a && u > lb[j] && u > half[a * k_ + j]; };
				std::size_t count = 0;
				for (std::size_t j = 0; j < k_; j++)
					count += candidate(j);
				if (count == 0)
					continue;
				if (count > k_ / 8 + 1) {
					full[nfull++] = i;
					continue;
				}
				bool exact = false;
				for (std::size_t j = 0; j < k_; j++) {
					if (!candidate(j))
						continue;
					if (!exact) {
						u = lb[a] = distance(i, a);
						exact = true;
						if (!candidate(j))
							continue;
					}
					float d = lb[j] = distance(i, j);
					if (d < u) {
						a = j;
						u = d;
					}
				}
				if (std::int32_t(a) != label_[i]) {
					out.push_back({i, label_[i], std::int32_t(a)});
					label_[i] = std::int32_t(a);
				}
				upper_[i] = u;
			}
			if (nfull) {
				auto rows = scratch<float>(kGemmRows * dim_);
				reassign_by_gemm(cs, full.data(), nfull, rows.get(), out);
			}
		});
		return keep_moves(std::move(moves));
	}

	// Centroids = means of their lists (spherical: normalised sums), recomputed only for lists
	// whose members changed. The per-list sums (double) persist between updates: the first
	// update, and one after which many points moved, sums every changed list afresh over fixed
	// chunks of its members (row order, the chunks added in order); otherwise only the rows that
	// moved are subtracted from their old list's sum and added to the new one's, in row order.
	// After the first iterations few points move, so an update then reads a few rows instead of
	// every member of every changed list (at 1536 dimensions and 100 lists, 14% of the k-means
	// time and memory-bound, so it scaled worst). Either way the work is cut the same for any
	// thread count, so the bits do not depend on it.
	void update()
	{
		std::vector<std::size_t> start(k_ + 1, 0);
		for (std::size_t i = 0; i < n_; i++)
			start[std::size_t(label_[i]) + 1]++;
		for (std::size_t j = 0; j < k_; j++)
			start[j + 1] += start[j];
		sizes_.resize(k_);
		for (std::size_t j = 0; j < k_; j++)
			sizes_[j] = std::int64_t(start[j + 1] - start[j]);

		std::vector<std::size_t> touched;  // lists whose centroid may change, ascending
		std::size_t touched_rows = 0, moved = 0;
		for (std::size_t j = 0; j < k_; j++)
			if (dirty_[j]) {
				touched.push_back(j);
				touched_rows += start[j + 1] - start[j];
			}
		for (const auto &block : moves_)
			moved += block.size();

		std::vector<std::size_t> members;  // row numbers grouped by list, each list in row order
		auto group_members = [&] {
			if (!members.empty())
				return;
			members.resize(n_);
			std::vector<std::size_t> fill(start.begin(), start.end() - 1);
			for (std::size_t i = 0; i < n_; i++)
				members[fill[std::size_t(label_[i])]++] = i;
		};
		if (sum_.empty() || 4 * moved >= touched_rows) {
			group_members();
			resum(touched, start, members);
		} else {
			for (const auto &block : moves_)
				for (const Move &mv : block) {
					const float *row = x_ + mv.row * dim_;
					double *from = sum_.data() + std::size_t(mv.from) * dim_;
					double *to = sum_.data() + std::size_t(mv.to) * dim_;
					for (std::size_t d = 0; d < dim_; d++) {
						from[d] -= row[d];
						to[d] += row[d];
					}
				}
		}
		moves_.clear();

		std::vector<float> previous = c_;
		for_blocks(touched.size(), 64, cancel_, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t t = lo; t < hi; t++) {
				std::size_t j = touched[t];
				if (sizes_[j] == 0)
					continue;  // repaired below
				std::span<const double> sum(sum_.data() + j * dim_, dim_);
				double scale = 1.0 / double(sizes_[j]);
				if (spherical_) {
					double norm2 = 0;
					for (double v : sum)
						norm2 += v * v;
					if (!(norm2 > 0))
						continue;  // only zero vectors (or exact opposites): keep the old direction
					scale = 1.0 / std::sqrt(norm2);
				}
				for (std::size_t d = 0; d < dim_; d++)
					c_[j * dim_ + d] = float(sum[d] * scale);
			}
		});

		std::fill(dirty_.begin(), dirty_.end(), 0);
		if (std::find(sizes_.begin(), sizes_.end(), 0) != sizes_.end()) {
			group_members();
			repair_empty(spread(start, members));  // marks what it changed dirty for next time
		}
		for (std::size_t j : touched)
			dirty_[j] |= 2;  // recompute the shift below
		compute_shifts(previous);
		for (auto &f : dirty_)
			f &= 1;
	}

private:
	struct Move {
		std::size_t row;
		std::int32_t from, to;
	};

	// sum_ of each listed list afresh: fixed chunks of its members summed in parallel, then the
	// chunks added in order.
	void resum(const std::vector<std::size_t> &lists, const std::vector<std::size_t> &start,
	           const std::vector<std::size_t> &members)
	{
		struct Chunk {
			std::size_t list, begin, end;
		};
		std::vector<Chunk> chunks;
		std::vector<std::size_t> chunk_at(lists.size() + 1);
		for (std::size_t t = 0; t < lists.size(); t++) {
			std::size_t j = lists[t];
			chunk_at[t] = chunks.size();
			for (std::size_t p = start[j]; p < start[j + 1]; p += kSumChunk)
				chunks.push_back({j, p, std::min(start[j + 1], p + kSumChunk)});
		}
		chunk_at[lists.size()] = chunks.size();
		std::vector<double> partial(chunks.size() * dim_, 0.0);
		for_blocks(chunks.size(), 8, cancel_, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t q = lo; q < hi; q++) {
				double *sum = partial.data() + q * dim_;
				for (std::size_t p = chunks[q].begin; p < chunks[q].end; p++) {
#if defined(__SSE2__)
					if (p + 4 < chunks[q].end)  // rows come in a scattered order: fetch ahead
						for (std::size_t d = 0; d < dim_; d += 16)
							_mm_prefetch(reinterpret_cast<const char *>(x_ + members[p + 4] * dim_ + d), _MM_HINT_T0);
#endif
					const float *row = x_ + members[p] * dim_;
					for (std::size_t d = 0; d < dim_; d++)
						sum[d] += row[d];
				}
			}
		});
		sum_.resize(k_ * dim_);
		for_blocks(lists.size(), 64, cancel_, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t t = lo; t < hi; t++) {
				double *sum = sum_.data() + lists[t] * dim_;
				std::fill(sum, sum + dim_, 0.0);
				for (std::size_t q = chunk_at[t]; q < chunk_at[t + 1]; q++)
					for (std::size_t d = 0; d < dim_; d++)
						sum[d] += partial[q * dim_ + d];
			}
		});
	}
	struct Movers {
		std::vector<std::int32_t> ids;
		std::vector<float> rows;
		float rest_shift = 0;  // largest shift among the other centroids
		float gain = 0;        // how much tighter lower bounds get by checking the movers
	};

	void settle(std::size_t i, const Best2 &b)
	{
		label_[i] = b.j1;
		upper_[i] = to_distance(xnorm_[i], b.s1);
		lower_[i] = to_distance(xnorm_[i], b.s2);
	}

	// Marks the lists the moves touched and keeps the moves for the next update; their count.
	std::size_t keep_moves(std::vector<std::vector<Move>> moves)
	{
		std::size_t moved = 0;
		for (const auto &block : moves) {
			moved += block.size();
			for (Move mv : block)
				dirty_[std::size_t(mv.from)] = dirty_[std::size_t(mv.to)] = 1;
		}
		moves_ = std::move(moves);
		return moved;
	}

	// The points ids[0..count) (ascending) against every centroid through the GEMM: new label and
	// bounds (Elkan's too, when kept), moves appended to out. rows: kGemmRows * dim scratch.
	void reassign_by_gemm(const Centroids &cs, const std::size_t *ids, std::size_t count, float *rows,
	                      std::vector<Move> &out)
	{
		const std::size_t cols = std::min(k_, kGemmCols);
		auto tile = scratch<float>(kGemmRows * cols);
		std::array<Best2, kGemmRows> best;
		for (std::size_t t0 = 0; t0 < count; t0 += kGemmRows) {
			std::size_t cnt = std::min(kGemmRows, count - t0);
			gather(ids + t0, cnt, rows);
			nearest2(rows, cnt, dim_, cs, best, tile.get(), cancel_);
			for (std::size_t r = 0; r < cnt; r++) {
				std::size_t i = ids[t0 + r];
				if (best[r].j1 != label_[i])
					out.push_back({i, label_[i], best[r].j1});
				settle(i, best[r]);
				keep_bounds(i, tile.get() + r * cols);  // Elkan only: then k <= kGemmCols, one tile row
			}
		}
	}

	// Elkan's bounds of point i from its row of GEMM scores against every centroid.
	void keep_bounds(std::size_t i, const float *scores)
	{
		if (bound_.empty())
			return;
		for (std::size_t j = 0; j < k_; j++)
			bound_[i * k_ + j] = to_distance(xnorm_[i], scores[j]);
	}

	void gather(const std::size_t *ids, std::size_t count, float *rows) const
	{
		for (std::size_t r = 0; r < count; r++)
			std::copy_n(x_ + ids[r] * dim_, dim_, rows + r * dim_);
	}

	// The centroids that moved more than an eighth of the largest shift, at most k/8 of them (so
	// checking them costs at most an eighth of a full pass), largest first.
	Movers movers() const
	{
		Movers mv;
		const std::size_t cap = k_ / 8;
		if (cap < 4 || !(max_shift_ > 0))
			return mv;  // few centroids: the full GEMM row is cheap anyway
		std::vector<std::int32_t> order;
		for (std::size_t j = 0; j < k_; j++)
			if (shift_[j] > max_shift_ / 8)
				order.push_back(std::int32_t(j));
		auto larger = [&](std::int32_t a, std::int32_t b) {
			float sa = shift_[std::size_t(a)], sb = shift_[std::size_t(b)];
			return sa > sb || (sa == sb && a < b);
		};
		std::size_t m = std::min(cap, order.size());
		std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(m), order.end(), larger);
		float rest = order.size() > m ? shift_[std::size_t(order[m])] : 0.0f;
		for (std::size_t j = 0; j < k_; j++)
			if (shift_[j] <= max_shift_ / 8)
				rest = std::max(rest, shift_[j]);
		for (std::size_t q = m + 1; q < order.size(); q++)
			rest = std::max(rest, shift_[std::size_t(order[q])]);
		mv.ids.assign(order.begin(), order.begin() + std::ptrdiff_t(m));
		mv.rows.resize(m * dim_);
		for (std::size_t q = 0; q < m; q++)
			std::copy_n(c_.data() + std::size_t(mv.ids[q]) * dim_, dim_, mv.rows.data() + q * dim_);
		mv.rest_shift = rest;
		mv.gain = max_shift_ - rest;
		return mv;
	}

	// Shifts of the lists flagged 2 in dirty_ (others did not move), rounded up so that the bounds
	// stay bounds, and the two largest.
	void compute_shifts(const std::vector<float> &previous)
	{
		max_shift_ = second_shift_ = 0;
		max_shift_at_ = 0;
		for (std::size_t j = 0; j < k_; j++) {
			if (dirty_[j] & 2) {
				double s = 0;
				for (std::size_t d = 0; d < dim_; d++) {
					double v = double(c_[j * dim_ + d]) - previous[j * dim_ + d];
					s += v * v;
				}
				float f = float(std::sqrt(s));
				shift_[j] = f > 0 ? std::nextafter(f, kInf) : 0.0f;
			} else {
				shift_[j] = 0;
			}
			if (shift_[j] > max_shift_) {
				second_shift_ = max_shift_;
				max_shift_ = shift_[j];
				max_shift_at_ = j;
			} else if (shift_[j] > second_shift_) {
				second_shift_ = shift_[j];
			}
		}
	}

	// Sum of squared distances of each list's members to its (new) centroid.
	std::vector<double> spread(const std::vector<std::size_t> &start, const std::vector<std::size_t> &members) const
	{
		const auto &K = active_kernels();
		std::vector<double> sse(k_, 0.0);
		for_blocks(k_, 64, cancel_, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t j = lo; j < hi; j++)
				for (std::size_t p = start[j]; p < start[j + 1]; p++)
					sse[j] += K.l2_squared(x_ + members[p] * dim_, c_.data() + j * dim_, dim_);
		});
		return sse;
	}

	// FAISS-style repair: an empty list takes over half of the largest list that has some spread
	// (splitting identical points would only cost). Both get its centroid, nudged apart
	// symmetrically (random signs from the seed) by a small relative step, so the next assignment
	// splits the points between them.
	void repair_empty(std::vector<double> sse)
	{
		for (std::size_t j = 0; j < k_; j++) {
			if (sizes_[j] != 0)
				continue;
			std::size_t big = k_;
			for (std::size_t q = 0; q < k_; q++)
				if (sse[q] > 0 && sizes_[q] >= 2 && (big == k_ || sizes_[q] > sizes_[big]))
					big = q;
			if (big == k_)
				return;  // nothing left to split: fewer distinct points than centroids
			sse[j] = sse[big];
			float *a = c_.data() + j * dim_, *b = c_.data() + big * dim_;
			double norm2 = 0;
			for (std::size_t d = 0; d < dim_; d++)
				norm2 += double(b[d]) * b[d];
			float floor = std::max(float(std::sqrt(norm2 / double(dim_))), data_scale_);
			for (std::size_t d = 0; d < dim_; d++) {
				float v = b[d];
				float delta = kSplitEps * (std::fabs(v) + floor) * ((split_rng_() & 1) ? 1.0f : -1.0f);
				a[d] = v + delta;
				b[d] = v - delta;
			}
			if (spherical_) {
				normalize_f32(a, dim_);
				normalize_f32(b, dim_);
			}
			sizes_[j] = sizes_[big] / 2;
			sizes_[big] -= sizes_[j];
			// Neither is the mean of its members any more: recompute both next time, and count
			// their move in the shifts.
			dirty_[j] = dirty_[big] = 1 | 2;
		}
	}

	const float *x_;
	std::size_t n_, dim_, k_;
	bool spherical_;
	const CancelToken &cancel_;

	std::vector<float> xnorm_;  // ||x||^2
	std::vector<float> c_;      // centroids, k * dim
	std::vector<std::int32_t> label_;
	std::vector<float> upper_, lower_;
	std::vector<float> bound_;  // Elkan: n * k lower bounds, one per centroid (empty: Hamerly's lower_)
	std::vector<float> shift_;  // how far each centroid moved in the last update
	float max_shift_ = 0, second_shift_ = 0;
	std::size_t max_shift_at_ = 0;
	std::vector<std::uint8_t> dirty_;  // 1: members changed since the centroid was computed
	std::vector<double> sum_;          // k * dim: each list's sum of members (empty before the first update)
	std::vector<std::vector<Move>> moves_;  // the last bounded_pass()'s moves, per block in row order
	std::vector<std::int64_t> sizes_;
	std::mt19937_64 split_rng_;
	float data_scale_ = 1;  // RMS coordinate of the data: the floor of the split nudge
};

}  // namespace

std::vector<float> kmeans_plus_plus(const float *data, std::size_t n, std::size_t dim, int k, std::uint64_t seed,
                                    std::size_t sample, bool spherical, CancelToken cancel)
{
	check_arguments(n, dim, k);
	std::mt19937_64 rng(seed);
	Sample s = take_sample(data, n, dim, sample_size(n, std::size_t(k), sample), spherical, rng);
	return plus_plus(s.rows, s.count, dim, std::size_t(k), spherical, rng, cancel);
}

void assign_nearest(const float *data, std::size_t n, std::size_t dim, const float *centroids, std::size_t k,
                    bool spherical, std::int32_t *labels_out, float *dist_out, CancelToken cancel)
{
	if (dim == 0)
		throw std::invalid_argument("vectors must have at least one dimension");
	if (k == 0 || k > std::size_t(std::numeric_limits<std::int32_t>::max()))
		throw std::invalid_argument("the number of centroids must be between 1 and 2147483647");
	const auto &K = active_kernels();
	// Spherical rows and centroids are unit vectors; L2 ones may need bringing into range.
	int shift = spherical ? 0 : range_shift(std::max(max_abs(data, n, dim, cancel), max_abs(centroids, k, dim, cancel)));
	std::vector<float> data_copy, centroid_copy;
	if (shift != 0) {
		data_copy = scaled_copy(data, n, dim, shift, cancel);
		centroid_copy = scaled_copy(centroids, k, dim, shift, cancel);
		data = data_copy.data();
		centroids = centroid_copy.data();
	}
	Centroids cs = make_centroids(centroids, k, dim, spherical);
	for_blocks(n, kGemmRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		auto tile = scratch<float>(kGemmRows * std::min(k, kGemmCols));
		std::array<Best2, kGemmRows> best;
		nearest2(data + lo * dim, hi - lo, dim, cs, best, tile.get(), cancel);
		for (std::size_t i = lo; i < hi; i++) {
			const Best2 &b = best[i - lo];
			labels_out[i] = b.j1;
			if (!dist_out)
				continue;
			if (spherical) {
				dist_out[i] = 0.5f * (1.0f + b.s1);  // score = 1 - 2 dot
			} else {
				float xn = K.inner_product(data + i * dim, data + i * dim, dim);
				dist_out[i] = std::ldexp(std::max(xn + b.s1, 0.0f), 2 * shift);  // +Infinity past float range
			}
		}
	});
}

KmeansResult kmeans(const float *data, std::size_t n, std::size_t dim, const KmeansOptions &opts, CancelToken cancel)
{
	check_arguments(n, dim, opts.k);
	if (opts.max_iterations < 1)
		throw std::invalid_argument("max_iterations must be at least 1");
	const std::size_t k = std::size_t(opts.k);
	const auto &K = active_kernels();

	const float *x = data;
	std::vector<float> normalized;
	if (opts.spherical) {
		normalized.assign(data, data + n * dim);
		for_blocks(n, kRowBlock, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t i = lo; i < hi; i++)
				normalize_f32(normalized.data() + i * dim, dim);
		});
		x = normalized.data();
	}
	std::vector<float> scaled;
	int shift = opts.spherical ? 0 : range_shift(max_abs(x, n, dim, cancel));
	if (shift != 0) {
		scaled = scaled_copy(x, n, dim, shift, cancel);
		x = scaled.data();
	}

	Lloyd st(x, n, dim, k, opts.spherical, opts.seed, cancel);
	{
		std::mt19937_64 rng(opts.seed);  // the same draws as kmeans_plus_plus(), on the normalised rows
		Sample s = take_sample(x, n, dim, sample_size(n, k, opts.seeding_sample), false, rng);
		st.centroids() = plus_plus(s.rows, s.count, dim, k, opts.spherical, rng, cancel);
	}

	KmeansResult r;
	st.full_pass();
	for (int it = 0; it < opts.max_iterations; it++) {
		st.update();
		r.iterations = it + 1;
		if (st.bounded_pass() == 0)
			break;  // nothing moved: the centroids are the means of this assignment already
	}

	// Sizes and objective of the final assignment, with exact (not expanded) distances.
	const std::vector<std::int32_t> &label = st.labels();
	const float *c = st.centroids().data();
	std::vector<double> part((n + kRowBlock - 1) / kRowBlock, 0.0);
	for_blocks(n, kRowBlock, cancel, [&](std::size_t b, std::size_t lo, std::size_t hi) {
		double sum = 0;
		for (std::size_t i = lo; i < hi; i++)
			sum += K.l2_squared(x + i * dim, c + std::size_t(label[i]) * dim, dim);
		part[b] = sum;
	});
	r.sizes.assign(k, 0);
	for (std::int32_t l : label)
		r.sizes[std::size_t(l)]++;
	for (double v : part)
		r.objective += v;
	r.objective = std::ldexp(r.objective, 2 * shift);
	r.centroids = std::move(st.centroids());
	if (shift != 0)
		for (float &v : r.centroids)
			v = std::ldexp(v, shift);
	return r;
}

}  // namespace ruvector::kernels
