// The GNN model and graph codecs, and running a model (layers chained, activation between them).
#include "worker/kernels/gnn_model.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace ruvector::kernels;

namespace {

Csr path_graph()
{
	// 0 -> 1 -> 2, node 3 isolated
	std::vector<std::uint32_t> src{0, 1}, dst{1, 2};
	return build_csr(4, src, dst, {});
}

GnnLayer gcn_layer(std::uint32_t in, std::uint32_t out, float scale)
{
	GnnLayer l;
	l.type = LayerType::gcn;
	l.in_dim = in;
	l.out_dim = out;
	std::vector<float> w(std::size_t(in) * out);
	for (std::size_t i = 0; i < w.size(); i++)
		w[i] = scale * float(int(i % 5) - 2);
	l.params.push_back({"lin.weight", {out, in}, w});
	l.params.push_back({"bias", {out}, std::vector<float>(out, -0.5f)});
	return l;
}

}  // namespace

TEST(GnnModelCodec, RoundTripsEveryField)
{
	GnnModel m;
	m.relu_between = false;
	m.sample_size = 7;
	m.seed = 99;
	m.layers.push_back(gcn_layer(3, 4, 0.5f));
	GnnLayer g;
	g.type = LayerType::gin;
	g.in_dim = 4;
	g.out_dim = 2;
	g.eps = 0.25f;
	g.mlp = {0, 1, 0};
	g.params.push_back({"nn.0.weight", {3, 4}, std::vector<float>(12, 1.0f)});
	g.params.push_back({"nn.2.weight", {2, 3}, std::vector<float>(6, 2.0f)});
	m.layers.push_back(g);
	GnnModel d = decode_gnn_model(encode(m));
	EXPECT_EQ(d.relu_between, false);
	EXPECT_EQ(d.sample_size, 7u);
	EXPECT_EQ(d.seed, 99u);
	ASSERT_EQ(d.layers.size(), 2u);
	EXPECT_EQ(d.layers[1].type, LayerType::gin);
	EXPECT_EQ(d.layers[1].eps, 0.25f);
	EXPECT_EQ(d.layers[1].mlp, (std::vector<std::uint8_t>{0, 1, 0}));
	ASSERT_NE(d.layers[0].param("lin.weight"), nullptr);
	EXPECT_EQ(d.layers[0].param("lin.weight")->data, m.layers[0].params[0].data);
	EXPECT_EQ(d.layers[1].param("nn.2.weight")->shape, (std::vector<std::uint32_t>{2, 3}));
}

TEST(GnnModelCodec, RejectsTruncatedAndTrailingBytes)
{
	GnnModel m;
	m.layers.push_back(gcn_layer(2, 2, 1));
	auto bytes = encode(m);
	EXPECT_THROW(decode_gnn_model(std::span(bytes).first(bytes.size() - 3)), std::exception);
	bytes.push_back(std::byte{0});
	EXPECT_THROW(decode_gnn_model(bytes), std::invalid_argument);
}

// A 4-node, 3-edge weighted graph with 2-dimensional features, and its blob.
struct SmallGraph {
	Csr g = build_csr(4, std::vector<std::uint32_t>{0, 1, 3}, std::vector<std::uint32_t>{1, 2, 1}, std::vector<float>{1, 2, 3});
	std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8};
	std::vector<std::int64_t> ids{10, 20, 30, 40};
	std::vector<std::byte> blob = encode_graph(g, x, 2, ids);
};

// Sent in parts (the head encoded, features and ids from where they are), a graph is the same
// bytes as its blob; odd n * dim puts zero padding between x and ids.
TEST(GraphBlob, HeadThenFeaturesThenIdsIsTheBlob)
{
	for (std::uint32_t dim : {2u, 3u}) {
		Csr g = build_csr(5, std::vector<std::uint32_t>{0, 1, 3}, std::vector<std::uint32_t>{1, 2, 4}, std::vector<float>{1, 2, 3});
		std::vector<float> x(5 * dim);
		for (std::size_t i = 0; i < x.size(); i++)
			x[i] = float(i) + 0.5f;
		std::vector<std::int64_t> ids{10, 20, 30, 40, 50};
		std::vector<std::byte> blob = encode_graph(g, x, dim, ids);
		GraphLayout layout = graph_layout(g, dim);
		ASSERT_EQ(layout.total, blob.size());
		std::vector<std::byte> parts(layout.total, std::byte{0xAB});
		encode_graph_head_into(std::span(parts).first(layout.x_offset), g, dim);
		std::memcpy(parts.data() + layout.x_offset, x.data(), sizeof(float) * x.size());
		std::memset(parts.data() + layout.x_offset + sizeof(float) * x.size(), 0,
		            layout.ids_offset - layout.x_offset - sizeof(float) * x.size());
		std::memcpy(parts.data() + layout.ids_offset, ids.data(), sizeof(std::int64_t) * ids.size());
		EXPECT_EQ(parts, blob) << "dim " << dim;
		EXPECT_EQ(layout.ids_offset - layout.x_offset, dim == 3 ? 64u : 40u);
		// The layout from the counts alone (the backend sizes a graph's request from them before it
		// has built the CSR) is the same.
		GraphLayout counted = graph_layout(g.n, g.edges(), dim, !g.weight.empty());
		EXPECT_EQ(counted.x_offset, layout.x_offset);
		EXPECT_EQ(counted.ids_offset, layout.ids_offset);
		EXPECT_EQ(counted.total, layout.total);
		GraphLayout unweighted = graph_layout(g.n, g.edges(), dim, false);
		EXPECT_EQ(layout.x_offset - unweighted.x_offset, g.weight.empty() ? 0u : (sizeof(float) * g.edges() + 7) / 8 * 8);
	}
}

