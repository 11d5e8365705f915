// No GNN result holds NaN or ±Infinity: a layer output that overflows float32 is a NodeError naming
// the node and the layer, GCN normalisation refuses a negative degree (PyG would give NaN), and
// SAGE's L2 normalisation of rows near FLT_MAX divides by the double norm instead of by +Inf.
#include "worker/kernels/gnn.hpp"
#include "worker/kernels/gnn_model.hpp"
#include "worker/kernels/graph.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace ruvector::kernels;

namespace {

constexpr float kBig = 3e38f;

GnnLayer identity(LayerType t, std::uint32_t dim)
{
	return identity_layer(t, dim);
}

NodeError run_expecting_error(const GnnModel &m, const Csr &g, const std::vector<float> &x, std::size_t dim)
{
	try {
		run_model(m, g, x, dim);
	} catch (const NodeError &e) {
		return e;
	}
	ADD_FAILURE() << "run_model returned instead of throwing NodeError";
	return NodeError(NodeError::Kind::overflow, std::size_t(-1));
}

}  // namespace

TEST(GnnFinite, CheckFiniteRowsNamesTheFirstBadRow)
{
	const float inf = std::numeric_limits<float>::infinity();
	std::vector<float> rows{1, 2, 3, 4, 5, std::nanf(""), 7, -inf};
	try {
		check_finite_rows(rows, 2);
		FAIL() << "no error";
	} catch (const NodeError &e) {
		EXPECT_EQ(e.kind, NodeError::Kind::overflow);
		EXPECT_EQ(e.node, 2u);
		EXPECT_STREQ(e.what(), "value out of range: overflow");
	}
	std::vector<float> fine{std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
	                        std::numeric_limits<float>::denorm_min(), 0};
	EXPECT_NO_THROW(check_finite_rows(fine, 2));
}

TEST(GnnFinite, OverflowingLayerIsReportedWithNodeAndLayer)
{
	// 0 -> 2 and 1 -> 2: GIN's identity layer sums 3e38 + 3e38 + x_2 at node 2.
	std::vector<std::uint32_t> src{0, 1}, dst{2, 2};
	Csr g = build_csr(3, src, dst, {});
	std::vector<float> x{kBig, 0, kBig, 0, 1, 0};
	GnnModel m;
	m.relu_between = false;
	m.layers.push_back(identity(LayerType::gin, 2));
	NodeError e = run_expecting_error(m, g, x, 2);
	EXPECT_EQ(e.kind, NodeError::Kind::overflow);
	EXPECT_EQ(e.node, 2u);
	EXPECT_EQ(e.layer, 0u);

	// In the second layer of two, over the single edge 0 -> 2: SAGE's x_i + mean gives node 2
	// 1 + 3e38 (fits), then GIN's x_2 + x_0 is 6e38.
	Csr one = build_csr(3, std::vector<std::uint32_t>{0}, std::vector<std::uint32_t>{2}, {});
	GnnModel two;
	two.relu_between = false;
	two.layers.push_back(identity(LayerType::sage, 2));
	two.layers.push_back(identity(LayerType::gin, 2));
	e = run_expecting_error(two, one, x, 2);
	EXPECT_EQ(e.node, 2u);
	EXPECT_EQ(e.layer, 1u);
}

TEST(GnnFinite, ReluOfAnOverflowToMinusInfinityIsZero)
{
	// Layer 0 maps x to -2x: node 0 overflows to -Inf; ReLU between the layers makes it exactly 0,
	// which is the true value, so no error.
	Csr g = build_csr(1, std::vector<std::uint32_t>{}, std::vector<std::uint32_t>{}, {});
	GnnLayer l0;
	l0.type = LayerType::gcn;
	l0.in_dim = l0.out_dim = 1;
	l0.params.push_back({"lin.weight", {1, 1}, {-2.0f}});
	GnnModel m;
	m.relu_between = true;
	m.layers.push_back(l0);
	m.layers.push_back(identity(LayerType::gcn, 1));
	std::vector<float> y = run_model(m, g, std::vector<float>{kBig}, 1);
	ASSERT_EQ(y.size(), 1u);
	EXPECT_EQ(y[0], 0.0f);
}

TEST(GnnFinite, GcnRefusesNegativeDegreeAndKeepsZeroDegreeAtZero)
{
	// 1 -> 0 weighing -5: deg(0) = 1 (its added loop) - 5 = -4.
	std::vector<std::uint32_t> src{1}, dst{0};
	std::vector<float> x{1, 0, 0, 1};
	std::vector<float> eye{1, 0, 0, 1};
	Linear lin{eye, {}, 2, 2};
	Csr neg = build_csr(2, src, dst, std::vector<float>{-5});
	try {
		gcn_conv(neg, x, lin);
		FAIL() << "no error";
	} catch (const NodeError &e) {
		EXPECT_EQ(e.kind, NodeError::Kind::negative_degree);
		EXPECT_EQ(e.node, 0u);
		EXPECT_DOUBLE_EQ(e.value, -4.0);
	}
	// Weight -1: deg(0) = 0, PyG's masked_fill makes the factor 0, so node 0 aggregates to zero.
	Csr zero = build_csr(2, src, dst, std::vector<float>{-1});
	std::vector<float> y = gcn_conv(zero, x, lin);
	EXPECT_EQ(y[0], 0.0f);
	EXPECT_EQ(y[1], 0.0f);
	EXPECT_EQ(y[2], 0.0f);
	EXPECT_EQ(y[3], 1.0f);
	// A negative weight with a positive degree is PyG's arithmetic: -0.5 gives deg(0) = 0.5 and
	// out_0 = x_0 / 0.5 - 0.5 x_1 / sqrt(0.5).
	Csr half = build_csr(2, src, dst, std::vector<float>{-0.5f});
	y = gcn_conv(half, x, lin);
	EXPECT_FLOAT_EQ(y[0], 2.0f);
	EXPECT_FLOAT_EQ(y[1], float(-0.5 / std::sqrt(0.5)));
	// Without normalisation any finite weight is a plain weighted sum (no loops): out_0 = -5 x_1.
	y = gcn_conv(neg, x, lin, GcnOptions{true, false});
	EXPECT_EQ(y[0], 0.0f);
	EXPECT_EQ(y[1], -5.0f);
}

TEST(GnnFinite, SageNormalizeOfHugeRowsUsesTheDoubleNorm)
{
	// No edges, root weight only: out_i = x_i, then L2-normalised. ||[3e38, 3e38]|| overflows float.
	Csr g = build_csr(2, std::vector<std::uint32_t>{}, std::vector<std::uint32_t>{}, {});
	std::vector<float> eye{1, 0, 0, 1};
	Linear lin{eye, {}, 2, 2};
	SageOptions opts;
	opts.normalize = true;
	std::vector<float> y = sage_conv(g, std::vector<float>{kBig, kBig, 3, 4}, lin, lin, opts);
	EXPECT_FLOAT_EQ(y[0], float(1 / std::sqrt(2.0)));
	EXPECT_FLOAT_EQ(y[1], float(1 / std::sqrt(2.0)));
	// A row whose norm fits: float division by the float norm, as PyTorch.
	EXPECT_EQ(y[2], 3.0f / 5.0f);
	EXPECT_EQ(y[3], 4.0f / 5.0f);
}
