// The worker wire protocol: framing, each request and reply round trip, rejection of corrupt
// messages, and the request checks both processes share.
#include "shmem/codec/protocol.hpp"
#include "shmem/codec/errors.hpp"
#include "shmem/codec/request_checks.hpp"
#include "worker/kernels/knn.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace ruvector::proto;

TEST(Protocol, FrameRoundTrip)
{
	std::vector<std::byte> payload(1000);
	for (std::size_t i = 0; i < payload.size(); i++)
		payload[i] = std::byte(i * 7);
	auto frame = make_frame(MsgType::data, 5, 0x1122334455667788ULL, payload);
	std::span<const std::byte> got;
	Header h = parse_frame(frame, &got);
	EXPECT_EQ(h.type, std::uint16_t(MsgType::data));
	EXPECT_EQ(h.seq, 5u);
	EXPECT_EQ(h.request_id, 0x1122334455667788ULL);
	EXPECT_TRUE(std::equal(got.begin(), got.end(), payload.begin(), payload.end()));
	auto empty = make_frame(MsgType::end, 6, 1);
	EXPECT_EQ(parse_frame(empty, &got).len, 0u);
	EXPECT_TRUE(got.empty());
}

// A request's first frame may name the segment holding its input; make_frame leaves it 0.
TEST(Protocol, InputSegmentRoundTrip)
{
	auto frame = make_frame(MsgType::assign, 0, 3, std::vector<std::byte>(16));
	std::span<const std::byte> got;
	EXPECT_EQ(parse_frame(frame, &got).input_segment, 0u);
	Header h;
	std::memcpy(&h, frame.data(), sizeof h);
	h.input_segment = 0xDEADBEEFu;
	std::memcpy(frame.data(), &h, sizeof h);
	Header back = parse_frame(frame, &got);
	EXPECT_EQ(back.input_segment, 0xDEADBEEFu);
	EXPECT_EQ(back.type, std::uint16_t(MsgType::assign));
	EXPECT_EQ(got.size(), 16u);
}

TEST(Protocol, RejectsCorruptFrames)
{
	auto frame = make_frame(MsgType::ping, 0, 1, std::vector<std::byte>(8));
	std::span<const std::byte> payload;
	EXPECT_THROW(parse_frame(std::span(frame).first(10), &payload), ProtocolError);   // short
	EXPECT_THROW(parse_frame(std::span(frame).first(28), &payload), ProtocolError);   // truncated payload
	auto bad = frame;
	bad[0] = std::byte(0);  // magic/version
	EXPECT_THROW(parse_frame(bad, &payload), ProtocolError);
}

TEST(Protocol, PayloadsRoundTrip)
{
	ErrorPayload e;
	std::memcpy(e.sqlstate, "53200", 5);
	e.message = "ruvector shared memory limit exceeded";
	e.detail = "detail";
	e.hint = "";
	ErrorPayload e2 = decode_error(encode(e));
	EXPECT_EQ(std::string(e2.sqlstate, 5), "53200");
	EXPECT_EQ(e2.message, e.message);
	EXPECT_EQ(e2.detail, e.detail);
	EXPECT_EQ(e2.hint, e.hint);

	KmeansRequest k{123456789, 128, 1000, 25, 77, ruvector::kernels::Metric::cosine, {}, 0};
	KmeansRequest k2 = decode_kmeans(encode(k));
	EXPECT_EQ(k2.n, k.n);
	EXPECT_EQ(k2.dim, k.dim);
	EXPECT_EQ(k2.k, k.k);
	EXPECT_EQ(k2.max_iterations, k.max_iterations);
	EXPECT_EQ(k2.seed, k.seed);
	EXPECT_EQ(k2.metric, k.metric);
	EXPECT_EQ(k2.keep_tag, 0u);  // no store entry asked for
	k.keep = StoreKey{5, 16384, 1};
	k.keep_tag = 0x1234567890abcdefULL;
	k2 = decode_kmeans(encode(k));
	EXPECT_EQ(k2.keep, k.keep);
	EXPECT_EQ(k2.keep_tag, k.keep_tag);

	StorePut p{{5, 16384, 2}, 4096, 99};
	StorePut p2 = decode_store_put(encode(p));
	EXPECT_EQ(p2.key, p.key);
	EXPECT_EQ(p2.bytes, p.bytes);
	EXPECT_EQ(p2.tag, p.tag);
}

