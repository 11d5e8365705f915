// ruvector_gnn_forward_into's bulk path: a forward pass's rows written straight into the target
// table the way COPY FROM writes them (table_multi_insert in batches through a BulkInsertState,
// NOT NULL and CHECK constraints per row, index entries with their unique and exclusion checks),
// instead of through INSERT ... SELECT and the executor's row-at-a-time ModifyTable.
//
// It runs only when that is equivalent to the INSERT: a plain table (not partitioned, not a
// partition, not foreign, not a view), no INSERT rules, no INSERT triggers of any kind (so no
// foreign keys and no deferrable unique constraints, which are triggers), no row-level security
// for the caller, the two columns exactly bigint and vector (with the right dimensions), the
// other columns without stored generated expressions, domain types or volatile defaults, and a
// read-write, non-parallel transaction. The caller's INSERT privilege on the two columns is checked
// as the executor checks it. Otherwise the INSERT path runs (and says why at DEBUG1).
#pragma once
#include "extension/graph/gnn_rows.hpp"

extern "C" {
#include "access/attnum.h"
}

namespace ruvector {

// Default on; off, every call takes the INSERT path.
extern bool gnn_into_bulk;
void define_gnn_into_gucs();

// Writes r's rows into `target` (id_att <- ids, emb_att <- embeddings) and sets *inserted, or
// returns false, having written nothing, when the target needs the INSERT path.
bool gnn_into_bulk_insert(Oid target, AttrNumber id_att, AttrNumber emb_att, const ForwardResult &r, int64 *inserted);

}  // namespace ruvector
