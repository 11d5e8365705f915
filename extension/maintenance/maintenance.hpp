// The maintenance process: a dynamic background worker connected to one database that checks
// vector indexes (health.hpp) and rebuilds degraded ruivfflat and ruhnsw indexes online with
// REINDEX INDEX CONCURRENTLY, as the index's owner. The ruvector worker starts one per database
// every ruvector.maintenance_naptime (worker/maintenance_launcher.cpp); ruvector_index_maintain
// starts one for a single index and waits for it.
//
// REINDEX CONCURRENTLY commits several transactions of its own, so it cannot run inside a
// function's transaction nor through SPI ("cannot be executed from a function"). The maintenance
// process runs it as a top-level statement of its own, as autovacuum runs VACUUM.
#pragma once
extern "C" {
#include "postgres.h"
#include "postmaster/bgworker.h"
}
#include "extension/maintenance/health.hpp"

namespace ruvector::maintenance {

// What a maintenance process is asked to do (in bgw_extra).
struct MaintenanceJob {
	Oid database;
	Oid index;      // InvalidOid: every ruivfflat and ruhnsw index whose auto_maintain option is on
	uint32 flags;
	// One index (ruvector_index_maintain): the caller's thresholds (ruvector.maintenance_*), which
	// the check applies instead of the database's.
	Thresholds thresholds;
};

// Register a maintenance process for `job`, notifying `notify_pid` of its start and end.
// Returns false when no background worker slot is free (max_worker_processes).
bool start_maintenance_process(const MaintenanceJob &job, pid_t notify_pid, BackgroundWorkerHandle **handle);

}  // namespace ruvector::maintenance

extern "C" PGDLLEXPORT void ruvector_maintenance_main(Datum arg);
