// The worker wire protocol: framing, payload round trips, and rejection of corrupt messages.
#include "shmem/codec/protocol.hpp"

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

	KmeansRequest k{123456789, 128, 1000, 25, 77, ruvector::kernels::Metric::cosine};
	KmeansRequest k2 = decode_kmeans(encode(k));
	EXPECT_EQ(k2.n, k.n);
	EXPECT_EQ(k2.dim, k.dim);
	EXPECT_EQ(k2.k, k.k);
	EXPECT_EQ(k2.max_iterations, k.max_iterations);
	EXPECT_EQ(k2.seed, k.seed);
	EXPECT_EQ(k2.metric, k.metric);

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
