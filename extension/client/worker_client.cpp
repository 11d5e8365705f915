#include "extension/client/worker_client.hpp"
#include "shmem/store.hpp"
#include "worker/kernels/knn.hpp"

#include <algorithm>
#include <vector>

#include <sys/mman.h>

extern "C" {
#include "access/xact.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace ruvector {

/* The steps of a request, which only the typed calls (namespace client, at the end) take. */

// An encoded request header in palloc'd memory. The request steps below may longjmp, which would
// skip a std::vector's destructor; a palloc'd copy is freed with its memory context instead.
template <class T>
std::span<const std::byte> palloc_encoded(const T &value)
{
	std::byte *buf;
	Size len;
	{
		std::vector<std::byte> e = proto::encode(value);
		len = e.size();
		buf = static_cast<std::byte *>(palloc(len));
		memcpy(buf, e.data(), len);
	}
	return {buf, len};
}

// Start a request: wait for a ready worker and a free slot, post, send the first frame. With
// input (kmeans, assign, gnn_forward), the request's whole bulk input is already in that segment
// and no data frames follow: send the end frame next.
void worker_request_begin(proto::MsgType type, std::span<const std::byte> payload = {}, dsm_segment *input = nullptr);
// Stream bulk request data (split into bounded frames), then the end frame.
void worker_request_send_data(std::span<const std::byte> bytes);
void worker_request_send_end();
// Start a request whose bulk input is `count` units of `unit_bytes` each, and send all of it:
// copy(arg, from, n, dst) writes units [from, from + n) to dst, straight into an input segment, or
// chunk by chunk into data frames when no segment fits under ruvector.shared_memory_limit (then
// the worker cannot take the input either and answers with the limit's error). Returns the
// segment, to free once the reply is in, or nullptr.
dsm_segment *worker_request_post(proto::MsgType type, std::span<const std::byte> payload, Size count, Size unit_bytes,
								 CopyUnits copy, const void *arg);
// The same for an input that is the concatenation of parts.
dsm_segment *worker_request_post(proto::MsgType type, std::span<const std::byte> payload, ByteParts parts);

// Next response frame. Returns data or end; a worker error is raised here with its SQLSTATE.
// The payload points into a buffer valid until the next call.
proto::MsgType worker_request_receive(std::span<const std::byte> *payload);
// Receive data frames until end, appending into a palloc'd buffer; returns its size.
Size worker_request_receive_all(char **buf);
// Normal end of a request (after end was received).
void worker_request_finish();

namespace {

// The request in flight in this backend (at most one). Plain data: it survives longjmps.
struct ActiveRequest {
	bool active;
	int slot;
	uint64 generation;
	uint64 request_id;
	proto::MsgType type;
	bool fault_done;     // ruvector.debug_fault has damaged a frame of this request
	shm_mq_handle *out;  // request queue: we send
	shm_mq_handle *in;   // response queue: we receive
	uint32 seq;
	bool polled;              // the one polling stretch of this request has begun
	instr_time polling_since;
};

ActiveRequest current;
bool callbacks_registered = false;

/* ruvector.debug_fault: for tests only (superusers), a reply that does not decode. */

enum class Fault { none, corrupt_reply, truncated_reply };
struct FaultSetting {
	Fault fault;
	int request;  // a proto::MsgType, or 0 for every request
};
FaultSetting debug_fault{Fault::none, 0};
char *debug_fault_string = nullptr;

bool check_debug_fault(char **value, void **extra, GucSource)
{
	FaultSetting f{Fault::none, 0};
	const char *v = *value ? *value : "";
	const char *colon = strchr(v, ':');
	std::string_view fault(v, colon ? size_t(colon - v) : strlen(v));
	if (fault == "corrupt_reply")
		f.fault = Fault::corrupt_reply;
	else if (fault == "truncated_reply")
		f.fault = Fault::truncated_reply;
	else if (!fault.empty()) {
		GUC_check_errdetail("The fault must be corrupt_reply or truncated_reply.");
		return false;
	}
	if (colon) {
		std::string_view request(colon + 1);
		f.request = -1;
		for (int t = 1; t <= int(proto::MsgType::hnsw_build); t++)
			if (request == proto::request_name(proto::MsgType(t)))
				f.request = t;
		if (f.request < 0) {
			GUC_check_errdetail("Unknown request kind \"%s\".", colon + 1);
			return false;
		}
	}
	auto *e = static_cast<FaultSetting *>(malloc(sizeof(FaultSetting)));
	if (!e)
		return false;
	*e = f;
	*extra = e;
	return true;
}

void assign_debug_fault(const char *, void *extra) { debug_fault = *static_cast<FaultSetting *>(extra); }

// The reply frame as ruvector.debug_fault damages it: the first frame of each matching request.
std::span<const std::byte> inject_fault(std::span<const std::byte> frame)
{
	if (debug_fault.fault == Fault::none || current.fault_done ||
		(debug_fault.request != 0 && debug_fault.request != int(current.type)) || frame.size() < sizeof(proto::Header))
		return frame;
	current.fault_done = true;
	auto *copy = static_cast<std::byte *>(palloc(frame.size() + 8));
	memcpy(copy, frame.data(), frame.size());
	proto::Header h;
	memcpy(&h, copy, sizeof h);
	if (debug_fault.fault == Fault::corrupt_reply) {
		h.magic_version ^= 0xFF;  // a header from another protocol
		memcpy(copy, &h, sizeof h);
		return {copy, frame.size()};
	}
	// An error frame whose payload stops inside the SQLSTATE: it cannot be decoded.
	h.type = uint16(proto::MsgType::error);
	h.len = 3;
	memcpy(copy, &h, sizeof h);
	memcpy(copy + sizeof h, "XX0", 3);
	return {copy, sizeof h + 3};
}

RvSlot *my_slot() { return slot_at(current.slot); }

WorkerState worker_state() { return WorkerState(pg_atomic_read_u32(&rv_control->worker_state)); }

// Stop waiting: tell the worker, detach our ends. Safe to call at any point, more than once.
void abandon_request()
{
	if (!current.active)
		return;
	current.active = false;
	pg_atomic_write_u32(&my_slot()->cancel, 1);
	// A GNN reply the worker posted for this request is ours to free (see hand_over_reply).
	pg_memory_barrier();
	if (dsa_area *area = backend_dsa_area())
		free_pending_reply(area, my_slot());
	if (rv_control->worker_procno >= 0)
		SetLatch(&GetPGProcByNumber(rv_control->worker_procno)->procLatch);
	if (current.out)
		shm_mq_detach(current.out);
	if (current.in)
		shm_mq_detach(current.in);
	current.out = current.in = nullptr;
}

/* The request input segment this backend keeps between its requests. A segment made for one
 * request costs the backend more than filling it: dsm_create zero-fills all of it (posix_fallocate
 * in /dev/shm), every page written faults it in, and the detach unmaps it (at 100k nodes, 112 MB:
 * about a quarter of a forward pass's backend CPU). So the segment of a large request stays mapped
 * and is filled again by the next request that fits in it. While kept it stays counted against
 * ruvector.shared_memory_limit (the bound holds); only segments of kKeepMinBytes up to an eighth
 * of the limit are kept, so an idle session holds at most that much, and all sessions together keep
 * at most a quarter of it (rv_control->kept_input), so that idle sessions never take the room
 * running requests need: beyond that a session does not keep its segment. It is dropped (detached,
 * its reservation released) when a larger request replaces it, when the request it held fails or
 * is abandoned (the worker may still read it: a cancel, an error, a subtransaction abort) and when
 * the backend exits (dsm_backend_shutdown detaches every segment). */
constexpr Size kKeepMinBytes = Size(8) << 20;
struct KeptInput {
	dsm_segment *seg;
	Size bytes;
	bool in_use;  // holds the input of the request being prepared or in flight
};
KeptInput kept_input{};

// The segment worker_input_room() handed out, for the next request's input (the kept one, or a
// new one of the current resource owner's). An abort forgets it: the resource owner detaches a new
// one, drop_kept_input_in_use() the kept one.
dsm_segment *staged_input = nullptr;

void drop_kept_input()
{
	dsm_segment *seg = kept_input.seg;
	kept_input = KeptInput{};
	if (staged_input == seg)
		staged_input = nullptr;
	if (seg)
		dsm_detach(seg);  // its on_dsm_detach callback releases the reservation
}

// On a failed or abandoned request: the worker may still read the kept segment, which must then
// never be written again.
void drop_kept_input_in_use()
{
	if (kept_input.in_use)
		drop_kept_input();
}

// This backend's scratch entry may exist: it is released on every way out of the statement.
bool scratch_held = false;

void release_scratch()
{
	if (!scratch_held)
		return;
	scratch_held = false;
	pg_atomic_write_u32(&slot_at(MyBackendId - 1)->drop_scratch, 1);
	pg_memory_barrier();
	if (rv_control->worker_procno >= 0)
		SetLatch(&GetPGProcByNumber(rv_control->worker_procno)->procLatch);
}

// Store entries to drop if the (sub)transaction that published them aborts.
struct AbortDrop {
	proto::StoreKey key;
	SubTransactionId subid;
};
constexpr int kMaxAbortDrops = 64;
AbortDrop abort_drops[kMaxAbortDrops];
int abort_drop_count = 0;

// Hand the entries of subtransaction `subid` and its children (all of them when subid is
// invalid) to the worker to drop. Only shared memory is written: this runs during abort.
void drop_on_abort(SubTransactionId subid)
{
	if (abort_drop_count == 0)
		return;
	RvSlot *rs = slot_at(MyBackendId - 1);
	int kept = 0;
	bool queued = false;
	SpinLockAcquire(&rs->drop_lock);
	for (int i = 0; i < abort_drop_count; i++) {
		const AbortDrop &d = abort_drops[i];
		if (subid != InvalidSubTransactionId && d.subid < subid)
			abort_drops[kept++] = d;
		else if (rs->drop_count < int(lengthof(rs->drop_keys))) {
			rs->drop_keys[rs->drop_count++] = d.key;
			queued = true;
		}
	}
	SpinLockRelease(&rs->drop_lock);
	abort_drop_count = kept;
	if (queued) {
		pg_atomic_write_u32(&rs->drop_pending, 1);
		pg_memory_barrier();
		if (rv_control->worker_procno >= 0)
			SetLatch(&GetPGProcByNumber(rv_control->worker_procno)->procLatch);
	}
}

void on_xact(XactEvent event, void *)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
		abandon_request();
		staged_input = nullptr;
		drop_kept_input_in_use();
		release_scratch();
		drop_on_abort(InvalidSubTransactionId);
	} else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE) {
		abort_drop_count = 0;
		worker_input_room_release();  // handed out but not used (before the resource owner sees it)
	}
}