TEST(GraphBlob, RoundTripsAndValidates)
{
	auto [g, x, ids, blob] = SmallGraph{};
	Graph d = decode_graph(blob);
	EXPECT_EQ(d.csr.row_ptr, g.row_ptr);
	EXPECT_EQ(d.csr.col, g.col);
	EXPECT_EQ(d.csr.weight, g.weight);
	EXPECT_EQ(d.x, x);
	EXPECT_EQ(d.ids, ids);
	EXPECT_EQ(graph_header(blob).edges, 3u);
	auto bad = blob;
	bad.pop_back();
	EXPECT_THROW(decode_graph(bad), std::invalid_argument);
	// A corrupt column index is caught by validate()
	auto corrupt = blob;
	std::uint32_t huge = 1000;
	std::size_t col_offset = ((sizeof(GraphHeader) + 7) & ~std::size_t(7)) + ((sizeof(std::uint64_t) * 5 + 7) & ~std::size_t(7));
	std::memcpy(corrupt.data() + col_offset, &huge, sizeof huge);
	EXPECT_THROW(decode_graph(corrupt), std::invalid_argument);
	EXPECT_THROW(view_graph(corrupt), std::invalid_argument);
}

TEST(GraphBlob, ViewReadsInPlace)
{
	auto [g, x, ids, blob] = SmallGraph{};
	GraphView v = view_graph(blob);
	// Spans into the blob itself, with the arrays decode_graph copies out.
	EXPECT_GE(reinterpret_cast<const std::byte *>(v.x.data()), blob.data());
	EXPECT_LT(reinterpret_cast<const std::byte *>(v.x.data()), blob.data() + blob.size());
	EXPECT_EQ(v.dim, 2u);
	EXPECT_EQ(v.csr.n, 4u);
	EXPECT_EQ(std::vector<std::uint64_t>(v.csr.row_ptr.begin(), v.csr.row_ptr.end()), g.row_ptr);
	EXPECT_EQ(std::vector<std::uint32_t>(v.csr.col.begin(), v.csr.col.end()), g.col);
	EXPECT_EQ(std::vector<float>(v.csr.weight.begin(), v.csr.weight.end()), g.weight);
	EXPECT_EQ(std::vector<float>(v.x.begin(), v.x.end()), x);
	EXPECT_EQ(std::vector<std::int64_t>(v.ids.begin(), v.ids.end()), ids);
	// The algorithms take the view as they take the Csr.
	EXPECT_EQ(hop_counts(v.csr, 0, 3), hop_counts(g, 0, 3));
	// Misaligned bytes: the view refuses them, decode_graph copies them aligned first.
	std::vector<std::byte> shifted(blob.size() + 1);
	std::memcpy(shifted.data() + 1, blob.data(), blob.size());
	std::span<const std::byte> odd(shifted.data() + 1, blob.size());
	EXPECT_THROW(view_graph(odd), std::invalid_argument);
	Graph d = decode_graph(odd);
	EXPECT_EQ(d.csr.col, g.col);
	EXPECT_EQ(d.x, x);
	// The two-argument view copies only misaligned bytes (what a GNN forward job reads).
	std::vector<std::uint64_t> storage;
	GraphView in_place = view_graph(blob, storage);
	EXPECT_TRUE(storage.empty());
	EXPECT_EQ(in_place.x.data(), v.x.data());
	GraphView copied = view_graph(odd, storage);
	EXPECT_FALSE(storage.empty());
	EXPECT_GE(reinterpret_cast<const std::byte *>(copied.x.data()), reinterpret_cast<const std::byte *>(storage.data()));
	EXPECT_EQ(std::vector<float>(copied.x.begin(), copied.x.end()), x);
	EXPECT_EQ(std::vector<std::int64_t>(copied.ids.begin(), copied.ids.end()), ids);
	// A layer runs on the view exactly as on the Csr.
	GnnModel m;
	m.layers.push_back(identity_layer(LayerType::gcn, 2));
	EXPECT_EQ(run_model(m, copied.csr, copied.x, 2), run_model(m, g, x, 2));
	auto bad = blob;
	bad.pop_back();
	EXPECT_THROW(view_graph(bad), std::invalid_argument);
}

