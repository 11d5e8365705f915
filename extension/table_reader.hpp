// Reading columns of a user table in the calling backend, with the caller's privileges, row-level
// security and snapshot. The worker never reads user tables.
//
// One reader, scan_table(): a direct heap scan under the active snapshot (no planner, no executor,
// no per-row copies), after the checks the executor makes for SELECT of those columns. When the
// table cannot be read that way for the caller (row-level security applies to the caller, it has
// inheritance children or partitions, it is a view or a foreign table), it returns false and the
// caller reads it through SPI, which applies all of that.
#pragma once
#include "extension/types/vector.hpp"

#include <span>

extern "C" {
#include "access/attnum.h"
}

namespace ruvector {

// The schema ruvector is installed in.
Oid extension_schema();

// The oid of ruvector's `vector` type (cached per backend).
Oid vector_type_oid();

// Check that `column` of `relid` exists and is a vector column; returns its attribute number.
AttrNumber check_vector_column(Oid relid, const char *column);

// Who reads: the caller (privileges and RLS as for SELECT of the columns), or an index build on
// the table (CREATE INDEX has checked ownership; the table's own rows, as table_index_build_scan).
enum class ScanAs { caller, index_build };

// One row of a scan: the columns asked for, in that order.
using ScanRowFn = void (*)(void *arg, const Datum *values, const bool *nulls);

// Scan `atts` of every row of `relid` visible to the active snapshot, calling row(arg, ...) for
// each. As the caller: raises 42501 without SELECT on the table or on each column (as the
// executor), and returns false, having read nothing, when the table must be read through SQL
// instead (see above). As an index build: always reads.
bool scan_table(Oid relid, std::span<const AttrNumber> atts, ScanAs as, ScanRowFn row, void *arg);

// The same with a callable: row(values, nulls).
template <class Fn>
bool scan_table(Oid relid, std::span<const AttrNumber> atts, ScanAs as, Fn &fn)
{
	return scan_table(relid, atts, as, [](void *f, const Datum *v, const bool *n) { (*static_cast<Fn *>(f))(v, n); }, &fn);
}

// All non-NULL vectors of the column, row-major in one palloc'd (huge) array.
struct VectorRows {
	float *data;
	int64 n;
	int dim;
	int64 nulls_skipped;
};
VectorRows read_vector_column(Oid relid, const char *column);

// "schema"."table" for relid, quoted.
char *qualified_relation_name(Oid relid);

}  // namespace ruvector