void on_subxact(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void *)
{
	if (event == SUBXACT_EVENT_ABORT_SUB) {
		abandon_request();
		staged_input = nullptr;
		drop_kept_input_in_use();
		release_scratch();
		drop_on_abort(sub);
	} else if (event == SUBXACT_EVENT_COMMIT_SUB) {
		for (int i = 0; i < abort_drop_count; i++)
			if (abort_drops[i].subid >= sub)
				abort_drops[i].subid = parent;  // now the parent's, to drop if it aborts
	}
}

// GNN replies this backend took from its slot and reads in place, each until the memory context
// reading it goes (reset or deleted, which an error also does), or the backend exits.
struct HeldReply {
	dlist_node node;
	dsa_pointer dp;
	uint64 bytes;
};
dlist_head held_replies = DLIST_STATIC_INIT(held_replies);

void free_held_reply(HeldReply *h)
{
	dlist_delete(&h->node);
	free_reply_allocation(backend_dsa_area(), h->dp, h->bytes);
	pfree(h);
}

void held_reply_cxt_gone(void *arg) { free_held_reply(static_cast<HeldReply *>(arg)); }

void hold_reply_for(dsa_pointer dp, uint64 bytes, MemoryContext cxt)
{
	auto *h = static_cast<HeldReply *>(MemoryContextAlloc(TopMemoryContext, sizeof(HeldReply)));
	h->dp = dp;
	h->bytes = bytes;
	dlist_push_tail(&held_replies, &h->node);
	auto *cb = static_cast<MemoryContextCallback *>(MemoryContextAlloc(cxt, sizeof(MemoryContextCallback)));
	cb->func = held_reply_cxt_gone;
	cb->arg = h;
	MemoryContextRegisterResetCallback(cxt, cb);
}

