#include "shmem/codec/protocol.hpp"

namespace ruvector::proto {

std::vector<std::byte> make_frame(MsgType type, std::uint32_t seq, std::uint64_t request_id,
                                  std::span<const std::byte> payload)
{
	Header h;
	h.type = std::uint16_t(type);
	h.seq = seq;
	h.request_id = request_id;
	h.len = std::uint32_t(payload.size());
	std::vector<std::byte> frame(sizeof h + payload.size());
	std::memcpy(frame.data(), &h, sizeof h);
	if (!payload.empty())
		std::memcpy(frame.data() + sizeof h, payload.data(), payload.size());
	return frame;
}

Header parse_frame(std::span<const std::byte> message, std::span<const std::byte> *payload)
{
	if (message.size() < sizeof(Header))
		throw ProtocolError("short message from the ruvector worker protocol");
	Header h;
	std::memcpy(&h, message.data(), sizeof h);
	if (h.magic_version != kMagicVersion)
		throw ProtocolError("ruvector worker protocol version mismatch");
	if (h.len != message.size() - sizeof h)
		throw ProtocolError("ruvector worker protocol frame length mismatch");
	*payload = message.subspan(sizeof h);
	return h;
}

std::vector<std::byte> encode(const ErrorPayload &e)
{
	Writer w;
	w.put(e.sqlstate);
	w.put_string(e.message);
	w.put_string(e.detail);
	w.put_string(e.hint);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

ErrorPayload decode_error(std::span<const std::byte> payload)
{
	Reader r(payload);
	ErrorPayload e;
	std::memcpy(e.sqlstate, r.take(5).data(), 5);
	e.message = r.get_string();
	e.detail = r.get_string();
	e.hint = r.get_string();
	return e;
}

std::vector<std::byte> encode(const KmeansRequest &k)
{
	Writer w;
	w.put(k.n);
	w.put(k.dim);
	w.put(k.k);
	w.put(k.max_iterations);
	w.put(k.seed);
	w.put(k.metric);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

KmeansRequest decode_kmeans(std::span<const std::byte> payload)
{
	Reader r(payload);
	KmeansRequest k;
	k.n = r.get<std::uint64_t>();
	k.dim = r.get<std::uint32_t>();
	k.k = r.get<std::uint32_t>();
	k.max_iterations = r.get<std::uint32_t>();
	k.seed = r.get<std::uint64_t>();
	k.metric = r.get<kernels::Metric>();
	return k;
}

std::vector<std::byte> encode(const AssignRequest &a)
{
	Writer w;
	w.put(a.n);
	w.put(a.dim);
	w.put(a.k);
	w.put(a.metric);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

AssignRequest decode_assign(std::span<const std::byte> payload)
{
	Reader r(payload);
	AssignRequest a;
	a.n = r.get<std::uint64_t>();
	a.dim = r.get<std::uint32_t>();
	a.k = r.get<std::uint32_t>();
	a.metric = r.get<kernels::Metric>();
	return a;
}

std::vector<std::byte> encode(const GnnForwardRequest &g)
{
	Writer w;
	w.put(g);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

GnnForwardRequest decode_gnn_forward(std::span<const std::byte> payload)
{
	Reader r(payload);
	auto g = r.get<GnnForwardRequest>();
	if (!r.at_end())
		throw ProtocolError("malformed gnn_forward request");
	return g;
}

std::vector<std::byte> encode(const GraphBuildRequest &g)
{
	Writer w;
	w.put(g);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

GraphBuildRequest decode_graph_build(std::span<const std::byte> payload)
{
	Reader r(payload);
	auto g = r.get<GraphBuildRequest>();
	if (!r.at_end())
		throw ProtocolError("malformed graph_build request");
	return g;
}

std::vector<std::byte> encode(const StoreKey &k)
{
	Writer w;
	w.put(k);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

StoreKey decode_store_key(std::span<const std::byte> payload)
{
	return Reader(payload).get<StoreKey>();
}

std::vector<std::byte> encode(const StorePut &p)
{
	Writer w;
	w.put(p.key);
	w.put(p.bytes);
	w.put(p.tag);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

StorePut decode_store_put(std::span<const std::byte> payload)
{
	Reader r(payload);
	StorePut p;
	p.key = r.get<StoreKey>();
	p.bytes = r.get<std::uint64_t>();
	p.tag = r.get<std::uint64_t>();
	return p;
}

std::vector<std::byte> encode(const StoreEntryInfo &e)
{
	Writer w;
	w.put(e);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

StoreEntryInfo decode_store_entry(std::span<const std::byte> payload)
{
	return Reader(payload).get<StoreEntryInfo>();
}

}  // namespace ruvector::proto
