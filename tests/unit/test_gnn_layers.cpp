// SAGEConv's project and LSTM aggregation and the graph readouts (global pools,
// AttentionalAggregation, Set2Set) against double-precision loops written from PyTorch Geometric's
// definitions; models with a readout and linear layers through run_model, their encoding and checks.
#include "worker/kernels/gnn.hpp"
#include "worker/kernels/gnn_model.hpp"
#include "worker/kernels/graph.hpp"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

using namespace ruvector::kernels;

namespace {

using Mat = std::vector<double>;

std::vector<float> values(std::size_t count, std::uint32_t seed, float scale = 0.5f)
{
	std::mt19937 rng(seed);
	std::uniform_real_distribution<float> u(-scale, scale);
	std::vector<float> v(count);
	for (float &f : v)
		f = u(rng);
	return v;
}

// Random edges in input order, with self-loops, duplicates and the last 3 nodes isolated.
struct Edges {
	std::size_t n;
	std::vector<std::uint32_t> src, dst;
};

Edges random_edges(std::size_t n, std::size_t m, std::uint32_t seed)
{
	std::mt19937 rng(seed);
	std::uniform_int_distribution<std::uint32_t> node(0, std::uint32_t(n - 4));
	Edges e{n, {}, {}};
	for (std::size_t k = 0; k < m; k++) {
		e.src.push_back(node(rng));
		e.dst.push_back(node(rng));
	}
	for (int k = 0; k < 3; k++) {  // a repeated self-loop and a duplicate edge
		e.src.push_back(5);
		e.dst.push_back(k < 2 ? 5 : 6);
	}
	e.src.push_back(5);
	e.dst.push_back(6);
	return e;
}

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// One LSTM step in double: x (in), h and c (H) updated.
void ref_lstm_step(const Lstm &l, const double *x, std::vector<double> &h, std::vector<double> &c)
{
	const std::size_t H = l.hidden;
	std::vector<double> g(4 * H);
	for (std::size_t r = 0; r < 4 * H; r++) {
		double s = (l.bias_ih.empty() ? 0 : l.bias_ih[r]) + (l.bias_hh.empty() ? 0 : l.bias_hh[r]);
		for (std::size_t k = 0; k < l.in; k++)
			s += double(l.weight_ih[r * l.in + k]) * x[k];
		for (std::size_t k = 0; k < H; k++)
			s += double(l.weight_hh[r * H + k]) * h[k];
		g[r] = s;
	}
	for (std::size_t k = 0; k < H; k++) {
		c[k] = sigmoid(g[H + k]) * c[k] + sigmoid(g[k]) * std::tanh(g[2 * H + k]);
		h[k] = sigmoid(g[3 * H + k]) * std::tanh(c[k]);
	}
}

struct OwnedLstm {
	std::vector<float> wih, whh, bih, bhh;
	Lstm view;
	OwnedLstm(std::size_t in, std::size_t hidden, std::uint32_t seed)
		: wih(values(4 * hidden * in, seed)), whh(values(4 * hidden * hidden, seed + 1)),
		  bih(values(4 * hidden, seed + 2)), bhh(values(4 * hidden, seed + 3))
	{
		view = Lstm{wih, whh, bih, bhh, in, hidden};
	}
};

struct OwnedLinear {
	std::vector<float> w, b;
	Linear view;
	OwnedLinear(std::size_t in, std::size_t out, std::uint32_t seed, bool bias = true)
		: w(values(in * out, seed)), b(bias ? values(out, seed + 7) : std::vector<float>{})
	{
		view = Linear{w, b, in, out};
	}
};

Mat ref_linear(const Mat &x, std::size_t rows, const Linear &l)
{
	Mat y(rows * l.out);
	for (std::size_t i = 0; i < rows; i++)
		for (std::size_t o = 0; o < l.out; o++) {
			double s = l.bias.empty() ? 0 : l.bias[o];
			for (std::size_t k = 0; k < l.in; k++)
				s += x[i * l.in + k] * l.weight[o * l.in + k];
			y[i * l.out + o] = s;
		}
	return y;
}

std::vector<double> softmax_group(const std::vector<double> &v)
{
	double mx = -INFINITY, s = 0;
	for (double x : v)
		mx = std::max(mx, x);
	std::vector<double> out;
	for (double x : v)
		out.push_back(std::exp(x - mx));
	for (double x : out)
		s += x;
	for (double &x : out)
		x /= s + 1e-16;
	return out;
}

// mean / max / sum / min of column k over the sources' rows (zero without sources).
double ref_reduce(Aggr aggr, const Mat &xs, std::size_t in, const std::vector<std::uint32_t> &srcs, std::size_t k)
{
	double a = 0;
	for (std::size_t j = 0; j < srcs.size(); j++) {
		double v = xs[srcs[j] * in + k];
		a = j == 0 ? v : aggr == Aggr::max ? std::max(a, v) : aggr == Aggr::min ? std::min(a, v) : a + v;
	}
	if (aggr == Aggr::mean && !srcs.empty())
		a /= double(srcs.size());
	return a;
}

// PyG SAGEConv (project, aggr mean/max/min/sum/lstm, MultiAggregation cat/attn), from the edge list.
Mat ref_sage(const Edges &e, const std::vector<float> &xf, const SageParams &p, const SageOptions &o)
{
	const std::size_t n = e.n, in = xf.size() / e.n, out = p.lin_l.out;
	Mat x(xf.begin(), xf.end()), xs = x;
	if (o.project) {
		xs = ref_linear(x, n, p.lin);
		for (double &v : xs)
			v = std::max(v, 0.0);
	}
	Mat agg(n * p.lin_l.in, 0.0);
	// Each target's sources, sorted (PyG's sort_edge_index by target, then source).
	std::vector<std::vector<std::uint32_t>> srcs(n);
	for (std::size_t k = 0; k < e.src.size(); k++)
		srcs[e.dst[k]].push_back(e.src[k]);
	std::size_t T = 0;
	for (auto &s : srcs) {
		std::sort(s.begin(), s.end());
		T = std::max(T, s.size());
	}
	for (std::size_t i = 0; i < n; i++) {
		if (o.aggr == Aggr::lstm) {
			std::vector<double> h(in, 0.0), c(in, 0.0), zero(in, 0.0);
			for (std::size_t t = 0; t < T; t++)
				ref_lstm_step(p.lstm, t < srcs[i].size() ? &xs[srcs[i][t] * in] : zero.data(), h, c);
			std::copy(h.begin(), h.end(), agg.begin() + std::ptrdiff_t(i * in));
			continue;
		}
		if (o.aggrs.empty()) {
			for (std::size_t k = 0; k < in; k++)
				agg[i * in + k] = ref_reduce(o.aggr, xs, in, srcs[i], k);
			continue;
		}
		const std::size_t A = o.aggrs.size();
		if (!o.attn) {  // "cat"
			for (std::size_t a = 0; a < A; a++)
				for (std::size_t k = 0; k < in; k++)
					agg[i * A * in + a * in + k] = ref_reduce(o.aggrs[a], xs, in, srcs[i], k);
			continue;
		}
		// "attn": torch.nn.MultiheadAttention over the A projected aggregates, then their mean.
		const std::size_t C = p.lin_heads[0].out, H = o.heads, dh = C / H;
		std::vector<Mat> t(A), q(A), kk(A), v(A), att(A, Mat(C, 0.0));
		for (std::size_t a = 0; a < A; a++) {
			Mat one(in);
			for (std::size_t k = 0; k < in; k++)
				one[k] = ref_reduce(o.aggrs[a], xs, in, srcs[i], k);
			t[a] = ref_linear(one, 1, p.lin_heads[a]);
			Mat qkv(3 * C);
			for (std::size_t r = 0; r < 3 * C; r++) {
				double acc = p.in_proj_bias.empty() ? 0 : p.in_proj_bias[r];
				for (std::size_t k = 0; k < C; k++)
					acc += double(p.in_proj_weight[r * C + k]) * t[a][k];
				qkv[r] = acc;
			}
			q[a] = Mat(qkv.begin(), qkv.begin() + std::ptrdiff_t(C));
			kk[a] = Mat(qkv.begin() + std::ptrdiff_t(C), qkv.begin() + std::ptrdiff_t(2 * C));
			v[a] = Mat(qkv.begin() + std::ptrdiff_t(2 * C), qkv.end());
		}
		for (std::size_t h = 0; h < H; h++)
			for (std::size_t a = 0; a < A; a++) {
				std::vector<double> sc;
				for (std::size_t b = 0; b < A; b++) {
					double d = 0;
					for (std::size_t j = 0; j < dh; j++)
						d += q[a][h * dh + j] * kk[b][h * dh + j];
					sc.push_back(d / std::sqrt(double(dh)));
				}
				std::vector<double> w = softmax_group(sc);
				for (std::size_t b = 0; b < A; b++)
					for (std::size_t j = 0; j < dh; j++)
						att[a][h * dh + j] += w[b] * v[b][h * dh + j];
			}
		for (std::size_t a = 0; a < A; a++) {
			Mat pr = ref_linear(att[a], 1, p.out_proj);
			for (std::size_t k = 0; k < C; k++)
				agg[i * C + k] += pr[k] / double(A);
		}
	}
	Mat y = ref_linear(agg, n, p.lin_l);
	if (o.root_weight) {
		Mat r = ref_linear(x, n, p.lin_r);
		for (std::size_t k = 0; k < y.size(); k++)
			y[k] += r[k];
	}
	if (o.normalize)
		for (std::size_t i = 0; i < n; i++) {
			double s = 0;
			for (std::size_t k = 0; k < out; k++)
				s += y[i * out + k] * y[i * out + k];
			s = std::max(std::sqrt(s), 1e-12);
			for (std::size_t k = 0; k < out; k++)
				y[i * out + k] /= s;
		}
	return y;
}

SageParams params(Linear lin_l, Linear lin_r, Linear lin, Lstm lstm)
{
	SageParams p;
	p.lin_l = lin_l;
	p.lin_r = lin_r;
	p.lin = lin;
	p.lstm = lstm;
	return p;
}

SageOptions options(Aggr aggr, bool normalize, bool root_weight, bool project)
{
	SageOptions o;
	o.aggr = aggr;
	o.normalize = normalize;
	o.root_weight = root_weight;
	o.project = project;
	return o;
}

void expect_close(const std::vector<float> &got, const Mat &ref, double tol = 1e-4)
{
	ASSERT_EQ(got.size(), ref.size());
	for (std::size_t k = 0; k < ref.size(); k++)
		ASSERT_NEAR(got[k], ref[k], tol * std::max(1.0, std::abs(ref[k]))) << "at " << k;
}


}  // namespace

