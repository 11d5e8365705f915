// The backend <-> worker wire protocol: message framing and payload encoding.
//
// Every message on a slot's request or response queue is one frame:
//   Header { magic_version, type, seq, request_id, len } followed by len payload bytes.
// Bulk data (vectors to cluster, results) travels as a stream of bounded `data` frames ended by
// an `end` frame, so a transfer far larger than the queue never becomes one giant message.
// PG-free, so GoogleTest covers it; both processes use these functions and nothing else.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "worker/kernels/hnsw_layout.hpp"
#include "worker/kernels/metric.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ruvector::kernels {
struct Neighbor;  // knn.hpp, which includes this header through cancel.hpp
struct EpsEdge;
namespace hnsw {
struct Graph;     // hnsw_graph.hpp, likewise
}
}  // namespace ruvector::kernels

namespace ruvector::proto {

inline constexpr std::uint16_t kMagicVersion = 0x5202;  // 'R', protocol version 2 (metric table codes)

enum class MsgType : std::uint16_t {
	// requests (backend -> worker)
	ping = 1,
	kmeans = 2,        // KmeansRequest, then data frames of float rows, then end
	store_stats = 3,   // no payload; response: StoreEntry rows
	store_put = 4,     // StorePut, then data frames, then end
	store_drop = 5,    // StoreKey
	assign = 6,        // AssignRequest, then data frames: k centroids, then n rows; response: n int32 labels
	gnn_forward = 7,   // GnnForwardRequest, then data frames: model, then an inline graph (if any)
	graph_build = 8,   // GraphBuildRequest (the vectors are a shared-store entry); response below
	hnsw_build = 9,    // HnswBuildRequest, then n rows (input segment or data frames); response below
	// both directions
	data = 10,
	end = 11,
	// responses (worker -> backend)
	error = 20,        // ErrorPayload
};

// The request kinds' names, for log messages.
constexpr const char *request_name(MsgType t)
{
	switch (t) {
	case MsgType::ping: return "ping";
	case MsgType::kmeans: return "kmeans";
	case MsgType::store_stats: return "store_stats";
	case MsgType::store_put: return "store_put";
	case MsgType::store_drop: return "store_drop";
	case MsgType::assign: return "assign";
	case MsgType::gnn_forward: return "gnn_forward";
	case MsgType::graph_build: return "graph_build";
	case MsgType::hnsw_build: return "hnsw_build";
	default: return "unknown";
	}
}

struct Header {
	std::uint16_t magic_version = kMagicVersion;
	std::uint16_t type = 0;
	std::uint32_t seq = 0;          // frame number within the request, for sanity checks
	std::uint64_t request_id = 0;
	std::uint32_t len = 0;          // payload bytes after the header
	// First frame of kmeans/assign/gnn_forward/hnsw_build/store_put only: a dynamic shared memory segment (dsm_handle)
	// holding the request's whole bulk input, which the worker maps instead of receiving data
	// frames; 0 when the input follows as data frames.
	std::uint32_t input_segment = 0;
};
static_assert(sizeof(Header) == 24 && std::is_trivially_copyable_v<Header>);

class ProtocolError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// Appends fixed-size values and length-prefixed strings to a byte buffer.
class Writer {
public:
	template <class T>
	void put(const T &value)
	{
		static_assert(std::is_trivially_copyable_v<T>);
		auto p = reinterpret_cast<const std::byte *>(&value);
		buf_.insert(buf_.end(), p, p + sizeof(T));
	}
	void put_bytes(std::span<const std::byte> bytes) { buf_.insert(buf_.end(), bytes.begin(), bytes.end()); }
	void put_string(std::string_view s)
	{
		put(std::uint32_t(s.size()));
		put_bytes(std::as_bytes(std::span(s.data(), s.size())));
	}
	std::span<const std::byte> bytes() const { return buf_; }
	void clear() { buf_.clear(); }

private:
	std::vector<std::byte> buf_;
};

// Reads what Writer wrote; any overrun throws ProtocolError (a corrupt or truncated message).
class Reader {
public:
	explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
	template <class T>
	T get()
	{
		static_assert(std::is_trivially_copyable_v<T>);
		T value;
		std::memcpy(&value, take(sizeof(T)).data(), sizeof(T));
		return value;
	}
	std::string_view get_string()
	{
		auto n = get<std::uint32_t>();
		auto b = take(n);
		return {reinterpret_cast<const char *>(b.data()), b.size()};
	}
	std::span<const std::byte> take(std::size_t n)
	{
		if (n > bytes_.size() - pos_)
			throw ProtocolError("truncated message from the ruvector worker protocol");
		auto b = bytes_.subspan(pos_, n);
		pos_ += n;
		return b;
	}
	std::span<const std::byte> rest() { return take(bytes_.size() - pos_); }
	bool at_end() const { return pos_ == bytes_.size(); }

private:
	std::span<const std::byte> bytes_;
	std::size_t pos_ = 0;
};

// Frame = header + payload, as one contiguous message.
std::vector<std::byte> make_frame(MsgType type, std::uint32_t seq, std::uint64_t request_id,
                                  std::span<const std::byte> payload = {});
// Validates magic and length; throws ProtocolError.
Header parse_frame(std::span<const std::byte> message, std::span<const std::byte> *payload);

// Split `bytes` into payload chunks of at most `chunk` bytes (the last may be shorter).
inline std::size_t chunk_count(std::size_t bytes, std::size_t chunk) { return (bytes + chunk - 1) / chunk; }

/* Payloads */

// A worker-side error, raised in the backend with this SQLSTATE.
struct ErrorPayload {
	char sqlstate[5] = {'X', 'X', '0', '0', '0'};
	std::string message;
	std::string detail;
	std::string hint;
};
std::vector<std::byte> encode(const ErrorPayload &e);
ErrorPayload decode_error(std::span<const std::byte> payload);

// Identity of a shared-store entry: database, object (e.g. an index oid), and kind.
struct StoreKey {
	std::uint32_t database = 0;
	std::uint32_t object = 0;
	std::uint32_t kind = 0;
	bool operator==(const StoreKey &) const = default;
};

struct KmeansRequest {
	std::uint64_t n = 0;          // rows that follow in data frames
	std::uint32_t dim = 0;
	std::uint32_t k = 0;
	std::uint32_t max_iterations = 10;
	std::uint64_t seed = 42;
	kernels::Metric metric = kernels::Metric::l2;  // a metric table code (float32 rows)
	// keep_tag != 0 (an index build): the worker also keeps the centroids it answers with as the
	// shared-store entry `keep` (a centroid blob, tagged keep_tag) before it replies, and says so in
	// the reply (KmeansResultHeader::kept), so the backend need not send them back.
	StoreKey keep;
	std::uint64_t keep_tag = 0;
};
std::vector<std::byte> encode(const KmeansRequest &r);
KmeansRequest decode_kmeans(std::span<const std::byte> payload);

// Reply: KmeansResultHeader, then k x { int64 size, float centroid[dim] }.
struct KmeansResultHeader {
	std::uint32_t k;
	std::uint32_t dim;
	std::uint32_t iterations;
	std::uint32_t kept;  // 1: the worker kept the centroids as the request's `keep` entry
	double objective;
};
// The reply as the backend reads it: a view into the reply bytes (trivially destructible, so it
// may live across calls that longjmp).
struct KmeansReply {
	KmeansResultHeader header;
	const std::byte *rows;  // k x { int64 size, float centroid[dim] }
	std::size_t row_bytes() const { return sizeof(std::int64_t) + sizeof(float) * std::size_t(header.dim); }
	std::int64_t size(std::uint32_t c) const
	{
		std::int64_t n;
		std::memcpy(&n, rows + row_bytes() * c, sizeof n);
		return n;
	}
	void copy_centroid(std::uint32_t c, float *dst) const
	{
		std::memcpy(dst, rows + row_bytes() * c + sizeof(std::int64_t), sizeof(float) * header.dim);
	}
};
std::vector<std::byte> encode_kmeans_reply(const KmeansResultHeader &h, std::span<const std::int64_t> sizes,
                                           std::span<const float> centroids);
// Checks the reply answers `req` (k centroids of dim floats); throws ProtocolError.
KmeansReply decode_kmeans_reply(std::span<const std::byte> reply, const KmeansRequest &req);
// The worker: mark an encoded reply as kept (KmeansResultHeader::kept).
void mark_kmeans_reply_kept(std::span<std::byte> reply);

// A shared-store entry of an index's centroids (kStoreKindCentroids, keyed by the index oid):
// this header, then lists x dim floats. stamp is the build's; the index's meta page says which
// build is current, so an entry of another stamp is stale.
struct CentroidBlobHeader {
	std::uint64_t stamp;
	std::uint32_t lists;
	std::uint32_t dim;
};
inline std::size_t centroid_blob_bytes(std::uint32_t lists, std::uint32_t dim)
{
	return sizeof(CentroidBlobHeader) + sizeof(float) * std::size_t(lists) * dim;
}
// The centroids of a k-means reply as a centroid blob of `stamp`, into out (centroid_blob_bytes).
void write_centroid_blob(const KmeansReply &reply, std::uint64_t stamp, std::byte *out);

// Nearest centroid of each row (index builds): l2 and l1 by distance, cosine and ip by the
// largest inner product with unit-norm centroids.
struct AssignRequest {
	std::uint64_t n = 0;   // rows
	std::uint32_t dim = 0;
	std::uint32_t k = 0;   // centroids, sent before the rows
	kernels::Metric metric = kernels::Metric::l2;
};
std::vector<std::byte> encode(const AssignRequest &r);
AssignRequest decode_assign(std::span<const std::byte> payload);
// Reply: n int32 labels in [0, k), which the worker writes in place into a buffer of this size.
inline std::size_t assign_reply_bytes(const AssignRequest &r) { return r.n * sizeof(std::int32_t); }
// Checks the reply answers `req` (n labels, each a list in [0, k)); throws ProtocolError.
std::span<const std::int32_t> decode_assign_reply(std::span<const std::byte> reply, const AssignRequest &req);

// Run a GNN model over a graph: inline (graph_bytes > 0, starting at the first 8-byte boundary
// after the model, gnn_graph_offset, so the worker reads it in place) or the shared store's entry
// `graph_key` when its tag is still `graph_tag`. Response: GnnForwardResult, then nodes int64 ids, then
// nodes x out_dim floats; `stale` set (and nothing else) when the store entry changed meanwhile.
// With reply_bytes > 0 (the size the whole reply is expected to take), the worker allocates that
// much in its DSA area and, when the reply fits, writes it there and answers with its header
// alone, `in_dsa` set, `reply_dp` / `reply_alloc` naming the allocation: no rows go through the
// queue, and the backend reads them in place. The allocation is then the backend's: it takes it
// from its slot (RvSlot::pending_reply) and hands it back for the worker to free when it is done
// (RvSlot::release_replies). Pages freed in the DSA area are reused by the next reply, already
// mapped in both processes.
struct GnnForwardRequest {
	std::uint64_t model_bytes = 0;
	std::uint64_t graph_bytes = 0;
	std::uint32_t graph_database = 0;
	std::uint32_t graph_object = 0;
	std::uint32_t graph_kind = 0;
	std::uint32_t reserved = 0;
	std::uint64_t graph_tag = 0;
	std::uint64_t reply_bytes = 0;
};
struct GnnForwardResult {
	std::uint64_t nodes = 0;
	std::uint32_t out_dim = 0;
	std::uint32_t stale = 0;
	std::uint64_t compute_ns = 0;  // the layers' time on the worker's threads (decode included)
	std::uint32_t in_dsa = 0;      // the reply (this header, ids, rows) is at reply_dp
	std::uint32_t reserved = 0;
	std::uint64_t reply_dp = 0;    // a dsa_pointer in the worker's area
	std::uint64_t reply_alloc = 0; // the bytes allocated there
};
// Where an inline graph starts in the request's input (the model, zero-padded to 8 bytes, first),
// and the input's size.
inline std::size_t gnn_graph_offset(const GnnForwardRequest &r) { return (r.model_bytes + 7) & ~std::size_t(7); }
inline std::size_t gnn_input_bytes(const GnnForwardRequest &r) { return gnn_graph_offset(r) + r.graph_bytes; }
// The bytes a reply takes.
inline std::size_t gnn_reply_bytes(std::uint64_t nodes, std::uint32_t out_dim)
{
	return sizeof(GnnForwardResult) + nodes * (sizeof(std::int64_t) + sizeof(float) * std::size_t(out_dim));
}
std::vector<std::byte> encode(const GnnForwardRequest &r);
GnnForwardRequest decode_gnn_forward(std::span<const std::byte> payload);
struct GnnForwardReply {
	GnnForwardResult header;
	const std::int64_t *ids;  // header.nodes ids (nullptr when stale)
	const float *y;           // header.nodes x header.out_dim outputs (nullptr when stale)
};
// A stale reply is the header alone.
std::vector<std::byte> encode_gnn_forward_reply(const GnnForwardResult &h, std::span<const std::int64_t> ids = {},
                                                std::span<const float> y = {});
// reply must be 8-byte aligned (a palloc'd buffer); throws ProtocolError. A reply in_dsa is its
// header alone: decode the allocation with decode_gnn_forward_reply(its first gnn_reply_bytes(...)).
GnnForwardReply decode_gnn_forward_reply(std::span<const std::byte> reply);

// k-NN or epsilon graph edges for rows [row_begin, row_end) of a set of vectors the backend put in
// the shared store (n x dim floats, cosine rows unit-norm). Response: knn: rows x k
// { int32 index, float distance }; eps: uint64 count, then count x { uint32 src, uint32 dst, float }.
struct GraphBuildRequest {
	std::uint32_t database = 0;
	std::uint32_t object = 0;
	std::uint32_t kind = 0;
	kernels::Metric metric = kernels::Metric::l2;
	std::uint8_t epsilon_mode = 0;
	std::uint16_t reserved = 0;
	std::uint64_t tag = 0;
	std::uint64_t n = 0;
	std::uint32_t dim = 0;
	std::uint32_t k = 0;
	std::uint64_t row_begin = 0;
	std::uint64_t row_end = 0;
	float epsilon = 0;
	std::uint32_t reserved2 = 0;
	std::uint64_t max_edges = 0;
};
std::vector<std::byte> encode(const GraphBuildRequest &r);
GraphBuildRequest decode_graph_build(std::span<const std::byte> payload);
// The reply of an epsilon_mode = 0 request: (row_end - row_begin) x k neighbours, written in place.
std::size_t knn_reply_bytes(const GraphBuildRequest &r);
// Neighbours are rows below req.n, or -1.
std::span<const kernels::Neighbor> decode_knn_reply(std::span<const std::byte> reply, const GraphBuildRequest &req);
// The reply of an epsilon_mode = 1 request.
std::vector<std::byte> encode_eps_reply(std::span<const kernels::EpsEdge> edges);
// Edges name rows below req.n, their dst in [row_begin, row_end).
std::span<const kernels::EpsEdge> decode_eps_reply(std::span<const std::byte> reply, const GraphBuildRequest &req);

// The HNSW graph of an index build (worker/kernels/hnsw_graph.hpp), built on the worker's threads
// in its private memory. The rows follow as the request's input: n rows of the metric's element
// type, MetricInfo::row_bytes(dim) each, prepared (normalised for cosine) by the caller.
struct HnswBuildRequest {
	std::uint64_t n = 0;
	std::uint32_t dim = 0;
	std::uint32_t metric = 0;          // MetricInfo::code(): element type << 8 | metric
	std::uint32_t m = 16;              // 2..100
	std::uint32_t ef_construction = 64;  // 4..1000
	std::uint32_t max_level = 63;      // levels are capped here (the page layout's limit)
	std::uint32_t reserved = 0;
	std::uint64_t seed = 42;           // levels are drawn from (seed, row)
	std::uint64_t memory_budget = 0;   // bytes the graph and rows may take (maintenance_work_mem); 0: no limit
};
std::vector<std::byte> encode(const HnswBuildRequest &r);
HnswBuildRequest decode_hnsw_build(std::span<const std::byte> payload);

// Reply: HnswGraphHeader, then offsets (n + 1 uint64: where each node's links start), links
// (link_count int32: per node, link_slots(m, level) slots, layer 0 first, -1 empty), then levels
// (n uint8).
struct HnswGraphHeader {
	std::uint64_t n;
	std::uint32_t m;
	std::uint32_t reserved;
	std::int64_t entry;       // -1 when n = 0
	std::uint64_t link_count;
};
// The reply as the backend reads it: views into the reply bytes (trivially destructible, so it may
// live across calls that longjmp). The decoder has checked every field against the request.
struct HnswGraphReply {
	std::uint64_t n;
	std::uint32_t m;
	std::int64_t entry;
	const std::uint64_t *offsets;  // n + 1
	const std::int32_t *links;
	const std::uint8_t *levels;    // n

