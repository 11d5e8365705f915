#include "worker/kernels/gnn.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/parallel.hpp"

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/partitioner.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include <sys/mman.h>

namespace ruvector::kernels {

namespace {

// Rows per aggregation task: 10k nodes make ~80 tasks, enough to balance uneven degrees over the
// arena, and a block's scratch (rows x width floats) stays in L2 at the widths GNNs use.
constexpr std::size_t kRows = 128;
// Rows per GEMM call when a layer only transforms. Every call packs the whole weight matrix again,
// so taller blocks pay for that less often (10k x 256 -> 128 on one AVX-512 core: about 7.5 ms in
// 512-row calls, 8.9 ms in 128-row calls).
constexpr std::size_t kGemmRows = 512;
// How many edges ahead the aggregation prefetches source rows: they are scattered over a feature
// matrix larger than L2, and a row of 128 floats is 8 cache lines.
constexpr std::size_t kPrefetchEdges = 4;

struct FreeDeleter {
	void operator()(float *p) const noexcept { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

// Intermediate matrices, written in full before they are read: no zeroing, so pages are first
// touched by the parallel writers rather than by one memset. Large ones are 2 MB aligned and
// advised for transparent huge pages: they are fresh memory on every call, and faulting in a
// 5 MB matrix 4 KB at a time costs ~5 ms on a VM (measured), against ~0.9 ms in 2 MB pages.
Buffer uninitialized(std::size_t count)
{
	constexpr std::size_t kHuge = std::size_t(2) << 20;
	const std::size_t bytes = std::max<std::size_t>(count * sizeof(float), 1);
	void *p;
	if (bytes >= 2 * kHuge) {
		const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
		p = std::aligned_alloc(kHuge, rounded);
		if (p)
			madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without it we just fault more often
	} else {
		p = std::malloc(bytes);
	}
	if (!p)
		throw std::bad_alloc();
	return Buffer(static_cast<float *>(p));
}

// Per-thread buffer that only grows: blocks reuse it rather than allocate. Contents are scratch,
// never carried from one block to the next.
template <class T = float>
class Scratch {
public:
	T *get(std::size_t count)
	{
		auto &v = local_.local();
		if (v.size() < count)
			v.resize(count);
		return v.data();
	}

private:
	tbb::enumerable_thread_specific<std::vector<T>> local_;
};

// ---- Vectors ------------------------------------------------------------------------------------
// GCC vector types: one source for every width. Loads and stores go through memcpy (unaligned,
// and no vector crosses a function boundary, so no ABI questions).

template <int W>
struct VecOf;
template <>
struct VecOf<4> {
	typedef float type __attribute__((vector_size(16)));
};
template <>
struct VecOf<8> {
	typedef float type __attribute__((vector_size(32)));
};
template <>
struct VecOf<16> {
	typedef float type __attribute__((vector_size(64)));
};
template <int W>
using Vec = typename VecOf<W>::type;

// y += x on one row (baseline SSE2; per node, not per edge).
void add_into(const float *x, float *y, std::size_t d)
{
	using V = Vec<4>;
	std::size_t k = 0;
	for (; k + 4 <= d; k += 4) {
		V vx, vy;
		std::memcpy(&vx, x + k, sizeof(V));
		std::memcpy(&vy, y + k, sizeof(V));
		vy += vx;
		std::memcpy(y + k, &vy, sizeof(V));
	}
	for (; k < d; k++)
		y[k] += x[k];
}

void add_bias(float *rows, std::size_t count, std::size_t d, const float *bias)
{
	if (bias)
		for (std::size_t r = 0; r < count; r++)
			add_into(bias, rows + r * d, d);
}

const float *bias_or_null(std::span<const float> b)
{
	return b.empty() ? nullptr : b.data();
}

// F.normalize(p=2): v / max(||v||, 1e-12). The norm is rounded to float as PyTorch's is, unless it
// does not fit one (components near FLT_MAX): then the division is by the double norm, which gives
// the finite result float could not.
void l2_normalize(float *v, std::size_t d)
{
	double s = 0;
	for (std::size_t k = 0; k < d; k++)
		s += double(v[k]) * v[k];
	const double exact = std::sqrt(s);
	const float rounded = float(exact);
	const double norm = std::isfinite(rounded) ? double(std::max(rounded, 1e-12f)) : exact;
	for (std::size_t k = 0; k < d; k++)
		v[k] = float(double(v[k]) / norm);  // float(double / double) of floats: float division's result
}

// ---- Aggregation over in-edges: the hot loop ---------------------------------------------------
// For rows lo..hi-1 of a Csr:
//   out_i = reduce over the in-edges e of i of h[col e]  (weighted_sum: coef_e * h[col e];
//           mean: the sum divided by the in-degree; no in-edges: zero)
//           + self_scale * self_i + bias                 (the epilogue, while still in registers)
// Accumulators stay in registers for the whole edge list, eight vectors per pass (one pass for 128
// features with AVX-512), so an edge costs one load and one FMA per vector and no store, and the
// rows a few edges ahead are prefetched. The body is written once and compiled for AVX-512, AVX2
// and baseline SSE2 through function target attributes (this file is built for any x86-64); the
// ISA is the one the distance kernels picked. Results can differ across ISAs in the last bits
// (FMA), never across runs or thread counts.

enum class Reduce { weighted_sum = 0, sum, mean, max, min };

struct RowsJob {
	const std::uint64_t *row_ptr;
	const std::uint32_t *col;
	std::size_t lo, hi;
	const float *h;        // node j's row at h + j * ldh; the first d floats are read
	std::size_t ldh, d;
	float *out;            // row i at out + (i - lo) * ldo
	std::size_t ldo;
	const float *coef = nullptr;  // weighted_sum: edge e weighs coef[(e - coef_base) * coef_stride]
	std::uint64_t coef_base = 0;
	std::size_t coef_stride = 1;
	// Nonzero: column group g = [g * coef_group, (g + 1) * coef_group) takes edge e's weight from
	// coef[(e - coef_base) * coef_stride + g] (GAT heads in one pass). Must be a multiple of 16, so
	// that no vector straddles two groups at any width.
	std::size_t coef_group = 0;
	const float *self = nullptr;  // node i's row at self + i * ld_self; null = none
	std::size_t ld_self = 0;
	float self_scale = 1.0f;
	const float *bias = nullptr;  // d floats; null = none
};

// R vectors of W lanes: columns [c, c + R*W) of row i, edges [e0, e1).
template <int W, int R, Reduce M>
[[gnu::always_inline]] inline void reduce_chunk(const RowsJob &j, std::size_t i, std::uint64_t e0, std::uint64_t e1,
                                                std::uint64_t e_stop, std::size_t c, bool prefetch, float *o)
{
	using V = Vec<W>;
	V acc[R];
	const float *h = j.h + c;
	std::uint64_t e = e0;
	std::size_t group[R];  // the coefficient group of each vector
	for (int r = 0; r < R; r++)
		group[r] = j.coef_group ? (c + std::size_t(r) * W) / j.coef_group : 0;
	if ((M == Reduce::max || M == Reduce::min) && e < e1) {
		const float *s = h + std::size_t(j.col[e++]) * j.ldh;
#pragma GCC unroll 8
		for (int r = 0; r < R; r++)
			std::memcpy(&acc[r], s + r * W, sizeof(V));
	} else {
#pragma GCC unroll 8
		for (int r = 0; r < R; r++)
			acc[r] = V{};
	}
	for (; e < e1; e++) {
		if (prefetch && e + kPrefetchEdges < e_stop) {
			const float *p = j.h + std::size_t(j.col[e + kPrefetchEdges]) * j.ldh;
			for (std::size_t off = 0; off < j.d; off += 16)
				__builtin_prefetch(p + off);
			__builtin_prefetch(p + j.d - 1);  // the row's last line when it is not line-aligned
		}
		const float *s = h + std::size_t(j.col[e]) * j.ldh;
		const float *ce = nullptr;
		V a{};
		if constexpr (M == Reduce::weighted_sum) {
			ce = j.coef + (e - j.coef_base) * j.coef_stride;
			a = ce[0] - V{};  // broadcast; x - (+0) is x, signed zeros included
		}
#pragma GCC unroll 8
		for (int r = 0; r < R; r++) {
			V x;
			std::memcpy(&x, s + r * W, sizeof(V));
			if constexpr (M == Reduce::weighted_sum)
				acc[r] += (j.coef_group ? ce[group[r]] - V{} : a) * x;
			else if constexpr (M == Reduce::sum || M == Reduce::mean)
				acc[r] += x;
			else if constexpr (M == Reduce::max)
				acc[r] = x > acc[r] ? x : acc[r];  // a NaN in x leaves acc alone
			else
				acc[r] = x < acc[r] ? x : acc[r];
		}
	}
	if constexpr (M == Reduce::mean) {
		if (e1 > e0) {
			const V deg = float(e1 - e0) - V{};
#pragma GCC unroll 8
			for (int r = 0; r < R; r++)
				acc[r] /= deg;  // a division, as scatter-mean does
		}
	}
	if (j.self) {
		const float *s = j.self + i * j.ld_self + c;
		const V scale = j.self_scale - V{};
#pragma GCC unroll 8
		for (int r = 0; r < R; r++) {
			V x;
			std::memcpy(&x, s + r * W, sizeof(V));
			acc[r] += scale * x;
		}
	}
	if (j.bias) {
#pragma GCC unroll 8
		for (int r = 0; r < R; r++) {
			V b;
			std::memcpy(&b, j.bias + c + r * W, sizeof(V));
			acc[r] += b;
		}
	}
#pragma GCC unroll 8
	for (int r = 0; r < R; r++)
		std::memcpy(o + c + r * W, &acc[r], sizeof(V));
}

// The last columns [c, d) (fewer than W), one at a time, with the same operations in the same order.
template <Reduce M>
[[gnu::always_inline]] inline void reduce_tail(const RowsJob &j, std::size_t i, std::uint64_t e0, std::uint64_t e1,
                                               std::size_t c, float *o)
{
	for (std::size_t t = c; t < j.d; t++) {
		const std::size_t group = j.coef_group ? t / j.coef_group : 0;
		float acc = 0;
		std::uint64_t e = e0;
		if ((M == Reduce::max || M == Reduce::min) && e < e1)
			acc = j.h[std::size_t(j.col[e++]) * j.ldh + t];
		for (; e < e1; e++) {
			float x = j.h[std::size_t(j.col[e]) * j.ldh + t];
			if constexpr (M == Reduce::weighted_sum)
				acc += j.coef[(e - j.coef_base) * j.coef_stride + group] * x;
			else if constexpr (M == Reduce::sum || M == Reduce::mean)
				acc += x;
			else if constexpr (M == Reduce::max)
				acc = x > acc ? x : acc;
			else
				acc = x < acc ? x : acc;
		}
		if (M == Reduce::mean && e1 > e0)
			acc /= float(e1 - e0);
		if (j.self)
			acc += j.self_scale * j.self[i * j.ld_self + t];
		if (j.bias)
			acc += j.bias[t];
		o[t] = acc;
	}
}

template <int W, Reduce M>
[[gnu::always_inline]] inline void reduce_rows(const RowsJob &j)
{
	const std::uint64_t e_stop = j.row_ptr[j.hi];
	for (std::size_t i = j.lo; i < j.hi; i++) {
		const std::uint64_t e0 = j.row_ptr[i], e1 = j.row_ptr[i + 1];
		float *o = j.out + (i - j.lo) * j.ldo;
		std::size_t c = 0;
		bool first = true;  // the first pass over the edges prefetches whole rows for the next passes
		for (; c + 8 * W <= j.d; c += 8 * W, first = false)
			reduce_chunk<W, 8, M>(j, i, e0, e1, e_stop, c, first, o);
		const std::size_t vectors = (j.d - c) / W;
		switch (vectors) {  // what is left, in one more pass
		case 7: reduce_chunk<W, 7, M>(j, i, e0, e1, e_stop, c, first, o); break;
		case 6: reduce_chunk<W, 6, M>(j, i, e0, e1, e_stop, c, first, o); break;
		case 5: reduce_chunk<W, 5, M>(j, i, e0, e1, e_stop, c, first, o); break;
		case 4: reduce_chunk<W, 4, M>(j, i, e0, e1, e_stop, c, first, o); break;
		case 3: reduce_chunk<W, 3, M>(j, i, e0, e1, e_stop, c, first, o); break;
		case 2: reduce_chunk<W, 2, M>(j, i, e0, e1, e_stop, c, first, o); break;
		case 1: reduce_chunk<W, 1, M>(j, i, e0, e1, e_stop, c, first, o); break;
		default: break;
		}
		c += vectors * W;
		if (c < j.d)
			reduce_tail<M>(j, i, e0, e1, c, o);
	}
}

template <Reduce M>
[[gnu::target("avx512f")]] void reduce_rows_avx512(const RowsJob &j)
{
	reduce_rows<16, M>(j);
}

template <Reduce M>
[[gnu::target("avx2,fma")]] void reduce_rows_avx2(const RowsJob &j)
{
	reduce_rows<8, M>(j);
}

template <Reduce M>
void reduce_rows_sse2(const RowsJob &j)
{
	reduce_rows<4, M>(j);
}

using RowsFn = void (*)(const RowsJob &);

RowsFn rows_kernel(Reduce m)
{
	using Table = std::array<RowsFn, 5>;
	static const Table table = [] {
		using enum Reduce;
		switch (active_kernels().isa) {
		case Isa::avx512:
			return Table{reduce_rows_avx512<weighted_sum>, reduce_rows_avx512<sum>, reduce_rows_avx512<mean>,
			             reduce_rows_avx512<max>, reduce_rows_avx512<min>};
		case Isa::avx2:
			return Table{reduce_rows_avx2<weighted_sum>, reduce_rows_avx2<sum>, reduce_rows_avx2<mean>,
			             reduce_rows_avx2<max>, reduce_rows_avx2<min>};
		default:
			return Table{reduce_rows_sse2<weighted_sum>, reduce_rows_sse2<sum>, reduce_rows_sse2<mean>,
			             reduce_rows_sse2<max>, reduce_rows_sse2<min>};
		}
	}();
	return table[std::size_t(m)];
}

Reduce reduce_of(Aggr a)
{
	switch (a) {
	case Aggr::mean: return Reduce::mean;
	case Aggr::max: return Reduce::max;
	case Aggr::sum: return Reduce::sum;
	case Aggr::min: return Reduce::min;
	case Aggr::lstm: break;
	}
	throw std::invalid_argument("unknown aggregation");
}

// ---- Checks and dense transforms ----------------------------------------------------------------

std::string str(std::size_t v)
{
	return std::to_string(v);
}

// a * b, or an error when it does not fit (sizes come from model files).
std::size_t product(std::size_t a, std::size_t b, const std::string &what)
{
	if (a != 0 && b > std::numeric_limits<std::size_t>::max() / sizeof(float) / a)
		throw std::invalid_argument(what + ": " + str(a) + " x " + str(b) + " is too large");
	return a * b;
}

void check_linear(const Linear &l, const std::string &what)
{
	if (l.weight.size() != product(l.out, l.in, what))
		throw std::invalid_argument(what + ": weight holds " + str(l.weight.size()) + " values, expected " +
		                            str(l.out) + " x " + str(l.in));
	if (!l.bias.empty() && l.bias.size() != l.out)
		throw std::invalid_argument(what + ": bias holds " + str(l.bias.size()) + " values, expected " + str(l.out));
}

void check_features(CsrView g, std::span<const float> x, std::size_t dim, const char *layer)
{
	validate(g);
	if (x.size() != product(g.n, dim, layer))
		throw std::invalid_argument(std::string(layer) + ": features hold " + str(x.size()) + " values, expected " +
		                            str(g.n) + " nodes x " + str(dim));
}


// The MLP's output width; widest = the widest rows it passes through (input included).
std::size_t check_mlp(std::size_t in_dim, std::span<const MlpStep> mlp, std::size_t &widest)
{
	std::size_t d = in_dim;
	widest = in_dim;
	for (std::size_t s = 0; s < mlp.size(); s++) {
		const Linear *l = std::get_if<Linear>(&mlp[s]);
		if (!l)
			continue;
		std::string what = "GINConv mlp step " + str(s);
		check_linear(*l, what);
		if (l->in != d)
			throw std::invalid_argument(what + ": takes " + str(l->in) + " features, gets " + str(d));
		d = l->out;
		widest = std::max(widest, d);
	}
	return d;
}

// Runs mlp on `rows` rows of width w in cur (next: scratch as large as the widest step); the
// result ends in cur (the two are swapped as it goes).
void apply_mlp(float *&cur, float *&next, std::size_t rows, std::size_t w, std::span<const MlpStep> mlp)
{
	const auto &K = active_kernels();
	for (const MlpStep &step : mlp) {
		if (const Linear *l = std::get_if<Linear>(&step)) {
			K.gemm_nt(cur, w, l->weight.data(), w, next, l->out, rows, l->out, w);
			w = l->out;
			add_bias(next, rows, w, bias_or_null(l->bias));
			std::swap(cur, next);
		} else {
			relu_inplace(std::span<float>(cur, rows * w));
		}
	}
}

// The output width.
std::size_t check_gat(const GatParams &p, const GatOptions &opts)
{
	if (p.heads == 0)
		throw std::invalid_argument("GATConv: heads must be at least 1");
	const std::size_t hc = product(p.heads, p.channels, "GATConv heads x channels");
	check_linear(Linear{p.weight, {}, p.in, hc}, "GATConv lin");
	if (p.att_src.size() != hc || p.att_dst.size() != hc)
		throw std::invalid_argument("GATConv: att_src and att_dst must hold heads x channels = " + str(hc) +
		                            " values, got " + str(p.att_src.size()) + " and " + str(p.att_dst.size()));
	const std::size_t out = opts.concat ? hc : p.channels;
	if (!p.bias.empty() && p.bias.size() != out)
		throw std::invalid_argument("GATConv: bias holds " + str(p.bias.size()) + " values, expected " + str(out));
	return out;
}

void check_output(std::span<float> y, std::size_t n, std::size_t dim, const char *layer)
{
	if (y.size() != product(n, dim, layer))
		throw std::invalid_argument(std::string(layer) + ": output holds " + str(y.size()) + " values, expected " +
		                            str(n) + " nodes x " + str(dim));
}

// y (n rows, ldy apart) = x (n x in) w^T, w [out, in].
void transform(const float *x, std::size_t n, std::size_t in, const float *w, std::size_t out, float *y,
               std::size_t ldy, const CancelToken &cancel)
{
	const auto &K = active_kernels();
	for_blocks(n, kGemmRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		K.gemm_nt(x + lo * in, in, w, in, y + lo * ldy, ldy, hi - lo, out, in);
	});
}

// The edges a layer reads: g itself, or a copy with PyG's self-loop rule applied.
struct EdgeSet {
	Csr owned;
	CsrView g;
};

}  // namespace

// ---- GCNConv --------------------------------------------------------------------------------------

void gcn_conv_into(CsrView g, std::span<const float> x, const Linear &lin, std::span<float> y,
                   const GcnOptions &opts, CancelToken cancel)
{
	check_linear(lin, "GCNConv lin");
	check_features(g, x, lin.in, "GCNConv");
	const std::size_t n = g.n, in = lin.in, out = lin.out;
	check_output(y, n, out, "GCNConv");

	EdgeSet es{{}, g};
	if (opts.normalize && opts.add_self_loops) {
		es.owned = add_remaining_self_loops(g);
		es.g = es.owned;
	}
	CsrView a = es.g;

	// Edge coefficients w_ji / sqrt(deg_j deg_i), multiplied in PyG's order.
	Buffer coef;
	if (opts.normalize) {
		auto dis = uninitialized(n);
		for_blocks(n, 4096, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t i = lo; i < hi; i++) {
				double deg = 0;
				for (std::uint64_t e = a.row_ptr[i]; e < a.row_ptr[i + 1]; e++)
					deg += a.edge_weight(std::size_t(e));
				// deg^-1/2 with inf -> 0 (PyG's masked_fill); a negative degree gives NaN, found below.
				dis[i] = deg == 0 ? 0.0f : float(1.0 / std::sqrt(deg));
			}
		});
		for (std::size_t i = 0; i < n; i++)
			if (!(dis[i] >= 0)) {  // the lowest such node, at any thread count
				double deg = 0;
				for (std::uint64_t e = a.row_ptr[i]; e < a.row_ptr[i + 1]; e++)
					deg += a.edge_weight(std::size_t(e));
				throw NodeError(NodeError::Kind::negative_degree, i, deg);
			}
		coef = uninitialized(a.edges());
		for_blocks(n, 4096, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			for (std::size_t i = lo; i < hi; i++)
				for (std::uint64_t e = a.row_ptr[i]; e < a.row_ptr[i + 1]; e++)
					coef[e] = dis[a.col[e]] * a.edge_weight(std::size_t(e)) * dis[i];
		});
	}
	const float *c = opts.normalize ? coef.get() : bias_or_null(a.weight);
	const RowsFn reduce = rows_kernel(c ? Reduce::weighted_sum : Reduce::sum);
	const float *bias = bias_or_null(lin.bias);

	if (out < in) {
		// Transform first: the aggregation then moves out-wide rows instead of in-wide ones.
		auto h = uninitialized(n * out);
		transform(x.data(), n, in, lin.weight.data(), out, h.get(), out, cancel);
		for_blocks(n, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			reduce(RowsJob{.row_ptr = a.row_ptr.data(), .col = a.col.data(), .lo = lo, .hi = hi, .h = h.get(),
			               .ldh = out, .d = out, .out = y.data() + lo * out, .ldo = out, .coef = c, .bias = bias});
		});
	} else {
		const auto &K = active_kernels();
		Scratch scratch;
		for_blocks(n, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			float *agg = scratch.get(kRows * in);
			reduce(RowsJob{.row_ptr = a.row_ptr.data(), .col = a.col.data(), .lo = lo, .hi = hi, .h = x.data(),
			               .ldh = in, .d = in, .out = agg, .ldo = in, .coef = c});
			K.gemm_nt(agg, in, lin.weight.data(), in, y.data() + lo * out, out, hi - lo, out, in);
			add_bias(y.data() + lo * out, hi - lo, out, bias);
		});
	}
}

