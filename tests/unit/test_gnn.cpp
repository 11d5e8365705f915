// GNN layers against straightforward double-precision loops over the raw edge list, written from
// PyTorch Geometric's definitions (GCNConv with add_remaining_self_loops and gcn_norm, SAGEConv,
// GINConv, GATConv in eval mode). Random graphs carry isolated nodes, source-only nodes,
// repeated self-loops with different weights, duplicate edges and weighted edges; widths cover
// both aggregation orders (out < in and out >= in) and odd sizes. Also: CSR construction and its
// errors, the self-loop helpers, neighbour sampling, Glorot init, thread-count determinism,
// argument checks and cancellation.
#include "worker/kernels/gnn.hpp"
#include "worker/kernels/graph.hpp"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct EdgeList {
	std::size_t n = 0;
	std::vector<std::uint32_t> src, dst;
	std::vector<float> w;  // empty = unweighted

	double weight(std::size_t e) const { return w.empty() ? 1.0 : double(w[e]); }
	Csr csr() const { return build_csr(n, src, dst, w); }
};

// The last 5 nodes have no edges at all; node n-6 only sends. Every 7th node gets a self-loop and
// every 11th two more (different weights, so "the last loop wins" is observable); a tenth of the
// edges appear twice, and the order is shuffled so loops and duplicates land anywhere in a row.
EdgeList random_graph(std::size_t n, std::size_t m, std::uint32_t seed, bool weighted)
{
	std::mt19937 rng(seed);
	const std::size_t active = n - 5;
	std::uniform_int_distribution<std::uint32_t> any_src(0, std::uint32_t(active - 1));
	std::uniform_int_distribution<std::uint32_t> any_dst(0, std::uint32_t(active - 2));
	std::uniform_real_distribution<float> wdist(0.25f, 2.0f);
	std::vector<std::pair<std::uint32_t, std::uint32_t>> e;
	for (std::size_t k = 0; k < m; k++)
		e.emplace_back(any_src(rng), any_dst(rng));
	for (std::uint32_t i = 0; i + 1 < active; i++) {
		if (i % 7 == 0)
			e.emplace_back(i, i);
		if (i % 11 == 0) {
			e.emplace_back(i, i);
			e.emplace_back(i, i);
		}
	}
	std::size_t base = e.size();
	for (std::size_t k = 0; k < base / 10; k++)
		e.push_back(e[rng() % base]);
	std::shuffle(e.begin(), e.end(), rng);
	EdgeList g;
	g.n = n;
	for (auto [s, d] : e) {
		g.src.push_back(s);
		g.dst.push_back(d);
		if (weighted)
			g.w.push_back(wdist(rng));
	}
	return g;
}

std::vector<float> random_values(std::size_t count, std::uint32_t seed, float scale = 1.0f)
{
	std::mt19937 rng(seed);
	std::uniform_real_distribution<float> u(-scale, scale);
	std::vector<float> v(count);
	for (float &f : v)
		f = u(rng);
	return v;
}

// A Linear with its own storage.
struct OwnedLinear {
	std::vector<float> weight, bias;
	std::size_t in, out;
	OwnedLinear(std::size_t in_, std::size_t out_, std::uint32_t seed, bool with_bias = true)
		: weight(random_values(in_ * out_, seed, 0.5f)),
		  bias(with_bias ? random_values(out_, seed + 1000) : std::vector<float>{}), in(in_), out(out_)
	{
	}
	Linear view() const { return Linear{weight, bias, in, out}; }
};

// ---- Double-precision references ----------------------------------------------------------------

using Mat = std::vector<double>;  // row-major

Mat to_double(const std::vector<float> &v)
{
	return Mat(v.begin(), v.end());
}

// y = x W^T + b (x: n x in).
Mat linear(const Mat &x, std::size_t n, const OwnedLinear &l)
{
	Mat y(n * l.out);
	for (std::size_t i = 0; i < n; i++)
		for (std::size_t o = 0; o < l.out; o++) {
			double s = l.bias.empty() ? 0.0 : l.bias[o];
			for (std::size_t k = 0; k < l.in; k++)
				s += x[i * l.in + k] * l.weight[o * l.in + k];
			y[i * l.out + o] = s;
		}
	return y;
}

struct RefEdge {
	std::size_t s, d;
	double w;
};

std::vector<RefEdge> edges_of(const EdgeList &g)
{
	std::vector<RefEdge> e;
	for (std::size_t k = 0; k < g.src.size(); k++)
		e.push_back({g.src[k], g.dst[k], g.weight(k)});
	return e;
}

