// The exact scan's TOAST pass (see exact_toast.hpp).
#include "extension/scan/exact_toast.hpp"
#include "extension/recent_buffers.hpp"

extern "C" {
#include "access/detoast.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/toast_internals.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
}

namespace ruvector::scan {

namespace {

enum : uint32 { kPending = 1, kDone = 2, kAmbiguous = 3 };

inline uint32 hash_id(Oid id) { return uint32(id) * 2654435761u; }

// Pin a TOAST page (through the recent-buffer map: a buffer-table lookup per page was a fifth of
// the pass) and pull its bytes towards the cache while the previous page is read.
Buffer pin_and_prefetch(Relation rel, RecentBuffers *recent, BlockNumber blk, BufferAccessStrategy strategy)
{
	Buffer b = recent->read(rel, blk, strategy);
	prefetch_page(b);
	return b;
}

}  // namespace

bool toast_pass_pays(uint64 fetched, double pages_done, BlockNumber pages, BlockNumber toast_pages)
{
	// An index fetch of a value costs about as much as reading four TOAST pages in order: a
	// btree descent and its chunks on scattered pages, against a page whose four chunks are read
	// in place (measured at 100k x 1536, 100k TOAST pages: about 7 us a value by index, 1.5 us a
	// page in order).
	constexpr double kFetchInPages = 4.0;
	if (pages_done <= 0)
		return false;
	double projected = double(fetched) * double(pages) / pages_done;
	return projected * kFetchInPages >= double(toast_pages);
}

ToastDistances::Entry *ToastDistances::find(Oid id) const
{
	for (uint32 i = hash_id(id) & mask_;; i = (i + 1) & mask_) {
		if (entries_[i].id == id)
			return &entries_[i];
		if (entries_[i].id == InvalidOid)
			return nullptr;
	}
}

bool ToastDistances::grow()
{
	uint32 cap = (mask_ + 1) * 2;
	if (Size(cap) * sizeof(Entry) > max_bytes_)
		return false;
	Entry *old = entries_;
	uint32 old_cap = mask_ + 1;
	entries_ = static_cast<Entry *>(MemoryContextAllocHuge(cxt_, Size(cap) * sizeof(Entry)));
	memset(entries_, 0, Size(cap) * sizeof(Entry));
	mask_ = cap - 1;
	for (uint32 i = 0; i < old_cap; i++) {
		if (old[i].id == InvalidOid)
			continue;
		uint32 j = hash_id(old[i].id) & mask_;
		while (entries_[j].id != InvalidOid)
			j = (j + 1) & mask_;
		entries_[j] = old[i];
	}
	pfree(old);
	return true;
}

ToastDistances::Entry *ToastDistances::add(Oid id)
{
	if (Size(used_ + 1) * 2 > Size(mask_) + 1 && !grow())
		return nullptr;
	uint32 i = hash_id(id) & mask_;
	while (entries_[i].id != InvalidOid)
		i = (i + 1) & mask_;
	entries_[i] = Entry{id, kPending, 0};
	used_++;
	return &entries_[i];
}

ToastDistances *ToastDistances::build(Relation rel, const kernels::ElementInfo &element, int64 dims,
									  DistanceFn distance, const void *arg, Size max_bytes, MemoryContext cxt)
{
	Oid toastrelid = rel->rd_rel->reltoastrelid;
	if (!OidIsValid(toastrelid) || element.variable_size())
		return nullptr;
	MemoryContext old = MemoryContextSwitchTo(cxt);
	auto *t = static_cast<ToastDistances *>(palloc0(sizeof(ToastDistances)));
	t->toastrelid_ = toastrelid;
	t->value_bytes_ = element.value_header + element.row_bytes(Size(dims));
	t->max_bytes_ = max_bytes;
	t->cxt_ = cxt;
	t->mask_ = 1023;
	t->entries_ = static_cast<Entry *>(palloc0(sizeof(Entry) * (t->mask_ + 1)));
	// The value being put back together: its id, the chunk expected next, the bytes so far.
	Size raw_bytes = t->value_bytes_ - VARHDRSZ;
	auto *value = static_cast<varlena *>(palloc(t->value_bytes_));
	SET_VARSIZE(value, t->value_bytes_);
	char *raw = VARDATA(value);
	Entry *cur = nullptr;
	int32 next_seq = 0;
	Size have = 0;

	Relation toast = table_open(toastrelid, AccessShareLock);
	TupleDesc desc = RelationGetDescr(toast);
	BlockNumber nblocks = RelationGetNumberOfBlocks(toast);
	BufferAccessStrategy strategy = nblocks > BlockNumber(NBuffers / 4) ? GetAccessStrategy(BAS_BULKREAD) : nullptr;
	bool fits = true;
	RecentBuffers *recent = RecentBuffers::for_relation(toast);
	Buffer ahead = nblocks > 0 ? pin_and_prefetch(toast, recent, 0, strategy) : InvalidBuffer;
	for (BlockNumber blk = 0; blk < nblocks && fits; blk++) {
		CHECK_FOR_INTERRUPTS();
		Buffer buf = ahead;
		ahead = blk + 1 < nblocks ? pin_and_prefetch(toast, recent, blk + 1, strategy) : InvalidBuffer;
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		Page page = BufferGetPage(buf);
		OffsetNumber lines = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= lines; off++) {
			ItemId iid = PageGetItemId(page, off);
			if (!ItemIdIsNormal(iid))
				continue;
			// (chunk_id oid, chunk_seq int4, chunk_data bytea): read in place when no column is
			// null, as every chunk is written (the bytea starts 4-aligned after two int4s).
			auto *header = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, iid));
			Oid id;
			int32 seq;
			const varlena *chunk;
			if (!(header->t_infomask & HEAP_HASNULL) && HeapTupleHeaderGetNatts(header) == 3) {
				const char *at = reinterpret_cast<const char *>(header) + header->t_hoff;
				memcpy(&id, at, sizeof(Oid));
				memcpy(&seq, at + 4, sizeof(int32));
				chunk = reinterpret_cast<const varlena *>(at + 8);
			} else {
				HeapTupleData tuple;
				tuple.t_data = header;
				tuple.t_len = ItemIdGetLength(iid);
				Datum values[3];
				bool nulls[3];
				heap_deform_tuple(&tuple, desc, values, nulls);
				if (nulls[0] || nulls[1] || nulls[2])
					continue;
				id = DatumGetObjectId(values[0]);
				seq = DatumGetInt32(values[1]);
				chunk = reinterpret_cast<const varlena *>(DatumGetPointer(values[2]));
			}
			if (VARATT_IS_EXTERNAL(chunk) || VARATT_IS_COMPRESSED(chunk))
				continue;  // never so in a TOAST table: left alone
			const char *data = VARDATA_ANY(chunk);
			Size size = VARSIZE_ANY_EXHDR(chunk);
			Entry *e = t->find(id);
			if (seq == 0) {
				if (e) {  // a second copy of a value: neither is used
					e->state = kAmbiguous;
					if (e == cur)
						cur = nullptr;
					continue;
				}
				if (!(e = t->add(id))) {
					fits = false;
					break;
				}
				cur = nullptr;
				if (size > raw_bytes)
					continue;
				memcpy(raw, data, size);
				have = size;
				next_seq = 1;
				cur = e;
			} else if (e && e == cur && seq == next_seq && have + size <= raw_bytes) {
				memcpy(raw + have, data, size);
				have += size;
				next_seq++;
			} else {
				if (e && e->state == kDone)
					e->state = kAmbiguous;  // more chunks of a finished value
				if (e == cur)
					cur = nullptr;  // out of order: this value is left to the index
				continue;
			}
			// Of other dimensions (or another column's value): left alone from its first chunk.
			if (next_seq == 1 && have >= element.value_header - VARHDRSZ &&
				element.value_dims(reinterpret_cast<const std::byte *>(value)) != dims) {
				cur = nullptr;
				continue;
			}
			if (have == raw_bytes && element.value_dims(reinterpret_cast<const std::byte *>(value)) == dims) {
				cur->state = kDone;
				cur->distance = distance(arg, value);
				t->computed_++;
				cur = nullptr;
			}
		}
		UnlockReleaseBuffer(buf);
		t->pages_++;
	}
	if (BufferIsValid(ahead))
		ReleaseBuffer(ahead);
	if (strategy)
		FreeAccessStrategy(strategy);
	table_close(toast, AccessShareLock);
	pfree(value);
	MemoryContextSwitchTo(old);
	if (!fits) {
		pfree(t->entries_);
		pfree(t);
		return nullptr;
	}
	return t;
}

bool ToastDistances::lookup(const varlena *stored, double *distance) const
{
	if (!VARATT_IS_EXTERNAL_ONDISK(stored))
		return false;
	varatt_external pointer;
	VARATT_EXTERNAL_GET_POINTER(pointer, stored);
	if (pointer.va_toastrelid != toastrelid_ || VARATT_EXTERNAL_IS_COMPRESSED(pointer) ||
		Size(VARATT_EXTERNAL_GET_EXTSIZE(pointer)) + VARHDRSZ != value_bytes_)
		return false;
	const Entry *e = find(pointer.va_valueid);
	if (!e || e->state != kDone)
		return false;
	*distance = e->distance;
	return true;
}

}  // namespace ruvector::scan
