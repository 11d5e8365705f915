#include "shmem/codec/protocol.hpp"

#include "worker/kernels/hnsw_graph.hpp"
#include "worker/kernels/knn.hpp"

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
	w.put(k.keep);
	w.put(k.keep_tag);
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
	k.keep = r.get<StoreKey>();
	k.keep_tag = r.get<std::uint64_t>();
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

namespace ruvector::proto {

std::vector<std::byte> encode_kmeans_reply(const KmeansResultHeader &h, std::span<const std::int64_t> sizes,
                                           std::span<const float> centroids)
{
	Writer w;
	w.put(h);
	for (std::uint32_t c = 0; c < h.k; c++) {
		w.put(sizes[c]);
		w.put_bytes(std::as_bytes(centroids.subspan(std::size_t(c) * h.dim, h.dim)));
	}
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

KmeansReply decode_kmeans_reply(std::span<const std::byte> reply, const KmeansRequest &req)
{
	KmeansReply r;
	if (reply.size() < sizeof r.header)
		throw ProtocolError("short k-means reply from the ruvector worker");
	std::memcpy(&r.header, reply.data(), sizeof r.header);
	r.rows = reply.data() + sizeof r.header;
	if (r.header.k != req.k || r.header.dim != req.dim || reply.size() != sizeof r.header + r.row_bytes() * r.header.k)
		throw ProtocolError("malformed k-means reply from the ruvector worker");
	return r;
}

void mark_kmeans_reply_kept(std::span<std::byte> reply)
{
	KmeansResultHeader h;
	if (reply.size() < sizeof h)
		throw ProtocolError("short k-means reply");
	std::memcpy(&h, reply.data(), sizeof h);
	h.kept = 1;
	std::memcpy(reply.data(), &h, sizeof h);
}

void write_centroid_blob(const KmeansReply &reply, std::uint64_t stamp, std::byte *out)
{
	CentroidBlobHeader h{stamp, reply.header.k, reply.header.dim};
	std::memcpy(out, &h, sizeof h);
	auto *centroids = reinterpret_cast<float *>(out + sizeof h);
	for (std::uint32_t c = 0; c < reply.header.k; c++)
		reply.copy_centroid(c, centroids + std::size_t(c) * reply.header.dim);
}

std::span<const std::int32_t> decode_assign_reply(std::span<const std::byte> reply, const AssignRequest &req)
{
	if (reply.size() != assign_reply_bytes(req))
		throw ProtocolError("malformed assignment reply from the ruvector worker");
	std::span<const std::int32_t> labels(reinterpret_cast<const std::int32_t *>(reply.data()), req.n);
	for (std::int32_t label : labels)
		if (label < 0 || std::uint32_t(label) >= req.k)
			throw ProtocolError("assignment reply names list " + std::to_string(label));
	return labels;
}

std::vector<std::byte> encode_gnn_forward_reply(const GnnForwardResult &h, std::span<const std::int64_t> ids,
                                                std::span<const float> y)
{
	Writer w;
	w.put(h);
	w.put_bytes(std::as_bytes(ids));
	w.put_bytes(std::as_bytes(y));
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

GnnForwardReply decode_gnn_forward_reply(std::span<const std::byte> reply)
{
	GnnForwardReply r{{}, nullptr, nullptr};
	if (reply.size() < sizeof r.header)
		throw ProtocolError("short GNN reply from the ruvector worker");
	std::memcpy(&r.header, reply.data(), sizeof r.header);
	if (r.header.stale || r.header.in_dsa) {
		if (reply.size() != sizeof r.header)
			throw ProtocolError("malformed GNN reply from the ruvector worker");
		return r;
	}
	const std::size_t nodes = r.header.nodes, out_dim = r.header.out_dim;
	const std::size_t rest = reply.size() - sizeof r.header;
	if (nodes > rest / sizeof(std::int64_t) ||
	    rest != sizeof(std::int64_t) * nodes + sizeof(float) * nodes * out_dim)
		throw ProtocolError("malformed GNN reply from the ruvector worker");
	r.ids = reinterpret_cast<const std::int64_t *>(reply.data() + sizeof r.header);
	r.y = reinterpret_cast<const float *>(reply.data() + sizeof r.header + sizeof(std::int64_t) * nodes);
	return r;
}

std::size_t knn_reply_bytes(const GraphBuildRequest &r)
{
	return (r.row_end - r.row_begin) * r.k * sizeof(kernels::Neighbor);
}

std::span<const kernels::Neighbor> decode_knn_reply(std::span<const std::byte> reply, const GraphBuildRequest &req)
{
	if (req.epsilon_mode || req.row_end < req.row_begin || reply.size() != knn_reply_bytes(req))
		throw ProtocolError("malformed k-NN reply from the ruvector worker");
	std::span<const kernels::Neighbor> nb(reinterpret_cast<const kernels::Neighbor *>(reply.data()),
	                                      reply.size() / sizeof(kernels::Neighbor));
	for (const kernels::Neighbor &e : nb)
		if (e.index < -1 || (e.index >= 0 && std::uint64_t(e.index) >= req.n))
			throw ProtocolError("malformed k-NN reply from the ruvector worker");
	return nb;
}

std::vector<std::byte> encode_eps_reply(std::span<const kernels::EpsEdge> edges)
{
	Writer w;
	w.put(std::uint64_t(edges.size()));
	w.put_bytes(std::as_bytes(edges));
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

std::span<const kernels::EpsEdge> decode_eps_reply(std::span<const std::byte> reply, const GraphBuildRequest &req)
{
	std::uint64_t count;
	if (reply.size() < sizeof count)
		throw ProtocolError("malformed epsilon-graph reply from the ruvector worker");
	std::memcpy(&count, reply.data(), sizeof count);
	const std::size_t rest = reply.size() - sizeof count;
	if (rest % sizeof(kernels::EpsEdge) != 0 || rest / sizeof(kernels::EpsEdge) != count)
		throw ProtocolError("malformed epsilon-graph reply from the ruvector worker");
	std::span<const kernels::EpsEdge> edges(reinterpret_cast<const kernels::EpsEdge *>(reply.data() + sizeof count),
	                                        std::size_t(count));
	for (const kernels::EpsEdge &e : edges)
		if (e.src >= req.n || e.dst < req.row_begin || e.dst >= req.row_end)
			throw ProtocolError("malformed epsilon-graph reply from the ruvector worker");
	return edges;
}

}  // namespace ruvector::proto

namespace ruvector::proto {

std::vector<std::byte> encode(const HnswBuildRequest &r)
{
	Writer w;
	w.put(r);
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

HnswBuildRequest decode_hnsw_build(std::span<const std::byte> payload)
{
	Reader r(payload);
	auto h = r.get<HnswBuildRequest>();
	if (!r.at_end())
		throw ProtocolError("malformed hnsw_build request");
	return h;
}

std::vector<std::byte> encode_hnsw_graph_reply(const kernels::hnsw::Graph &g)
{
	HnswGraphHeader h{g.size(), g.m, 0, g.entry, g.links.size()};
	Writer w;
	w.put(h);
	w.put_bytes(std::as_bytes(std::span(g.offsets)));
	w.put_bytes(std::as_bytes(std::span(g.links)));
	w.put_bytes(std::as_bytes(std::span(g.levels)));
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

HnswGraphReply decode_hnsw_graph_reply(std::span<const std::byte> reply, const HnswBuildRequest &req)
{
	auto bad = [](const char *what) {
		return ProtocolError(std::string("malformed HNSW graph reply from the ruvector worker: ") + what);
	};
	HnswGraphHeader h;
	if (reply.size() < sizeof h)
		throw bad("short");
	std::memcpy(&h, reply.data(), sizeof h);
	if (h.n != req.n || h.m != req.m)
		throw bad("not the graph requested");
	const std::size_t rest = reply.size() - sizeof h, n = h.n;
	if (n >= rest / sizeof(std::uint64_t) || h.link_count > rest / sizeof(std::int32_t) ||
	    rest != (n + 1) * sizeof(std::uint64_t) + h.link_count * sizeof(std::int32_t) + n)
		throw bad("sizes do not match");
	HnswGraphReply r;
	r.n = n;
	r.m = h.m;
	r.entry = h.entry;
	r.offsets = reinterpret_cast<const std::uint64_t *>(reply.data() + sizeof h);
	r.links = reinterpret_cast<const std::int32_t *>(r.offsets + n + 1);
	r.levels = reinterpret_cast<const std::uint8_t *>(r.links + h.link_count);

	std::uint32_t top = 0;
	for (std::size_t i = 0; i < n; i++) {
		if (r.levels[i] > req.max_level)
			throw bad("level above max_level");
		top = std::max<std::uint32_t>(top, r.levels[i]);
		if (r.offsets[i] > h.link_count || r.offsets[i + 1] - r.offsets[i] != kernels::hnsw::link_slots(h.m, r.levels[i]))
			throw bad("offsets do not match the levels");
	}
	if (r.offsets[0] != 0 || r.offsets[n] != h.link_count)
		throw bad("offsets do not match the links");
	if (n == 0 ? h.entry != -1 : (h.entry < 0 || std::uint64_t(h.entry) >= n || r.levels[h.entry] != top))
		throw bad("entry point");
	for (std::size_t i = 0; i < n; i++)
		for (std::uint32_t layer = 0; layer <= r.levels[i]; layer++)
			for (std::int32_t nb : r.neighbours(i, layer))
				if (nb != -1 && (nb < 0 || std::uint64_t(nb) >= n || std::size_t(nb) == i || r.levels[nb] < layer))
					throw bad("link");
	return r;
}

}  // namespace ruvector::proto