Mat ref_gcn(const EdgeList &g, const std::vector<float> &x, const OwnedLinear &lin, bool add_loops, bool normalize)
{
	const std::size_t n = g.n;
	std::vector<RefEdge> e = edges_of(g);
	if (normalize && add_loops) {
		std::vector<RefEdge> kept;
		std::vector<double> loop_w(n, 1.0);
		for (const RefEdge &r : e) {
			if (r.s == r.d)
				loop_w[r.s] = r.w;  // in input order: the last loop wins
			else
				kept.push_back(r);
		}
		for (std::size_t i = 0; i < n; i++)
			kept.push_back({i, i, loop_w[i]});
		e = kept;
	}
	std::vector<double> coef(e.size());
	if (normalize) {
		std::vector<double> deg(n, 0.0);
		for (const RefEdge &r : e)
			deg[r.d] += r.w;
		auto dis = [&](std::size_t i) { return deg[i] == 0 ? 0.0 : 1.0 / std::sqrt(deg[i]); };
		for (std::size_t k = 0; k < e.size(); k++)
			coef[k] = dis(e[k].s) * e[k].w * dis(e[k].d);
	} else {
		for (std::size_t k = 0; k < e.size(); k++)
			coef[k] = e[k].w;
	}
	OwnedLinear nobias = lin;
	nobias.bias.clear();
	Mat h = linear(to_double(x), n, nobias);
	Mat y(n * lin.out, 0.0);
	for (std::size_t k = 0; k < e.size(); k++)
		for (std::size_t o = 0; o < lin.out; o++)
			y[e[k].d * lin.out + o] += coef[k] * h[e[k].s * lin.out + o];
	for (std::size_t i = 0; i < n; i++)
		for (std::size_t o = 0; o < lin.out && !lin.bias.empty(); o++)
			y[i * lin.out + o] += lin.bias[o];
	return y;
}

Mat ref_aggregate(const EdgeList &g, const Mat &x, std::size_t d, Aggr aggr)
{
	const std::size_t n = g.n;
	Mat agg(n * d, 0.0);
	std::vector<std::size_t> count(n, 0);
	for (std::size_t k = 0; k < g.src.size(); k++) {
		std::size_t s = g.src[k], t = g.dst[k];
		for (std::size_t c = 0; c < d; c++) {
			double v = x[s * d + c], &a = agg[t * d + c];
			if (count[t] == 0 || aggr == Aggr::sum || aggr == Aggr::mean)
				a = count[t] == 0 ? v : a + v;
			else if (aggr == Aggr::max)
				a = std::max(a, v);
			else
				a = std::min(a, v);
		}
		count[t]++;
	}
	if (aggr == Aggr::mean)
		for (std::size_t i = 0; i < n; i++)
			for (std::size_t c = 0; c < d && count[i]; c++)
				agg[i * d + c] /= double(count[i]);
	return agg;
}

Mat ref_sage(const EdgeList &g, const std::vector<float> &x, const OwnedLinear &lin_l, const OwnedLinear &lin_r,
             const SageOptions &o)
{
	const std::size_t n = g.n, out = lin_l.out;
	Mat xd = to_double(x);
	Mat y = linear(ref_aggregate(g, xd, lin_l.in, o.aggr), n, lin_l);
	if (o.root_weight) {
		Mat r = linear(xd, n, lin_r);
		for (std::size_t k = 0; k < y.size(); k++)
			y[k] += r[k];
	}
	if (o.normalize)
		for (std::size_t i = 0; i < n; i++) {
			double s = 0;
			for (std::size_t c = 0; c < out; c++)
				s += y[i * out + c] * y[i * out + c];
			double norm = std::max(std::sqrt(s), 1e-12);
			for (std::size_t c = 0; c < out; c++)
				y[i * out + c] /= norm;
		}
	return y;
}

// GIN with an MLP given as widths: Linear(in, w1), ReLU, Linear(w1, w2), ... (relu between).
Mat ref_gin(const EdgeList &g, const std::vector<float> &x, std::size_t in, const std::vector<OwnedLinear> &layers,
            double eps)
{
	const std::size_t n = g.n;
	Mat xd = to_double(x);
	Mat z = ref_aggregate(g, xd, in, Aggr::sum);
	for (std::size_t k = 0; k < z.size(); k++)
		z[k] += (1 + eps) * xd[k];
	for (std::size_t l = 0; l < layers.size(); l++) {
		z = linear(z, n, layers[l]);
		if (l + 1 < layers.size())
			for (double &v : z)
				v = std::max(v, 0.0);
	}
	return z;
}

struct OwnedGat {
	std::vector<float> weight, att_src, att_dst, bias;
	std::size_t in, heads, channels;
	GatParams view() const { return GatParams{weight, att_src, att_dst, bias, in, heads, channels}; }
};

OwnedGat random_gat(std::size_t in, std::size_t heads, std::size_t channels, bool concat, std::uint32_t seed)
{
	std::size_t hc = heads * channels;
	return OwnedGat{random_values(hc * in, seed, 0.5f), random_values(hc, seed + 1), random_values(hc, seed + 2),
	                random_values(concat ? hc : channels, seed + 3), in, heads, channels};
}