void free_held_replies()
{
	while (!dlist_is_empty(&held_replies))
		free_held_reply(reinterpret_cast<HeldReply *>(dlist_head_node(&held_replies)));  // node is the first member
}

void on_backend_exit(int, Datum)
{
	abandon_request();
	release_scratch();
	free_held_replies();
	// A reply posted for a request that ended without taking it (its answer failed to decode).
	if (rv_control && MyBackendId != InvalidBackendId)
		if (dsa_area *area = backend_dsa_area())
			free_pending_reply(area, slot_at(MyBackendId - 1));
}

void register_callbacks()
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(on_xact, nullptr);
	RegisterSubXactCallback(on_subxact, nullptr);
	before_shmem_exit(on_backend_exit, 0);
	callbacks_registered = true;
}

long remaining_ms(TimestampTz deadline)
{
	return std::max<long>(0, long((deadline - GetCurrentTimestamp()) / 1000));
}

// Wait until the worker is ready; returns its generation.
uint64 wait_for_ready_worker()
{
	if (worker_state() == WorkerState::ready)
		return pg_atomic_read_u64(&rv_control->generation);
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), rv_worker_wait_timeout_ms);
	ConditionVariablePrepareToSleep(&rv_control->state_cv);
	while (worker_state() != WorkerState::ready) {
		long ms = remaining_ms(deadline);
		if (ms <= 0) {
			ConditionVariableCancelSleep();
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							errmsg("the ruvector worker is not running"),
							errdetail("It did not become ready within %d ms (ruvector.worker_wait_timeout).",
									  rv_worker_wait_timeout_ms),
							errhint("The worker restarts automatically after an error; see the server log.")));
		}
		(void) ConditionVariableTimedSleep(&rv_control->state_cv, std::min(ms, 100L), PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return pg_atomic_read_u64(&rv_control->generation);
}

[[noreturn]] void worker_gone_error()
{
	ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE), errmsg("the ruvector worker stopped during the request"),
					errhint("The worker restarts automatically; retry the query.")));
	pg_unreachable();
}

// A static worker has no BackgroundWorkerHandle, so liveness comes from its state and generation.
void check_worker_alive()
{
	if (worker_state() != WorkerState::ready || pg_atomic_read_u64(&rv_control->generation) != current.generation)
		worker_gone_error();
}