std::vector<float> gcn_conv(CsrView g, std::span<const float> x, const Linear &lin, const GcnOptions &opts,
                            CancelToken cancel)
{
	check_linear(lin, "GCNConv lin");  // before sizing the result from it
	std::vector<float> y(product(g.n, lin.out, "GCNConv"));
	gcn_conv_into(g, x, lin, y, opts, cancel);
	return y;
}

// ---- SAGEConv -------------------------------------------------------------------------------------

namespace {

void check_lstm(const Lstm &l, const std::string &what)
{
	const std::size_t g = product(4, l.hidden, what);
	if (l.weight_ih.size() != product(g, l.in, what) || l.weight_hh.size() != product(g, l.hidden, what))
		throw std::invalid_argument(what + ": weights hold " + str(l.weight_ih.size()) + " and " +
		                            str(l.weight_hh.size()) + " values, expected " + str(g) + " x " + str(l.in) +
		                            " and " + str(g) + " x " + str(l.hidden));
	if ((!l.bias_ih.empty() && l.bias_ih.size() != g) || (!l.bias_hh.empty() && l.bias_hh.size() != g))
		throw std::invalid_argument(what + ": biases must hold " + str(g) + " values");
}

// exp, sigmoid and tanh on W lanes, for the LSTM cell (scalar libm calls made it several times
// slower than the GEMMs around it). Cephes' expf: n = round(x log2 e), a degree-6 polynomial in
// x - n ln 2, scaled by 2^n; within 2 ulp of expf over the clamped range, NaN kept (it fails every
// comparison). One source for every ISA, like the aggregation kernels.
template <int W>
struct IntVecOf {
	typedef std::int32_t type __attribute__((vector_size(W * 4)));
};

// In place, by reference: no vector crosses a function boundary (see Vec).
template <int W>
[[gnu::always_inline]] inline void vexp(Vec<W> &x)
{
	using V = Vec<W>;
	using I = typename IntVecOf<W>::type;
	const V hi = 88.0f - V{}, lo = -87.0f - V{};  // 2^n stays a normal float
	x = x > hi ? hi : x;
	x = x < lo ? lo : x;
	V t = x * 1.44269504088896341f + 0.5f;
	I n = __builtin_convertvector(t, I);
	n += (__builtin_convertvector(n, V) > t);  // floor: a true comparison is -1
	const V fn = __builtin_convertvector(n, V);
	V r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
	V p = 1.9875691500e-4f - V{};
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * (r * r) + r + 1.0f;
	const I bits = (n + 127) << 23;
	x = p * (V)bits;
}

template <int W>
[[gnu::always_inline]] inline void vsigmoid(Vec<W> &x)
{
	x = -x;
	vexp<W>(x);
	x = 1.0f / (1.0f + x);
}

template <int W>
[[gnu::always_inline]] inline void vtanh(Vec<W> &x)
{
	x = 2.0f * x;
	vexp<W>(x);
	x = 1.0f - 2.0f / (x + 1.0f);
}

// One LSTM step over `rows` rows: gates (rows x 4H) hold x W_ih^T + h W_hh^T + biases; c and h
// (rows x H) are updated in place (PyTorch's cell: i, f, o sigmoid, g tanh).
template <int W>
[[gnu::always_inline]] inline void lstm_cell_w(const float *gates, std::size_t rows, std::size_t H, float *h, float *c)
{
	using V = Vec<W>;
	auto step = [](const float *gi, const float *gf, const float *gg, const float *go, float *hr, float *cr) {
		V i, f, g, o, cv;
		std::memcpy(&i, gi, sizeof(V));
		std::memcpy(&f, gf, sizeof(V));
		std::memcpy(&g, gg, sizeof(V));
		std::memcpy(&o, go, sizeof(V));
		std::memcpy(&cv, cr, sizeof(V));
		vsigmoid<W>(i);
		vsigmoid<W>(f);
		vtanh<W>(g);
		vsigmoid<W>(o);
		cv = f * cv + i * g;
		V hv = cv;
		vtanh<W>(hv);
		hv = o * hv;
		std::memcpy(cr, &cv, sizeof(V));
		std::memcpy(hr, &hv, sizeof(V));
	};
	for (std::size_t r = 0; r < rows; r++) {
		const float *gr = gates + r * 4 * H;
		float *hr = h + r * H, *cr = c + r * H;
		std::size_t k = 0;
		for (; k + W <= H; k += W)
			step(gr + k, gr + H + k, gr + 2 * H + k, gr + 3 * H + k, hr + k, cr + k);
		if (k < H) {  // the last columns through the same code, padded
			float in[5][W] = {}, out_h[W], out_c[W];
			const std::size_t m = H - k;
			for (int q = 0; q < 4; q++)
				std::copy_n(gr + q * H + k, m, in[q]);
			std::copy_n(cr + k, m, in[4]);
			step(in[0], in[1], in[2], in[3], out_h, in[4]);
			std::copy_n(in[4], m, out_c);
			std::copy_n(out_h, m, hr + k);
			std::copy_n(out_c, m, cr + k);
		}
	}
}

[[gnu::target("avx512f")]] void lstm_cell_avx512(const float *g, std::size_t rows, std::size_t H, float *h, float *c)
{
	lstm_cell_w<16>(g, rows, H, h, c);
}

[[gnu::target("avx2,fma")]] void lstm_cell_avx2(const float *g, std::size_t rows, std::size_t H, float *h, float *c)
{
	lstm_cell_w<8>(g, rows, H, h, c);
}

void lstm_cell_sse2(const float *g, std::size_t rows, std::size_t H, float *h, float *c)
{
	lstm_cell_w<4>(g, rows, H, h, c);
}

void lstm_cell(const float *gates, std::size_t rows, std::size_t H, float *h, float *c)
{
	static const auto fn = [] {
		switch (active_kernels().isa) {
		case Isa::avx512: return lstm_cell_avx512;
		case Isa::avx2: return lstm_cell_avx2;
		default: return lstm_cell_sse2;
		}
	}();
	fn(gates, rows, H, h, c);
}

// b_ih + b_hh (4H; zeros when neither is given).
std::vector<float> lstm_bias(const Lstm &l)
{
	std::vector<float> b(4 * l.hidden, 0.0f);
	for (std::size_t k = 0; k < b.size(); k++)
		b[k] = (l.bias_ih.empty() ? 0.0f : l.bias_ih[k]) + (l.bias_hh.empty() ? 0.0f : l.bias_hh[k]);
	return b;
}

// The width of x the layer reads (lin_l reads the aggregate: A x in wide for "cat", C for "attn").
std::size_t check_sage_params(const SageParams &p, const SageOptions &opts)
{
	check_linear(p.lin_l, "SAGEConv lin_l");
	const std::size_t A = opts.aggrs.size();
	std::size_t in = p.lin_l.in;
	if (A == 1)
		throw std::invalid_argument("SAGEConv: a MultiAggregation needs at least two aggregations");
	for (Aggr a : opts.aggrs)
		if (a == Aggr::lstm)
			throw std::invalid_argument("SAGEConv: lstm cannot be part of a MultiAggregation");
	if (A > 0 && opts.attn) {
		if (p.lin_heads.size() != A)
			throw std::invalid_argument("SAGEConv: " + str(p.lin_heads.size()) + " lin_heads for " + str(A) +
			                            " aggregations");
		in = p.lin_heads[0].in;
		const std::size_t C = p.lin_heads[0].out;
		for (const Linear &l : p.lin_heads) {
			check_linear(l, "SAGEConv lin_heads");
			if (l.in != in || l.out != C)
				throw std::invalid_argument("SAGEConv: lin_heads differ in shape");
		}
		if (p.lin_l.in != C)
			throw std::invalid_argument("SAGEConv: lin_l takes " + str(p.lin_l.in) + " features, the attention gives " +
			                            str(C));
		if (opts.heads == 0 || C % opts.heads != 0)
			throw std::invalid_argument("SAGEConv: attention width " + str(C) + " is not a multiple of heads " +
			                            str(opts.heads));
		if (p.in_proj_weight.size() != product(3 * C, C, "SAGEConv in_proj") ||
		    (!p.in_proj_bias.empty() && p.in_proj_bias.size() != 3 * C))
			throw std::invalid_argument("SAGEConv: in_proj must be [3C, C] with a [3C] bias, C = " + str(C));
		check_linear(p.out_proj, "SAGEConv out_proj");
		if (p.out_proj.in != C || p.out_proj.out != C)
			throw std::invalid_argument("SAGEConv: out_proj must be [C, C], C = " + str(C));
	} else if (A > 0) {
		if (in % A != 0)
			throw std::invalid_argument("SAGEConv: lin_l takes " + str(in) + " features, not a multiple of " + str(A) +
			                            " aggregations");
		in /= A;
	}
	if (opts.root_weight) {
		check_linear(p.lin_r, "SAGEConv lin_r");
		if (p.lin_r.in != in || p.lin_r.out != p.lin_l.out)
			throw std::invalid_argument("SAGEConv: lin_r is " + str(p.lin_r.out) + " x " + str(p.lin_r.in) +
			                            ", expected " + str(p.lin_l.out) + " x " + str(in));
	}
	if (opts.project) {
		check_linear(p.lin, "SAGEConv lin");
		if (p.lin.in != in || p.lin.out != in)
			throw std::invalid_argument("SAGEConv: lin (project) is " + str(p.lin.out) + " x " + str(p.lin.in) +
			                            ", expected " + str(in) + " x " + str(in));
	}
	if (A == 0 && opts.aggr == Aggr::lstm) {
		check_lstm(p.lstm, "SAGEConv LSTM");
		if (p.lstm.in != in || p.lstm.hidden != in)
			throw std::invalid_argument("SAGEConv: the LSTM maps " + str(p.lstm.in) + " to " + str(p.lstm.hidden) +
			                            " features, expected " + str(in) + " to " + str(in));
	}
	return in;
}

// MultiAggregation "attn" over rows lo..hi-1 of a block (see SageOptions): the combined aggregate,
// C wide, goes to out (ldo apart). s: scratch of attn_scratch(rows) floats.
struct AttnCombine {
	CsrView g;
	const float *src;  // the rows aggregated (x, or the projected x)
	std::size_t in;
	const SageParams &p;
	const SageOptions &o;