	std::uint32_t level(std::size_t node) const { return levels[node]; }
	// Node's neighbours at `layer` (0..level(node)): layer_slots(m, layer) slots, -1 empty.
	std::span<const std::int32_t> neighbours(std::size_t node, std::uint32_t layer) const
	{
		return {links + offsets[node] + kernels::hnsw::layer_offset(m, layer), kernels::hnsw::layer_slots(m, layer)};
	}
};
std::vector<std::byte> encode_hnsw_graph_reply(const kernels::hnsw::Graph &g);
// reply must be 8-byte aligned (a palloc'd buffer). Checks sizes, n and m, the entry point (a node
// of the top level, -1 only when empty), levels (at most req.max_level), offsets (consistent with
// the levels) and links (-1 or another node that has that layer); throws ProtocolError.
HnswGraphReply decode_hnsw_graph_reply(std::span<const std::byte> reply, const HnswBuildRequest &req);

struct StorePut {
	StoreKey key;
	std::uint64_t bytes = 0;  // size of the blob that follows in data frames
	std::uint64_t tag = 0;    // caller's version stamp (e.g. from an index metapage)
};
// store_put and store_drop (and ping) are answered by an end frame alone.
std::vector<std::byte> encode(const StorePut &r);
StorePut decode_store_put(std::span<const std::byte> payload);
std::vector<std::byte> encode(const StoreKey &k);
StoreKey decode_store_key(std::span<const std::byte> payload);

// One row of ruvector_store_entries().
struct StoreEntryInfo {
	StoreKey key;
	std::uint64_t bytes = 0;
	std::uint64_t version = 0;
	std::uint64_t tag = 0;
	std::uint32_t readers = 0;
};
std::vector<std::byte> encode(const StoreEntryInfo &e);
StoreEntryInfo decode_store_entry(std::span<const std::byte> payload);

}  // namespace ruvector::proto