// One latch wait; query cancel and statement_timeout are processed here.
void wait_a_moment()
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

// A previous request that was abandoned may still be draining on the worker side.
void wait_for_free_slot(RvSlot *rs)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), std::max(rv_worker_wait_timeout_ms, 1000));
	while (pg_atomic_read_u32(&rs->state) != uint32(SlotState::free)) {
		if (remaining_ms(deadline) <= 0)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							errmsg("the ruvector worker has not released this session's previous request"),
							errhint("Retry the query; the worker may be busy cancelling a large job.")));
		wait_a_moment();
	}
}

[[noreturn]] void raise_worker_error(std::span<const std::byte> payload)
{
	// Decoding allocates C++ strings; copy them into palloc'd memory before raising.
	char state[5];
	char *msg;
	char *detail;
	char *hint;
	{
		proto::ErrorPayload e = proto::decode_error(payload);
		memcpy(state, e.sqlstate, 5);
		msg = pstrdup(e.message.c_str());
		detail = e.detail.empty() ? nullptr : pstrdup(e.detail.c_str());
		hint = e.hint.empty() ? nullptr : pstrdup(e.hint.c_str());
	}
	ereport(ERROR, (errcode(MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4])), errmsg("%s", msg),
					detail ? errdetail("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

// Look at the response queue without blocking; raise an early error the worker sent.
void check_early_error()
{
	Size n;
	void *data;
	shm_mq_result r = shm_mq_receive(current.in, &n, &data, true);
	if (r == SHM_MQ_DETACHED)
		worker_gone_error();
	if (r == SHM_MQ_SUCCESS) {
		std::span<const std::byte> payload;
		proto::Header h = proto::parse_frame({static_cast<const std::byte *>(data), n}, &payload);
		if (proto::MsgType(h.type) == proto::MsgType::error)
			raise_worker_error(payload);
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("unexpected early reply from the ruvector worker")));
	}
}

void send_frame(proto::MsgType type, std::span<const std::byte> payload, bool flush, dsm_handle input_segment = 0)
{
	// Build header + payload as one message without a C++ allocation (longjmp-safe).
	Size len = sizeof(proto::Header) + payload.size();
	char *msg = static_cast<char *>(palloc(len));
	proto::Header h;
	h.type = uint16(type);
	h.seq = current.seq++;
	h.request_id = current.request_id;
	h.len = uint32(payload.size());
	h.input_segment = input_segment;
	memcpy(msg, &h, sizeof h);
	if (!payload.empty())
		memcpy(msg + sizeof h, payload.data(), payload.size());
	for (;;) {
		shm_mq_result r = shm_mq_send(current.out, len, msg, true, flush);
		if (r == SHM_MQ_SUCCESS)
			break;
		if (r == SHM_MQ_DETACHED) {
			// The worker gave up on the request: it may have said why.
			check_early_error();
			worker_gone_error();
		}
		check_early_error();
		check_worker_alive();
		wait_a_moment();
	}
	pfree(msg);
}

}  // namespace

void define_worker_client_gucs()
{
	DefineCustomStringVariable("ruvector.debug_fault", "Damages replies from the ruvector worker (for tests only).",
							   "corrupt_reply or truncated_reply, optionally followed by :request_kind (such as "
							   ":kmeans); the first reply frame of each such request is damaged.",
							   &debug_fault_string, "", PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   check_debug_fault, assign_debug_fault, nullptr);
}

void require_worker_support()
{
	if (!rv_control)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("ruvector must be loaded via shared_preload_libraries"),
						errhint("Add ruvector to shared_preload_libraries in postgresql.conf and restart the server.")));
}

void worker_request_begin(proto::MsgType type, std::span<const std::byte> payload, dsm_segment *input)
{
	require_worker_support();
	register_callbacks();
	abandon_request();  // defensive: nothing may be left from an earlier request

	uint64 generation = wait_for_ready_worker();
	current.slot = MyBackendId - 1;
	RvSlot *rs = my_slot();
	wait_for_free_slot(rs);

	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	shm_mq *req = shm_mq_create(slot_request_queue(rs), rv_control->queue_size);
	shm_mq *resp = shm_mq_create(slot_response_queue(rs), rv_control->queue_size);
	shm_mq_set_sender(req, MyProc);
	shm_mq_set_receiver(resp, MyProc);
	current.out = shm_mq_attach(req, nullptr, nullptr);
	current.in = shm_mq_attach(resp, nullptr, nullptr);
	MemoryContextSwitchTo(old);

	current.generation = generation;
	current.request_id = pg_atomic_fetch_add_u64(&rv_control->next_request_id, 1);
	current.seq = 0;
	current.type = type;
	current.fault_done = false;
	current.polled = false;
	current.active = true;
	rs->owner_procno = MyProc->pgprocno;
	rs->request_id = current.request_id;
	rs->generation = generation;
	pg_atomic_write_u32(&rs->cancel, 0);
	pg_atomic_exchange_u32(&rs->state, uint32(SlotState::posted));  // full barrier: publishes the above
	ring_doorbell(current.slot);
	SetLatch(&GetPGProcByNumber(rv_control->worker_procno)->procLatch);

	send_frame(type, payload, true, input ? dsm_segment_handle(input) : 0);
}

