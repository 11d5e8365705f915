// EXPLAIN ANALYZE details of vector index scans: ruhnsw's ef_search and elements visited,
// ruivfflat's probes, lists and rows scanned.
//
// PostgreSQL 15 has no hook through which an index access method adds lines to an EXPLAIN node;
// explain_get_index_name_hook is the one place EXPLAIN asks us anything about an index scan. So
// while a scan is open (EXPLAIN ANALYZE prints its plan before ExecutorEnd closes the scans) the
// index name carries the scan's figures: `Index Scan using "items_idx: ef_search 40, 812 elements
// visited" on items` (EXPLAIN quotes it as an identifier). Plain EXPLAIN opens no scan and prints
// the name alone, as pgvector does.
#pragma once
#include "shmem/pg.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relscan.h"
#include "lib/stringinfo.h"
}

namespace ruvector {

// One open scan, kept in the scan's memory (the executor's query context): registering it also
// arranges that it unregisters itself when that memory goes, so an aborted query (no endscan)
// never leaves a dangling entry.
struct ResetHook;  // index_explain.cpp

struct ExplainedScan {
	IndexScanDesc scan;
	void (*describe)(IndexScanDesc scan, StringInfo out);
	ExplainedScan *prev, *next;
	bool linked;
	// The reset callback of the scan's memory context, allocated there: it outlives this struct,
	// which endscan frees (pointing back here until then).
	ResetHook *on_reset;
};

void explain_register_scan(ExplainedScan *e, IndexScanDesc scan, void (*describe)(IndexScanDesc, StringInfo));
void explain_unregister_scan(ExplainedScan *e);
void install_index_explain_hook();

}  // namespace ruvector