// ---- SAGEConv: project and LSTM ----------------------------------------------------------------

TEST(GnnLayersSage, LstmProjectAndOptionsMatchReference)
{
	const std::size_t n = 300;  // more than one 128-row block
	Edges e = random_edges(n, 1500, 11);
	Csr g = build_csr(n, e.src, e.dst, {});
	for (std::size_t in : {6, 17}) {
		std::vector<float> x = values(n * in, 3, 1.0f);
		for (std::size_t out : {4, 20}) {  // out < in transforms first for mean; out >= in aggregates first
			OwnedLinear l(in, out, 21), r(in, out, 22, false), proj(in, in, 23);
			OwnedLstm lstm(in, in, 31);
			SageParams p = params(l.view, r.view, proj.view, lstm.view);
			for (Aggr a : {Aggr::lstm, Aggr::mean, Aggr::max})
				for (bool project : {false, true})
					for (bool root : {true, false}) {
						SageOptions o = options(a, !root, root, project);
						SCOPED_TRACE(testing::Message() << "in " << in << " out " << out << " aggr " << int(a)
						                                << " project " << project << " root " << root);
						expect_close(sage_conv(g, x, p, o), ref_sage(e, x, p, o));
					}
		}
	}
}

TEST(GnnLayersSage, MultiAggregationCatAndAttentionMatchReference)
{
	const std::size_t n = 260, in = 6;
	Edges e = random_edges(n, 1200, 12);
	Csr g = build_csr(n, e.src, e.dst, {});
	std::vector<float> x = values(n * in, 13, 1.0f);
	const std::vector<Aggr> aggrs{Aggr::mean, Aggr::max, Aggr::min};
	OwnedLinear r(in, 5, 14, false), proj(in, in, 15);
	// cat: lin_l reads 3 x in.
	OwnedLinear lcat(3 * in, 5, 16);
	SageParams pc = params(lcat.view, r.view, proj.view, {});
	for (bool project : {false, true})
		for (bool root : {true, false}) {
			SageOptions o = options(Aggr::mean, false, root, project);
			o.aggrs = aggrs;
			SCOPED_TRACE(testing::Message() << "cat project " << project << " root " << root);
			expect_close(sage_conv(g, x, pc, o), ref_sage(e, x, pc, o));
		}
	// attn: C = 8 over 2 heads (and 1).
	const std::size_t C = 8;
	OwnedLinear h0(in, C, 17), h1(in, C, 18), h2(in, C, 19), out_proj(C, C, 20), lattn(C, 5, 21);
	std::vector<float> in_w = values(3 * C * C, 22), in_b = values(3 * C, 23);
	SageParams pa = params(lattn.view, r.view, proj.view, {});
	pa.lin_heads = {h0.view, h1.view, h2.view};
	pa.in_proj_weight = in_w;
	pa.in_proj_bias = in_b;
	pa.out_proj = out_proj.view;
	for (std::size_t heads : {1, 2})
		for (bool project : {false, true}) {
			SageOptions o = options(Aggr::mean, project, true, project);
			o.aggrs = aggrs;
			o.attn = true;
			o.heads = heads;
			SCOPED_TRACE(testing::Message() << "attn heads " << heads << " project " << project);
			expect_close(sage_conv(g, x, pa, o), ref_sage(e, x, pa, o));
		}
	SageOptions bad = options(Aggr::mean, false, true, false);
	bad.aggrs = aggrs;
	bad.attn = true;
	bad.heads = 3;  // 8 is not a multiple of 3
	EXPECT_THROW(sage_conv(g, x, pa, bad), std::invalid_argument);
	bad.aggrs = {Aggr::mean};
	bad.heads = 1;
	EXPECT_THROW(sage_conv(g, x, pa, bad), std::invalid_argument);
}