Mat ref_gat(const EdgeList &g, const std::vector<float> &x, const OwnedGat &p, const GatOptions &o)
{
	const std::size_t n = g.n, H = p.heads, C = p.channels, hc = H * C;
	std::vector<RefEdge> e;
	for (const RefEdge &r : edges_of(g))
		if (!o.add_self_loops || r.s != r.d)
			e.push_back(r);
	if (o.add_self_loops)
		for (std::size_t i = 0; i < n; i++)
			e.push_back({i, i, 1.0});
	OwnedLinear lin{p.in, hc, 0, false};
	lin.weight = p.weight;
	Mat z = linear(to_double(x), n, lin);
	Mat as(n * H, 0.0), ad(n * H, 0.0);
	for (std::size_t i = 0; i < n; i++)
		for (std::size_t h = 0; h < H; h++)
			for (std::size_t c = 0; c < C; c++) {
				as[i * H + h] += z[i * hc + h * C + c] * p.att_src[h * C + c];
				ad[i * H + h] += z[i * hc + h * C + c] * p.att_dst[h * C + c];
			}
	std::vector<std::vector<std::size_t>> in_edges(n);
	for (std::size_t k = 0; k < e.size(); k++)
		in_edges[e[k].d].push_back(e[k].s);
	const std::size_t out = o.concat ? hc : C;
	Mat y(n * out, 0.0);
	for (std::size_t i = 0; i < n; i++) {
		Mat acc(hc, 0.0);
		for (std::size_t h = 0; h < H; h++) {
			std::vector<double> logit;
			double mx = -std::numeric_limits<double>::infinity();
			for (std::size_t j : in_edges[i]) {
				double v = as[j * H + h] + ad[i * H + h];
				v = v > 0 ? v : v * o.negative_slope;
				logit.push_back(v);
				mx = std::max(mx, v);
			}
			double sum = 0;
			for (double &v : logit)
				sum += (v = std::exp(v - mx));
			for (std::size_t k = 0; k < logit.size(); k++)
				for (std::size_t c = 0; c < C; c++)
					acc[h * C + c] += logit[k] / sum * z[in_edges[i][k] * hc + h * C + c];
		}
		for (std::size_t c = 0; c < out; c++) {
			double v = 0;
			if (o.concat)
				v = acc[c];
			else {
				for (std::size_t h = 0; h < H; h++)
					v += acc[h * C + c];
				v /= double(H);
			}
			y[i * out + c] = v + p.bias[c];
		}
	}
	return y;
}

// max |got - ref| <= 1e-4 relative to the largest reference magnitude (at least 1).
void expect_close(const std::vector<float> &got, const Mat &ref)
{
	ASSERT_EQ(got.size(), ref.size());
	double scale = 1, worst = 0;
	std::size_t at = 0;
	for (double r : ref)
		scale = std::max(scale, std::abs(r));
	for (std::size_t k = 0; k < ref.size(); k++) {
		double diff = std::abs(double(got[k]) - ref[k]);
		if (!(diff <= worst)) {  // NaN counts as worst
			worst = diff;
			at = k;
			if (std::isnan(diff))
				break;
		}
	}
	EXPECT_LE(worst, 1e-4 * scale) << "at " << at << ": got " << got[at] << ", expected " << ref[at]
	                               << " (scale " << scale << ")";
}

constexpr std::size_t kNodes = 300;  // > one 128-row block
constexpr std::size_t kEdges = 1500;

const char *aggr_name(Aggr a)
{
	switch (a) {
	case Aggr::mean: return "mean";
	case Aggr::max: return "max";
	case Aggr::sum: return "sum";
	case Aggr::min: return "min";
	case Aggr::lstm: return "lstm";
	}
	return "?";
}

}  // namespace

// ---- CSR ------------------------------------------------------------------------------------------

TEST(GraphCsr, RowsHoldInEdgesInInputOrder)
{
	std::vector<std::uint32_t> src{0, 2, 1, 0, 2, 3, 0};
	std::vector<std::uint32_t> dst{1, 1, 3, 1, 0, 3, 3};
	std::vector<float> w{1, 2, 3, 4, 5, 6, 7};
	Csr g = build_csr(5, src, dst, w);
	EXPECT_EQ(g.n, 5u);
	EXPECT_EQ(g.row_ptr, (std::vector<std::uint64_t>{0, 1, 4, 4, 7, 7}));
	EXPECT_EQ(g.col, (std::vector<std::uint32_t>{2, 0, 2, 0, 1, 3, 0}));
	EXPECT_EQ(g.weight, (std::vector<float>{5, 1, 2, 4, 3, 6, 7}));
	EXPECT_EQ(max_in_degree(g), 3u);
	EXPECT_EQ(g.in_degree(4), 0u);
	EXPECT_NO_THROW(validate(g));

	Csr u = build_csr(5, src, dst, {});
	EXPECT_TRUE(u.weight.empty());
	EXPECT_EQ(u.col, g.col);
	EXPECT_EQ(u.edge_weight(3), 1.0f);

	Csr empty = build_csr(0, {}, {}, {});
	EXPECT_EQ(empty.row_ptr, (std::vector<std::uint64_t>{0}));
}

