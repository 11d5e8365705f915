// The ruvector worker's part in index maintenance: every ruvector.maintenance_naptime it starts a
// round, in which every database gets one maintenance process (extension/maintenance/
// maintenance.hpp), at most kMaxRunning at a time: the processes take background worker slots,
// which parallel queries need too. The worker itself reads only pg_database (a shared catalog, as
// the autovacuum launcher does); the maintenance processes connect to the databases and read indexes.
#include "worker/maintenance_launcher.hpp"
#include "extension/maintenance/health.hpp"
#include "extension/maintenance/maintenance.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace ruvector {
namespace {

constexpr int kMaxTracked = 256;  // databases per round (and processes we remember)
constexpr int kMaxRunning = 2;    // maintenance processes at once

struct Launched {
	Oid database;
	BackgroundWorkerHandle *handle;
};
Launched launched[kMaxTracked];
int launched_count = 0;
// The databases of the current round still waiting for their process, in pg_database order.
Oid pending[kMaxTracked];
int pending_count = 0;
TimestampTz next_round = 0;

// Forget processes that have exited; whether `database` still has one running.
bool reap(Oid database)
{
	bool running = false;
	for (int i = 0; i < launched_count;) {
		pid_t pid;
		BgwHandleStatus st = GetBackgroundWorkerPid(launched[i].handle, &pid);
		if (st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED) {
			running |= launched[i].database == database;
			i++;
			continue;
		}
		pfree(launched[i].handle);
		launched[i] = launched[--launched_count];
	}
	return running;
}

// Databases a maintenance process can connect to, as the autovacuum launcher lists them.
int list_databases(Oid *out, int max)
{
	int n = 0;
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	Relation rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
	HeapTuple tup;
	while (n < max && (tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
		auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
		if (!db->datallowconn || db->datistemplate || db->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
		out[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return n;
}

}  // namespace

void maintenance_launcher_tick(MemoryContext cxt)
{
	if (!maintenance::auto_maintain_enabled || RecoveryInProgress()) {
		next_round = 0;
		pending_count = 0;
		return;
	}
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz after_naptime = TimestampTzPlusMilliseconds(now, int64(maintenance::maintenance_naptime_s) * 1000);
	// The first round one naptime after the start (or after auto_maintain was turned on), and no
	// later than one (new) naptime from now when ruvector.maintenance_naptime was lowered.
	if (next_round == 0 || next_round > after_naptime)
		next_round = after_naptime;
	if (pending_count == 0) {
		if (now < next_round)
			return;
		next_round = after_naptime;
		pending_count = list_databases(pending, kMaxTracked);
	}
	// Start the round's next databases while fewer than kMaxRunning processes run; the rest wait
	// for a later tick (a second or so). Every database gets its turn in each round, whatever the
	// earlier ones cost.
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int i = 0;
	while (i < pending_count) {
		if (reap(pending[i])) {  // still busy from the last round: its turn comes at the next one
			pending[i] = pending[--pending_count];
			continue;
		}
		if (launched_count >= kMaxRunning)
			break;
		maintenance::MaintenanceJob job{pending[i], InvalidOid, 0, 0, 0, 0, 0, 0};
		BackgroundWorkerHandle *handle;
		if (!maintenance::start_maintenance_process(job, MyProcPid, &handle)) {
			ereport(DEBUG1, (errmsg("ruvector maintenance: no background worker slot for database %u", pending[i])));
			break;  // no free slot: try again at the next tick
		}
		launched[launched_count++] = Launched{pending[i], handle};
		// Keep the order: later databases move up.
		memmove(&pending[i], &pending[i + 1], sizeof(Oid) * Size(pending_count - i - 1));
		pending_count--;
	}
	MemoryContextSwitchTo(old);
}

}  // namespace ruvector