void worker_request_send_data(std::span<const std::byte> bytes)
{
	const Size chunk = std::max<Size>(rv_control->queue_size / 2, 1024);
	for (Size off = 0; off < bytes.size(); off += chunk)
		send_frame(proto::MsgType::data, bytes.subspan(off, std::min(chunk, bytes.size() - off)), false);
}

void worker_request_send_end() { send_frame(proto::MsgType::end, {}, true); }

dsm_segment *worker_input_segment_create(Size bytes)
{
	require_worker_support();
	bool over_limit;
	dsm_segment *seg = reserved_segment_create(bytes, &over_limit);
#ifdef MADV_POPULATE_WRITE
	// dsm_create allocated its pages (posix_fallocate) but this process has not mapped them: the
	// caller writes the input next, and one call maps them all rather than a page fault per 4 kB
	// (copying a 51 MB ruhnsw build input took 130-190 ms, mostly faults). Advice only: kernels
	// before 5.14 refuse it.
	if (seg)
		(void) madvise(dsm_segment_address(seg), dsm_segment_map_length(seg), MADV_POPULATE_WRITE);
#endif
	return seg;
}

void worker_input_segment_free(dsm_segment *seg) { dsm_detach(seg); }

namespace {

// The request whose input was in `seg` got its whole reply: the worker no longer reads it.
void request_input_done(dsm_segment *seg)
{
	if (!seg)
		return;
	if (seg == kept_input.seg)
		kept_input.in_use = false;
	else
		worker_input_segment_free(seg);
}

// Count `bytes` more kept by sessions, if that stays within a quarter of the limit (and the segment
// within an eighth).
bool reserve_kept(uint64 bytes)
{
	uint64 limit = pg_atomic_read_u64(&rv_control->dsa_limit);
	uint64 kept = pg_atomic_read_u64(&rv_control->kept_input);
	do {
		if (bytes > limit / 8 || kept + bytes > limit / 4)
			return false;
	} while (!pg_atomic_compare_exchange_u64(&rv_control->kept_input, &kept, kept + bytes));
	return true;
}

void release_kept(dsm_segment *, Datum bytes) { pg_atomic_fetch_sub_u64(&rv_control->kept_input, uint64(DatumGetInt64(bytes))); }

// The segment for a request's bulk input of `bytes`: the one worker_input_room() handed out or the
// kept one when it is large enough, else a new one, kept afterwards when its size is worth keeping
// (see KeptInput); nullptr over the limit.
dsm_segment *request_input_segment(Size bytes)
{
	if (dsm_segment *staged = staged_input) {
		staged_input = nullptr;
		if (dsm_segment_map_length(staged) >= bytes)
			return staged;
		request_input_done(staged);
	}
	if (kept_input.seg && !kept_input.in_use) {
		if (kept_input.bytes >= bytes) {
			kept_input.in_use = true;
			return kept_input.seg;
		}
		drop_kept_input();  // too small: its reservation goes before a larger one is made
	}
	dsm_segment *seg = worker_input_segment_create(bytes);
	if (seg && !kept_input.seg && bytes >= kKeepMinBytes && reserve_kept(bytes)) {
		register_callbacks();    // its drop on abort
		on_dsm_detach(seg, release_kept, Int64GetDatum(int64(bytes)));  // dropped, or the backend exits
		dsm_pin_mapping(seg);  // not the resource owner's: an error leaves it to drop_kept_input_in_use
		kept_input = KeptInput{seg, bytes, true};
	}
	return seg;
}

}  // namespace

std::span<std::byte> worker_input_room(Size bytes)
{
	require_worker_support();
	register_callbacks();
	worker_input_room_release();
	dsm_segment *seg = request_input_segment(bytes);
	if (!seg)
		return {};
	staged_input = seg;
	return {static_cast<std::byte *>(dsm_segment_address(seg)), dsm_segment_map_length(seg)};
}

void worker_input_room_release()
{
	dsm_segment *seg = staged_input;
	staged_input = nullptr;
	request_input_done(seg);
}

dsm_segment *worker_request_post(proto::MsgType type, std::span<const std::byte> payload, Size count, Size unit_bytes,
								 CopyUnits copy, const void *arg)
{
	dsm_segment *seg = request_input_segment(count * unit_bytes);
	if (seg)
		copy(arg, 0, count, static_cast<std::byte *>(dsm_segment_address(seg)));
	elog(DEBUG1, "ruvector %s request: its input (%zu bytes) goes through %s", proto::request_name(type),
		 count * unit_bytes, seg ? "shared memory" : "the queue");
	worker_request_begin(type, payload, seg);
	if (!seg) {
		Size per_chunk = std::max<Size>((Size(1) << 20) / std::max<Size>(unit_bytes, 1), 1);
		auto *chunk = static_cast<std::byte *>(palloc(std::min(per_chunk, count) * unit_bytes));
		for (Size done = 0; done < count; done += per_chunk) {
			Size n = std::min(per_chunk, count - done);
			copy(arg, done, n, chunk);
			worker_request_send_data({chunk, n * unit_bytes});
		}
		pfree(chunk);
	}
	worker_request_send_end();
	return seg;
}

