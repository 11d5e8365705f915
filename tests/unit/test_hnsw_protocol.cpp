// The hnsw_build request: its payload and graph reply round trip, the decoder rejects every
// malformed reply, and the shared request checks give the SQLSTATE and message the user sees.
#include "shmem/codec/errors.hpp"
#include "shmem/codec/protocol.hpp"
#include "shmem/codec/request_checks.hpp"
#include "worker/kernels/hnsw_graph.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace ruvector;
using namespace ruvector::proto;
namespace hnsw = ruvector::kernels::hnsw;

namespace {

const kernels::MetricInfo &l2() { return *kernels::find_metric(kernels::ElementType::float32, kernels::Metric::l2); }

HnswBuildRequest request_for(std::size_t n, std::size_t dim)
{
	HnswBuildRequest r;
	r.n = n;
	r.dim = std::uint32_t(dim);
	r.metric = l2().code();
	r.m = 4;
	r.ef_construction = 16;
	r.max_level = 63;
	r.seed = 7;
	return r;
}

hnsw::Graph graph_of(const HnswBuildRequest &r, std::vector<float> &rows)
{
	std::mt19937 rng(3);
	std::normal_distribution<float> g;
	rows.resize(r.n * r.dim);
	for (float &v : rows)
		v = g(rng);
	hnsw::BuildParams p;
	p.m = r.m;
	p.ef_construction = r.ef_construction;
	p.max_level = r.max_level;
	p.seed = r.seed;
	return hnsw::build(l2(), kernels::as_row(rows.data()), r.n, r.dim, p, kernels::CancelToken());
}

// The reply in 8-byte aligned memory, as the backend's palloc'd buffer is.
struct Aligned {
	std::vector<std::uint64_t> words;
	std::size_t size;
	explicit Aligned(const std::vector<std::byte> &b) : words((b.size() + 7) / 8), size(b.size())
	{
		std::memcpy(words.data(), b.data(), b.size());
	}
	std::span<const std::byte> bytes() const { return {reinterpret_cast<const std::byte *>(words.data()), size}; }
	std::byte *data() { return reinterpret_cast<std::byte *>(words.data()); }
};

std::string error_of(const HnswBuildRequest &r)
{
	try {
		check_hnsw_build_request(r);
	} catch (...) {
		ErrorPayload e = describe_current_exception();
		return std::string(e.sqlstate, 5) + " " + e.message + (e.hint.empty() ? "" : " / " + e.hint);
	}
	return "ok";
}

}  // namespace

TEST(HnswProtocol, RequestRoundTrip)
{
	HnswBuildRequest r = request_for(1234, 77);
	r.memory_budget = 1 << 30;
	HnswBuildRequest back = decode_hnsw_build(encode(r));
	EXPECT_EQ(back.n, 1234u);
	EXPECT_EQ(back.dim, 77u);
	EXPECT_EQ(back.metric, r.metric);
	EXPECT_EQ(back.m, 4u);
	EXPECT_EQ(back.ef_construction, 16u);
	EXPECT_EQ(back.seed, 7u);
	EXPECT_EQ(back.memory_budget, std::uint64_t(1) << 30);
	auto bytes = encode(r);
	EXPECT_THROW(decode_hnsw_build(std::span(bytes).first(bytes.size() - 1)), ProtocolError);
	bytes.push_back(std::byte(0));
	EXPECT_THROW(decode_hnsw_build(bytes), ProtocolError);
	EXPECT_STREQ(request_name(MsgType::hnsw_build), "hnsw_build");
}

