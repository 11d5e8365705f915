#include "shmem/store.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
}

namespace ruvector {

RvStore *rv_store = nullptr;

Size store_shmem_size() { return sizeof(RvStore); }

void store_shmem_startup()
{
	bool found;
	rv_store = nullptr;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	auto *store = static_cast<RvStore *>(ShmemInitStruct("ruvector store", store_shmem_size(), &found));
	if (!found) {
		memset(static_cast<void *>(store), 0, sizeof *store);
		store->lock = &GetNamedLWLockTranche("ruvector")[0].lock;
		store->next_version = 1;
	}
	rv_store = store;
	LWLockRelease(AddinShmemInitLock);
}

static RvStoreEntry *find_entry(const proto::StoreKey &key)
{
	for (auto &e : rv_store->entries)
		if (e.in_use && e.key == key)
			return &e;
	return nullptr;
}

uint64 store_publish(dsa_area *, const proto::StoreKey &key, uint64 tag, dsa_pointer data, uint64 bytes,
                     void (*free_fn)(dsa_pointer, uint64))
{
	dsa_pointer old = InvalidDsaPointer;
	uint64 old_bytes = 0;
	uint64 version;

	LWLockAcquire(rv_store->lock, LW_EXCLUSIVE);
	RvStoreEntry *e = find_entry(key);
	if (!e) {
		for (auto &candidate : rv_store->entries)
			if (!candidate.in_use) {
				e = &candidate;
				break;
			}
	}
	if (!e) {
		LWLockRelease(rv_store->lock);
		free_fn(data, bytes);
		ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						errmsg("the ruvector shared store is full (%d entries)", kStoreCapacity)));
	}
	if (e->in_use) {
		old = e->data;
		old_bytes = e->bytes;
	}
	e->key = key;
	e->data = data;
	e->bytes = bytes;
	e->tag = tag;
	e->version = version = rv_store->next_version++;
	e->published_at = GetCurrentTimestamp();
	e->in_use = true;
	LWLockRelease(rv_store->lock);
	// Readers copy under the shared lock, so nobody can still be reading the old version.
	if (DsaPointerIsValid(old))
		free_fn(old, old_bytes);
	return version;
}

bool store_drop(const proto::StoreKey &key, void (*free_fn)(dsa_pointer, uint64))
{
	LWLockAcquire(rv_store->lock, LW_EXCLUSIVE);
	RvStoreEntry *e = find_entry(key);
	dsa_pointer old = e ? e->data : InvalidDsaPointer;
	uint64 old_bytes = e ? e->bytes : 0;
	if (e)
		e->in_use = false;
	LWLockRelease(rv_store->lock);
	if (DsaPointerIsValid(old))
		free_fn(old, old_bytes);
	return e != nullptr;
}

int store_drop_object(uint32 object, uint32 kind, void (*free_fn)(dsa_pointer, uint64))
{
	int dropped = 0;
	for (;;) {
		proto::StoreKey key;
		bool found = false;
		LWLockAcquire(rv_store->lock, LW_SHARED);
		for (auto &e : rv_store->entries)
			if (e.in_use && e.key.object == object && e.key.kind == kind) {
				key = e.key;
				found = true;
				break;
			}
		LWLockRelease(rv_store->lock);
		if (!found)
			return dropped;
		dropped += store_drop(key, free_fn);
	}
}

dsa_area *backend_dsa_area()
{
	static dsa_area *area = nullptr;
	if (!area) {
		if (!rv_control || rv_control->area == DSM_HANDLE_INVALID)
			return nullptr;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		area = dsa_attach(rv_control->area);
		dsa_pin_mapping(area);
		MemoryContextSwitchTo(old);
	}
	return area;
}

uint64 store_current_version(const proto::StoreKey &key, uint64 *tag)
{
	if (!rv_store)
		return 0;
	LWLockAcquire(rv_store->lock, LW_SHARED);
	RvStoreEntry *e = find_entry(key);
	uint64 version = e ? e->version : 0;
	if (e && tag)
		*tag = e->tag;
	LWLockRelease(rv_store->lock);
	return version;
}

int store_keys_of_database(Oid database, proto::StoreKey *keys, int max)
{
	if (!rv_store)
		return 0;
	int n = 0;
	LWLockAcquire(rv_store->lock, LW_SHARED);
	for (auto &e : rv_store->entries)
		if (e.in_use && e.key.database == database && n < max)
			keys[n++] = e.key;
	LWLockRelease(rv_store->lock);
	return n;
}

void *store_copy_out(const proto::StoreKey &key, uint64 *version, uint64 *tag, uint64 *bytes)
{
	dsa_area *area = backend_dsa_area();
	if (!area || !rv_store)
		return nullptr;
	void *copy = nullptr;
	LWLockAcquire(rv_store->lock, LW_SHARED);
	RvStoreEntry *e = find_entry(key);
	if (e) {
		*version = e->version;
		*tag = e->tag;
		*bytes = e->bytes;
		copy = palloc_extended(e->bytes ? e->bytes : 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (copy)
			memcpy(copy, dsa_get_address(area, e->data), e->bytes);
	}
	LWLockRelease(rv_store->lock);
	if (e && !copy)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory copying a ruvector store entry")));
	return copy;
}

// The first `want` bytes of the current blob (at most its size), or nullptr.
void *store_copy_prefix(const proto::StoreKey &key, Size want, uint64 *tag, uint64 *bytes, TimestampTz *published)
{
	dsa_area *area = backend_dsa_area();
	if (!area || !rv_store)
		return nullptr;
	void *copy = palloc(want ? want : 1);
	bool found = false;
	LWLockAcquire(rv_store->lock, LW_SHARED);
	if (RvStoreEntry *e = find_entry(key)) {
		found = true;
		*tag = e->tag;
		*bytes = e->bytes;
		if (published)
			*published = e->published_at;
		memcpy(copy, dsa_get_address(area, e->data), Min(want, e->bytes));
	}
	LWLockRelease(rv_store->lock);
	if (!found) {
		pfree(copy);
		return nullptr;
	}
	return copy;
}

const void *store_worker_address(dsa_area *area, const proto::StoreKey &key, uint64 *tag, uint64 *bytes, dsa_pointer *dp)
{
	RvStoreEntry *e = find_entry(key);
	if (!e)
		return nullptr;
	*tag = e->tag;
	*bytes = e->bytes;
	if (dp)
		*dp = e->data;
	return dsa_get_address(area, e->data);
}

}  // namespace ruvector