TEST(Protocol, TruncatedPayloadsThrow)
{
	auto bytes = encode(KmeansRequest{});
	for (std::size_t cut = 0; cut < bytes.size(); cut++)
		EXPECT_THROW(decode_kmeans(std::span(bytes).first(cut)), ProtocolError) << cut;
	ErrorPayload e;
	e.message = "x";
	auto eb = encode(e);
	for (std::size_t cut = 0; cut < eb.size(); cut++)
		EXPECT_THROW(decode_error(std::span(eb).first(cut)), ProtocolError) << cut;
}

TEST(Protocol, RandomStreamsSplitAndReassemble)
{
	// What the worker does with a large result: bounded data frames, reassembled in order.
	std::mt19937 rng(1);
	for (int trial = 0; trial < 50; trial++) {
		std::vector<std::byte> blob(rng() % 300000);
		for (auto &b : blob)
			b = std::byte(rng());
		std::size_t chunk = 1 + rng() % 40000;
		std::vector<std::byte> out;
		std::uint32_t seq = 0;
		for (std::size_t off = 0; off < blob.size(); off += chunk) {
			auto f = make_frame(MsgType::data, seq++, 9, std::span(blob).subspan(off, std::min(chunk, blob.size() - off)));
			std::span<const std::byte> payload;
			Header h = parse_frame(f, &payload);
			ASSERT_LE(h.len, chunk);
			out.insert(out.end(), payload.begin(), payload.end());
		}
		EXPECT_EQ(out, blob);
		EXPECT_EQ(seq, chunk_count(blob.size(), chunk));
	}
}

// Every request kind's payload survives encode/decode, field by field.
TEST(Protocol, RequestsRoundTrip)
{
	AssignRequest a{1u << 20, 768, 4096, ruvector::kernels::Metric::ip};
	AssignRequest a2 = decode_assign(encode(a));
	EXPECT_EQ(a2.n, a.n);
	EXPECT_EQ(a2.dim, a.dim);
	EXPECT_EQ(a2.k, a.k);
	EXPECT_EQ(a2.metric, a.metric);

	GnnForwardRequest g{1234, 567890, 5, 16384, 2, 0, 0xABCDEF0123ULL};
	GnnForwardRequest g2 = decode_gnn_forward(encode(g));
	EXPECT_EQ(std::memcmp(&g, &g2, sizeof g), 0);
	auto gb = encode(g);
	EXPECT_THROW(decode_gnn_forward(std::span(gb).first(sizeof g - 1)), ProtocolError);

	GraphBuildRequest b;
	b.database = 5;
	b.object = 7;
	b.kind = 3;
	b.metric = ruvector::kernels::Metric::cosine;
	b.epsilon_mode = 1;
	b.tag = 99;
	b.n = 1000;
	b.dim = 3;
	b.k = 10;
	b.row_begin = 100;
	b.row_end = 200;
	b.epsilon = 0.5f;
	b.max_edges = 12345;
	GraphBuildRequest b2 = decode_graph_build(encode(b));
	EXPECT_EQ(std::memcmp(&b, &b2, sizeof b), 0);

	StoreKey key{5, 16384, 2};
	EXPECT_EQ(decode_store_key(encode(key)), key);

	StoreEntryInfo e{key, 4096, 3, 77, 1};
	StoreEntryInfo e2 = decode_store_entry(encode(e));
	EXPECT_EQ(e2.key, e.key);
	EXPECT_EQ(e2.bytes, e.bytes);
	EXPECT_EQ(e2.version, e.version);
	EXPECT_EQ(e2.tag, e.tag);
	EXPECT_EQ(e2.readers, e.readers);
}