dsm_segment *worker_request_post(proto::MsgType type, std::span<const std::byte> payload, ByteParts parts)
{
	Size bytes = 0;
	for (auto part : parts)
		bytes += part.size();
	// Bytes [from, from + n) of the parts, end to end.
	CopyUnits copy = [](const void *arg, Size from, Size n, std::byte *dst) {
		for (auto part : *static_cast<const ByteParts *>(arg)) {
			if (from >= part.size()) {
				from -= part.size();
				continue;
			}
			Size take = std::min(n, part.size() - from);
			if (part.data() + from != dst)  // a part written in place (worker_input_room)
				memcpy(dst, part.data() + from, take);
			dst += take;
			n -= take;
			from = 0;
			if (n == 0)
				break;
		}
	};
	return worker_request_post(type, payload, bytes, 1, copy, &parts);
}

// Whether to poll the response queue again rather than sleep. A short request (ping, a small
// job) is answered in tens of microseconds; sleeping on the latch then costs this backend a
// wake-up, which on a VM is as long as the rest of the round trip. So the first wait of each
// request polls for up to kPollMicros; a long job costs that much CPU once.
bool keep_polling()
{
	constexpr double kPollMicros = 50;
	instr_time now;
	INSTR_TIME_SET_CURRENT(now);
	if (!current.polled) {
		current.polled = true;
		current.polling_since = now;
	}
	INSTR_TIME_SUBTRACT(now, current.polling_since);
	if (INSTR_TIME_GET_MICROSEC(now) >= kPollMicros)
		return false;
	pg_spin_delay();
	return true;
}

proto::MsgType worker_request_receive(std::span<const std::byte> *payload)
{
	for (;;) {
		Size n;
		void *data;
		shm_mq_result r = shm_mq_receive(current.in, &n, &data, true);
		if (r == SHM_MQ_SUCCESS) {
			auto frame = inject_fault({static_cast<const std::byte *>(data), n});
			proto::Header h = proto::parse_frame(frame, payload);
			auto type = proto::MsgType(h.type);
			if (type == proto::MsgType::error)
				raise_worker_error(*payload);
			if (h.request_id != current.request_id || (type != proto::MsgType::data && type != proto::MsgType::end))
				ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("unexpected reply from the ruvector worker")));
			return type;
		}
		if (r == SHM_MQ_DETACHED)
			worker_gone_error();
		if (keep_polling())
			continue;
		check_worker_alive();
		wait_a_moment();
	}
}

Size worker_request_receive_all(char **buf)
{
	Size cap = 8192, len = 0;
	*buf = static_cast<char *>(palloc(cap));
	std::span<const std::byte> payload;
	while (worker_request_receive(&payload) == proto::MsgType::data) {
		if (len + payload.size() > cap) {
			while (len + payload.size() > cap)
				cap *= 2;
			*buf = static_cast<char *>(repalloc_huge(*buf, cap));
		}
		memcpy(*buf + len, payload.data(), payload.size());
		len += payload.size();
	}
	return len;
}

void worker_request_finish()
{
	if (!current.active)
		return;
	current.active = false;
	shm_mq_detach(current.out);
	shm_mq_detach(current.in);
	current.out = current.in = nullptr;
}

void worker_request_abandon()
{
	abandon_request();
	drop_kept_input_in_use();
}

proto::StoreKey worker_scratch_key()
{
	require_worker_support();
	register_callbacks();
	scratch_held = true;
	return proto::StoreKey{MyDatabaseId, uint32(MyBackendId - 1), kStoreKindScratch};
}

void worker_scratch_release() { release_scratch(); }

void worker_store_forget_database(Oid database)
{
	if (!rv_control)
		return;
	auto *keys = static_cast<proto::StoreKey *>(palloc(sizeof(proto::StoreKey) * kStoreCapacity));
	int n = store_keys_of_database(database, keys, kStoreCapacity);
	for (int i = 0; i < n; i++) {
		proto::StoreKey key = keys[i];
		worker_best_effort([&] { client::store_drop(key); });
	}
	pfree(keys);
}

void worker_store_drop_on_abort(const proto::StoreKey &key)
{
	if (!rv_control)
		return;
	register_callbacks();
	// Registered already (an index created in an outer (sub)transaction, rebuilt in this one): the
	// innermost wins, as the entry must go if that aborts (and with it, if an outer one does).
	SubTransactionId sub = GetCurrentSubTransactionId();
	for (int i = 0; i < abort_drop_count; i++)
		if (abort_drops[i].key == key) {
			abort_drops[i].subid = std::max(abort_drops[i].subid, sub);
			return;
		}
	if (abort_drop_count < kMaxAbortDrops)  // beyond, the entry stays until a restart (a cache)
		abort_drops[abort_drop_count++] = AbortDrop{key, sub};
}