TEST(GraphHops, BreadthFirstBothDirectionsWithinMaxHops)
{
	// 0 -> 1 -> 2 -> 3, 4 -> 2, 5 alone, a self-loop on 1 and a duplicate edge 0 -> 1.
	std::vector<std::uint32_t> src{0, 1, 2, 4, 1, 0};
	std::vector<std::uint32_t> dst{1, 2, 3, 2, 1, 1};
	Csr g = build_csr(6, src, dst, {});
	EXPECT_EQ(hop_counts(g, 0, 10), (std::vector<std::int32_t>{0, 1, 2, 3, 3, -1}));
	// From the middle, against the edge direction too.
	EXPECT_EQ(hop_counts(g, 3, 10), (std::vector<std::int32_t>{3, 2, 1, 0, 2, -1}));
	EXPECT_EQ(hop_counts(g, 3, 1), (std::vector<std::int32_t>{-1, -1, 1, 0, -1, -1}));
	EXPECT_EQ(hop_counts(g, 5, 3), (std::vector<std::int32_t>{-1, -1, -1, -1, -1, 0}));
	EXPECT_EQ(hop_counts(g, 2, 0), (std::vector<std::int32_t>{-1, -1, 0, -1, -1, -1}));
	EXPECT_THROW(hop_counts(g, 6, 1), std::invalid_argument);
}

TEST(GraphCsr, RejectsBadInput)
{
	std::vector<std::uint32_t> src{0, 1, 2}, dst{1, 2, 0};
	std::vector<std::uint32_t> bad_src{0, 3, 2}, bad_dst{1, 2, 7};
	EXPECT_THROW(build_csr(3, bad_src, dst, {}), std::invalid_argument);
	EXPECT_THROW(build_csr(3, src, bad_dst, {}), std::invalid_argument);
	EXPECT_THROW(build_csr(0, src, dst, {}), std::invalid_argument);
	EXPECT_THROW(build_csr(3, src, std::vector<std::uint32_t>{1, 2}, {}), std::invalid_argument);
	EXPECT_THROW(build_csr(3, src, dst, std::vector<float>{1, 2}), std::invalid_argument);
	try {
		build_csr(3, src, bad_dst, {});
		FAIL();
	} catch (const std::invalid_argument &e) {
		EXPECT_NE(std::string(e.what()).find("edge 2 (2 -> 7)"), std::string::npos) << e.what();
	}

	Csr g = build_csr(3, src, dst, {});
	Csr broken = g;
	broken.col[1] = 9;
	EXPECT_THROW(validate(broken), std::invalid_argument);
	broken = g;
	broken.row_ptr.pop_back();
	EXPECT_THROW(validate(broken), std::invalid_argument);
	broken = g;
	broken.weight = {1, 2};
	EXPECT_THROW(validate(broken), std::invalid_argument);
	// The layers validate the graph they are given.
	std::vector<float> x(3 * 2, 1.0f), w(2 * 2, 1.0f);
	broken = g;
	broken.col[0] = 3;
	EXPECT_THROW(gcn_conv(broken, x, Linear{w, {}, 2, 2}), std::invalid_argument);
}

TEST(GraphCsr, SelfLoopHelpersFollowPyG)
{
	// Node 0: loops weighing 2 then 3 (the last wins); node 1: none; node 2: one loop of 5.
	std::vector<std::uint32_t> src{0, 1, 0, 2, 0, 1};
	std::vector<std::uint32_t> dst{0, 0, 0, 2, 2, 2};
	std::vector<float> w{2, 7, 3, 5, 8, 9};
	Csr g = build_csr(3, src, dst, w);

	Csr r = add_remaining_self_loops(g);
	EXPECT_EQ(r.row_ptr, (std::vector<std::uint64_t>{0, 2, 3, 6}));
	EXPECT_EQ(r.col, (std::vector<std::uint32_t>{1, 0, 1, 0, 1, 2}));
	EXPECT_EQ(r.weight, (std::vector<float>{7, 3, 1, 8, 9, 5}));

	Csr a = add_self_loops(remove_self_loops(g));
	EXPECT_EQ(a.col, (std::vector<std::uint32_t>{1, 0, 1, 0, 1, 2}));
	EXPECT_EQ(a.weight, (std::vector<float>{7, 1, 1, 8, 9, 1}));
	Csr b = replace_self_loops(g);
	EXPECT_EQ(b.row_ptr, a.row_ptr);
	EXPECT_EQ(b.col, a.col);
	EXPECT_EQ(b.weight, a.weight);
	EXPECT_EQ(add_self_loops(g).col, (std::vector<std::uint32_t>{0, 1, 0, 0, 1, 2, 0, 1, 2}));
	EXPECT_EQ(remove_self_loops(g).col, (std::vector<std::uint32_t>{1, 0, 1}));

	Csr u = add_remaining_self_loops(build_csr(3, src, dst, {}));
	EXPECT_TRUE(u.weight.empty());  // all ones stay implicit
	EXPECT_EQ(u.col, r.col);
	EXPECT_EQ(add_remaining_self_loops(build_csr(3, src, dst, {}), 2.0f).weight,
	          (std::vector<float>{1, 1, 2, 1, 1, 1}));
}

