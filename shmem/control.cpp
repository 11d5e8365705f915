#include "shmem/control.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace ruvector {

RvControl *rv_control = nullptr;

static Size header_size(int num_slots)
{
	int num_doorbells = (num_slots + 63) / 64;
	return MAXALIGN(offsetof(RvControl, doorbell) + sizeof(pg_atomic_uint64) * num_doorbells);
}

static Size slot_stride()
{
	return MAXALIGN(sizeof(RvSlot)) + 2 * MAXALIGN(Size(rv_queue_size_kb) * 1024);
}

// Called from shmem_request_hook, when MaxBackends is known.
Size control_shmem_size()
{
	return add_size(header_size(MaxBackends), mul_size(Size(MaxBackends), slot_stride()));
}

void control_shmem_startup()
{
	bool found;

	rv_control = nullptr;  // a crash restart re-creates shared memory: forget the old pointer
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	auto *ctl = static_cast<RvControl *>(ShmemInitStruct("ruvector", control_shmem_size(), &found));
	if (!found) {
		memset(ctl, 0, control_shmem_size());
		ctl->layout_version = kControlLayoutVersion;
		ctl->num_slots = MaxBackends;
		ctl->queue_size = MAXALIGN(Size(rv_queue_size_kb) * 1024);
		ctl->slot_stride = slot_stride();
		pg_atomic_init_u32(&ctl->worker_state, uint32(WorkerState::stopped));
		pg_atomic_init_u64(&ctl->generation, 0);
		ctl->worker_procno = -1;
		ctl->dsa_tranche = LWLockNewTrancheId();
		ctl->area = DSM_HANDLE_INVALID;
		ConditionVariableInit(&ctl->state_cv);
		pg_atomic_init_u64(&ctl->next_request_id, 1);
		pg_atomic_init_u64(&ctl->served, 0);
		pg_atomic_init_u64(&ctl->failed, 0);
		pg_atomic_init_u64(&ctl->cancelled, 0);
		pg_atomic_init_u64(&ctl->store_puts, 0);
		pg_atomic_init_u64(&ctl->centroids_kept, 0);
		pg_atomic_init_u32(&ctl->in_flight, 0);
		pg_atomic_init_u64(&ctl->dsa_used, 0);
		pg_atomic_init_u64(&ctl->dsa_limit, 0);
		pg_atomic_init_u64(&ctl->kept_input, 0);
		ctl->num_doorbells = (MaxBackends + 63) / 64;
		for (int i = 0; i < ctl->num_doorbells; i++)
			pg_atomic_init_u64(&ctl->doorbell[i], 0);
		rv_control = ctl;
		for (int i = 0; i < ctl->num_slots; i++) {
			RvSlot *s = slot_at(i);
			pg_atomic_init_u32(&s->state, uint32(SlotState::free));
			pg_atomic_init_u32(&s->cancel, 0);
			pg_atomic_init_u32(&s->drop_scratch, 0);
			pg_atomic_init_u32(&s->drop_pending, 0);
			pg_atomic_init_u64(&s->pending_reply, 0);
			SpinLockInit(&s->drop_lock);
			s->drop_count = 0;
			s->owner_procno = -1;
		}
	}
	rv_control = ctl;
	LWLockRelease(AddinShmemInitLock);
	LWLockRegisterTranche(ctl->dsa_tranche, "ruvector_dsa");
}

bool memory_reserve(uint64 bytes)
{
	uint64 limit = pg_atomic_read_u64(&rv_control->dsa_limit);
	uint64 used = pg_atomic_read_u64(&rv_control->dsa_used);
	do {
		if (bytes > limit || used > limit - bytes)
			return false;
	} while (!pg_atomic_compare_exchange_u64(&rv_control->dsa_used, &used, used + bytes));
	return true;
}

void memory_release(uint64 bytes) { pg_atomic_fetch_sub_u64(&rv_control->dsa_used, bytes); }

void free_reply_allocation(dsa_area *area, dsa_pointer dp, uint64 bytes)
{
	dsa_free(area, dp);
	memory_release(bytes);
}

void free_pending_reply(dsa_area *area, RvSlot *rs)
{
	if (pg_atomic_read_u64(&rs->pending_reply) == 0)
		return;
	dsa_pointer dp = pg_atomic_exchange_u64(&rs->pending_reply, 0);  // full barrier: then its size
	if (dp != 0)
		free_reply_allocation(area, dp, rs->pending_reply_bytes);
}

static void release_reservation(dsm_segment *, Datum bytes) { memory_release(uint64(DatumGetInt64(bytes))); }

// Reserve first: dsm_create allocates the whole segment (posix_fallocate in /dev/shm), so a
// request over the limit must be refused before it, not after memory beyond the limit was taken.
dsm_segment *reserved_segment_create(Size bytes, bool *over_limit)
{
	*over_limit = !memory_reserve(bytes);
	if (*over_limit)
		return nullptr;
	dsm_segment *seg = nullptr;
	PG_TRY();
	{
		seg = dsm_create(bytes ? bytes : 1, DSM_CREATE_NULL_IF_MAXSEGMENTS);
		if (seg)
			on_dsm_detach(seg, release_reservation, Int64GetDatum(int64(bytes)));
	}
	PG_CATCH();
	{
		memory_release(bytes);  // the segment, if any, goes with the resource owner's cleanup
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!seg)
		memory_release(bytes);
	return seg;
}

}  // namespace ruvector
