// What both vector index access methods (ruivfflat, ruhnsw) need from an index relation: its
// metric table entry (from the opclass support function or a stored code), its dimensions, and
// its values as floats, prepared for the metric.
#pragma once
#include "extension/types/vector.hpp"
#include "worker/kernels/metric.hpp"

extern "C" {
#include "utils/rel.h"
}

namespace ruvector {

// The metric table entry of an index: from its opclass support function 1 (which returns
// MetricInfo::code(): element type and metric), or from a code stored in its meta page
// (validated: an unknown code is a corrupted index).
const kernels::MetricInfo &index_metric(Relation index);
const kernels::MetricInfo &stored_metric(Relation index, int32 code);
int index_dimensions(Relation index);   // from the column's typmod (-1 when none)

// An indexed value (or a query) of the metric's element type as floats, exactly (every half is a
// float, every bit 0 or 1), read through the element type's value header; errors when it does not
// have `dim` dimensions (pgvector's messages: "expected %d dimensions" for rows, "different
// <type> dimensions" or "different bit lengths" for queries).
void value_floats(const kernels::MetricInfo &metric, Datum value, int dim, float *out, bool query);

// The query/stored form of a vector for this metric, in float: normalised where the metric says
// so (cosine indexes store unit vectors). Returns false for a zero vector there (not indexable).
// Rows are stored, and queries compared, as metric.element().from_float of this form.
bool prepare_vector(const kernels::MetricInfo &metric, const float *in, int dim, float *out);

// An index for a statistics function, opened with AccessShareLock: one of the caller's kind
// (`is_kind`, named `am_name` in the 42809 error), whose table the caller may SELECT from (42501),
// and valid (55000 with a REINDEX hint after an unfinished CREATE INDEX CONCURRENTLY).
Relation open_index_for_stats(Oid relid, bool (*is_kind)(Relation), const char *am_name);

// A build's kept rows are tens or hundreds of MB written once, in order: on 4 kB pages, the kernel
// zeroing each page at its first touch was a quarter of a 1M-row ruivfflat build. Transparent huge
// pages (advice only: the kernel may decline) fault 2 MB at a time. palloc's huge chunks are
// private mmaps; advise before the memory is first written.
void advise_huge_pages(void *p, Size bytes);

// A random stamp for a new build's meta page (never 0, "absent" in the shared store): tells one
// build of an index from another.
uint64 new_build_stamp();

// A table's cumulative statistics counters (pg_stat_all_tables), each plus 1 (0: unknown, no
// statistics yet). A build records them in its meta page, so the maintenance code can tell what
// happened to the table since: rows inserted, rows removed from the index's view (deleted, or
// updated other than HOT: the index got a new entry and the old one dies), and every change
// (inserted, updated or deleted), by which recall curves and estimates are dated.
struct TableCounters {
	uint64 inserts;
	uint64 removals;
	uint64 changes;
};
TableCounters table_counters(Oid heap);
inline uint64 table_changes(Oid heap) { return table_counters(heap).changes; }
// Counter now minus counter then (both from table_counters); -1 when either is unknown or the
// statistics were reset since.
inline int64 counted_since(uint64 now, uint64 then) { return now > 0 && then > 0 && now >= then ? int64(now - then) : -1; }

}  // namespace ruvector