bool worker_ready() { return rv_control && worker_state() == WorkerState::ready; }

namespace {

// The end frame of a request answered by its end alone (ping, store_put, store_drop).
void receive_end()
{
	std::span<const std::byte> payload;
	if (worker_request_receive(&payload) != proto::MsgType::end)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("unexpected reply from the ruvector worker")));
	worker_request_finish();
}

// The whole reply of a request whose input went in `input` (freed here), as a palloc'd buffer.
std::span<const std::byte> receive_reply(dsm_segment *input)
{
	char *buf;
	Size len = worker_request_receive_all(&buf);
	worker_request_finish();
	request_input_done(input);
	return {reinterpret_cast<const std::byte *>(buf), len};
}

}  // namespace

namespace client {

void ping()
{
	worker_request_begin(proto::MsgType::ping);
	receive_end();
}

void store_put(const proto::StoreKey &key, uint64 tag, ByteParts parts)
{
	Size bytes = 0;
	for (auto part : parts)
		bytes += part.size();
	// In one shared segment when both it and the entry the worker copies it into fit under the
	// limit together; else through the queue (the entry alone must fit).
	auto put = palloc_encoded(proto::StorePut{key, bytes, tag});
	uint64 used = pg_atomic_read_u64(&rv_control->dsa_used), limit = pg_atomic_read_u64(&rv_control->dsa_limit);
	if (used + 2 * uint64(bytes) <= limit) {
		dsm_segment *input = worker_request_post(proto::MsgType::store_put, put, parts);
		receive_end();
		request_input_done(input);
		return;
	}
	worker_input_room_release();
	elog(DEBUG1, "ruvector store_put request: its input (%zu bytes) goes through the queue", bytes);
	worker_request_begin(proto::MsgType::store_put, put);
	for (auto part : parts)
		worker_request_send_data(part);
	worker_request_send_end();
	receive_end();
}

void store_drop(const proto::StoreKey &key)
{
	worker_request_begin(proto::MsgType::store_drop, palloc_encoded(key));  // answered on its first frame
	receive_end();
}

proto::KmeansReply kmeans(const proto::KmeansRequest &req, CopyUnits copy, const void *arg)
{
	proto::check_kmeans_request(req);
	dsm_segment *input =
		worker_request_post(proto::MsgType::kmeans, palloc_encoded(req), req.n, sizeof(float) * Size(req.dim), copy, arg);
	return proto::decode_kmeans_reply(receive_reply(input), req);
}

proto::KmeansReply kmeans(const proto::KmeansRequest &req, const float *rows)
{
	CopyUnits copy = [](const void *arg, Size from, Size n, std::byte *dst) {
		const auto *r = static_cast<const std::pair<const float *, Size> *>(arg);
		memcpy(dst, r->first + from * r->second, n * r->second * sizeof(float));
	};
	std::pair<const float *, Size> arg{rows, Size(req.dim)};
	return kmeans(req, copy, &arg);
}

void assign_post(const proto::AssignRequest &req, dsm_segment *staged, const float *centroids, const float *rows)
{
	worker_request_begin(proto::MsgType::assign, palloc_encoded(req), staged);
	if (!staged) {
		worker_request_send_data(std::as_bytes(std::span(centroids, Size(req.k) * req.dim)));
		worker_request_send_data(std::as_bytes(std::span(rows, Size(req.n) * req.dim)));
	}
	worker_request_send_end();
}

std::span<const int32> assign_collect(const proto::AssignRequest &req)
{
	return proto::decode_assign_reply(receive_reply(nullptr), req);
}

namespace {

std::span<const std::byte> graph_build(const proto::GraphBuildRequest &req)
{
	worker_request_begin(proto::MsgType::graph_build, palloc_encoded(req));
	return receive_reply(nullptr);
}

}  // namespace

std::span<const kernels::Neighbor> knn_graph(const proto::GraphBuildRequest &req)
{
	return proto::decode_knn_reply(graph_build(req), req);
}

std::span<const kernels::EpsEdge> eps_graph(const proto::GraphBuildRequest &req)
{
	return proto::decode_eps_reply(graph_build(req), req);
}

namespace {

}  // namespace

proto::GnnForwardReply gnn_forward(const proto::GnnForwardRequest &request, std::span<const std::byte> model,
								   ByteParts graph, uint64 nodes, uint32 out_dim)
{
	// When the reply's size is known, the worker writes it into its DSA area: pages it freed there
	// before are reused, already mapped in both processes. Up to a sixteenth of the memory limit:
	// the DSA area keeps the segments of large allocations after they are freed, so a larger
	// reply would leave a hole as large in the area (it comes through the queue instead).
	proto::GnnForwardRequest req = request;
	dsa_area *area = backend_dsa_area();
	Size reply_bytes = proto::gnn_reply_bytes(nodes, out_dim);
	if (nodes > 0 && out_dim > 0 && area && reply_bytes <= pg_atomic_read_u64(&rv_control->dsa_limit) / 16)
		req.reply_bytes = reply_bytes;
	// The model, zeros up to the graph's 8-byte boundary, the graph's parts.
	static const std::byte zeros[8] = {};
	std::span<const std::byte> parts[6] = {model, {zeros, proto::gnn_graph_offset(req) - model.size()}};
	if (graph.size() + 2 > lengthof(parts))
		throw std::invalid_argument("a graph of too many parts");
	std::copy(graph.begin(), graph.end(), parts + 2);
	dsm_segment *input = worker_request_post(proto::MsgType::gnn_forward, palloc_encoded(req), ByteParts(parts, graph.size() + 2));
	// Else the reply comes as data frames; its size follows from its header, in the first frame:
	// one allocation, no regrowth (a 100k x 128 result is 51 MB).
	std::span<const std::byte> payload;
	std::byte *buf = nullptr;
	Size len = 0, cap = 0;
	while (worker_request_receive(&payload) == proto::MsgType::data) {
		if (len + payload.size() > cap) {
			Size want = std::max(len + payload.size(), cap * 2);
			if (!buf && payload.size() >= sizeof(proto::GnnForwardResult)) {
				proto::GnnForwardResult h;
				memcpy(&h, payload.data(), sizeof h);
				if (!h.stale && !h.in_dsa && h.nodes < (uint64(1) << 32) && h.out_dim <= 65536 * 64)
					want = std::max<Size>(want, proto::gnn_reply_bytes(h.nodes, h.out_dim));
			}
			buf = static_cast<std::byte *>(buf ? repalloc_huge(buf, want) : MemoryContextAllocHuge(CurrentMemoryContext, want));
			cap = want;
		}
		memcpy(buf + len, payload.data(), payload.size());
		len += payload.size();
	}
	worker_request_finish();
	request_input_done(input);
	proto::GnnForwardReply reply = proto::decode_gnn_forward_reply({buf, len});
	if (!reply.header.in_dsa)
		return reply;
	// Take the reply from our slot: ours to free from now on, when the caller's memory context goes.
	RvSlot *rs = slot_at(MyBackendId - 1);
	dsa_pointer dp = pg_atomic_exchange_u64(&rs->pending_reply, 0);
	if (dp == 0 || dp != reply.header.reply_dp) {
		if (dp != 0)
			free_reply_allocation(area, dp, rs->pending_reply_bytes);
		throw proto::ProtocolError("the GNN reply is not the one the worker posted");
	}
	hold_reply_for(dp, reply.header.reply_alloc, CurrentMemoryContext);
	// A model ending in a readout answers with fewer rows (one per graph) than the room was made for.
	Size need = proto::gnn_reply_bytes(reply.header.nodes, reply.header.out_dim);
	if (reply.header.nodes > nodes || reply.header.reply_alloc < need)
		throw proto::ProtocolError("the GNN reply does not fit its allocation");
	return proto::decode_gnn_forward_reply({static_cast<const std::byte *>(dsa_get_address(area, dp)), need});
}

proto::HnswGraphReply hnsw_build(const proto::HnswBuildRequest &req, CopyUnits copy, const void *arg)
{
	proto::check_hnsw_build_request(req);
	if (req.n == 0) {  // an empty graph: nothing to send
		static const uint64 no_links = 0;
		return proto::HnswGraphReply{0, req.m, -1, &no_links, nullptr, nullptr};
	}
	Size row_bytes = proto::hnsw_metric(req).row_bytes(req.dim);
	dsm_segment *input = worker_request_post(proto::MsgType::hnsw_build, palloc_encoded(req), req.n, row_bytes, copy, arg);
	return proto::decode_hnsw_graph_reply(receive_reply(input), req);
}

// The buffers receive_reply allocated: the views start at its start, after the header (k-means)
// or after the edge count (epsilon).
void free_reply(const proto::KmeansReply &reply) { pfree(const_cast<std::byte *>(reply.rows) - sizeof reply.header); }
void free_reply(std::span<const int32> labels) { pfree(const_cast<int32 *>(labels.data())); }
void free_reply(std::span<const kernels::Neighbor> neighbours) { pfree(const_cast<kernels::Neighbor *>(neighbours.data())); }
void free_reply(const proto::HnswGraphReply &reply)
{
	if (reply.n > 0)  // the empty graph is static
		pfree(reinterpret_cast<std::byte *>(const_cast<uint64 *>(reply.offsets)) - sizeof(proto::HnswGraphHeader));
}
void free_reply(std::span<const kernels::EpsEdge> edges)
{
	pfree(reinterpret_cast<std::byte *>(const_cast<kernels::EpsEdge *>(edges.data())) - sizeof(uint64));
}

}  // namespace client

}  // namespace ruvector