	std::size_t C() const { return p.lin_heads[0].out; }
	std::size_t scratch(std::size_t rows) const
	{
		const std::size_t A = o.aggrs.size();
		return rows * in + rows * A * (C() * 3 + 3 * C()) + A;
	}

	void operator()(std::size_t lo, std::size_t hi, float *out, std::size_t ldo, float *s) const
	{
		const std::size_t rows = hi - lo, A = o.aggrs.size(), c = C(), H = o.heads, dh = c / H;
		float *agg = s, *t = agg + rows * in, *qkv = t + rows * A * c, *att = qkv + rows * A * 3 * c,
		      *proj = att + rows * A * c, *score = proj + rows * A * c;
		const auto &K = active_kernels();
		// Token a of row r sits at (r * A + a): each aggregate through its own Linear.
		for (std::size_t a = 0; a < A; a++) {
			rows_kernel(reduce_of(o.aggrs[a]))(RowsJob{.row_ptr = g.row_ptr.data(), .col = g.col.data(), .lo = lo,
			                                           .hi = hi, .h = src, .ldh = in, .d = in, .out = agg, .ldo = in});
			const Linear &l = p.lin_heads[a];
			K.gemm_nt(agg, in, l.weight.data(), in, t + a * c, A * c, rows, c, in);
			if (!l.bias.empty())
				for (std::size_t r = 0; r < rows; r++)
					add_into(l.bias.data(), t + (r * A + a) * c, c);
		}
		K.gemm_nt(t, c, p.in_proj_weight.data(), c, qkv, 3 * c, rows * A, 3 * c, c);
		add_bias(qkv, rows * A, 3 * c, bias_or_null(p.in_proj_bias));
		// Scaled dot-product attention per row and head over the A tokens (eval mode: no dropout).
		const float scale = 1.0f / std::sqrt(float(dh));
		for (std::size_t r = 0; r < rows; r++)
			for (std::size_t h = 0; h < H; h++)
				for (std::size_t a = 0; a < A; a++) {
					const float *q = qkv + (r * A + a) * 3 * c + h * dh;
					float mx = -std::numeric_limits<float>::infinity(), sum = 0;
					for (std::size_t b = 0; b < A; b++) {
						const float *k = qkv + (r * A + b) * 3 * c + c + h * dh;
						float v = 0;
						for (std::size_t j = 0; j < dh; j++)
							v += (q[j] * scale) * k[j];
						score[b] = v;
						mx = std::max(mx, v);
					}
					for (std::size_t b = 0; b < A; b++) {
						score[b] = std::exp(score[b] - mx);
						sum += score[b];
					}
					float *o_row = att + (r * A + a) * c + h * dh;
					std::fill_n(o_row, dh, 0.0f);
					for (std::size_t b = 0; b < A; b++) {
						const float *v = qkv + (r * A + b) * 3 * c + 2 * c + h * dh;
						const float w = score[b] / sum;
						for (std::size_t j = 0; j < dh; j++)
							o_row[j] += w * v[j];
					}
				}
		K.gemm_nt(att, c, p.out_proj.weight.data(), c, proj, c, rows * A, c, c);
		add_bias(proj, rows * A, c, bias_or_null(p.out_proj.bias));
		for (std::size_t r = 0; r < rows; r++) {  // torch.mean over the tokens: their sum, divided
			float *row = out + r * ldo;
			std::copy_n(proj + r * A * c, c, row);
			for (std::size_t a = 1; a < A; a++)
				add_into(proj + (r * A + a) * c, row, c);
			for (std::size_t k = 0; k < c; k++)
				row[k] /= float(A);
		}
	}
};

// LSTMAggregation over rows lo..hi-1 (see gnn.hpp): pre holds each node's x_j W_ih^T (n x 4H),
// bias b_ih + b_hh, steps the graph's largest in-degree. The last hidden states go to out (ldo apart).
struct LstmAggregate {
	CsrView g;
	const float *pre;
	const float *bias;
	const Lstm &lstm;
	std::size_t steps;