TEST(GnnModelRun, IdentityLayersPropagateAsDocumented)
{
	Csr g = path_graph();
	std::vector<float> x{1, 0, 0, 1, 1, 1, 2, 2};
	auto run = [&](LayerType t) {
		GnnModel m;
		m.relu_between = false;
		m.layers.push_back(identity_layer(t, 2));
		return run_model(m, g, x, 2);
	};
	// sage: x_i + mean_j x_j; gin: x_i + sum_j x_j (one in-neighbour each here)
	EXPECT_EQ(run(LayerType::sage), (std::vector<float>{1, 0, 1, 1, 1, 2, 2, 2}));
	EXPECT_EQ(run(LayerType::gin), (std::vector<float>{1, 0, 1, 1, 1, 2, 2, 2}));
	// gat: uniform attention over in-neighbours and self
	auto gat = run(LayerType::gat);
	std::vector<float> want{1, 0, 0.5f, 0.5f, 0.5f, 1, 2, 2};
	for (std::size_t i = 0; i < want.size(); i++)
		EXPECT_NEAR(gat[i], want[i], 1e-6) << i;
	// gcn: out_1 = x_0 / sqrt(2) + x_1 / 2
	auto gcn = run(LayerType::gcn);
	EXPECT_NEAR(gcn[2], 1 / std::sqrt(2.0f), 1e-6);
	EXPECT_NEAR(gcn[3], 0.5f, 1e-6);
}

TEST(GnnModelRun, ReluOnlyBetweenLayers)
{
	Csr g = path_graph();
	std::vector<float> x{1, -2, 3, -4, 5, -6, 7, -8};
	GnnModel m;
	m.layers.push_back(gcn_layer(2, 3, 1));
	m.layers.push_back(gcn_layer(3, 2, 1));
	GnnModel first;
	first.layers.push_back(m.layers[0]);
	auto hidden = run_model(first, g, x, 2);
	bool negative = false;
	for (float v : hidden)
		negative |= v < 0;
	ASSERT_TRUE(negative) << "the test needs a negative hidden value";
	relu_inplace(hidden);
	GnnModel second;
	second.layers.push_back(m.layers[1]);
	EXPECT_EQ(run_model(m, g, x, 2), run_model(second, g, hidden, 3));
	m.relu_between = false;
	EXPECT_NE(run_model(m, g, x, 2), run_model(second, g, hidden, 3));
}

TEST(GnnModelRun, DimensionChainAndParametersAreChecked)
{
	Csr g = path_graph();
	std::vector<float> x(8, 1.0f);
	GnnModel m;
	m.layers.push_back(gcn_layer(2, 3, 1));
	m.layers.push_back(gcn_layer(4, 2, 1));
	try {
		run_model(m, g, x, 2);
		FAIL() << "expected an error";
	} catch (const std::invalid_argument &e) {
		EXPECT_STREQ(e.what(), "layer 1 (gcn): expects 4 input features, but the previous layer gives 3");
	}
	GnnModel bad;
	bad.layers.push_back(gcn_layer(2, 3, 1));
	bad.layers[0].params[0].data.pop_back();
	EXPECT_THROW(run_model(bad, g, x, 2), std::invalid_argument);
	EXPECT_THROW(run_model(GnnModel{}, g, x, 2), std::invalid_argument);
}

TEST(GnnModelRun, SamplingWithLargeSampleEqualsFull)
{
	Csr g = build_csr(5, std::vector<std::uint32_t>{0, 1, 2, 3, 4, 0}, std::vector<std::uint32_t>{4, 4, 4, 4, 0, 1}, {});
	std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	GnnModel m;
	m.relu_between = false;
	m.layers.push_back(identity_layer(LayerType::sage, 2));
	auto full = run_model(m, g, x, 2);
	m.sample_size = 4;  // the largest in-degree
	m.seed = 3;
	EXPECT_EQ(run_model(m, g, x, 2), full);
	m.sample_size = 1;
	auto a = run_model(m, g, x, 2), b = run_model(m, g, x, 2);
	EXPECT_EQ(a, b);
	EXPECT_NE(a, full);
}