TEST(GnnLayersSage, LstmOrderIsAscendingSourcesPaddedToTheLargestDegree)
{
	// Node 3 receives from 2, 0, 1 (in that input order); node 4 from 1 only, so its sequence is
	// x1 followed by two zero steps. Reversing the input order changes nothing; the order of the
	// sources does matter to an LSTM, so a kernel that kept input order would differ.
	const std::size_t in = 3;
	std::vector<float> x = values(5 * in, 5, 1.0f);
	OwnedLinear l(in, 2, 1), r(in, 2, 2);
	OwnedLstm lstm(in, in, 3);
	SageParams p = params(l.view, r.view, {}, lstm.view);
	SageOptions o = options(Aggr::lstm, false, false, false);
	Edges e{5, {2, 0, 1, 1}, {3, 3, 3, 4}};
	Edges rev{5, {1, 1, 0, 2}, {4, 3, 3, 3}};
	std::vector<float> a = sage_conv(build_csr(5, e.src, e.dst, {}), x, p, o);
	std::vector<float> b = sage_conv(build_csr(5, rev.src, rev.dst, {}), x, p, o);
	EXPECT_EQ(a, b);
	expect_close(a, ref_sage(e, x, p, o));
	// Node 4 after padding differs from node 4 alone (no padding when its degree is the largest).
	Edges alone{5, {1}, {4}};
	std::vector<float> c = sage_conv(build_csr(5, alone.src, alone.dst, {}), x, p, o);
	EXPECT_GT(std::abs(c[4 * 2] - a[4 * 2]) + std::abs(c[4 * 2 + 1] - a[4 * 2 + 1]), 1e-6);
	// No edges at all: the aggregate is zero, the output lin_l's bias.
	std::vector<float> none = sage_conv(build_csr(5, {}, {}, {}), x, p, o);
	for (std::size_t i = 0; i < 5; i++)
		for (std::size_t k = 0; k < 2; k++)
			EXPECT_FLOAT_EQ(none[i * 2 + k], l.b[k]);
}

