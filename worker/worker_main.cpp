// The ruvector background worker.
//
// One process, started by the postmaster from shared_preload_libraries. Its main thread is the
// only one that calls PostgreSQL: it runs the latch loop, claims posted slots, moves bytes through
// the shm_mq queues (always nowait, so one slow client never stalls another), allocates DSA memory
// and publishes store entries. Compute runs on a oneTBB arena whose threads see only plain memory
// and a cancel flag; they report completion through an eventfd the main loop waits on.
//
// Exit: SIGTERM (pg_terminate_backend, shutdown) leads to proc_exit(1) from CHECK_FOR_INTERRUPTS;
// the before_shmem_exit callback cancels and joins every job, joins the TBB threads, detaches
// every queue (so waiting backends see SHM_MQ_DETACHED at once) and marks the worker stopped.
// The postmaster restarts it after bgw_restart_time. It never exits with status 0, which would
// unregister it.
#include "shmem/codec/errors.hpp"
#include "shmem/codec/protocol.hpp"
#include "shmem/codec/request_checks.hpp"
#include "shmem/control.hpp"
#include "shmem/store.hpp"
#include "worker/jobs.hpp"
#include "worker/maintenance_launcher.hpp"

#include <malloc.h>
#include <climits>

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
PGDLLEXPORT void ruvector_worker_main(Datum main_arg);
}

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <csignal>
#include <deque>
#include <functional>
#include <unordered_map>
#include <memory>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vector>

namespace ruvector {
namespace {

namespace proto = ruvector::proto;

/* A job on the TBB arena: plain data shared between the main thread and one task. */
struct Job {
	std::atomic<bool> cancel{false};
	std::atomic<bool> done{false};
	std::vector<std::byte> result;
	bool failed = false;
	bool cancelled = false;
	proto::ErrorPayload error;
};

// Record the exception a job ended with (on its TBB thread), as the client will see it.
void record_failure(Job &job) noexcept
{
	job.failed = true;
	job.error = proto::describe_current_exception();
	job.cancelled = memcmp(job.error.sqlstate, "57014", 5) == 0;
}

/* One backend's request, from claim to release. */
struct Session {
	enum class Phase { receiving, running, sending, finished };

	int slot = -1;
	RvSlot *rs = nullptr;
	uint64 request_id = 0;
	shm_mq_handle *in = nullptr;   // request queue: we receive
	shm_mq_handle *out = nullptr;  // response queue: we send
	Phase phase = Phase::receiving;
	proto::MsgType kind{};
	bool got_header = false;
	bool counted_failure = false;

	// bulk input, counted against ruvector.shared_memory_limit: a store_put's in DSA (it becomes
	// the store entry); a job's in a segment of its own (reserved until it is detached) or in the
	// segment the backend named (which the backend accounted for)
	dsa_pointer input_dp = InvalidDsaPointer;
	dsm_segment *input_seg = nullptr;
	std::byte *input = nullptr;
	uint64 input_bytes = 0;
	uint64 received = 0;