	// scratch: rows x 6H floats; order: the block's edge count.
	void operator()(std::size_t lo, std::size_t hi, float *out, std::size_t ldo, float *scratch,
	                std::uint32_t *order) const
	{
		const std::size_t rows = hi - lo, H = lstm.hidden, G = 4 * H;
		float *gates = scratch, *h = gates + rows * G, *c = h + rows * H;
		// Each row's sources in ascending order (PyG's edge order after sort_edge_index).
		const std::uint64_t e_lo = g.row_ptr[lo];
		std::copy(g.col.begin() + std::ptrdiff_t(e_lo), g.col.begin() + std::ptrdiff_t(g.row_ptr[hi]), order);
		for (std::size_t i = lo; i < hi; i++)
			std::sort(order + (g.row_ptr[i] - e_lo), order + (g.row_ptr[i + 1] - e_lo));
		std::fill_n(h, rows * H, 0.0f);
		std::fill_n(c, rows * H, 0.0f);
		const auto &K = active_kernels();
		for (std::size_t t = 0; t < steps; t++) {
			if (t == 0)
				std::fill_n(gates, rows * G, 0.0f);  // h0 = 0
			else
				K.gemm_nt(h, H, lstm.weight_hh.data(), H, gates, G, rows, G, H);
			for (std::size_t r = 0; r < rows; r++) {
				const std::size_t i = lo + r;
				float *gr = gates + r * G;
				if (t < g.in_degree(i)) {  // else a zero-padding step: x W_ih^T = 0
					const float *p = pre + std::size_t(order[g.row_ptr[i] - e_lo + t]) * G;
					for (std::size_t k = 0; k < G; k++)
						gr[k] += p[k];
				}
				for (std::size_t k = 0; k < G; k++)
					gr[k] += bias[k];
			}
			lstm_cell(gates, rows, H, h, c);
		}
		for (std::size_t r = 0; r < rows; r++)
			std::copy_n(h + r * H, H, out + r * ldo);
	}
};

}  // namespace