TEST(GnnLayersSage, SameResultAtAnyThreadCountAndChecksShapes)
{
	const std::size_t n = 400, in = 8;
	Edges e = random_edges(n, 3000, 4);
	Csr g = build_csr(n, e.src, e.dst, {});
	std::vector<float> x = values(n * in, 9, 1.0f);
	OwnedLinear l(in, 5, 1), r(in, 5, 2), proj(in, in, 3);
	OwnedLstm lstm(in, in, 4);
	SageParams p = params(l.view, r.view, proj.view, lstm.view);
	SageOptions o = options(Aggr::lstm, false, true, true);
	std::vector<float> one;
	tbb::task_arena(1).execute([&] { one = sage_conv(g, x, p, o); });
	EXPECT_EQ(sage_conv(g, x, p, o), one);

	OwnedLstm wrong(in, in + 1, 5);
	SageParams bad = p;
	bad.lstm = wrong.view;
	EXPECT_THROW(sage_conv(g, x, bad, o), std::invalid_argument);
	OwnedLinear wide(in, in + 1, 6);
	bad = p;
	bad.lin = wide.view;
	EXPECT_THROW(sage_conv(g, x, bad, o), std::invalid_argument);
}

// ---- Readouts ------------------------------------------------------------------------------------

namespace {

struct Batch {
	std::vector<std::uint32_t> of;  // node -> graph, not sorted
	std::size_t graphs;
	std::vector<std::vector<std::size_t>> members() const
	{
		std::vector<std::vector<std::size_t>> m(graphs);
		for (std::size_t i = 0; i < of.size(); i++)
			m[of[i]].push_back(i);
		return m;
	}
};

Batch random_batch(std::size_t n, std::size_t graphs, std::uint32_t seed)
{
	std::mt19937 rng(seed);
	Batch b{{}, graphs};
	for (std::size_t i = 0; i < n; i++)
		b.of.push_back(std::uint32_t(rng() % (graphs - 1)));  // the last graph has no nodes
	return b;
}

}  // namespace