// ---- Neighbour sampling ---------------------------------------------------------------------------

TEST(GraphSampling, KeepsAtMostSampleSizeReproducibly)
{
	EdgeList el = random_graph(kNodes, 4000, 7, true);
	Csr g = el.csr();
	ASSERT_GT(max_in_degree(g), 8u);
	Csr a = sample_neighbors(g, 5, 99), b = sample_neighbors(g, 5, 99), c = sample_neighbors(g, 5, 100);
	EXPECT_EQ(a.row_ptr, b.row_ptr);
	EXPECT_EQ(a.col, b.col);
	EXPECT_EQ(a.weight, b.weight);
	EXPECT_NE(a.col, c.col);
	EXPECT_NO_THROW(validate(a));
	for (std::size_t i = 0; i < g.n; i++) {
		ASSERT_EQ(a.in_degree(i), std::min<std::size_t>(5, g.in_degree(i)));
		// The kept edges are a subsequence of the row (weights travel with their edge).
		std::uint64_t e = g.row_ptr[i];
		for (std::uint64_t k = a.row_ptr[i]; k < a.row_ptr[i + 1]; k++) {
			while (e < g.row_ptr[i + 1] && !(g.col[e] == a.col[k] && g.weight[e] == a.weight[k]))
				e++;
			ASSERT_LT(e, g.row_ptr[i + 1]) << "node " << i;
			e++;
		}
	}
}

TEST(GraphSampling, UnchangedWhenSampleCoversEveryRow)
{
	EdgeList el = random_graph(kNodes, 2000, 8, true);
	Csr g = el.csr();
	for (std::size_t k : {max_in_degree(g), max_in_degree(g) + 10}) {
		Csr s = sample_neighbors(g, k, 1);
		EXPECT_EQ(s.n, g.n);
		EXPECT_EQ(s.row_ptr, g.row_ptr);
		EXPECT_EQ(s.col, g.col);
		EXPECT_EQ(s.weight, g.weight);
	}
	Csr none = sample_neighbors(g, 0, 1);
	EXPECT_EQ(none.edges(), 0u);
}