TEST(Protocol, KmeansReplyRoundTrip)
{
	KmeansRequest req{10, 3, 2, 5, 1, ruvector::kernels::Metric::l2, {}, 0};
	std::vector<std::int64_t> sizes{4, 6};
	std::vector<float> centroids{1, 2, 3, -4, 5.5f, 6};
	auto bytes = encode_kmeans_reply(KmeansResultHeader{2, 3, 4, 0, 1.5}, sizes, centroids);
	KmeansReply r = decode_kmeans_reply(bytes, req);
	EXPECT_EQ(r.header.k, 2u);
	EXPECT_EQ(r.header.dim, 3u);
	EXPECT_EQ(r.header.iterations, 4u);
	EXPECT_EQ(r.header.objective, 1.5);
	for (std::uint32_t c = 0; c < 2; c++) {
		EXPECT_EQ(r.size(c), sizes[c]);
		float got[3];
		r.copy_centroid(c, got);
		for (int j = 0; j < 3; j++)
			EXPECT_EQ(got[j], centroids[c * 3 + j]);
	}
	EXPECT_EQ(r.header.kept, 0u);
	// The worker marks a reply whose centroids it kept, and builds the store entry from it.
	mark_kmeans_reply_kept(bytes);
	r = decode_kmeans_reply(bytes, req);
	EXPECT_EQ(r.header.kept, 1u);
	std::vector<std::byte> blob(centroid_blob_bytes(2, 3));
	write_centroid_blob(r, 77, blob.data());
	CentroidBlobHeader h;
	std::memcpy(&h, blob.data(), sizeof h);
	EXPECT_EQ(h.stamp, 77u);
	EXPECT_EQ(h.lists, 2u);
	EXPECT_EQ(h.dim, 3u);
	std::vector<float> kept(6);
	std::memcpy(kept.data(), blob.data() + sizeof h, sizeof(float) * 6);
	EXPECT_EQ(kept, centroids);
	// A reply that answers another request, or is cut or padded, does not decode.
	KmeansRequest other = req;
	other.k = 3;
	EXPECT_THROW(decode_kmeans_reply(bytes, other), ProtocolError);
	other = req;
	other.dim = 4;
	EXPECT_THROW(decode_kmeans_reply(bytes, other), ProtocolError);
	for (std::size_t cut = 0; cut < bytes.size(); cut++)
		EXPECT_THROW(decode_kmeans_reply(std::span(bytes).first(cut), req), ProtocolError) << cut;
	bytes.push_back(std::byte(0));
	EXPECT_THROW(decode_kmeans_reply(bytes, req), ProtocolError);
}

TEST(Protocol, AssignReplyChecksLabels)
{
	AssignRequest req{4, 2, 3, ruvector::kernels::Metric::l2};
	std::vector<std::int32_t> labels{0, 2, 1, 2};
	auto bytes = std::as_bytes(std::span(labels));
	ASSERT_EQ(bytes.size(), assign_reply_bytes(req));
	auto got = decode_assign_reply(bytes, req);
	EXPECT_TRUE(std::equal(got.begin(), got.end(), labels.begin(), labels.end()));
	EXPECT_THROW(decode_assign_reply(bytes.first(12), req), ProtocolError);
	for (std::int32_t bad : {-1, 3}) {
		labels[1] = bad;
		EXPECT_THROW(decode_assign_reply(std::as_bytes(std::span(labels)), req), ProtocolError) << bad;
	}
}

