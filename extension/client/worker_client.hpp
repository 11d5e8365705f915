// The backend side of the worker protocol: one request at a time per backend, through the
// backend's own slot. Callers use the typed calls in namespace client (the end of this file), one
// per request kind; the steps they are made of (post, send, receive, finish) are private to
// worker_client.cpp. Waits are latch waits with CHECK_FOR_INTERRUPTS, so query cancel and
// statement_timeout interrupt them; a worker that stops or restarts mid-request is an error,
// never a hang. The slot is released on every exit path: normal end, ERROR (transaction or
// subtransaction abort callback) and FATAL/terminate (before_shmem_exit).
//
// These functions ereport; callers keep only trivially destructible locals around them. A reply
// that does not decode throws proto::ProtocolError (08P01), so a caller that PostgreSQL calls
// (a callback, a body inside PG_TRY) catches at its boundary with pg::call_boundary.
#pragma once
#include "shmem/codec/protocol.hpp"
#include "shmem/codec/request_checks.hpp"
#include "shmem/control.hpp"
#include <initializer_list>
#include <span>

namespace ruvector {

// Bytes sent as the concatenation of parts (a graph's head, features and ids, where they are).
using ByteParts = std::span<const std::span<const std::byte>>;

// ruvector.debug_fault (superuser only): makes replies fail to decode, to test the error paths.
void define_worker_client_gucs();

// Raise a clear error unless ruvector was loaded through shared_preload_libraries.
void require_worker_support();

// A dynamic shared memory segment for a request's bulk input, which the worker maps instead of
// receiving the bytes through the queue: no copy through the ring and no wake-up per frame. Its
// bytes count against ruvector.shared_memory_limit until this backend detaches it; nullptr when
// they would go over it (send data frames instead). It belongs to the current resource owner, so
// an error detaches it; the worker keeps its own mapping until its job stopped reading.
dsm_segment *worker_input_segment_create(Size bytes);
void worker_input_segment_free(dsm_segment *seg);
// Room for the bulk input of this backend's next request, mapped here: at least `bytes` of the
// segment that request will use (the session's kept one, or a new one); empty when none fits under
// the limit. A caller may build part of its input in place there and pass that part where it is:
// the request copies only the parts not already at their place. The next request takes the room
// when its input fits (else it is released); worker_input_room_release() and the end of the
// transaction release a room no request took.
std::span<std::byte> worker_input_room(Size bytes);
void worker_input_room_release();
// Give up on the request in flight, if any (after catching its error, for best-effort requests
// such as cache publication). Transaction abort does this by itself.
void worker_request_abandon();

// This backend's scratch entry in the shared store (shmem/store.hpp): put a statement's shared
// input under this key. The worker drops it after worker_scratch_release(), which an error, a
// cancel, a subtransaction abort and the backend's exit (FATAL, pg_terminate_backend) also do.
proto::StoreKey worker_scratch_key();
void worker_scratch_release();

// The shared store entry `key` belongs to an object the current transaction created or rebuilt (a
// build's centroids): the worker drops it if that (sub)transaction aborts (for a key registered
// again in an inner subtransaction, if the inner one does).
void worker_store_drop_on_abort(const proto::StoreKey &key);

// DROP DATABASE: drop that database's shared store entries (best effort; they are caches).
void worker_store_forget_database(Oid database);

// Whether the worker is up right now (no waiting): best-effort callers skip it otherwise.
bool worker_ready();

// Run a request that only warms a cache: skipped when the worker is not ready, and any error
// except a query cancel is logged at DEBUG1 and swallowed. fn keeps only trivially destructible
// locals (it may longjmp); a C++ exception it throws (a reply that does not decode) is turned
// into a PostgreSQL error inside the PG_TRY, never unwound through it.
template <class Fn>
void worker_best_effort(Fn &&fn)
{
	if (!worker_ready())
		return;
	MemoryContext cxt = CurrentMemoryContext;
	PG_TRY();
	{
		pg::call_boundary(fn);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		worker_request_abandon();
		ErrorData *ed = CopyErrorData();
		FlushErrorState();
		if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(ed);
		ereport(DEBUG1, (errmsg_internal("ruvector: cache not updated: %s", ed->message)));
		FreeErrorData(ed);
	}
	PG_END_TRY();
}

// One call per request kind: post, wait, decode the reply (protocol.hpp declares each request and
// its reply). Each may ereport (a worker error with its SQLSTATE, cancel, a worker restart) and
// throws proto::ProtocolError (08P01) for a reply that does not decode; replies are views into
// palloc'd memory. A caller that only warms a cache wraps the call in worker_best_effort.
// A bulk input given as units: copy(arg, from, n, dst) writes units [from, from + n) to dst, straight
// into the request's input segment, or chunk by chunk into data frames.
using CopyUnits = void (*)(const void *arg, Size from, Size n, std::byte *dst);

namespace client {

// An empty request: the round trip.
void ping();

// Publish the concatenation of parts as the shared store entry `key`, stamped `tag`, replacing the
// entry's previous blob.
void store_put(const proto::StoreKey &key, uint64 tag, ByteParts parts);
inline void store_put(const proto::StoreKey &key, uint64 tag, std::initializer_list<std::span<const std::byte>> parts)
{
	store_put(key, tag, ByteParts(parts.begin(), parts.size()));
}
// Drop the entry `key` (nothing happens when there is none).
void store_drop(const proto::StoreKey &key);

// k-means over req.n rows of req.dim floats, after checking the request (request_checks.hpp):
// rows [from, from + n) come from copy(arg, from, n, dst), or from `rows`, contiguous.
proto::KmeansReply kmeans(const proto::KmeansRequest &req, CopyUnits copy, const void *arg);
proto::KmeansReply kmeans(const proto::KmeansRequest &req, const float *rows);

// The nearest of req.k centroids for each of req.n rows, in two steps so that the caller can
// prepare the next batch while the worker assigns this one: post, then collect. The input is
// `staged`, a worker_input_segment_create segment holding [centroids][rows], or, when it is
// nullptr, centroids and rows, sent as data frames. collect returns the labels (palloc'd).
void assign_post(const proto::AssignRequest &req, dsm_segment *staged, const float *centroids, const float *rows);
std::span<const int32> assign_collect(const proto::AssignRequest &req);

// Graph edges for a row range of the vectors in the store entry the request names: k-NN
// (epsilon_mode 0: rows x k neighbours) or epsilon (epsilon_mode 1: the edges found).
std::span<const kernels::Neighbor> knn_graph(const proto::GraphBuildRequest &req);
std::span<const kernels::EpsEdge> eps_graph(const proto::GraphBuildRequest &req);

// A GNN model over a graph: inline (graph non-empty) or the store entry the request names. Given
// the graph's node count and the model's output width, the worker writes the reply into its DSA
// area: the reply then points there, and the allocation is freed when the current memory context
// is reset or deleted (or the backend exits); else it is a palloc'd buffer.
proto::GnnForwardReply gnn_forward(const proto::GnnForwardRequest &req, std::span<const std::byte> model,
								   ByteParts graph, uint64 nodes = 0, uint32 out_dim = 0);

// The HNSW graph of an index build, built on the worker's threads in its private memory, after
// checking the request (check_hnsw_build_request: parameters, and memory against
// req.memory_budget): rows [from, from + n), each hnsw_metric(req).row_bytes(req.dim) bytes and
// prepared (cosine rows normalised), come from copy(arg, from, n, dst). n = 0 answers the empty
// graph without a request. The reply is a view of a palloc'd buffer (free_reply).
proto::HnswGraphReply hnsw_build(const proto::HnswBuildRequest &req, CopyUnits copy, const void *arg);

// Free a reply's buffer before its memory context goes (a build that makes many requests).
void free_reply(const proto::KmeansReply &reply);
void free_reply(std::span<const int32> labels);
void free_reply(std::span<const kernels::Neighbor> neighbours);
void free_reply(std::span<const kernels::EpsEdge> edges);
void free_reply(const proto::HnswGraphReply &reply);

}  // namespace client

}  // namespace ruvector