TEST(HnswProtocol, GraphReplyRoundTrip)
{
	HnswBuildRequest r = request_for(300, 8);
	std::vector<float> rows;
	hnsw::Graph g = graph_of(r, rows);
	Aligned reply(encode_hnsw_graph_reply(g));
	HnswGraphReply v = decode_hnsw_graph_reply(reply.bytes(), r);
	ASSERT_EQ(v.n, 300u);
	EXPECT_EQ(v.m, 4u);
	EXPECT_EQ(v.entry, g.entry);
	for (std::size_t i = 0; i < g.size(); i++) {
		ASSERT_EQ(v.level(i), g.levels[i]);
		EXPECT_EQ(v.offsets[i], g.offsets[i]);
		for (std::uint32_t layer = 0; layer <= g.levels[i]; layer++) {
			auto a = v.neighbours(i, layer);
			auto b = g.neighbours(i, layer);
			ASSERT_EQ(a.size(), b.size());
			EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
		}
	}
	// The view is plain data: it may live across a longjmp.
	static_assert(std::is_trivially_destructible_v<HnswGraphReply>);

	// A graph with one node: no links, entry 0.
	HnswBuildRequest one = request_for(1, 8);
	hnsw::Graph g1 = graph_of(one, rows);
	Aligned reply1(encode_hnsw_graph_reply(g1));
	HnswGraphReply v1 = decode_hnsw_graph_reply(reply1.bytes(), one);
	EXPECT_EQ(v1.entry, 0);
	EXPECT_EQ(v1.neighbours(0, 0)[0], -1);
}

TEST(HnswProtocol, DecoderRejectsMalformedReplies)
{
	HnswBuildRequest r = request_for(200, 4);
	std::vector<float> rows;
	hnsw::Graph g = graph_of(r, rows);
	const std::vector<std::byte> good = encode_hnsw_graph_reply(g);
	ASSERT_NO_THROW(decode_hnsw_graph_reply(Aligned(good).bytes(), r));

	const std::size_t header = sizeof(HnswGraphHeader), n = g.size();
	const std::size_t links_at = header + (n + 1) * sizeof(std::uint64_t);
	const std::size_t levels_at = links_at + g.links.size() * sizeof(std::int32_t);
	auto rejects = [&](auto damage) {
		Aligned a(good);
		std::size_t size = damage(a);
		return testing::AssertionResult(
			[&] {
				try {
					decode_hnsw_graph_reply(std::span(a.bytes().data(), size), r);
				} catch (const ProtocolError &) {
					return true;
				}
				return false;
			}());
	};
	auto put_i32 = [](Aligned &a, std::size_t at, std::int32_t v) { std::memcpy(a.data() + at, &v, sizeof v); };
	auto put_u64 = [](Aligned &a, std::size_t at, std::uint64_t v) { std::memcpy(a.data() + at, &v, sizeof v); };

	// Cut, or one byte too long.
	EXPECT_TRUE(rejects([&](Aligned &) { return good.size() - 1; }));
	EXPECT_TRUE(rejects([&](Aligned &) { return std::size_t(10); }));
	{
		std::vector<std::byte> longer = good;
		longer.push_back(std::byte(0));
		EXPECT_THROW(decode_hnsw_graph_reply(Aligned(longer).bytes(), r), ProtocolError);
	}
	// Another request's graph (n or m differ).
	HnswBuildRequest other = r;
	other.n = 199;
	EXPECT_THROW(decode_hnsw_graph_reply(Aligned(good).bytes(), other), ProtocolError);
	other = r;
	other.m = 5;
	EXPECT_THROW(decode_hnsw_graph_reply(Aligned(good).bytes(), other), ProtocolError);
	// A level above max_level.
	other = r;
	other.max_level = 0;
	bool any_upper = false;
	for (auto l : g.levels)
		any_upper |= l > 0;
	ASSERT_TRUE(any_upper);
	EXPECT_THROW(decode_hnsw_graph_reply(Aligned(good).bytes(), other), ProtocolError);
	// A link to a node that does not exist, to itself, below -1, to a node without that layer.
	EXPECT_TRUE(rejects([&](Aligned &a) { put_i32(a, links_at, std::int32_t(n)); return good.size(); }));
	EXPECT_TRUE(rejects([&](Aligned &a) { put_i32(a, links_at, 0); return good.size(); }));  // node 0's own list
	EXPECT_TRUE(rejects([&](Aligned &a) { put_i32(a, links_at, -2); return good.size(); }));
	std::size_t upper = 0;
	while (g.levels[upper] == 0)
		upper++;
	std::int32_t flat = 0;
	while (g.levels[std::size_t(flat)] > 0 || std::size_t(flat) == upper)
		flat++;
	EXPECT_TRUE(rejects([&](Aligned &a) {
		put_i32(a, links_at + (g.offsets[upper] + hnsw::layer_offset(4, 1)) * 4, flat);
		return good.size();
	}));
	// Offsets that do not follow the levels; a level that does not match its offsets.
	EXPECT_TRUE(rejects([&](Aligned &a) { put_u64(a, header + 8, g.offsets[1] + 1); return good.size(); }));
	EXPECT_TRUE(rejects([&](Aligned &a) { a.data()[levels_at + upper] = std::byte(0); return good.size(); }));
	// An entry point that is no node, or not on the top level.
	EXPECT_TRUE(rejects([&](Aligned &a) { std::int64_t e = std::int64_t(n); std::memcpy(a.data() + 16, &e, 8); return good.size(); }));
	EXPECT_TRUE(rejects([&](Aligned &a) { std::int64_t e = -1; std::memcpy(a.data() + 16, &e, 8); return good.size(); }));
	EXPECT_TRUE(rejects([&](Aligned &a) { std::int64_t e = flat; std::memcpy(a.data() + 16, &e, 8); return good.size(); }));
	// A link count that disagrees with the bytes.
	EXPECT_TRUE(rejects([&](Aligned &a) { put_u64(a, 24, g.links.size() + 1); return good.size(); }));
}

