// The static shared-memory block both the backends and the worker attach to.
//
//   RvControl            worker state, generation, DSA handle, counters, doorbell bitmap
//   RvSlot[MaxBackends]  one per backend (index MyBackendId - 1): state, cancel flag and the
//                        request and response shm_mq areas
//
// Only pgprocnos, atomics and dsa handles live here: never a raw DSA or DSM pointer, since those
// map at different addresses in each process.
#pragma once
#include "shmem/pg.hpp"

extern "C" {
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "storage/shm_mq.h"
#include "storage/dsm.h"
#include "utils/dsa.h"
}

namespace ruvector {

inline constexpr uint32 kControlLayoutVersion = 3;

enum class WorkerState : uint32 { stopped = 0, starting = 1, ready = 2 };
enum class SlotState : uint32 { free = 0, posted = 1, active = 2 };

struct RvSlot {
	pg_atomic_uint32 state;    // SlotState; FREE->POSTED by the owner, POSTED->ACTIVE->FREE by the worker
	pg_atomic_uint32 cancel;   // set by the owner when it stops waiting
	// Set by the owner when it no longer needs its scratch store entry (a statement ended, failed
	// or the backend exits); the worker drops the entry once the slot is idle.
	pg_atomic_uint32 drop_scratch;
	// Store entries of objects that a transaction of the owner created and then rolled back (the
	// centroids of an index whose CREATE INDEX aborted): the worker drops them like the scratch.
	pg_atomic_uint32 drop_pending;  // drop_keys has keys
	slock_t drop_lock;              // guards drop_count and drop_keys
	int drop_count;
	proto::StoreKey drop_keys[16];
	// A GNN reply in the worker's DSA area (GnnForwardResult::in_dsa), put here by the worker as it
	// answers and taken by the owner (exchange to 0) when it reads the answer; from then on the
	// owner frees it (dsa_free and memory_release) when it is done. One the owner never took (it
	// gave up on the request) is freed by whichever side sees it next.
	pg_atomic_uint64 pending_reply;  // dsa_pointer, 0: none
	uint64 pending_reply_bytes;      // its allocation's size (written before pending_reply)
	int owner_procno;          // pgprocno of the backend that posted
	uint64 request_id;
	uint64 generation;         // worker generation the request was posted to
	// followed by two MAXALIGNed queues of ruvector.queue_size bytes: request, then response
};

struct RvControl {
	uint32 layout_version;
	int num_slots;
	Size queue_size;
	Size slot_stride;
	pg_atomic_uint32 worker_state;  // WorkerState
	pg_atomic_uint64 generation;    // bumped at each worker start
	int worker_procno;
	int worker_pid;
	int worker_threads;
	int dsa_tranche;
	dsa_handle area;                // DSM_HANDLE_INVALID until the worker created it
	ConditionVariable state_cv;     // broadcast when worker_state changes
	pg_atomic_uint64 next_request_id;
	// counters (written by the worker only)
	pg_atomic_uint64 served;
	pg_atomic_uint64 failed;
	pg_atomic_uint64 cancelled;
	pg_atomic_uint64 store_puts;      // store_put requests served (entries backends sent)
	pg_atomic_uint64 centroids_kept;  // index builds' centroids the worker kept from its own k-means
	pg_atomic_uint32 in_flight;
	pg_atomic_uint64 dsa_used;      // bytes the store, job buffers and input segments hold
	pg_atomic_uint64 dsa_limit;
	pg_atomic_uint64 kept_input;  // of dsa_used: request input segments sessions keep between requests
	int num_doorbells;
	pg_atomic_uint64 doorbell[FLEXIBLE_ARRAY_MEMBER];  // one bit per slot
};

extern RvControl *rv_control;  // set in shmem_startup_hook; null when not preloaded

Size control_shmem_size();
void control_shmem_startup();
inline RvSlot *slot_at(int i)
{
	return reinterpret_cast<RvSlot *>(reinterpret_cast<char *>(rv_control) +
	                                  MAXALIGN(offsetof(RvControl, doorbell) + sizeof(pg_atomic_uint64) * rv_control->num_doorbells) +
	                                  Size(i) * rv_control->slot_stride);
}
inline shm_mq *slot_request_queue(RvSlot *s)
{
	return reinterpret_cast<shm_mq *>(reinterpret_cast<char *>(s) + MAXALIGN(sizeof(RvSlot)));
}
inline shm_mq *slot_response_queue(RvSlot *s)
{
	return reinterpret_cast<shm_mq *>(reinterpret_cast<char *>(s) + MAXALIGN(sizeof(RvSlot)) + rv_control->queue_size);
}
inline void ring_doorbell(int slot)
{
	pg_atomic_fetch_or_u64(&rv_control->doorbell[slot / 64], uint64(1) << (slot % 64));
}

// ruvector.shared_memory_limit accounting (dsa_used against dsa_limit): the worker's store and job
// buffers, and the bulk-input segments backends create, reserve before they allocate. False when
// the bytes would go over the limit (or the worker has not set it yet).
bool memory_reserve(uint64 bytes);
void memory_release(uint64 bytes);
// The slot's GNN reply that its owner did not take (RvSlot::pending_reply), if any, freed now.
void free_pending_reply(dsa_area *area, RvSlot *rs);
// A reply the owner took, freed when it is done with it.
void free_reply_allocation(dsa_area *area, dsa_pointer dp, uint64 bytes);

// A DSM segment whose bytes are reserved against the limit until this process detaches it (a
// detach callback releases them, also at error cleanup and exit). nullptr, with *over_limit set,
// when the bytes would go over the limit; nullptr otherwise when no segment slot is free.
// Main thread only (it may ereport).
dsm_segment *reserved_segment_create(Size bytes, bool *over_limit);

/* GUCs (module.cpp) */
extern int rv_worker_threads;
extern int rv_shared_memory_limit_mb;
extern int rv_queue_size_kb;
extern int rv_worker_wait_timeout_ms;
extern int rv_progress_interval_ms;  // ruvector.progress_interval

}  // namespace ruvector