void sage_conv_into(CsrView g, std::span<const float> x, const SageParams &p, std::span<float> y,
                    const SageOptions &opts, CancelToken cancel)
{
	const std::size_t in = check_sage_params(p, opts);
	const Linear &lin_l = p.lin_l, &lin_r = p.lin_r;
	const bool root = opts.root_weight;
	const bool multi = !opts.aggrs.empty();
	check_features(g, x, in, "SAGEConv");
	const std::size_t n = g.n, aw = lin_l.in, out = lin_l.out;  // aw: the aggregate's width
	check_output(y, n, out, "SAGEConv");

	// project: the neighbours' rows are relu(lin(x_j)); lin_r still reads x_i.
	Buffer projected;
	const float *src = x.data();
	if (opts.project) {
		projected = uninitialized(n * in);
		transform(x.data(), n, in, p.lin.weight.data(), in, projected.get(), in, cancel);
		for_blocks(n, kGemmRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			add_bias(projected.get() + lo * in, hi - lo, in, bias_or_null(p.lin.bias));
			relu_inplace(std::span<float>(projected.get() + lo * in, (hi - lo) * in));
		});
		src = projected.get();
	}

	// lin_l's bias, plus lin_r's if it has one: added once, at the end.
	std::vector<float> bias(lin_l.bias.begin(), lin_l.bias.end());
	if (root && !lin_r.bias.empty()) {
		bias.resize(out, 0.0f);
		for (std::size_t o = 0; o < out; o++)
			bias[o] += lin_r.bias[o];
	}
	const float *b = bias.empty() ? nullptr : bias.data();
	auto normalize = [&](float *rows, std::size_t count) {
		if (opts.normalize)
			for (std::size_t r = 0; r < count; r++)
				l2_normalize(rows + r * out, out);
	};

	if (!multi && (opts.aggr == Aggr::mean || opts.aggr == Aggr::sum) && out < in) {
		// Transform first (mean and sum commute with lin_l): one GEMM against [W_l; W_r] gives each
		// node's lin_l and lin_r images side by side (two when projecting: the images are of
		// different rows); only out-wide rows are aggregated, and the lin_r image and the bias are
		// added in the aggregation's epilogue.
		const RowsFn reduce = rows_kernel(reduce_of(opts.aggr));
		const std::size_t hw = root ? 2 * out : out;
		auto h = uninitialized(n * hw);
		if (opts.project) {
			transform(src, n, in, lin_l.weight.data(), out, h.get(), hw, cancel);
			if (root)
				transform(x.data(), n, in, lin_r.weight.data(), out, h.get() + out, hw, cancel);
		} else {
			std::vector<float> w(lin_l.weight.begin(), lin_l.weight.end());
			if (root)
				w.insert(w.end(), lin_r.weight.begin(), lin_r.weight.end());
			transform(x.data(), n, in, w.data(), hw, h.get(), hw, cancel);
		}
		for_blocks(n, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
			float *rows = y.data() + lo * out;
			reduce(RowsJob{.row_ptr = g.row_ptr.data(), .col = g.col.data(), .lo = lo, .hi = hi, .h = h.get(),
			               .ldh = hw, .d = out, .out = rows, .ldo = out, .self = root ? h.get() + out : nullptr,
			               .ld_self = hw, .bias = b});
			normalize(rows, hi - lo);
		});
		return;
	}

	// Aggregate first, then one GEMM of [aggr | x_i] against [W_l | W_r].
	const auto &K = active_kernels();
	const std::size_t kw = root ? aw + in : aw;
	std::vector<float> wcat;
	const float *w = lin_l.weight.data();
	if (root) {
		wcat.resize(out * kw);
		for (std::size_t r = 0; r < out; r++) {
			std::copy_n(lin_l.weight.data() + r * aw, aw, wcat.data() + r * kw);
			std::copy_n(lin_r.weight.data() + r * in, in, wcat.data() + r * kw + aw);
		}
		w = wcat.data();
	}
	// LSTM: every node's input-gate image x_j W_ih^T once, gathered per edge at each step.
	Buffer pre;
	std::vector<float> lstm_b;
	std::size_t steps = 0;
	if (!multi && opts.aggr == Aggr::lstm) {
		pre = uninitialized(n * 4 * in);
		transform(src, n, in, p.lstm.weight_ih.data(), 4 * in, pre.get(), 4 * in, cancel);
		lstm_b = lstm_bias(p.lstm);
		steps = max_in_degree(g);
	}
	const LstmAggregate lstm{g, pre.get(), lstm_b.data(), p.lstm, steps};
	const RowsFn reduce = multi || opts.aggr == Aggr::lstm ? nullptr : rows_kernel(reduce_of(opts.aggr));
	const AttnCombine attn{g, src, in, p, opts};
	Scratch scratch, lstm_scratch;
	Scratch<std::uint32_t> lstm_order;
	// The LSTM runs a GEMM against W_hh per step and block, which packs W_hh again each time: taller
	// blocks pay for that less often.
	const std::size_t block = reduce || multi ? kRows : kGemmRows;
	for_blocks(n, block, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		float *buf = scratch.get(block * kw);
		if (reduce)
			reduce(RowsJob{.row_ptr = g.row_ptr.data(), .col = g.col.data(), .lo = lo, .hi = hi, .h = src,
			               .ldh = in, .d = in, .out = buf, .ldo = kw});
		else if (multi && opts.attn)
			attn(lo, hi, buf, kw, lstm_scratch.get(attn.scratch(hi - lo)));
		else if (multi)  // "cat": the aggregates side by side
			for (std::size_t a = 0; a < opts.aggrs.size(); a++)
				rows_kernel(reduce_of(opts.aggrs[a]))(RowsJob{.row_ptr = g.row_ptr.data(), .col = g.col.data(),
				                                              .lo = lo, .hi = hi, .h = src, .ldh = in, .d = in,
				                                              .out = buf + a * in, .ldo = kw});
		else
			lstm(lo, hi, buf, kw, lstm_scratch.get((hi - lo) * 6 * in),
			     lstm_order.get(std::size_t(g.row_ptr[hi] - g.row_ptr[lo]) + 1));
		if (root)
			for (std::size_t i = lo; i < hi; i++)
				std::copy_n(x.data() + i * in, in, buf + (i - lo) * kw + aw);
		float *rows = y.data() + lo * out;
		K.gemm_nt(buf, kw, w, kw, rows, out, hi - lo, out, kw);
		add_bias(rows, hi - lo, out, b);
		normalize(rows, hi - lo);
	});
}