TEST(GnnLayersReadout, GlobalPoolsMatchReference)
{
	const std::size_t n = 700, d = 19;
	Batch b = random_batch(n, 150, 1);  // > one block of graphs
	std::vector<float> x = values(n * d, 2, 2.0f);
	auto m = b.members();
	for (Pool p : {Pool::add, Pool::mean, Pool::max}) {
		Mat ref(b.graphs * d, 0.0);
		for (std::size_t g = 0; g < b.graphs; g++)
			for (std::size_t k = 0; k < d; k++) {
				double a = 0;
				for (std::size_t j = 0; j < m[g].size(); j++) {
					double v = x[m[g][j] * d + k];
					a = p == Pool::max ? (j == 0 ? v : std::max(a, v)) : a + v;
				}
				if (p == Pool::mean && !m[g].empty())
					a /= double(m[g].size());
				ref[g * d + k] = a;
			}
		SCOPED_TRACE(int(p));
		expect_close(global_pool(x, d, b.of, b.graphs, p), ref);
	}
	std::vector<std::uint32_t> out_of_range(n, 0);
	out_of_range[3] = 150;
	EXPECT_THROW(global_pool(x, d, out_of_range, 150, Pool::add), std::invalid_argument);
}

TEST(GnnLayersReadout, AttentionalAggregationMatchesReference)
{
	const std::size_t n = 500, d = 7;
	Batch b = random_batch(n, 40, 3);
	std::vector<float> x = values(n * d, 4, 1.5f);
	auto m = b.members();
	OwnedLinear g0(d, 5, 10), g2(5, 1, 11), g_wide(d, 6, 12), nn0(d, 6, 13);
	for (bool wide : {false, true}) {
		std::vector<MlpStep> gate = wide ? std::vector<MlpStep>{g_wide.view}
		                                 : std::vector<MlpStep>{g0.view, Relu{}, g2.view};
		std::vector<MlpStep> nn{nn0.view};
		Mat xd(x.begin(), x.end());
		Mat gv;
		if (wide) {
			gv = ref_linear(xd, n, g_wide.view);
		} else {
			Mat h = ref_linear(xd, n, g0.view);
			for (double &v : h)
				v = std::max(v, 0.0);
			gv = ref_linear(h, n, g2.view);
		}
		const std::size_t gw = wide ? 6 : 1;
		Mat hv = ref_linear(xd, n, nn0.view);
		Mat ref(b.graphs * 6, 0.0);
		for (std::size_t g = 0; g < b.graphs; g++)
			for (std::size_t c = 0; c < gw; c++) {
				std::vector<double> logits;
				for (std::size_t i : m[g])
					logits.push_back(gv[i * gw + c]);
				std::vector<double> a = softmax_group(logits);
				for (std::size_t j = 0; j < m[g].size(); j++)
					for (std::size_t k = 0; k < 6; k++)
						if (gw == 1 || k == c)
							ref[g * 6 + k] += a[j] * hv[m[g][j] * 6 + k];
			}
		SCOPED_TRACE(wide);
		expect_close(attentional_aggregation(x, d, b.of, b.graphs, gate, nn), ref);
	}
	OwnedLinear bad_gate(d, 3, 14);
	std::vector<MlpStep> gate{bad_gate.view};
	EXPECT_THROW(attentional_aggregation(x, d, b.of, b.graphs, gate, {}), std::invalid_argument);
}

