// The exact scan's TOAST pass: the distances of a table's out-of-line vectors, from one pass over
// its TOAST table in page order instead of one TOAST index lookup per row.
//
// A vector wider than about 2 kB (500 float dimensions) is stored out of line by default, in
// chunks of the table's TOAST table, and each row's value is fetched through the TOAST index: a
// btree descent and three or four chunk tuples on scattered pages per row. When a scan would
// fetch most of the values anyway, it reads the TOAST table's pages in order once, puts each
// value's chunks back together, computes its distance with the same kernel, and keeps it by the
// value's id. The heap scan then takes a row's distance from there when its TOAST pointer names
// a value the pass computed.
//
// Sound because a value id identifies one value among every tuple of the TOAST table: a new id
// is chosen unused among all of them, dead ones included (GetNewOidWithIndex with SnapshotAny),
// and the chunks of a row the scan's snapshot sees cannot be pruned while it runs. The pass reads
// chunks without looking at visibility; only values that visible rows point at are ever used.
// Anything unexpected leaves the value to the index lookup: chunks out of order, a value seen
// twice, a compressed value, other dimensions, or a table whose ids outgrow hash_mem.
#pragma once
#include "shmem/pg.hpp"
#include "worker/kernels/metric.hpp"

extern "C" {
#include "utils/rel.h"
}

namespace ruvector::scan {

class ToastDistances {
public:
	// The distance of one whole value (its 4-byte varlena header included) of `dims` dimensions.
	using DistanceFn = double (*)(const void *arg, const varlena *value);

	// Reads rel's TOAST table and computes the distance of every uncompressed value of the element
	// type with `dims` dimensions (of exactly the size such a value has). Null when rel has no TOAST
	// table or the ids would take more than max_bytes. Allocates in cxt.
	static ToastDistances *build(Relation rel, const kernels::ElementInfo &element, int64 dims, DistanceFn distance,
								 const void *arg, Size max_bytes, MemoryContext cxt);

	// The distance of a stored (not detoasted) datum, if the pass computed it.
	bool lookup(const varlena *stored, double *distance) const;

	int64 values() const { return computed_; }
	BlockNumber pages() const { return pages_; }

private:
	struct Entry {
		Oid id;        // InvalidOid: empty
		uint32 state;  // kPending, kDone or kAmbiguous
		double distance;
	};
	Entry *find(Oid id) const;
	Entry *add(Oid id);  // null when the table would outgrow max_bytes_
	bool grow();

	Oid toastrelid_ = InvalidOid;
	Size value_bytes_ = 0;
	Entry *entries_ = nullptr;
	uint32 mask_ = 0;
	uint32 used_ = 0;
	Size max_bytes_ = 0;
	MemoryContext cxt_ = nullptr;
	int64 computed_ = 0;
	BlockNumber pages_ = 0;
};

// Whether a scan that has fetched `fetched` out-of-line values in `pages_done` (a fraction at a
// page's row) of `pages` heap
// pages should read the TOAST table of `toast_pages` pages in order instead.
bool toast_pass_pays(uint64 fetched, double pages_done, BlockNumber pages, BlockNumber toast_pages);

}  // namespace ruvector::scan
