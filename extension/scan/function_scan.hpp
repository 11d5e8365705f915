// Streamed function scan: a CustomScan that replaces the Function Scan of ruvector's row-per-node
// set-returning functions in FROM (ruvector_gnn_forward, ruvector_message_pass).
//
// PostgreSQL's Function Scan first copies every row a function returns into a tuplestore, which
// goes to a temporary file past work_mem (a 100k x 128 forward pass is 51 MB), and only then
// returns the first row. These functions already hold their whole result in the worker's reply
// (shared memory), so this scan calls them row by row (value-per-call) and hands each row up as
// it comes: nothing is copied twice and nothing spills.
//
// It takes over a FROM item only when that is equivalent: one function (no ROWS FROM of several,
// no WITH ORDINALITY), no LATERAL references, no whole-row reference to the item. A rescan calls
// the function again (the planner costs a rescan as a new call, and adds a Material node where
// that is cheaper). `ruvector.enable_function_scan` (default on) switches it off.
#pragma once
#include "shmem/pg.hpp"

namespace ruvector::scan {

extern bool enable_function_scan;

inline constexpr const char *kFunctionScanName = "ruvector function scan";

// Registration, from _PG_init.
void define_function_scan_gucs();
void install_function_scan();

}  // namespace ruvector::scan