TEST(GnnLayersReadout, Set2SetMatchesReference)
{
	const std::size_t n = 600, d = 9, steps = 3;
	Batch b = random_batch(n, 200, 5);
	std::vector<float> x = values(n * d, 6, 1.0f);
	OwnedLstm lstm(2 * d, d, 7);
	auto m = b.members();
	Mat ref(b.graphs * 2 * d);
	for (std::size_t g = 0; g < b.graphs; g++) {
		std::vector<double> h(d, 0.0), c(d, 0.0), q_star(2 * d, 0.0);
		for (std::size_t s = 0; s < steps; s++) {
			ref_lstm_step(lstm.view, q_star.data(), h, c);
			std::vector<double> e;
			for (std::size_t i : m[g]) {
				double v = 0;
				for (std::size_t k = 0; k < d; k++)
					v += double(x[i * d + k]) * h[k];
				e.push_back(v);
			}
			std::vector<double> a = softmax_group(e);
			std::fill(q_star.begin(), q_star.end(), 0.0);
			std::copy(h.begin(), h.end(), q_star.begin());
			for (std::size_t j = 0; j < m[g].size(); j++)
				for (std::size_t k = 0; k < d; k++)
					q_star[d + k] += a[j] * x[m[g][j] * d + k];
		}
		std::copy(q_star.begin(), q_star.end(), ref.begin() + std::ptrdiff_t(g * 2 * d));
	}
	expect_close(set2set(x, d, b.of, b.graphs, lstm.view, steps), ref);
	OwnedLstm wrong(d, d, 8);
	EXPECT_THROW(set2set(x, d, b.of, b.graphs, wrong.view, steps), std::invalid_argument);
}

// ---- Models with a readout -----------------------------------------------------------------------

namespace {

GnnParam param(const char *name, std::vector<std::uint32_t> shape, std::vector<float> data)
{
	return GnnParam{name, std::move(shape), std::move(data)};
}

// gcn 4 -> 6, global_mean_pool, linear 6 -> 3, linear 3 -> 2.
GnnModel pooled_model()
{
	GnnModel m;
	GnnLayer gcn;
	gcn.type = LayerType::gcn;
	gcn.in_dim = 4;
	gcn.out_dim = 6;
	gcn.params.push_back(param("lin.weight", {6, 4}, values(24, 1)));
	GnnLayer pool;
	pool.type = LayerType::global_mean_pool;
	pool.in_dim = pool.out_dim = 6;
	GnnLayer l1;
	l1.type = LayerType::linear;
	l1.in_dim = 6;
	l1.out_dim = 3;
	l1.params.push_back(param("weight", {3, 6}, values(18, 2)));
	l1.params.push_back(param("bias", {3}, values(3, 3)));
	GnnLayer l2 = l1;
	l2.in_dim = 3;
	l2.out_dim = 2;
	l2.params = {param("weight", {2, 3}, values(6, 4))};
	m.layers = {gcn, pool, l1, l2};
	return m;
}

}  // namespace