TEST(GraphSampling, IsUniformWithoutReplacement)
{
	// One node with 10 in-edges (two of them duplicates), 3 kept: each position ~30% of the time.
	// The weights name the positions.
	std::vector<std::uint32_t> src{1, 2, 3, 4, 5, 6, 7, 8, 8, 9}, dst(10, 0);
	std::vector<float> pos{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	Csr g = build_csr(10, src, dst, pos);
	std::vector<int> hits(10, 0);
	const int runs = 6000;
	for (int r = 0; r < runs; r++) {
		Csr s = sample_neighbors(g, 3, std::uint64_t(r));
		ASSERT_EQ(s.edges(), 3u);
		ASSERT_TRUE(std::is_sorted(s.weight.begin(), s.weight.end()));
		ASSERT_TRUE(std::adjacent_find(s.weight.begin(), s.weight.end()) == s.weight.end());
		for (float w : s.weight)
			hits[std::size_t(w)]++;
	}
	for (int h : hits)
		EXPECT_NEAR(h, runs * 0.3, runs * 0.3 * 0.1);
}

// ---- Glorot and ReLU ------------------------------------------------------------------------------

TEST(GnnInit, GlorotIsDeterministicAndBounded)
{
	std::vector<float> a = glorot(64, 100, 5), b = glorot(64, 100, 5), c = glorot(64, 100, 6);
	ASSERT_EQ(a.size(), 6400u);
	EXPECT_EQ(a, b);
	EXPECT_NE(a, c);
	const double bound = std::sqrt(6.0 / 164);
	double sum = 0, lo = 0, hi = 0;
	for (float v : a) {
		EXPECT_LE(std::abs(v), bound);
		sum += v;
		lo = std::min(lo, double(v));
		hi = std::max(hi, double(v));
	}
	EXPECT_NEAR(sum / 6400, 0.0, 0.02);
	EXPECT_LT(lo, -0.95 * bound);
	EXPECT_GT(hi, 0.95 * bound);
	// Pinned first values: the stream must never change with the toolchain.
	SplitMix64 rng(5);
	EXPECT_EQ(a[0], float((2 * rng.uniform() - 1) * bound));
	EXPECT_EQ(SplitMix64(0).next(), 0xe220a8397b1dcdafULL);
	EXPECT_TRUE(glorot(0, 10, 1).empty());
}

TEST(GnnInit, ReluInPlace)
{
	std::vector<float> v{-1.5f, 0.0f, 2.0f, -0.0f, std::numeric_limits<float>::quiet_NaN()};
	relu_inplace(v);
	EXPECT_EQ(v[0], 0.0f);
	EXPECT_EQ(v[1], 0.0f);
	EXPECT_EQ(v[2], 2.0f);
	EXPECT_EQ(v[3], 0.0f);
	EXPECT_TRUE(std::isnan(v[4]));
}

// ---- Layers against the references ----------------------------------------------------------------

TEST(GnnGcn, MatchesReference)
{
	for (bool weighted : {true, false})
		for (auto [in, out] : {std::pair<std::size_t, std::size_t>{37, 13}, {13, 37}, {16, 16}})
			for (bool loops : {true, false})
				for (bool normalize : {true, false}) {
					SCOPED_TRACE("weighted " + std::to_string(weighted) + " in " + std::to_string(in) + " out " +
					             std::to_string(out) + " loops " + std::to_string(loops) + " normalize " +
					             std::to_string(normalize));
					EdgeList el = random_graph(kNodes, kEdges, 11, weighted);
					std::vector<float> x = random_values(kNodes * in, 12);
					OwnedLinear lin(in, out, 13, normalize);
					std::vector<float> y = gcn_conv(el.csr(), x, lin.view(), GcnOptions{loops, normalize});
					expect_close(y, ref_gcn(el, x, lin, loops, normalize));
				}
}

TEST(GnnGcn, IsolatedNodesGetLoopOrBiasOnly)
{
	EdgeList el = random_graph(kNodes, kEdges, 21, true);
	std::vector<float> x = random_values(kNodes * 8, 22);
	OwnedLinear lin(8, 4, 23);
	std::vector<float> y = gcn_conv(el.csr(), x, lin.view(), GcnOptions{false, true});
	for (std::size_t c = 0; c < 4; c++)
		EXPECT_EQ(y[(kNodes - 1) * 4 + c], lin.bias[c]);  // no in-edges: bias only
	// With the loop (weight 1, degree 1) an isolated node maps to lin(x_i).
	y = gcn_conv(el.csr(), x, lin.view());
	Mat self = linear(to_double(std::vector<float>(x.end() - 8, x.end())), 1, lin);
	for (std::size_t c = 0; c < 4; c++)
		EXPECT_NEAR(y[(kNodes - 1) * 4 + c], self[c], 1e-5);
}

TEST(GnnSage, MatchesReference)
{
	for (Aggr aggr : {Aggr::mean, Aggr::max, Aggr::sum, Aggr::min})
		for (auto [in, out] : {std::pair<std::size_t, std::size_t>{37, 13}, {13, 37}})
			for (bool normalize : {false, true})
				for (bool root : {true, false}) {
					SCOPED_TRACE(std::string("aggr ") + aggr_name(aggr) + " in " + std::to_string(in) + " out " +
					             std::to_string(out) + " normalize " + std::to_string(normalize) + " root " +
					             std::to_string(root));
					EdgeList el = random_graph(kNodes, kEdges, 31, true);  // weights must be ignored
					std::vector<float> x = random_values(kNodes * in, 32);
					OwnedLinear lin_l(in, out, 33), lin_r(in, out, 34, false);
					SageOptions o{aggr, normalize, root};
					std::vector<float> y = sage_conv(el.csr(), x, lin_l.view(), lin_r.view(), o);
					expect_close(y, ref_sage(el, x, lin_l, lin_r, o));
				}
}

TEST(GnnSage, RootWeightOffDoesNotReadLinR)
{
	EdgeList el = random_graph(kNodes, kEdges, 35, false);
	std::vector<float> x = random_values(kNodes * 8, 36);
	OwnedLinear lin_l(8, 4, 37);
	SageOptions o{Aggr::mean, false, false};
	std::vector<float> y = sage_conv(el.csr(), x, lin_l.view(), Linear{}, o);
	expect_close(y, ref_sage(el, x, lin_l, lin_l, o));
	// Isolated node: zero aggregate, so bias only.
	for (std::size_t c = 0; c < 4; c++)
		EXPECT_EQ(y[(kNodes - 1) * 4 + c], lin_l.bias[c]);
}

TEST(GnnGin, MatchesReference)
{
	struct Case {
		std::size_t in;
		std::vector<std::size_t> widths;
		float eps;
	};
	for (const Case &cs : {Case{37, {13, 9}, 0.0f}, Case{13, {37, 5}, 0.25f}, Case{20, {20}, -0.5f},
	                       Case{24, {16, 16, 7}, 1.5f}}) {
		SCOPED_TRACE("in " + std::to_string(cs.in) + " eps " + std::to_string(cs.eps));
		EdgeList el = random_graph(kNodes, kEdges, 41, true);
		std::vector<float> x = random_values(kNodes * cs.in, 42);
		std::vector<OwnedLinear> layers;
		std::vector<MlpStep> mlp;
		std::size_t d = cs.in;
		for (std::size_t l = 0; l < cs.widths.size(); l++) {
			layers.emplace_back(d, cs.widths[l], 43 + std::uint32_t(l));
			d = cs.widths[l];
		}
		for (std::size_t l = 0; l < layers.size(); l++) {
			mlp.push_back(layers[l].view());
			if (l + 1 < layers.size())
				mlp.push_back(Relu{});
		}
		EXPECT_EQ(mlp_output_dim(cs.in, mlp), d);
		std::vector<float> y = gin_conv(el.csr(), x, cs.in, mlp, cs.eps);
		expect_close(y, ref_gin(el, x, cs.in, layers, cs.eps));
	}
}

TEST(GnnGin, EmptyMlpIsTheAggregate)
{
	EdgeList el = random_graph(kNodes, kEdges, 45, false);
	std::vector<float> x = random_values(kNodes * 6, 46);
	std::vector<float> y = gin_conv(el.csr(), x, 6, {}, 0.5f);
	expect_close(y, ref_gin(el, x, 6, {}, 0.5));
	std::vector<MlpStep> relu_only{Relu{}};
	y = gin_conv(el.csr(), x, 6, relu_only, 0.5f);
	Mat ref = ref_gin(el, x, 6, {}, 0.5);
	for (double &v : ref)
		v = std::max(v, 0.0);
	expect_close(y, ref);
}

TEST(GnnGat, MatchesReference)
{
	for (std::size_t heads : {1u, 4u})
		for (bool concat : {true, false})
			for (bool loops : {true, false})
				// channels a multiple of 16 take the all-heads-in-one-pass aggregation
				for (auto [in, channels] : {std::pair<std::size_t, std::size_t>{37, 8}, {12, 13}, {24, 16}, {20, 48}}) {
					SCOPED_TRACE("heads " + std::to_string(heads) + " concat " + std::to_string(concat) +
					             " loops " + std::to_string(loops) + " in " + std::to_string(in) + " C " +
					             std::to_string(channels));
					EdgeList el = random_graph(kNodes, kEdges, 51, true);  // weights must be ignored
					std::vector<float> x = random_values(kNodes * in, 52);
					OwnedGat p = random_gat(in, heads, channels, concat, 53);
					GatOptions o;
					o.concat = concat;
					o.add_self_loops = loops;
					std::vector<float> y = gat_conv(el.csr(), x, p.view(), o);
					expect_close(y, ref_gat(el, x, p, o));
				}
}

TEST(GnnGat, LargeLogitsStayFinite)
{
	// Softmax is max-shifted: logits in the hundreds must not overflow exp.
	EdgeList el = random_graph(kNodes, kEdges, 55, false);
	std::vector<float> x = random_values(kNodes * 16, 56, 30.0f);
	OwnedGat p = random_gat(16, 4, 16, true, 57);
	std::vector<float> y = gat_conv(el.csr(), x, p.view());
	for (float v : y)
		ASSERT_TRUE(std::isfinite(v));
	expect_close(y, ref_gat(el, x, p, GatOptions{}));
}

// ---- Determinism, argument checks, cancellation -----------------------------------------------------

TEST(GnnLayers, BitIdenticalAcrossThreadCounts)
{
	EdgeList el = random_graph(2000, 12000, 61, true);
	Csr g = el.csr();
	std::vector<float> x = random_values(2000 * 40, 62);
	OwnedLinear narrow(40, 24, 63), wide(40, 56, 64), root(40, 24, 65, false);
	OwnedGat p = random_gat(40, 4, 6, true, 66), q = random_gat(40, 2, 16, false, 67);
	std::vector<MlpStep> mlp{narrow.view(), Relu{}};
	auto run_all = [&] {
		std::vector<std::vector<float>> r;
		r.push_back(gcn_conv(g, x, narrow.view()));
		r.push_back(gcn_conv(g, x, wide.view()));
		r.push_back(sage_conv(g, x, narrow.view(), root.view(), SageOptions{Aggr::mean, true, true}));
		r.push_back(sage_conv(g, x, narrow.view(), root.view(), SageOptions{Aggr::max, false, true}));
		r.push_back(gin_conv(g, x, 40, mlp, 0.1f));
		r.push_back(gat_conv(g, x, p.view()));
		r.push_back(gat_conv(g, x, q.view(), GatOptions{false}));
		return r;
	};
	std::vector<std::vector<float>> one, two, three;
	tbb::task_arena(1).execute([&] { one = run_all(); });
	tbb::task_arena(2).execute([&] { two = run_all(); });
	tbb::task_arena(3).execute([&] { three = run_all(); });
	EXPECT_EQ(one, two);
	EXPECT_EQ(one, three);
}

TEST(GnnLayers, IntoFormsOverwriteEveryOutputValue)
{
	EdgeList el = random_graph(kNodes, kEdges, 67, true);
	Csr g = el.csr();
	std::vector<float> x = random_values(kNodes * 20, 68);
	OwnedLinear narrow(20, 12, 69), wide(20, 28, 70), root(20, 12, 71, false);
	OwnedGat p = random_gat(20, 3, 5, false, 72);
	std::vector<MlpStep> mlp{wide.view(), Relu{}};
	GatOptions mean;
	mean.concat = false;
	const float nan = std::numeric_limits<float>::quiet_NaN();
	auto poisoned = [&](std::size_t dim) { return std::vector<float>(kNodes * dim, nan); };

	std::vector<float> y = poisoned(12);
	gcn_conv_into(g, x, narrow.view(), y);
	EXPECT_EQ(y, gcn_conv(g, x, narrow.view()));
	y = poisoned(28);
	gcn_conv_into(g, x, wide.view(), y);
	EXPECT_EQ(y, gcn_conv(g, x, wide.view()));
	for (Aggr aggr : {Aggr::mean, Aggr::max}) {
		y = poisoned(12);
		sage_conv_into(g, x, narrow.view(), root.view(), y, SageOptions{aggr});
		EXPECT_EQ(y, sage_conv(g, x, narrow.view(), root.view(), SageOptions{aggr}));
	}
	y = poisoned(28);
	gin_conv_into(g, x, 20, mlp, y, 0.3f);
	EXPECT_EQ(y, gin_conv(g, x, 20, mlp, 0.3f));
	y = poisoned(5);
	gat_conv_into(g, x, p.view(), y, mean);
	EXPECT_EQ(y, gat_conv(g, x, p.view(), mean));

	std::vector<float> wrong(kNodes * 12 + 1);
	EXPECT_THROW(gcn_conv_into(g, x, narrow.view(), wrong), std::invalid_argument);
	EXPECT_THROW(gat_conv_into(g, x, p.view(), wrong, mean), std::invalid_argument);
}

TEST(GnnLayers, RejectShapeMismatches)
{
	EdgeList el = random_graph(50, 200, 71, false);
	Csr g = el.csr();
	std::vector<float> x = random_values(50 * 8, 72);
	OwnedLinear lin(8, 4, 73), other(6, 4, 74);
	EXPECT_THROW(gcn_conv(g, std::span<const float>(x).first(10), lin.view()), std::invalid_argument);
	Linear bad = lin.view();
	bad.out = 5;
	EXPECT_THROW(gcn_conv(g, x, bad), std::invalid_argument);
	bad = lin.view();
	bad.bias = std::span<const float>(lin.bias).first(3);
	EXPECT_THROW(gcn_conv(g, x, bad), std::invalid_argument);
	bad = Linear{{}, {}, std::size_t(1) << 40, std::size_t(1) << 40};  // the product overflows
	EXPECT_THROW(gcn_conv(g, x, bad), std::invalid_argument);
	EXPECT_THROW(sage_conv(g, x, lin.view(), other.view()), std::invalid_argument);
	std::vector<MlpStep> mlp{lin.view(), Relu{}, lin.view()};  // second Linear takes 8, gets 4
	EXPECT_THROW(gin_conv(g, x, 8, mlp, 0), std::invalid_argument);
	OwnedGat p = random_gat(8, 2, 3, true, 75);
	GatParams gp = p.view();
	gp.heads = 0;
	EXPECT_THROW(gat_conv(g, x, gp), std::invalid_argument);
	GatOptions mean;
	mean.concat = false;  // bias must then hold `channels` values, not heads x channels
	EXPECT_THROW(gat_conv(g, x, p.view(), mean), std::invalid_argument);
	gp = p.view();
	gp.att_src = std::span<const float>(p.att_src).first(5);
	EXPECT_THROW(gat_conv(g, x, gp), std::invalid_argument);
}

TEST(GnnLayers, HonourCancellation)
{
	EdgeList el = random_graph(kNodes, kEdges, 81, true);
	Csr g = el.csr();
	std::vector<float> x = random_values(kNodes * 16, 82);
	OwnedLinear lin(16, 8, 83), wide(16, 24, 84);
	OwnedGat p = random_gat(16, 2, 4, true, 85);
	std::vector<MlpStep> mlp{lin.view()};
	std::atomic<bool> flag{true};
	CancelToken token(&flag);
	EXPECT_THROW(gcn_conv(g, x, lin.view(), {}, token), Cancelled);
	EXPECT_THROW(gcn_conv(g, x, wide.view(), {}, token), Cancelled);
	EXPECT_THROW(sage_conv(g, x, lin.view(), lin.view(), {}, token), Cancelled);
	EXPECT_THROW(sage_conv(g, x, wide.view(), wide.view(), SageOptions{Aggr::max}, token), Cancelled);
	EXPECT_THROW(gin_conv(g, x, 16, mlp, 0, token), Cancelled);
	EXPECT_THROW(gat_conv(g, x, p.view(), {}, token), Cancelled);
	flag = false;
	EXPECT_NO_THROW(gcn_conv(g, x, lin.view(), {}, token));
}