TEST(Protocol, GnnForwardReplyRoundTrip)
{
	GnnForwardResult h;
	h.nodes = 3;
	h.out_dim = 2;
	h.compute_ns = 42;
	std::vector<std::int64_t> ids{10, -20, 30};
	std::vector<float> y{1, 2, 3, 4, 5, 6};
	auto bytes = encode_gnn_forward_reply(h, ids, y);
	// What the client decodes lives in a palloc'd (8-byte aligned) buffer.
	std::vector<std::uint64_t> aligned((bytes.size() + 7) / 8);
	std::memcpy(aligned.data(), bytes.data(), bytes.size());
	std::span<const std::byte> reply(reinterpret_cast<const std::byte *>(aligned.data()), bytes.size());
	GnnForwardReply r = decode_gnn_forward_reply(reply);
	EXPECT_EQ(r.header.stale, 0u);
	EXPECT_EQ(r.header.nodes, 3u);
	EXPECT_EQ(r.header.out_dim, 2u);
	EXPECT_EQ(r.header.compute_ns, 42u);
	EXPECT_TRUE(std::equal(ids.begin(), ids.end(), r.ids));
	EXPECT_TRUE(std::equal(y.begin(), y.end(), r.y));
	EXPECT_THROW(decode_gnn_forward_reply(reply.first(reply.size() - 1)), ProtocolError);
	EXPECT_THROW(decode_gnn_forward_reply(reply.first(sizeof h - 1)), ProtocolError);

	GnnForwardResult stale;
	stale.stale = 1;
	auto sb = encode_gnn_forward_reply(stale);
	EXPECT_EQ(sb.size(), sizeof stale);
	GnnForwardReply s = decode_gnn_forward_reply(sb);
	EXPECT_EQ(s.header.stale, 1u);
	EXPECT_EQ(s.ids, nullptr);
	EXPECT_EQ(s.y, nullptr);

	// An inline graph starts at the model's next 8-byte boundary.
	GnnForwardRequest at;
	at.model_bytes = 13;
	at.graph_bytes = 40;
	EXPECT_EQ(gnn_graph_offset(at), 16u);
	EXPECT_EQ(gnn_input_bytes(at), 56u);
	at.model_bytes = 16;
	EXPECT_EQ(gnn_graph_offset(at), 16u);

	// A reply written into the worker's DSA area: the header alone through the queue.
	GnnForwardResult there = h;
	there.in_dsa = 1;
	auto tb = encode_gnn_forward_reply(there);
	EXPECT_EQ(tb.size(), sizeof there);
	GnnForwardReply t = decode_gnn_forward_reply(tb);
	EXPECT_EQ(t.header.in_dsa, 1u);
	EXPECT_EQ(t.header.nodes, 3u);
	EXPECT_EQ(t.ids, nullptr);
	EXPECT_EQ(gnn_reply_bytes(3, 2), bytes.size());
	auto padded = encode_gnn_forward_reply(there, ids, y);
	EXPECT_THROW(decode_gnn_forward_reply(padded), ProtocolError);
}

TEST(Protocol, GraphBuildRepliesRoundTrip)
{
	GraphBuildRequest req;
	req.n = 5;
	req.dim = 2;
	req.k = 2;
	req.row_begin = 1;
	req.row_end = 3;
	std::vector<ruvector::kernels::Neighbor> nb{{0, 1.f}, {4, 2.f}, {-1, 0.f}, {2, 3.f}};
	auto nbytes = std::as_bytes(std::span(nb));
	ASSERT_EQ(nbytes.size(), knn_reply_bytes(req));
	auto got = decode_knn_reply(nbytes, req);
	ASSERT_EQ(got.size(), nb.size());
	EXPECT_EQ(got[1].index, 4);
	EXPECT_EQ(got[3].distance, 3.f);
	EXPECT_THROW(decode_knn_reply(nbytes.first(nbytes.size() - 1), req), ProtocolError);
	nb[1].index = 5;  // not a row
	EXPECT_THROW(decode_knn_reply(std::as_bytes(std::span(nb)), req), ProtocolError);

	req.epsilon_mode = 1;
	std::vector<ruvector::kernels::EpsEdge> edges{{0, 1, 0.25f}, {4, 2, 0.5f}};
	auto ebytes = encode_eps_reply(edges);
	auto egot = decode_eps_reply(ebytes, req);
	ASSERT_EQ(egot.size(), 2u);
	EXPECT_EQ(egot[1].src, 4u);
	EXPECT_EQ(egot[1].dst, 2u);
	EXPECT_EQ(egot[1].distance, 0.5f);
	EXPECT_EQ(decode_eps_reply(encode_eps_reply({}), req).size(), 0u);
	for (std::size_t cut = 0; cut < ebytes.size(); cut++)
		EXPECT_THROW(decode_eps_reply(std::span(ebytes).first(cut), req), ProtocolError) << cut;
	edges[0].dst = 3;  // outside the row range
	EXPECT_THROW(decode_eps_reply(encode_eps_reply(edges), req), ProtocolError);
}

