// The ruvector worker's part in index maintenance: every ruvector.maintenance_naptime it starts one
// maintenance process per database (extension/maintenance/maintenance.hpp) that is not still
// running from the last round. The worker itself reads only pg_database (a shared catalog, as the
// autovacuum launcher does); the maintenance processes connect to the databases and read indexes.
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

constexpr int kMaxTracked = 256;  // databases whose last maintenance process we remember

struct Launched {
	Oid database;
	BackgroundWorkerHandle *handle;
};
Launched launched[kMaxTracked];
int launched_count = 0;
TimestampTz next_round = 0;

bool still_running(Oid database)
{
	for (int i = 0; i < launched_count; i++) {
		if (launched[i].database != database)
			continue;
		pid_t pid;
		BgwHandleStatus st = GetBackgroundWorkerPid(launched[i].handle, &pid);
		if (st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED)
			return true;
		pfree(launched[i].handle);
		launched[i] = launched[--launched_count];
		return false;
	}
	return false;
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
		return;
	}
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz after_naptime = TimestampTzPlusMilliseconds(now, int64(maintenance::maintenance_naptime_s) * 1000);
	// The first round one naptime after the start (or after auto_maintain was turned on), and no
	// later than one (new) naptime from now when ruvector.maintenance_naptime was lowered.
	if (next_round == 0 || next_round > after_naptime)
		next_round = after_naptime;
	if (now < next_round)
		return;
	next_round = after_naptime;

	Oid databases[kMaxTracked];
	int n = list_databases(databases, kMaxTracked);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	for (int i = 0; i < n && launched_count < kMaxTracked; i++) {
		if (still_running(databases[i]))
			continue;
		maintenance::MaintenanceJob job{databases[i], InvalidOid, 0};
		BackgroundWorkerHandle *handle;
		if (!maintenance::start_maintenance_process(job, MyProcPid, &handle)) {
			// No free slot: the rest try again in a few seconds.
			next_round = TimestampTzPlusMilliseconds(now, 5000);
			ereport(DEBUG1, (errmsg("ruvector maintenance: no background worker slot for database %u", databases[i])));
			break;
		}
		launched[launched_count++] = Launched{databases[i], handle};
	}
	MemoryContextSwitchTo(old);
}

}  // namespace ruvector
