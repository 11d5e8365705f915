// The shared store: a directory of immutable blobs in the worker's DSA area, keyed by
// (database, object, kind). The worker is the only writer: it builds a new version off to the
// side and swaps it in under the store lock, then frees the old one. Backends copy a version out
// under the shared lock and cache it by version number, so they never hold DSA memory that the
// worker might free. Everything here is a cache: a crash restart empties it, and users of the
// store (index centroids, graphs) rebuild their entries from durable data on first use.
#pragma once
#include "shmem/codec/protocol.hpp"
#include "shmem/control.hpp"

namespace ruvector {

inline constexpr int kStoreCapacity = 4096;

// What the store holds, by key.kind (and what key.object then names).
inline constexpr uint32 kStoreKindCentroids = 1;  // a ruivfflat index's centroids (the index oid)
inline constexpr uint32 kStoreKindGraph = 2;      // a named graph's CSR (its graph_id)
// A backend's scratch entry: a statement's input that several of its requests share (the vectors
// of a graph build), keyed by the backend's slot (object = slot index). It lives only as long as
// the statement: the backend flags its slot (RvSlot::drop_scratch) on every exit path and the
// worker drops it.
inline constexpr uint32 kStoreKindScratch = 3;

struct RvStoreEntry {
	proto::StoreKey key;
	bool in_use;
	dsa_pointer data;
	uint64 bytes;
	uint64 version;
	uint64 tag;
	TimestampTz published_at;
};

struct RvStore {
	LWLock *lock;
	uint64 next_version;
	RvStoreEntry entries[kStoreCapacity];
};

extern RvStore *rv_store;

Size store_shmem_size();
void store_shmem_startup();

// Worker side (main thread only). Publishing takes ownership of `data` (freed on replacement or
// drop through the worker's accounting callback).
uint64 store_publish(dsa_area *area, const proto::StoreKey &key, uint64 tag, dsa_pointer data, uint64 bytes,
                     void (*free_fn)(dsa_pointer, uint64));
bool store_drop(const proto::StoreKey &key, void (*free_fn)(dsa_pointer, uint64));
// Drop the entries of `kind` for `object` in every database; returns how many there were.
int store_drop_object(uint32 object, uint32 kind, void (*free_fn)(dsa_pointer, uint64));

// Backend side: this session's attachment to the worker's DSA area.
dsa_area *backend_dsa_area();
// The current version of `key`, or 0 when absent. Cheap: one shared lock.
uint64 store_current_version(const proto::StoreKey &key, uint64 *tag = nullptr);
// The keys of `database`'s entries (at most max) into keys; returns how many.
int store_keys_of_database(Oid database, proto::StoreKey *keys, int max);
// A palloc'd copy of the current blob, or nullptr. *version / *tag / *bytes describe it.
void *store_copy_out(const proto::StoreKey &key, uint64 *version, uint64 *tag, uint64 *bytes);
// A palloc'd copy of the first `want` bytes of the current blob (e.g. a header), or nullptr.
void *store_copy_prefix(const proto::StoreKey &key, Size want, uint64 *tag, uint64 *bytes, TimestampTz *published);
// Worker side (main thread): the current blob's address (and its dsa_pointer in *dp, if given).
// Only the worker changes the store, so the address stays valid until the worker's main thread
// publishes or drops that key, and frees the old blob through its free_fn.
const void *store_worker_address(dsa_area *area, const proto::StoreKey &key, uint64 *tag, uint64 *bytes,
                                 dsa_pointer *dp = nullptr);

}  // namespace ruvector