// The request checks both processes run: the SQLSTATE and message the user sees.
TEST(Protocol, KmeansChecks)
{
	auto state_of = [](const KmeansRequest &r, std::string_view input = {}) -> std::string {
		try {
			check_kmeans_parameters(r);
			check_kmeans_rows(r, input);
		} catch (...) {
			ErrorPayload e = describe_current_exception();
			return std::string(e.sqlstate, 5) + " " + e.message + (e.detail.empty() ? "" : " / " + e.detail);
		}
		return "ok";
	};
	KmeansRequest ok{10, 3, 2, 5, 1, ruvector::kernels::Metric::cosine, {}, 0};
	EXPECT_EQ(state_of(ok), "ok");
	EXPECT_NO_THROW(check_kmeans_request(ok));
	KmeansRequest r = ok;
	r.k = 0;
	EXPECT_EQ(state_of(r), "22023 k must be at least 1");
	r = ok;
	r.k = 11;
	EXPECT_EQ(state_of(r), "22023 k must be between 1 and the number of vectors (10)");
	EXPECT_THROW(check_kmeans_request(r), std::invalid_argument);
	r = ok;
	r.max_iterations = 0;
	EXPECT_EQ(state_of(r), "22023 max_iterations must be at least 1");
	r = ok;
	r.n = 0;
	EXPECT_EQ(state_of(r, "Column \"v\" of t"), "22000 k-means needs at least one non-NULL vector / Column \"v\" of t has no non-NULL values.");
	r = ok;
	r.metric = ruvector::kernels::Metric::l1;
	EXPECT_EQ(state_of(r), "22023 k-means supports the l2, cosine and ip metrics / L1 has no mean-based centroid update.");
	// The parameters are checked before the rows (the backend checks them before reading the table).
	r.n = 0;
	r.k = 0;
	EXPECT_EQ(state_of(r).substr(0, 35), "22023 k-means supports the l2, cosi");
}

TEST(Protocol, AssignAndGraphBuildChecks)
{
	EXPECT_NO_THROW(check_assign_request(AssignRequest{5, 2, 3, ruvector::kernels::Metric::l1}));
	EXPECT_THROW(check_assign_request(AssignRequest{5, 2, 0, ruvector::kernels::Metric::l2}), std::invalid_argument);
	EXPECT_THROW(check_assign_request(AssignRequest{5, 0, 3, ruvector::kernels::Metric::l2}), std::invalid_argument);
	GraphBuildRequest g;
	g.n = 4;
	g.dim = 2;
	g.k = 3;
	g.row_end = 4;
	EXPECT_NO_THROW(check_graph_build_request(g, 4 * 2 * sizeof(float)));
	EXPECT_THROW(check_graph_build_request(g, 4 * 2 * sizeof(float) + 4), std::invalid_argument);
	g.row_end = 5;
	EXPECT_THROW(check_graph_build_request(g, 4 * 2 * sizeof(float)), std::invalid_argument);
	g.row_end = 4;
	g.k = 0;
	EXPECT_THROW(check_graph_build_request(g, 4 * 2 * sizeof(float)), std::invalid_argument);
	g.epsilon_mode = 1;  // k is not used
	EXPECT_NO_THROW(check_graph_build_request(g, 4 * 2 * sizeof(float)));
}