TEST(HnswProtocol, RequestChecks)
{
	HnswBuildRequest ok = request_for(1000, 128);
	ok.m = 16;
	ok.ef_construction = 64;
	EXPECT_EQ(error_of(ok), "ok");
	HnswBuildRequest r = ok;
	r.m = 1;
	EXPECT_EQ(error_of(r), "22023 m must be between 2 and 100");
	r.m = 101;
	EXPECT_EQ(error_of(r), "22023 m must be between 2 and 100");
	r = ok;
	r.ef_construction = 3;
	EXPECT_EQ(error_of(r), "22023 ef_construction must be between 4 and 1000");
	r.ef_construction = 1001;
	EXPECT_EQ(error_of(r), "22023 ef_construction must be between 4 and 1000");
	r.ef_construction = 31;
	EXPECT_EQ(error_of(r), "22023 ef_construction must be greater than or equal to 2 * m");
	r = ok;
	r.dim = 0;
	EXPECT_EQ(error_of(r), "22023 hnsw build: dimensions must be greater than 0");
	r = ok;
	r.metric = 0x0105;  // float16 hamming: no such entry
	EXPECT_EQ(error_of(r), "22023 hnsw build: unknown metric code 261");
	r.metric = 99;
	EXPECT_EQ(error_of(r), "22023 hnsw build: unknown metric code 99");
	// Every fixed-size table entry is a valid code (halfvec and bit rows included); variable-size
	// (sparse) rows are built by the on-disk insert path, never sent.
	for (const kernels::MetricInfo &m : kernels::metric_table()) {
		r.metric = m.code();
		EXPECT_EQ(error_of(r), m.element().variable_size()
		                           ? "22023 hnsw build: variable-size rows (sparsevec) are not built by the worker"
		                           : "ok")
		    << m.opclass;
	}
	r = ok;
	r.n = std::uint64_t(1) << 31;
	EXPECT_EQ(error_of(r).substr(0, 37), "54000 too many rows for an hnsw graph");
}

TEST(HnswProtocol, MemoryBudget)
{
	HnswBuildRequest r = request_for(100000, 128);
	r.m = 16;
	r.ef_construction = 64;
	const std::uint64_t need = hnsw_build_bytes(r);
	// The rows and at least their links (2m int32 per node at layer 0).
	EXPECT_GE(need, 100000u * (128 * 4 + 32 * 4));
	r.memory_budget = need;
	EXPECT_EQ(error_of(r), "ok");
	r.memory_budget = need - 1;
	const std::string e = error_of(r);
	EXPECT_EQ(e.substr(0, 55), "53200 hnsw graph does not fit into maintenance_work_mem");
	EXPECT_NE(e.find("Increase maintenance_work_mem to at least"), std::string::npos) << e;
	r.memory_budget = 0;  // no limit
	EXPECT_EQ(error_of(r), "ok");
	// Smaller rows (halfvec) need less.
	HnswBuildRequest half = r;
	half.metric = kernels::find_metric(kernels::ElementType::float16, kernels::Metric::l2)->code();
	EXPECT_LT(hnsw_build_bytes(half), hnsw_build_bytes(r));
}