std::vector<float> sage_conv(CsrView g, std::span<const float> x, const SageParams &p, const SageOptions &opts,
                             CancelToken cancel)
{
	check_sage_params(p, opts);
	std::vector<float> y(product(g.n, p.lin_l.out, "SAGEConv"));
	sage_conv_into(g, x, p, y, opts, cancel);
	return y;
}

void sage_conv_into(CsrView g, std::span<const float> x, const Linear &lin_l, const Linear &lin_r,
                    std::span<float> y, const SageOptions &opts, CancelToken cancel)
{
	SageParams p;
	p.lin_l = lin_l;
	p.lin_r = lin_r;
	sage_conv_into(g, x, p, y, opts, cancel);
}

std::vector<float> sage_conv(CsrView g, std::span<const float> x, const Linear &lin_l, const Linear &lin_r,
                             const SageOptions &opts, CancelToken cancel)
{
	SageParams p;
	p.lin_l = lin_l;
	p.lin_r = lin_r;
	return sage_conv(g, x, p, opts, cancel);
}

// ---- GINConv --------------------------------------------------------------------------------------

std::size_t mlp_output_dim(std::size_t in_dim, std::span<const MlpStep> mlp) noexcept
{
	std::size_t d = in_dim;
	for (const MlpStep &s : mlp)
		if (const Linear *l = std::get_if<Linear>(&s))
			d = l->out;
	return d;
}

void gin_conv_into(CsrView g, std::span<const float> x, std::size_t in_dim, std::span<const MlpStep> mlp,
                   std::span<float> y, float eps, CancelToken cancel)
{
	check_features(g, x, in_dim, "GINConv");
	std::size_t widest = 0;
	const std::size_t n = g.n, out = check_mlp(in_dim, mlp, widest);
	check_output(y, n, out, "GINConv");
	const RowsFn reduce = rows_kernel(Reduce::sum);

	// Transform first when the MLP opens with a narrowing Linear: it commutes with the sum, and its
	// bias is then added once, in the aggregation's epilogue.
	const Linear *first = mlp.empty() ? nullptr : std::get_if<Linear>(&mlp[0]);
	const bool pre = first && first->out < in_dim;
	Buffer h;
	const float *src = x.data();
	std::size_t sd = in_dim;
	std::span<const MlpStep> rest = mlp;
	if (pre) {
		h = uninitialized(n * first->out);
		transform(x.data(), n, in_dim, first->weight.data(), first->out, h.get(), first->out, cancel);
		src = h.get();
		sd = first->out;
		rest = mlp.subspan(1);
	}

	Scratch s0, s1;
	for_blocks(n, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		const std::size_t rows = hi - lo;
		float *cur = s0.get(kRows * widest), *next = s1.get(kRows * widest);
		// sum_j x_j + (1 + eps) x_i, in PyG's order: neighbours first.
		reduce(RowsJob{.row_ptr = g.row_ptr.data(), .col = g.col.data(), .lo = lo, .hi = hi, .h = src, .ldh = sd,
		               .d = sd, .out = cur, .ldo = sd, .self = src, .ld_self = sd, .self_scale = 1.0f + eps,
		               .bias = pre ? bias_or_null(first->bias) : nullptr});
		apply_mlp(cur, next, rows, sd, rest);
		std::copy_n(cur, rows * out, y.data() + lo * out);
	});
}

std::vector<float> gin_conv(CsrView g, std::span<const float> x, std::size_t in_dim, std::span<const MlpStep> mlp,
                            float eps, CancelToken cancel)
{
	std::size_t widest = 0;
	std::vector<float> y(product(g.n, check_mlp(in_dim, mlp, widest), "GINConv"));
	gin_conv_into(g, x, in_dim, mlp, y, eps, cancel);
	return y;
}

// ---- GATConv --------------------------------------------------------------------------------------