TEST(GnnLayersModel, ReadoutThenLinearLayersPerGraph)
{
	const std::size_t n = 50;
	Edges e = random_edges(n, 200, 8);
	Csr g = build_csr(n, e.src, e.dst, {});
	std::vector<float> x = values(n * 4, 9, 1.0f);
	GnnModel m = pooled_model();
	Batch b = random_batch(n, 4, 10);
	b.graphs = 3;  // every graph has nodes
	m.batch = b.of;
	m.graph_ids = {30, 10, 20};
	std::vector<float> y = run_model(m, g, x, 4);
	ASSERT_EQ(y.size(), 3u * 2);
	// By hand: GCN, ReLU, mean per graph, linear, ReLU, linear (no activation after the pool).
	std::vector<float> h = gcn_conv(g, x, Linear{m.layers[0].params[0].data, {}, 4, 6});
	relu_inplace(h);
	std::vector<float> pooled = global_pool(h, 6, m.batch, 3, Pool::mean);
	std::vector<float> z = mlp_rows(pooled, 3, 6, std::vector<MlpStep>{
	                                                  Linear{m.layers[2].params[0].data, m.layers[2].params[1].data, 6, 3},
	                                                  Relu{}, Linear{m.layers[3].params[0].data, {}, 3, 2}});
	EXPECT_EQ(y, z);

	// Without a batch the whole graph is one graph.
	GnnModel whole = pooled_model();
	EXPECT_EQ(run_model(whole, g, x, 4).size(), 2u);

	// The encoding keeps the batch, the keys and the new options.
	m.layers[0].project = true;
	m.layers[0].aggr = Aggr::lstm;
	m.layers[1].nn_mlp = {0, 1, 0};
	m.layers[1].processing_steps = 7;
	GnnModel back = decode_gnn_model(encode(m));
	EXPECT_EQ(back.batch, m.batch);
	EXPECT_EQ(back.graph_ids, m.graph_ids);
	EXPECT_TRUE(back.layers[0].project);
	EXPECT_EQ(back.layers[0].aggr, Aggr::lstm);
	EXPECT_EQ(back.layers[1].nn_mlp, m.layers[1].nn_mlp);
	EXPECT_EQ(back.layers[1].processing_steps, 7u);
}

TEST(GnnLayersModel, ChecksTheLayerOrderAndTheBatch)
{
	const std::size_t n = 20;
	Edges e = random_edges(n, 60, 8);
	Csr g = build_csr(n, e.src, e.dst, {});
	std::vector<float> x = values(n * 4, 9, 1.0f);
	GnnModel m = pooled_model();
	GnnModel conv_after = m;
	conv_after.layers.push_back(m.layers[0]);
	conv_after.layers.back().in_dim = 2;
	conv_after.layers.back().params[0] = param("lin.weight", {6, 2}, values(12, 5));
	EXPECT_THROW(check_model(conv_after, 4), std::invalid_argument);
	GnnModel two = m;
	two.layers.insert(two.layers.begin() + 2, m.layers[1]);
	EXPECT_THROW(check_model(two, 4), std::invalid_argument);
	GnnModel bad = m;
	bad.batch.assign(n, 0);
	bad.batch[3] = 1;
	bad.graph_ids = {1};
	EXPECT_THROW(run_model(bad, g, x, 4), std::invalid_argument);
	bad.batch.assign(n - 1, 0);  // not one per node
	EXPECT_THROW(run_model(bad, g, x, 4), std::invalid_argument);
	EXPECT_TRUE(has_readout(m));
	m.layers.erase(m.layers.begin() + 1, m.layers.end());
	EXPECT_FALSE(has_readout(m));
}