	proto::KmeansRequest kmeans;
	proto::AssignRequest assign;
	proto::GnnForwardRequest gnn;
	proto::GraphBuildRequest graph_build;
	proto::HnswBuildRequest hnsw;
	proto::StorePut put;
	std::shared_ptr<Job> job;
	dsa_pointer pinned = InvalidDsaPointer;  // a store blob the job reads in place (pin_blob)
	dsa_pointer reply_dp = InvalidDsaPointer;  // a GNN reply's allocation, until handed over
	uint64 reply_bytes = 0;
	bool abandoned = false;  // the client left before the answer was complete
	std::deque<std::vector<std::byte>> outbox;
	uint32 out_seq = 0;
};

struct Worker {
	dsa_area *area = nullptr;
	int eventfd = -1;
	std::unique_ptr<tbb::global_control> tbb_limit;
	std::unique_ptr<tbb::task_arena> arena;
	tbb::task_scheduler_handle tbb_handle;
	std::vector<std::unique_ptr<Session>> sessions;  // by slot index; null when idle
	// Store blobs that jobs read in place, by how many; a pinned blob that the store replaces or
	// drops meanwhile is freed when its last reader ends (bytes: its size, once retired).
	struct Pin {
		int readers = 0;
		uint64 retired_bytes = 0;
		bool retired = false;
	};
	std::unordered_map<dsa_pointer, Pin> pins;
};

std::unique_ptr<Worker> W;  // the worker's private state; reset by worker_exit
MemoryContext worker_cxt = nullptr;

/* DSA accounting: every allocation the worker makes goes through these two. */

dsa_pointer account_alloc(uint64 bytes)
{
	if (!memory_reserve(bytes))
		return InvalidDsaPointer;
	dsa_pointer dp = dsa_allocate_extended(W->area, bytes ? bytes : 1, DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(dp))
		memory_release(bytes);
	return dp;
}

void account_free(dsa_pointer dp, uint64 bytes)
{
	auto pin = W->pins.find(dp);
	if (pin != W->pins.end()) {  // a job still reads it: free it after that job (unpin_blob)
		pin->second.retired = true;
		pin->second.retired_bytes = bytes;
		return;
	}
	dsa_free(W->area, dp);
	memory_release(bytes);
}

// A job reads a store blob in place: it stays allocated until unpin_blob, whatever the store does.
void pin_blob(Session &s, dsa_pointer dp)
{
	W->pins[dp].readers++;
	s.pinned = dp;
}

void unpin_blob(Session &s)
{
	if (!DsaPointerIsValid(s.pinned))
		return;
	dsa_pointer dp = s.pinned;
	s.pinned = InvalidDsaPointer;
	auto pin = W->pins.find(dp);
	if (pin == W->pins.end() || --pin->second.readers > 0)
		return;
	Worker::Pin p = pin->second;
	W->pins.erase(pin);
	if (p.retired)
		account_free(dp, p.retired_bytes);
}

[[noreturn]] void limit_error(uint64 bytes)
{
	throw pg::Error(ERRCODE_OUT_OF_MEMORY, "ruvector shared memory limit exceeded",
	                "The request needs " + std::to_string(bytes) + " bytes; " +
	                    std::to_string(pg_atomic_read_u64(&rv_control->dsa_used)) + " of " +
	                    std::to_string(pg_atomic_read_u64(&rv_control->dsa_limit)) + " bytes are in use.",
	                "Raise ruvector.shared_memory_limit or send less data.");
}

void apply_memory_limit()
{
	uint64 limit = uint64(rv_shared_memory_limit_mb) * 1024 * 1024;
	pg_atomic_write_u64(&rv_control->dsa_limit, limit);
	// Headroom for the DSA's own bookkeeping: our accounting is the precise check.
	dsa_set_size_limit(W->area, Size(limit + limit / 8 + 16 * 1024 * 1024));
}

/* Sending: frames wait in the outbox until the queue takes them. */

void queue_frame(Session &s, proto::MsgType type, std::span<const std::byte> payload = {})
{
	s.outbox.push_back(proto::make_frame(type, s.out_seq++, s.request_id, payload));
}

void queue_data(Session &s, std::span<const std::byte> bytes)
{
	const std::size_t chunk = std::max<std::size_t>(rv_control->queue_size / 2, 1024);
	for (std::size_t off = 0; off < bytes.size(); off += chunk)
		queue_frame(s, proto::MsgType::data, bytes.subspan(off, std::min(chunk, bytes.size() - off)));
	queue_frame(s, proto::MsgType::end);
}

void fail_session(Session &s, const proto::ErrorPayload &e)
{
	if (s.job)
		s.job->cancel = true;
	s.outbox.clear();
	queue_frame(s, proto::MsgType::error, proto::encode(e));
	s.phase = Session::Phase::sending;
	if (!s.counted_failure) {
		pg_atomic_fetch_add_u64(&rv_control->failed, 1);
		s.counted_failure = true;
	}
}

void fail_session(Session &s, int sqlerrcode, const std::string &msg, const std::string &detail = {},
                  const std::string &hint = {})
{
	proto::ErrorPayload e;
	const char *state = unpack_sql_state(sqlerrcode);
	memcpy(e.sqlstate, state, 5);
	e.message = msg;
	e.detail = detail;
	e.hint = hint;
	fail_session(s, e);
}

// Returns false when the client went away.
bool flush_outbox(Session &s)
{
	while (!s.outbox.empty()) {
		auto &f = s.outbox.front();
		bool last = s.outbox.size() == 1;
		shm_mq_result r = shm_mq_send(s.out, f.size(), f.data(), true, last);
		if (r == SHM_MQ_WOULD_BLOCK)
			return true;
		if (r == SHM_MQ_DETACHED)
			return false;
		s.outbox.pop_front();
	}
	return true;
}

/* Jobs */

// An index build's k-means (KmeansRequest::keep_tag): the centroids go into the shared store
// under the request's key, as the backend's store_put would have put them, and the reply says
// so. Best effort: over the shared memory limit they are not kept, and the backend publishes them.
// The backend registered the key to be dropped if its transaction aborts, and that drop is applied
// only once this slot is idle again, so a failed build leaves no entry behind.
void keep_centroids(Session &s)
{
	proto::KmeansReply reply = proto::decode_kmeans_reply(s.job->result, s.kmeans);
	uint64 bytes = proto::centroid_blob_bytes(reply.header.k, reply.header.dim);
	dsa_pointer dp = pg::guard([&] { return account_alloc(bytes); });
	if (!DsaPointerIsValid(dp))
		return;
	std::byte *blob;
	try {
		blob = pg::guard([&] { return static_cast<std::byte *>(dsa_get_address(W->area, dp)); });
	} catch (...) {
		pg::guard([&] { account_free(dp, bytes); });
		throw;
	}
	proto::write_centroid_blob(reply, s.kmeans.keep_tag, blob);
	pg::guard([&] { store_publish(W->area, s.kmeans.keep, s.kmeans.keep_tag, dp, bytes, account_free); });
	proto::mark_kmeans_reply_kept(s.job->result);
	pg_atomic_fetch_add_u64(&rv_control->centroids_kept, 1);
}

void start_job(Session &s, std::function<std::vector<std::byte>(kernels::CancelToken)> body)
{
	auto job = std::make_shared<Job>();
	s.job = job;
	s.phase = Session::Phase::running;
	int efd = W->eventfd;
	W->arena->enqueue([job, body = std::move(body), efd] {
		try {
			job->result = body(kernels::CancelToken(&job->cancel));
		} catch (...) {
			record_failure(*job);
		}
		job->done.store(true, std::memory_order_release);
		uint64_t one = 1;
		[[maybe_unused]] ssize_t n = write(efd, &one, sizeof one);
	});
}

// A whole request has arrived: validate it and hand it to the arena (or answer at once).
void dispatch(Session &s)
{
	switch (s.kind) {
	case proto::MsgType::ping:
		queue_frame(s, proto::MsgType::end);
		s.phase = Session::Phase::sending;
		break;
	case proto::MsgType::kmeans: {
		const float *data = reinterpret_cast<const float *>(s.input);
		proto::KmeansRequest req = s.kmeans;
		start_job(s, [req, data](kernels::CancelToken c) { return jobs::run_kmeans(req, data, c); });
		break;
	}
	case proto::MsgType::assign: {
		const float *data = reinterpret_cast<const float *>(s.input);
		proto::AssignRequest req = s.assign;
		start_job(s, [req, data](kernels::CancelToken c) { return jobs::run_assign(req, data, c); });
		break;
	}
	case proto::MsgType::gnn_forward: {
		std::span<const std::byte> model(s.input, s.gnn.model_bytes);
		// The reply's room in the DSA area, when asked for and under the limit (else the reply
		// goes through the queue).
		std::span<std::byte> room;
		if (s.gnn.reply_bytes > 0 && s.gnn.reply_bytes <= (uint64(1) << 40)) {
			dsa_pointer dp = pg::guard([&] { return account_alloc(s.gnn.reply_bytes); });
			if (DsaPointerIsValid(dp)) {
				s.reply_dp = dp;
				s.reply_bytes = s.gnn.reply_bytes;
				room = {static_cast<std::byte *>(dsa_get_address(W->area, dp)), Size(s.reply_bytes)};
			}
		}
		uint64 room_dp = s.reply_dp;
		if (s.gnn.graph_bytes > 0) {
			std::span<const std::byte> graph(s.input + proto::gnn_graph_offset(s.gnn), s.gnn.graph_bytes);
			start_job(s, [model, graph, room, room_dp](kernels::CancelToken c) {
				return jobs::run_gnn_forward(model, graph, c, room, room_dp);
			});
			break;
		}
		// A cached graph, read in place: pinned, so that replacing or dropping the entry meanwhile
		// (on this main thread, the only one that does) frees the old blob only after the job.
		proto::StoreKey key{s.gnn.graph_database, s.gnn.graph_object, s.gnn.graph_kind};
		uint64 tag = 0, bytes = 0;
		dsa_pointer dp = InvalidDsaPointer;
		const void *addr = pg::guard([&] { return store_worker_address(W->area, key, &tag, &bytes, &dp); });
		if (!addr || tag != s.gnn.graph_tag) {
			proto::GnnForwardResult stale;
			stale.stale = 1;
			queue_data(s, proto::encode_gnn_forward_reply(stale));
			s.phase = Session::Phase::sending;
			break;
		}
		pin_blob(s, dp);
		std::span<const std::byte> graph(static_cast<const std::byte *>(addr), bytes);
		start_job(s, [model, graph, room, room_dp](kernels::CancelToken c) {
			return jobs::run_gnn_forward(model, graph, c, room, room_dp);
		});
		break;
	}
	case proto::MsgType::graph_build: {
		// The vectors stay in the store: only the requesting backend replaces or drops its scratch
		// key, and its next request waits for this one to finish.
		proto::GraphBuildRequest req = s.graph_build;
		proto::StoreKey key{req.database, req.object, req.kind};
		uint64 tag = 0, bytes = 0;
		const void *addr = pg::guard([&] { return store_worker_address(W->area, key, &tag, &bytes); });
		if (!addr || tag != req.tag)
			throw std::invalid_argument("graph build: the vectors are no longer in the shared store");
		proto::check_graph_build_request(req, bytes);
		const float *base = static_cast<const float *>(addr);
		start_job(s, [req, base](kernels::CancelToken c) { return jobs::run_graph_build(req, base, c); });
		break;
	}
	case proto::MsgType::hnsw_build: {
		const std::byte *rows = s.input;
		proto::HnswBuildRequest req = s.hnsw;
		start_job(s, [req, rows](kernels::CancelToken c) { return jobs::run_hnsw_build(req, rows, c); });
		break;
	}
	case proto::MsgType::store_put: {
		pg_atomic_fetch_add_u64(&rv_control->store_puts, 1);
		proto::StoreKey key = s.put.key;
		// Ownership of the buffer moves to the store.
		dsa_pointer dp = s.input_dp;
		uint64 bytes = s.input_bytes, tag = s.put.tag;
		pg::guard([&] { store_publish(W->area, key, tag, dp, bytes, account_free); });
		s.input_dp = InvalidDsaPointer;
		s.input = nullptr;
		queue_frame(s, proto::MsgType::end);
		s.phase = Session::Phase::sending;
		break;
	}
	case proto::MsgType::store_drop:
		pg::guard([&] { store_drop(s.put.key, account_free); });
		queue_frame(s, proto::MsgType::end);
		s.phase = Session::Phase::sending;
		break;
	default:
		fail_session(s, ERRCODE_PROTOCOL_VIOLATION, "unknown ruvector worker request");
	}
}

void allocate_input(Session &s, uint64 bytes)
{
	s.input_bytes = bytes;
	s.input_dp = pg::guard([&] { return account_alloc(bytes); });
	if (!DsaPointerIsValid(s.input_dp))
		limit_error(bytes);
	s.input = pg::guard([&] { return static_cast<std::byte *>(dsa_get_address(W->area, s.input_dp)); });
}

// A job's input buffer: a segment of its own, gone when the session ends. In the DSA, a freed
// buffer of hundreds of MB would stay behind as a segment that later store entries fragment, and
// the next large request would then fail under the limit.
void allocate_job_input(Session &s, uint64 bytes)
{
	bool over_limit;
	dsm_segment *seg = pg::guard([&] { return reserved_segment_create(Size(bytes), &over_limit); });
	if (over_limit)
		limit_error(bytes);
	if (!seg)
		throw pg::Error(ERRCODE_OUT_OF_MEMORY, "too many dynamic shared memory segments", "",
		                "Retry when fewer requests are running, or raise max_connections.");
	s.input_seg = seg;  // detached with the session, which releases the reservation
	pg::guard([&] { dsm_pin_mapping(seg); });
	s.input = static_cast<std::byte *>(dsm_segment_address(seg));
	s.input_bytes = bytes;
}

// A job's bulk input: mapped from the segment the backend filled (nothing to receive), or a
// buffer the data frames fill.
void take_input(Session &s, const proto::Header &h, uint64 bytes)
{
	if (h.input_segment == 0) {
		allocate_job_input(s, bytes);
		return;
	}
	dsm_segment *seg = pg::guard([&] { return dsm_attach(dsm_handle(h.input_segment)); });
	if (!seg)
		throw proto::ProtocolError("the request's input segment no longer exists");
	s.input_seg = seg;  // detached with the session, after its job stopped reading
	pg::guard([&] { dsm_pin_mapping(seg); });
	if (dsm_segment_map_length(seg) < bytes)
		throw proto::ProtocolError("the request's input segment is smaller than its input");
	s.input = static_cast<std::byte *>(dsm_segment_address(seg));
	s.input_bytes = bytes;
	s.received = bytes;
}

// A store_put whose blob the backend put in a segment: copied into the entry's DSA buffer now
// (the segment is the backend's, and goes when its request ends).
void copy_input_segment(Session &s, const proto::Header &h)
{
	dsm_segment *seg = pg::guard([&] { return dsm_attach(dsm_handle(h.input_segment)); });
	if (!seg)
		throw proto::ProtocolError("the request's input segment no longer exists");
	bool fits = dsm_segment_map_length(seg) >= s.input_bytes;
	if (fits)
		memcpy(s.input, dsm_segment_address(seg), s.input_bytes);
	pg::guard([&] { dsm_detach(seg); });
	if (!fits)
		throw proto::ProtocolError("the request's input segment is smaller than its input");
	s.received = s.input_bytes;
}

// The first frame of a request names its kind and parameters.
void on_header(Session &s, const proto::Header &h, std::span<const std::byte> payload)
{
	s.kind = proto::MsgType(h.type);
	s.got_header = true;
	switch (s.kind) {
	case proto::MsgType::ping:
		dispatch(s);
		break;
	case proto::MsgType::kmeans:
		s.kmeans = proto::decode_kmeans(payload);
		proto::check_kmeans_request(s.kmeans);
		if (s.kmeans.dim == 0 || s.kmeans.n > (uint64(1) << 40) / s.kmeans.dim)
			throw std::invalid_argument("k-means input is too large");
		take_input(s, h, s.kmeans.n * s.kmeans.dim * sizeof(float));
		break;
	case proto::MsgType::assign:
		s.assign = proto::decode_assign(payload);
		proto::check_assign_request(s.assign);
		if (s.assign.n + s.assign.k > (uint64(1) << 40) / s.assign.dim)
			throw std::invalid_argument("assignment input is too large");
		take_input(s, h, (s.assign.n + s.assign.k) * s.assign.dim * sizeof(float));
		break;
	case proto::MsgType::gnn_forward:
		s.gnn = proto::decode_gnn_forward(payload);
		if (s.gnn.model_bytes == 0 || s.gnn.model_bytes > (uint64(1) << 36) || s.gnn.graph_bytes > (uint64(1) << 40))
			throw std::invalid_argument("malformed GNN request");
		take_input(s, h, proto::gnn_input_bytes(s.gnn));
		break;
	case proto::MsgType::graph_build:
		s.graph_build = proto::decode_graph_build(payload);
		dispatch(s);
		break;
	case proto::MsgType::hnsw_build:
		// Checked before the input is taken: a build over its memory budget allocates nothing.
		s.hnsw = proto::decode_hnsw_build(payload);
		proto::check_hnsw_build_request(s.hnsw);
		take_input(s, h, s.hnsw.n * proto::hnsw_metric(s.hnsw).row_bytes(s.hnsw.dim));
		break;
	case proto::MsgType::store_put:
		s.put = proto::decode_store_put(payload);
		allocate_input(s, s.put.bytes);
		if (h.input_segment != 0)
			copy_input_segment(s, h);
		break;
	case proto::MsgType::store_drop:
		s.put.key = proto::decode_store_key(payload);
		dispatch(s);
		break;
	default:
		throw proto::ProtocolError("unknown ruvector worker request");
	}
}

void on_frame(Session &s, std::span<const std::byte> message)
{
	std::span<const std::byte> payload;
	proto::Header h = proto::parse_frame(message, &payload);
	if (!s.got_header) {
		s.request_id = h.request_id;
		on_header(s, h, payload);
		return;
	}
	switch (proto::MsgType(h.type)) {
	case proto::MsgType::data:
		if (payload.size() > s.input_bytes - s.received)
			throw proto::ProtocolError("more request data than announced");
		memcpy(s.input + s.received, payload.data(), payload.size());
		s.received += payload.size();
		break;
	case proto::MsgType::end:
		if (s.received != s.input_bytes)
			throw proto::ProtocolError("less request data than announced");
		dispatch(s);
		break;
	default:
		throw proto::ProtocolError("unexpected frame in a ruvector worker request");
	}
}

/* Session lifecycle */

void release_session(int slot)
{
	Session &s = *W->sessions[slot];
	if (s.in)
		shm_mq_detach(s.in);
	if (s.out)
		shm_mq_detach(s.out);
	if (DsaPointerIsValid(s.input_dp))
		account_free(s.input_dp, s.input_bytes);
	if (s.input_seg)
		dsm_detach(s.input_seg);
	if (DsaPointerIsValid(s.reply_dp))  // not handed over: the job failed or the client left
		account_free(s.reply_dp, s.reply_bytes);
	unpin_blob(s);
	int owner = s.rs->owner_procno;
	pg_atomic_write_u32(&s.rs->cancel, 0);
	pg_atomic_exchange_u32(&s.rs->state, uint32(SlotState::free));  // full barrier
	pg_atomic_fetch_sub_u32(&rv_control->in_flight, 1);
	if (owner >= 0)
		SetLatch(&GetPGProcByNumber(owner)->procLatch);
	W->sessions[slot].reset();
}

// Drop the entries an idle slot's owner released (its scratch entry, the entries of objects its
// aborted transactions created). Idle: no job of the slot still reads them. A release the owner
// flagged before posting its next request is seen here at the latest when that request is
// claimed, so it never drops an entry that request publishes.
void drop_released_entries(int slot)
{
	RvSlot *rs = slot_at(slot);
	if (pg_atomic_read_u32(&rs->drop_scratch) != 0 && pg_atomic_exchange_u32(&rs->drop_scratch, 0) != 0)
		store_drop_object(uint32(slot), kStoreKindScratch, account_free);
	// Entries of objects whose creating transaction aborted.
	if (pg_atomic_read_u32(&rs->drop_pending) != 0 && pg_atomic_exchange_u32(&rs->drop_pending, 0) != 0) {
		proto::StoreKey keys[lengthof(rs->drop_keys)];
		SpinLockAcquire(&rs->drop_lock);
		int n = rs->drop_count;
		memcpy(keys, rs->drop_keys, sizeof(proto::StoreKey) * n);
		rs->drop_count = 0;
		SpinLockRelease(&rs->drop_lock);
		for (int i = 0; i < n; i++)
			store_drop(keys[i], account_free);
	}
}

void claim_slot(int slot)
{
	RvSlot *rs = slot_at(slot);
	uint32 expected = uint32(SlotState::posted);
	if (!pg_atomic_compare_exchange_u32(&rs->state, &expected, uint32(SlotState::active)))
		return;
	drop_released_entries(slot);
	free_pending_reply(W->area, rs);  // the owner gave up on its last request before taking its reply
	auto s = std::make_unique<Session>();
	s->slot = slot;
	s->rs = rs;
	s->request_id = rs->request_id;
	MemoryContext old = MemoryContextSwitchTo(worker_cxt);
	shm_mq *req = slot_request_queue(rs);
	shm_mq *resp = slot_response_queue(rs);
	shm_mq_set_receiver(req, MyProc);
	shm_mq_set_sender(resp, MyProc);
	s->in = shm_mq_attach(req, nullptr, nullptr);
	s->out = shm_mq_attach(resp, nullptr, nullptr);
	MemoryContextSwitchTo(old);
	pg_atomic_fetch_add_u32(&rv_control->in_flight, 1);
	W->sessions[slot] = std::move(s);
}

// A GNN job wrote its reply into its DSA room: the answer names it, and from now on it is the
// owner's (RvSlot::pending_reply until it takes it).
void hand_over_reply(Session &s)
{
	if (!DsaPointerIsValid(s.reply_dp) || s.job->result.size() < sizeof(proto::GnnForwardResult))
		return;
	proto::GnnForwardResult h;
	memcpy(&h, s.job->result.data(), sizeof h);
	if (!h.in_dsa)
		return;  // it did not fit: the rows go through the queue, the room is freed at release
	RvSlot *rs = s.rs;
	free_pending_reply(W->area, rs);
	rs->pending_reply_bytes = s.reply_bytes;
	pg_write_barrier();
	pg_atomic_write_u64(&rs->pending_reply, s.reply_dp);
	s.reply_dp = InvalidDsaPointer;
	// The owner sets cancel, then frees a pending reply itself: with a full barrier between on
	// both sides, a reply posted just as it gave up is freed by one of the two.
	pg_memory_barrier();
	if (pg_atomic_read_u32(&rs->cancel) != 0)
		free_pending_reply(W->area, rs);
}

bool job_running(const Session &s) { return s.job && !s.job->done.load(std::memory_order_acquire); }

// Advance one session as far as it can go without blocking.
void poll_session(int slot)
{
	Session &s = *W->sessions[slot];
	bool client_gone = pg_atomic_read_u32(&s.rs->cancel) != 0;

	try {
		while (!client_gone && s.phase == Session::Phase::receiving) {
			Size n;
			void *data;
			shm_mq_result r = pg::guard([&] { return shm_mq_receive(s.in, &n, &data, true); });
			if (r == SHM_MQ_WOULD_BLOCK)
				break;
			if (r == SHM_MQ_DETACHED) {
				client_gone = true;
				break;
			}
			on_frame(s, {static_cast<const std::byte *>(data), n});
		}
		if (s.phase == Session::Phase::running && !job_running(s)) {
			if (s.job->failed)
				fail_session(s, s.job->error);
			else {
				hand_over_reply(s);
				if (s.kind == proto::MsgType::kmeans && s.kmeans.keep_tag != 0 && !client_gone)
					keep_centroids(s);
				queue_data(s, s.job->result);
				s.job->result = {};
				s.phase = Session::Phase::sending;
			}
		}
	} catch (const pg::PgException &e) {
		const ErrorData *ed = e.edata();
		fail_session(s, ed->sqlerrcode, ed->message ? ed->message : "error", ed->detail ? ed->detail : "",
		             ed->hint ? ed->hint : "");
	} catch (...) {
		fail_session(s, proto::describe_current_exception());
	}

	if (!client_gone && s.phase == Session::Phase::sending) {
		if (!flush_outbox(s))
			client_gone = true;
		else if (s.outbox.empty())
			s.phase = Session::Phase::finished;
	}

	if (client_gone && s.phase != Session::Phase::finished) {
		if (s.job)
			s.job->cancel = true;
		s.abandoned = true;
		s.phase = Session::Phase::finished;
		pg_atomic_fetch_add_u64(&rv_control->cancelled, 1);
	}
	if (s.phase == Session::Phase::finished) {
		if (job_running(s))
			return;  // a cancelled job still reads the input buffer: release once it stopped
		if (!s.abandoned && !s.counted_failure)
			pg_atomic_fetch_add_u64(&rv_control->served, 1);
		release_session(slot);
	}
}

void poll_all()
{
	for (int w = 0; w < rv_control->num_doorbells; w++) {
		uint64 bits = pg_atomic_exchange_u64(&rv_control->doorbell[w], 0);
		while (bits) {
			int slot = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			if (slot < rv_control->num_slots && !W->sessions[slot])
				claim_slot(slot);
		}
	}
	for (int i = 0; i < rv_control->num_slots; i++)
		if (W->sessions[i])
			poll_session(i);
	for (int i = 0; i < rv_control->num_slots; i++)
		if (!W->sessions[i])
			drop_released_entries(i);
}

/* Start and stop */

void publish_state(WorkerState state)
{
	pg_atomic_exchange_u32(&rv_control->worker_state, uint32(state));
	ConditionVariableBroadcast(&rv_control->state_cv);
}

// before_shmem_exit: stop the jobs, join the threads, then let every waiting client go.
void worker_exit(int, Datum)
{
	if (!W)
		return;
	publish_state(WorkerState::stopped);
	for (auto &s : W->sessions)
		if (s && s->job)
			s->job->cancel = true;
	for (auto &s : W->sessions)
		while (s && job_running(*s))
			pg_usleep(1000L);
	W->arena.reset();
	W->tbb_limit.reset();
	(void) tbb::finalize(W->tbb_handle, std::nothrow);
	for (int i = 0; i < int(W->sessions.size()); i++)
		if (W->sessions[i])
			release_session(i);
	if (W->eventfd >= 0)
		close(W->eventfd);
	W.reset();
}

void start_threads()
{
	int threads = rv_worker_threads > 0 ? rv_worker_threads : tbb::info::default_concurrency();
	// TBB threads inherit the signal mask: block everything so signals reach the main thread only.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	W->tbb_handle = tbb::task_scheduler_handle(tbb::attach{});
	// The main thread never works in the arena, so allow `threads` workers besides it.
	W->tbb_limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads + 1);
	W->arena = std::make_unique<tbb::task_arena>(threads, 0);
	W->arena->initialize();
	W->arena->execute([] {});  // start the threads now, under the blocked mask
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	rv_control->worker_threads = threads;
}

void attach_area()
{
	MemoryContext old = MemoryContextSwitchTo(worker_cxt);
	if (rv_control->area == DSM_HANDLE_INVALID) {
		W->area = dsa_create(rv_control->dsa_tranche);
		dsa_pin(W->area);  // survives worker restarts; a crash restart re-creates everything
		rv_control->area = dsa_get_handle(W->area);
	} else
		W->area = dsa_attach(rv_control->area);
	dsa_pin_mapping(W->area);
	MemoryContextSwitchTo(old);
	apply_memory_limit();
}

// Slots a previous incarnation left behind: their clients see the generation change and give up.
void reset_slots()
{
	for (int i = 0; i < rv_control->num_slots; i++) {
		RvSlot *rs = slot_at(i);
		if (pg_atomic_read_u32(&rs->state) != uint32(SlotState::free)) {
			pg_atomic_write_u32(&rs->cancel, 0);
			pg_atomic_exchange_u32(&rs->state, uint32(SlotState::free));
			if (rs->owner_procno >= 0)
				SetLatch(&GetPGProcByNumber(rs->owner_procno)->procLatch);
		}
	}
	for (int w = 0; w < rv_control->num_doorbells; w++)
		pg_atomic_write_u64(&rv_control->doorbell[w], 0);
	pg_atomic_write_u32(&rv_control->in_flight, 0);
}

}  // namespace
}  // namespace ruvector