void gat_conv_into(CsrView g, std::span<const float> x, const GatParams &p, std::span<float> y,
                   const GatOptions &opts, CancelToken cancel)
{
	const std::size_t out = check_gat(p, opts);
	const std::size_t H = p.heads, C = p.channels, hc = H * C, in = p.in;
	check_features(g, x, in, "GATConv");
	const std::size_t n = g.n;
	check_output(y, n, out, "GATConv");

	EdgeSet es{{}, g};
	if (opts.add_self_loops) {
		es.owned = replace_self_loops(g);
		es.g = es.owned;
	}
	CsrView a = es.g;

	// Z = x W^T, and each node's attention terms from the same GEMM kernel: <Z_i,h, att_h> =
	// x_i . (W_h^T att_h), so 2 * heads weight rows W_h^T att_src_h, W_h^T att_dst_h give them all.
	// They live apart from Z, [node][src heads, dst heads]: the softmax reads a source's terms once
	// per edge, from a table small enough for L2.
	std::vector<float> wa(2 * H * in);
	for (std::size_t h = 0; h < H; h++)
		for (std::size_t k = 0; k < in; k++) {
			double s = 0, t = 0;
			for (std::size_t c = 0; c < C; c++) {
				s += double(p.att_src[h * C + c]) * p.weight[(h * C + c) * in + k];
				t += double(p.att_dst[h * C + c]) * p.weight[(h * C + c) * in + k];
			}
			wa[h * in + k] = float(s);
			wa[(H + h) * in + k] = float(t);
		}
	auto z = uninitialized(n * hc), att = uninitialized(n * 2 * H);
	const auto &K = active_kernels();
	for_blocks(n, kGemmRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		K.gemm_nt(x.data() + lo * in, in, p.weight.data(), in, z.get() + lo * hc, hc, hi - lo, hc, in);
		K.gemm_nt(x.data() + lo * in, in, wa.data(), in, att.get() + lo * 2 * H, 2 * H, hi - lo, 2 * H, in);
	});
	auto att_src = [&](std::size_t j, std::size_t h) { return att[j * 2 * H + h]; };
	auto att_dst = [&](std::size_t i, std::size_t h) { return att[i * 2 * H + H + h]; };

	const RowsFn reduce = rows_kernel(Reduce::weighted_sum);
	const float slope = opts.negative_slope;
	Scratch s_alpha, s_acc;
	for_blocks(n, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		// Attention coefficients of the block's edges, [edge][head]: softmax over each node's in-edges,
		// shifted by the maximum like torch_geometric.utils.softmax.
		const std::uint64_t e_lo = a.row_ptr[lo];
		float *alpha = s_alpha.get(std::size_t(a.row_ptr[hi] - e_lo) * H);
		for (std::size_t i = lo; i < hi; i++) {
			const std::uint64_t e0 = a.row_ptr[i], e1 = a.row_ptr[i + 1];
			for (std::size_t h = 0; h < H; h++) {
				float *al = alpha + (e0 - e_lo) * H + h;  // edge e's at al[(e - e0) * H]
				const float dst_term = att_dst(i, h);
				float mx = -std::numeric_limits<float>::infinity(), sum = 0;
				for (std::uint64_t e = e0; e < e1; e++) {
					float v = att_src(a.col[e], h) + dst_term;
					// LeakyReLU without a branch (signs are random): exactly v or slope * v, -0 and NaN kept.
					v = std::max(v, 0.0f) + slope * std::min(v, 0.0f);
					al[(e - e0) * H] = v;
					mx = std::max(mx, v);
				}
				for (std::uint64_t e = e0; e < e1; e++) {
					float v = std::exp(al[(e - e0) * H] - mx);
					al[(e - e0) * H] = v;
					sum += v;
				}
				const float inv = 1.0f / (sum + 1e-16f);  // PyG's guard against an empty sum
				for (std::uint64_t e = e0; e < e1; e++)
					al[(e - e0) * H] *= inv;
			}
		}
		// out_i = sum_j alpha_ji Z_j: all heads in one pass over the edges when every vector falls
		// inside one head, else head by head.
		float *dst = opts.concat ? y.data() + lo * out : s_acc.get(kRows * hc);
		const float *b = opts.concat ? bias_or_null(p.bias) : nullptr;
		RowsJob job{.row_ptr = a.row_ptr.data(), .col = a.col.data(), .lo = lo, .hi = hi, .h = z.get(), .ldh = hc,
		            .d = hc, .out = dst, .ldo = hc, .coef = alpha, .coef_base = e_lo, .coef_stride = H,
		            .coef_group = C, .bias = b};
		if (C % 16 == 0) {
			reduce(job);
		} else {
			for (std::size_t h = 0; h < H; h++) {
				RowsJob head = job;
				head.h = z.get() + h * C;
				head.d = C;
				head.out = dst + h * C;
				head.coef = alpha + h;
				head.coef_group = 0;
				head.bias = b ? b + h * C : nullptr;
				reduce(head);
			}
		}
		if (!opts.concat)
			for (std::size_t i = lo; i < hi; i++) {
				const float *acc = dst + (i - lo) * hc;
				float *row = y.data() + i * out;
				std::copy_n(acc, C, row);
				for (std::size_t h = 1; h < H; h++)
					add_into(acc + h * C, row, C);
				for (std::size_t c = 0; c < C; c++)
					row[c] /= float(H);
				add_bias(row, 1, C, bias_or_null(p.bias));
			}
	});
}

std::vector<float> gat_conv(CsrView g, std::span<const float> x, const GatParams &p, const GatOptions &opts,
                            CancelToken cancel)
{
	std::vector<float> y(product(g.n, check_gat(p, opts), "GATConv"));
	gat_conv_into(g, x, p, y, opts, cancel);
	return y;
}

// ---- Per-row MLPs and readouts -------------------------------------------------------------------

std::vector<float> mlp_rows(std::span<const float> x, std::size_t rows, std::size_t in_dim,
                            std::span<const MlpStep> mlp, CancelToken cancel)
{
	std::size_t widest = 0;
	const std::size_t out = check_mlp(in_dim, mlp, widest);
	if (x.size() != product(rows, in_dim, "MLP"))
		throw std::invalid_argument("MLP: input holds " + str(x.size()) + " values, expected " + str(rows) + " x " +
		                            str(in_dim));
	std::vector<float> y(product(rows, out, "MLP"));
	Scratch s0, s1;
	for_blocks(rows, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		float *cur = s0.get(kRows * widest), *next = s1.get(kRows * widest);
		std::copy_n(x.data() + lo * in_dim, (hi - lo) * in_dim, cur);
		apply_mlp(cur, next, hi - lo, in_dim, mlp);
		std::copy_n(cur, (hi - lo) * out, y.data() + lo * out);
	});
	return y;
}

namespace {

// The nodes of each graph, in node order: members[ptr[g] .. ptr[g + 1]).
struct Groups {
	std::vector<std::uint64_t> ptr;
	std::vector<std::uint32_t> members;
};

Groups group_nodes(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch, std::size_t graphs,
                   const char *what)
{
	if (x.size() != product(batch.size(), d, what))
		throw std::invalid_argument(std::string(what) + ": features hold " + str(x.size()) + " values, expected " +
		                            str(batch.size()) + " nodes x " + str(d));
	if (batch.size() > std::numeric_limits<std::uint32_t>::max())
		throw std::invalid_argument(std::string(what) + ": too many nodes");
	Groups gr;
	gr.ptr.assign(graphs + 1, 0);
	for (std::uint32_t b : batch) {
		if (b >= graphs)
			throw std::invalid_argument(std::string(what) + ": node in graph " + str(b) + ", there are " + str(graphs));
		gr.ptr[b + 1]++;
	}
	for (std::size_t g = 0; g < graphs; g++)
		gr.ptr[g + 1] += gr.ptr[g];
	std::vector<std::uint64_t> next(gr.ptr.begin(), gr.ptr.end() - 1);
	gr.members.resize(batch.size());
	for (std::size_t i = 0; i < batch.size(); i++)
		gr.members[next[batch[i]]++] = std::uint32_t(i);
	return gr;
}

// Softmax of v[0 .. count) (stride apart) in place, as torch_geometric.utils.softmax.
void group_softmax(float *v, std::size_t count, std::size_t stride)
{
	float mx = -std::numeric_limits<float>::infinity(), sum = 0;
	for (std::size_t k = 0; k < count; k++)
		mx = std::max(mx, v[k * stride]);
	for (std::size_t k = 0; k < count; k++) {
		v[k * stride] = std::exp(v[k * stride] - mx);
		sum += v[k * stride];
	}
	const float denom = sum + 1e-16f;
	for (std::size_t k = 0; k < count; k++)
		v[k * stride] /= denom;
}

}  // namespace

