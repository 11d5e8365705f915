// CALL ruvector_index_maintain(index regclass): check an index now and, when it is degraded and a
// rebuild would help, rebuild it online and wait for it.
//
// A procedure, not a function: the rebuild is a REINDEX INDEX CONCURRENTLY, which waits for every
// transaction with an older snapshot, the caller's included. A function cannot end its caller's
// transaction; a procedure called outside a transaction block can commit it (SPI_commit), and then
// waits holding no snapshot and no lock while the maintenance process rebuilds the index.
#include "extension/index_support.hpp"
#include "extension/maintenance/health.hpp"
#include "extension/maintenance/maintenance.hpp"
#include "shmem/pg.hpp"

extern "C" {
#include "access/relation.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
}

using namespace ruvector;
using namespace ruvector::maintenance;

namespace {

bool is_vector_index(Relation rel) { return is_maintained_kind(rel); }

// Start the maintenance process for one index and wait for it to end; a cancel of the caller
// stops it too (its REINDEX aborts and leaves an invalid copy for the next round to drop).
void rebuild_in_maintenance_process(Oid index_oid)
{
	MaintenanceJob job{MyDatabaseId, index_oid, 0, current_thresholds()};
	BackgroundWorkerHandle *handle = nullptr;
	if (!start_maintenance_process(job, MyProcPid, &handle))
		ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						errmsg("could not start a ruvector maintenance process"),
						errhint("All max_worker_processes slots are in use; retry, or raise max_worker_processes.")));
	pid_t pid;
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_POSTMASTER_DIED)
		ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN), errmsg("the postmaster died")));
	PG_TRY();
	{
		WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

}  // namespace

RV_FUNCTION(ruvector_index_maintain)
{
	auto *call = fcinfo->context && IsA(fcinfo->context, CallContext) ? castNode(CallContext, fcinfo->context) : nullptr;
	if (!call || call->atomic)
		ereport(ERROR, (errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
						errmsg("ruvector_index_maintain cannot run inside a transaction block"),
						errdetail("A rebuild waits for every older transaction to end, as REINDEX CONCURRENTLY does."),
						errhint("CALL it on its own, outside BEGIN ... COMMIT.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("index must not be null")));
	Oid index_oid = PG_GETARG_OID(0);

	Relation index = open_index_for_stats(index_oid, is_vector_index, "ruivfflat or ruhnsw");
	// The rebuild runs as the owner: only the owner (or a superuser) may ask for it, as for REINDEX.
	if (!pg_class_ownercheck(index_oid, GetUserId()))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of index %s", RelationGetRelationName(index))));
	Health before = index_health(index);
	// Under ruvector.maintenance_min_recall a check estimates the recall too (the caller's
	// privileges; the maintenance process estimates again, as the owner, before it rebuilds).
	if (recall_estimate_wanted(before) && !recall_unmeasurable(index))
		add_recall(index, before, recall_sample_setting);
	Oid namespace_oid = RelationGetNamespace(index);
	char name[NAMEDATALEN];
	strlcpy(name, RelationGetRelationName(index), sizeof name);
	relation_close(index, AccessShareLock);

	char figures[512];
	describe_figures(before, figures, sizeof figures);
	if (before.trigger == Degradation::none) {
		ereport(NOTICE, (errmsg("index \"%s\" is healthy: %s", name, before.reason), errdetail("%s", figures)));
		PG_RETURN_VOID();
	}
	if (!before.rebuild_would_help) {
		ereport(NOTICE, (errmsg("index \"%s\" is degraded, but a rebuild would not improve it: skipped", name),
						 errdetail("%s; %s", before.reason, figures)));
		PG_RETURN_VOID();
	}

	// End the caller's transaction: the rebuild waits for every older snapshot.
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_commit();
	rebuild_in_maintenance_process(index_oid);
	SPI_finish();

	AcceptInvalidationMessages();
	Oid rebuilt = get_relname_relid(name, namespace_oid);
	if (!OidIsValid(rebuilt) || rebuilt == index_oid)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("the rebuild of index \"%s\" did not finish", name),
						errdetail("It was degraded: %s.", before.reason),
						errhint("The server log has the maintenance process's messages.")));
	Relation after_rel = relation_open(rebuilt, AccessShareLock);
	Health after = index_health(after_rel);
	relation_close(after_rel, AccessShareLock);
	char after_figures[512];
	describe_figures(after, after_figures, sizeof after_figures);
	ereport(NOTICE, (errmsg("index \"%s\" rebuilt: it was degraded: %s", name, before.reason),
					 errdetail("before: %s; after: %s", figures, after_figures)));
	PG_RETURN_VOID();
}