namespace ruvector {
namespace {

/* Job memory: a layer over 100k nodes allocates buffers of 50 MB and more. glibc maps each such
 * buffer fresh and unmaps it on free, so every job paid a page fault (and a page clear) for each
 * page it touched, about a third of a 100k-node forward pass on a VM. The heap keeps them instead
 * (no mmap, no trim at free), so the next job reuses pages already mapped; what an idle worker
 * keeps is given back after kTrimIdleSeconds without a job. */
constexpr long kTrimIdleSeconds = 10;

void keep_job_memory()
{
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

// Called each loop: trims the heap once the worker has been idle long enough.
void trim_idle_memory()
{
	static TimestampTz last_busy = 0;
	static bool trimmed = true;
	if (pg_atomic_read_u32(&rv_control->in_flight) > 0) {
		last_busy = GetCurrentTimestamp();
		trimmed = false;
	} else if (!trimmed && TimestampDifferenceExceeds(last_busy, GetCurrentTimestamp(), int(kTrimIdleSeconds * 1000))) {
		malloc_trim(0);
		trimmed = true;
	}
}

[[noreturn]] void run_worker()
{
	publish_state(WorkerState::starting);
	worker_cxt = AllocSetContextCreate(TopMemoryContext, "ruvector worker", ALLOCSET_DEFAULT_SIZES);

	W = std::make_unique<Worker>();
	W->sessions.resize(rv_control->num_slots);
	before_shmem_exit(worker_exit, 0);
	attach_area();
	keep_job_memory();
	start_threads();
	W->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (W->eventfd < 0)
		ereport(FATAL, (errmsg("could not create eventfd: %m")));

	reset_slots();
	pg_atomic_fetch_add_u64(&rv_control->generation, 1);
	rv_control->worker_procno = MyProc->pgprocno;
	rv_control->worker_pid = MyProcPid;
	publish_state(WorkerState::ready);
	ereport(LOG, (errmsg("ruvector worker ready (%d threads, shared memory limit %d MB)", rv_control->worker_threads,
						 rv_shared_memory_limit_mb)));

	for (;;) {
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			apply_memory_limit();
		}
		uint64_t ignored;
		while (read(W->eventfd, &ignored, sizeof ignored) > 0) {
		}
		poll_all();
		trim_idle_memory();
		maintenance_launcher_tick(worker_cxt);
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 W->eventfd, 1000L, PG_WAIT_EXTENSION);
	}
}

}  // namespace
}  // namespace ruvector

void ruvector_worker_main(Datum)
{
	using namespace ruvector;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	// Connect to no database: visible in pg_stat_activity, terminable, reads no user table.
	BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

	if (!rv_control)
		ereport(FATAL, (errmsg("ruvector shared memory is not initialized")));
	// An exception that escapes the loop (memory short while failing a session) becomes an ERROR,
	// which ends the worker like any error in a background worker: it restarts, the cluster does not.
	pg::call_boundary([] { run_worker(); });
}