std::vector<float> global_pool(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch,
                               std::size_t graphs, Pool pool, CancelToken cancel)
{
	const Groups gr = group_nodes(x, d, batch, graphs, "global pool");
	std::vector<float> y(product(graphs, d, "global pool"));
	const RowsFn reduce = rows_kernel(pool == Pool::add ? Reduce::sum : pool == Pool::mean ? Reduce::mean : Reduce::max);
	for_blocks(graphs, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		reduce(RowsJob{.row_ptr = gr.ptr.data(), .col = gr.members.data(), .lo = lo, .hi = hi, .h = x.data(), .ldh = d,
		               .d = d, .out = y.data() + lo * d, .ldo = d});
	});
	return y;
}

std::vector<float> attentional_aggregation(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch,
                                           std::size_t graphs, std::span<const MlpStep> gate_nn,
                                           std::span<const MlpStep> nn, CancelToken cancel)
{
	const Groups gr = group_nodes(x, d, batch, graphs, "AttentionalAggregation");
	const std::size_t n = batch.size();
	std::size_t widest = 0;
	const std::size_t gw = check_mlp(d, gate_nn, widest), out = check_mlp(d, nn, widest);
	if (gw != 1 && gw != out)
		throw std::invalid_argument("AttentionalAggregation: gate_nn gives " + str(gw) + " columns, expected 1 or " +
		                            str(out));
	std::vector<float> gate = mlp_rows(x, n, d, gate_nn, cancel);
	std::vector<float> h;
	if (!nn.empty())
		h = mlp_rows(x, n, d, nn, cancel);
	const float *hv = nn.empty() ? x.data() : h.data();
	std::vector<float> y(product(graphs, out, "AttentionalAggregation"), 0.0f);
	Scratch alpha_s;
	for_blocks(graphs, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		for (std::size_t g = lo; g < hi; g++) {
			const std::uint64_t m0 = gr.ptr[g], count = gr.ptr[g + 1] - m0;
			float *alpha = alpha_s.get(std::size_t(count) * gw + 1);
			for (std::uint64_t k = 0; k < count; k++)
				std::copy_n(gate.data() + std::size_t(gr.members[m0 + k]) * gw, gw, alpha + k * gw);
			for (std::size_t c = 0; c < gw; c++)
				group_softmax(alpha + c, count, gw);
			float *row = y.data() + g * out;
			for (std::uint64_t k = 0; k < count; k++) {
				const float *v = hv + std::size_t(gr.members[m0 + k]) * out;
				const float *a = alpha + k * gw;
				for (std::size_t c = 0; c < out; c++)
					row[c] += a[gw == 1 ? 0 : c] * v[c];
			}
		}
	});
	return y;
}

std::vector<float> set2set(std::span<const float> x, std::size_t d, std::span<const std::uint32_t> batch,
                           std::size_t graphs, const Lstm &lstm, std::size_t processing_steps, CancelToken cancel)
{
	const Groups gr = group_nodes(x, d, batch, graphs, "Set2Set");
	check_lstm(lstm, "Set2Set LSTM");
	if (lstm.in != 2 * d || lstm.hidden != d)
		throw std::invalid_argument("Set2Set: the LSTM maps " + str(lstm.in) + " to " + str(lstm.hidden) +
		                            " features, expected " + str(2 * d) + " to " + str(d));
	const std::size_t G = 4 * d, w = 2 * d;
	const std::vector<float> bias = lstm_bias(lstm);
	std::vector<float> y(product(graphs, w, "Set2Set"), 0.0f);  // q*, updated in place
	const auto &K = active_kernels();
	Scratch gates_s, hc_s, tmp_s, e_s;
	// Graphs are independent: a block of them runs every step.
	for_blocks(graphs, kRows, cancel, [&](std::size_t, std::size_t lo, std::size_t hi) {
		const std::size_t rows = hi - lo;
		float *gates = gates_s.get(rows * G), *hc = hc_s.get(2 * rows * d), *tmp = tmp_s.get(rows * G);
		float *h = hc, *c = hc + rows * d;
		float *q = y.data() + lo * w;
		std::fill_n(hc, 2 * rows * d, 0.0f);
		for (std::size_t step = 0; step < processing_steps; step++) {
			K.gemm_nt(q, w, lstm.weight_ih.data(), w, gates, G, rows, G, w);
			K.gemm_nt(h, d, lstm.weight_hh.data(), d, tmp, G, rows, G, d);
			for (std::size_t r = 0; r < rows; r++)
				for (std::size_t k = 0; k < G; k++)
					gates[r * G + k] += tmp[r * G + k] + bias[k];
			lstm_cell(gates, rows, d, h, c);
			for (std::size_t g = lo; g < hi; g++) {
				const float *qg = h + (g - lo) * d;
				const std::uint64_t m0 = gr.ptr[g], count = gr.ptr[g + 1] - m0;
				float *e = e_s.get(std::size_t(count) + 1);
				for (std::uint64_t k = 0; k < count; k++) {
					const float *xi = x.data() + std::size_t(gr.members[m0 + k]) * d;
					float s = 0;
					for (std::size_t t = 0; t < d; t++)
						s += xi[t] * qg[t];
					e[k] = s;
				}
				group_softmax(e, count, 1);
				float *row = y.data() + g * w;
				std::copy_n(qg, d, row);
				std::fill_n(row + d, d, 0.0f);
				for (std::uint64_t k = 0; k < count; k++) {
					const float *xi = x.data() + std::size_t(gr.members[m0 + k]) * d;
					for (std::size_t t = 0; t < d; t++)
						row[d + t] += e[k] * xi[t];
				}
			}
		}
	});
	return y;
}

// ---- Helpers ----------------------------------------------------------------------------------

NodeError::NodeError(Kind k, std::size_t node_index, double v)
	: std::runtime_error(k == Kind::overflow ? "value out of range: overflow"
	                                         : "GCN normalisation needs a non-negative weighted in-degree"),
	  kind(k), node(node_index), value(v)
{
}

void check_finite_rows(std::span<const float> rows, std::size_t width)
{
	if (width == 0)
		return;
	for (std::size_t r = 0; r < rows.size() / width; r++) {
		// Exponent bits all ones: Inf or NaN. Integer tests, so the compiler vectorises the row.
		const float *p = rows.data() + r * width;
		bool bad = false;
		for (std::size_t k = 0; k < width; k++) {
			std::uint32_t b;
			std::memcpy(&b, p + k, sizeof b);
			bad |= (b & 0x7f800000u) == 0x7f800000u;
		}
		if (bad)
			throw NodeError(NodeError::Kind::overflow, r);
	}
}

void relu_inplace(std::span<float> v) noexcept
{
	// Branch-free: signs of activations are random, and a mispredicted branch per value cost more
	// than the GEMM beside it. A NaN fails x < 0, so it stays.
	using V = Vec<4>;
	float *p = v.data();
	std::size_t k = 0;
	for (; k + 4 <= v.size(); k += 4) {
		V x;
		std::memcpy(&x, p + k, sizeof(V));
		x = x < V{} ? V{} : x;
		std::memcpy(p + k, &x, sizeof(V));
	}
	for (; k < v.size(); k++)
		p[k] = p[k] < 0 ? 0.0f : p[k];
}

std::vector<float> glorot(std::size_t out, std::size_t in, std::uint64_t seed)
{
	std::vector<float> w(out * in);
	if (w.empty())
		return w;
	const double bound = std::sqrt(6.0 / double(in + out));
	SplitMix64 rng(seed);
	for (float &v : w)
		v = float((2 * rng.uniform() - 1) * bound);
	return w;
}

}  // namespace ruvector::kernels
