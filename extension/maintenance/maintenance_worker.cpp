// The maintenance process (maintenance.hpp): one dynamic background worker per round and database,
// or per ruvector_index_maintain call. It connects as the bootstrap superuser to read the catalogs,
// and runs each rebuild as the index's owner (SECURITY_RESTRICTED_OPERATION, as autovacuum runs
// VACUUM), so a rebuild can do no more than the owner's own REINDEX could.
//
// A round:
//  1. drops what an interrupted REINDEX CONCURRENTLY left behind: invalid vector indexes named
//     <name>_ccnew[N] or <name>_ccold[N] whose table no DDL is running on;
//  2. checks each index (health.hpp) and, when it is degraded and a rebuild would improve the
//     figure that made it so, runs REINDEX INDEX CONCURRENTLY and logs the figures before and after;
//     for an index under a target recall (ruivfflat or ruhnsw) without a recall curve, or whose
//     table changed by kRemeasureFraction since it was measured, measures the curve again.
// Errors end the process (a background worker has no error recovery); the transaction aborts and a
// half-built index is left invalid for the next round's step 1.
#include "extension/maintenance/maintenance.hpp"
#include "extension/maintenance/health.hpp"
#include "extension/hnsw/hnsw.hpp"
#include "extension/ivfflat/ivfflat.hpp"
#include "shmem/pg.hpp"

extern "C" {
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace ruvector::maintenance {

bool start_maintenance_process(const MaintenanceJob &job, pid_t notify_pid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker w;
	memset(&w, 0, sizeof w);
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;  // it writes: REINDEX
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "ruvector", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "ruvector_maintenance_main", BGW_MAXLEN);
	snprintf(w.bgw_name, BGW_MAXLEN, "ruvector maintenance (database %u)", job.database);
	strlcpy(w.bgw_type, "ruvector maintenance", BGW_MAXLEN);
	static_assert(sizeof(MaintenanceJob) <= BGW_EXTRALEN);
	memcpy(w.bgw_extra, &job, sizeof job);
	w.bgw_main_arg = ObjectIdGetDatum(job.database);
	w.bgw_notify_pid = notify_pid;
	return RegisterDynamicBackgroundWorker(&w, handle);
}

namespace {

// What one SPI query found, copied into TopMemoryContext (it outlives the transactions).
struct Target {
	Oid index;
	Oid heap;
	char *qualified_name;  // schema-qualified, quoted
};

struct Targets {
	Target *items = nullptr;
	int count = 0;
};

// Run a catalog query (no parameters) returning (index oid, heap oid, schema, name), in its own
// transaction.
Targets find_indexes(const char *query)
{
	Targets t;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(query, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "ruvector maintenance: catalog query failed");
	t.count = int(SPI_processed);
	t.items = static_cast<Target *>(MemoryContextAllocZero(TopMemoryContext, sizeof(Target) * Size(t.count + 1)));
	for (int i = 0; i < t.count; i++) {
		HeapTuple row = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		bool isnull;
		t.items[i].index = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		t.items[i].heap = DatumGetObjectId(SPI_getbinval(row, desc, 2, &isnull));
		char *schema = SPI_getvalue(row, desc, 3);
		char *name = SPI_getvalue(row, desc, 4);
		t.items[i].qualified_name = MemoryContextStrdup(TopMemoryContext, quote_qualified_identifier(schema, name));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return t;
}

// Run one utility statement as a top-level statement of its own (it may commit internally, as
// REINDEX CONCURRENTLY and DROP INDEX CONCURRENTLY do), as `role` when valid.
void run_top_level(const char *sql, Oid role)
{
	MemoryContext stmt_cxt = AllocSetContextCreate(TopMemoryContext, "ruvector maintenance statement",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext caller = CurrentMemoryContext;  // outside any transaction: not a transaction's
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, sql);
	// The statement's nodes and REINDEX's private context (a child of PortalContext) must outlive
	// the transactions it commits.
	MemoryContextSwitchTo(stmt_cxt);
	List *parsed = pg_parse_query(sql);
	if (list_length(parsed) != 1)
		elog(ERROR, "ruvector maintenance: expected one statement");
	RawStmt *raw = linitial_node(RawStmt, parsed);
	PlannedStmt *stmt = makeNode(PlannedStmt);
	stmt->commandType = CMD_UTILITY;
	stmt->canSetTag = true;
	stmt->utilityStmt = raw->stmt;
	stmt->stmt_location = raw->stmt_location;
	stmt->stmt_len = raw->stmt_len;
	// ProcessUtility allocates in the current context and frees at its end, after the
	// transactions REINDEX committed: stay in the statement's context, as autovacuum does.
	PortalContext = stmt_cxt;

	Oid save_user;
	int save_sec;
	GetUserIdAndSecContext(&save_user, &save_sec);
	if (OidIsValid(role))
		SetUserIdAndSecContext(role, save_sec | SECURITY_RESTRICTED_OPERATION);
	ProcessUtility(stmt, sql, false, PROCESS_UTILITY_TOPLEVEL, nullptr, nullptr, None_Receiver, nullptr);
	SetUserIdAndSecContext(save_user, save_sec);

	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	pgstat_report_activity(STATE_IDLE, nullptr);
	PortalContext = nullptr;
	MemoryContextDelete(stmt_cxt);
}

// A lock only maintenance processes take, per table: one rebuild at a time, and no second check
// deciding on an index the first is replacing. Session-level: it spans REINDEX's transactions.
LOCKTAG maintenance_lock(Oid heap)
{
	LOCKTAG tag;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, heap, 0, 0x5256);  // user advisory locks use field4 1 and 2
	return tag;
}

// 1. Leftovers of interrupted concurrent builds (the rebuild's own, or anyone's).
void drop_leftovers()
{
	Targets t = find_indexes(
		"SELECT c.oid, i.indrelid, n.nspname, c.relname FROM pg_catalog.pg_index i "
		"JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am a ON a.oid = c.relam "
		"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"WHERE NOT i.indisvalid AND a.amname IN ('ruivfflat', 'ivfflat', 'ruhnsw', 'hnsw') "
		"AND c.relpersistence <> 't' AND c.relname ~ '_cc(new|old)[0-9]*$'");
	for (int i = 0; i < t.count; i++) {
		CHECK_FOR_INTERRUPTS();
		// A concurrent build in progress holds ShareUpdateExclusiveLock on its table for its whole
		// run: only an index whose table nobody holds it on is a leftover.
		StartTransactionCommand();
		bool idle = ConditionalLockRelationOid(t.items[i].heap, ShareUpdateExclusiveLock);
		CommitTransactionCommand();
		if (!idle)
			continue;
		char *sql = psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", t.items[i].qualified_name);
		ereport(LOG, (errmsg("ruvector maintenance: dropping %s, left invalid by an interrupted concurrent build",
							 t.items[i].qualified_name)));
		run_top_level(sql, InvalidOid);
		pfree(sql);
	}
}

struct Checked {
	bool found = false;
	bool checked = false;  // health holds the index's figures
	bool busy = false;     // not checked: its table was locked by a VACUUM, ANALYZE or index build
	Health health;
	Oid owner = InvalidOid;
	Oid namespace_oid = InvalidOid;
	char name[NAMEDATALEN] = {};
};

// Whether check_index estimates the recall too (as the index's owner, and stores the estimate in
// the meta page): never, when recall_check_due says so, or whenever ruvector.maintenance_min_recall
// and maintenance_recall_sample are set and nothing else degraded the index.
enum class Estimate { never, if_due, always };

// Run fn as `role`, as autovacuum runs VACUUM as the table's owner.
template <typename Fn>
void as_role(Oid role, Fn &&fn)
{
	Oid save_user;
	int save_sec;
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(role, save_sec | SECURITY_RESTRICTED_OPERATION);
	fn();
	SetUserIdAndSecContext(save_user, save_sec);
}

void estimate_as_owner(Relation index, Oid owner, Health &h, Estimate estimate)
{
	bool due = estimate == Estimate::always ? recall_estimate_wanted(h) : estimate == Estimate::if_due && recall_check_due(h);
	if (!due)
		return;
	const char *name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index));
	as_role(owner, [&] {
		if (const char *why = recall_unmeasurable(index)) {
			ereport(DEBUG1, (errmsg("ruvector maintenance: not estimating the recall of index %s: %s", name, why)));
			return;
		}
		add_and_store_recall(index, h, recall_sample_setting);
	});
	if (h.estimated_recall >= 0)
		ereport(LOG, (errmsg("ruvector maintenance: estimated recall@10 of index %s: %.3f at %s %d (%d sample queries)",
							 name, h.estimated_recall, recall_setting_name(h), h.recall_at, h.recall_sample)));
}

// How check_index takes its table's ShareUpdateExclusiveLock: waiting for it, or skipping a busy
// table (as autovacuum does).
enum class TableLock { wait, skip_if_busy };

// The health of an index by OID, in a transaction of its own; found = false when it is gone, not
// valid, or not a ruivfflat or ruhnsw index.
// The table is held in ShareUpdateExclusiveLock while its index is checked: a VACUUM, ANALYZE or
// concurrent index build in progress would show half-done figures (a VACUUM frees a ruhnsw index's
// slots a page at a time).
// only_maintained: an index whose auto_maintain option is off is found, but not checked.
Checked check_index(Oid index_oid, Estimate estimate = Estimate::never, bool only_maintained = false,
					TableLock table_lock = TableLock::wait)
{
	Checked c;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_clear_snapshot();  // current table statistics
	// The table before the index, in the order VACUUM and REINDEX lock them.
	Oid heap = IndexGetRelation(index_oid, true);
	bool locked = OidIsValid(heap);
	if (locked && table_lock == TableLock::wait)
		LockRelationOid(heap, ShareUpdateExclusiveLock);
	else if (locked)
		locked = ConditionalLockRelationOid(heap, ShareUpdateExclusiveLock);
	Relation index = locked ? try_relation_open(index_oid, AccessShareLock) : nullptr;
	if (index && index->rd_rel->relkind == RELKIND_INDEX && index->rd_index->indisvalid && is_maintained_kind(index)) {
		c.found = true;
		bool skip = !auto_maintain_option(index);
		if (!only_maintained || !skip) {
			c.checked = true;
			c.health = index_health(index);
			estimate_as_owner(index, index->rd_rel->relowner, c.health, estimate);
		}
		c.owner = index->rd_rel->relowner;
		c.namespace_oid = RelationGetNamespace(index);
		strlcpy(c.name, RelationGetRelationName(index), sizeof c.name);
	}
	c.busy = OidIsValid(heap) && !locked;
	if (index)
		relation_close(index, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();  // releases the table's lock
	return c;
}

Oid index_named(Oid namespace_oid, const char *name)
{
	StartTransactionCommand();
	AcceptInvalidationMessages();
	Oid oid = get_relname_relid(name, namespace_oid);
	CommitTransactionCommand();
	return oid;
}

// Measure the recall curve of an index, as the owner, so scans under a target recall keep
// choosing: after a rebuild of an index that had one (the old curve went with the old meta page),
// and for an index with a target recall whose curve is missing or stale (curve_check_due).
void retune(Oid index_oid, Oid owner, int sample, const char *qualified_name, const char *why)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	Relation index = relation_open(index_oid, AccessShareLock);
	Tuned t;
	const char *unmeasurable = nullptr;
	as_role(owner, [&] {
		unmeasurable = recall_unmeasurable(index);
		if (!unmeasurable)
			t = tune_index(index, sample);
	});
	relation_close(index, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (unmeasurable)
		ereport(DEBUG1, (errmsg("ruvector maintenance: not measuring the recall curve of index %s: %s", qualified_name, unmeasurable)));
	else
		ereport(LOG, (errmsg("ruvector maintenance: measured the recall curve of %s index %s (%d points, %d sample queries): recall %.3f at %s %d, %.3f at %s %d",
							 why, qualified_name, t.points, sample, t.recall[0], t.setting, t.value[0], t.recall[t.points - 1],
							 t.setting, t.value[t.points - 1])));
}

int curve_sample_for(const Health &h) { return h.curve_sample > 0 ? h.curve_sample : kDefaultCurveSample; }

bool improved(Degradation trigger, const Health &before, const Health &after)
{
	switch (trigger) {
	case Degradation::too_few_lists:
		return after.lists > before.lists;
	case Degradation::imbalance:
		return after.imbalance < before.imbalance;
	case Degradation::drift:
		return after.drift < before.drift;
	case Degradation::recall:
		return after.estimated_recall > before.estimated_recall;
	case Degradation::dead:
		return after.dead_share < before.dead_share;
	case Degradation::churn:
		return after.churn < before.churn;
	case Degradation::none:
		break;
	}
	return true;
}

const char *trigger_name(Degradation t)
{
	const char *name = degradation_name(t);
	return name ? name : "none";
}

// 2. Check one index and rebuild it when it is degraded. `asked`: ruvector_index_maintain named it
// (its auto_maintain option does not apply, and a healthy state is logged too).
void maintain_index(const Target &target, bool asked)
{
	Checked before = check_index(target.index, asked ? Estimate::always : Estimate::if_due, !asked,
								 asked ? TableLock::wait : TableLock::skip_if_busy);
	if (before.busy)
		ereport(DEBUG1, (errmsg("ruvector maintenance: skipping index %s: its table is being vacuumed, analyzed or indexed",
								target.qualified_name)));
	if (!before.found || !before.checked)
		return;
	const Health &h = before.health;
	char figures[512];
	describe_figures(h, figures, sizeof figures);
	if (h.trigger == Degradation::none) {
		if (asked)
			ereport(LOG, (errmsg("ruvector maintenance: index %s is healthy: %s", target.qualified_name, h.reason),
						  errdetail("%s", figures)));
		if (curve_check_due(h))
			retune(target.index, before.owner, curve_sample_for(h), target.qualified_name,
				   h.curve_sample > 0 ? "changed" : "untuned");
		return;
	}
	if (!h.rebuild_would_help) {
		ereport(LOG, (errmsg("ruvector maintenance: skipping the rebuild of degraded index %s: it would not improve its %s",
							 target.qualified_name, trigger_name(h.trigger)),
					  errdetail("%s; %s", h.reason, figures)));
		return;
	}

	LOCKTAG tag = maintenance_lock(target.heap);
	StartTransactionCommand();
	bool locked = LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
	CommitTransactionCommand();
	if (!locked) {
		ereport(LOG, (errmsg("ruvector maintenance: index %s is degraded, but another maintenance process works on its table",
							 target.qualified_name)));
		return;
	}
	// Re-checked under the lock: another process may have replaced the index meanwhile.
	Checked now = check_index(target.index, Estimate::never, false, asked ? TableLock::wait : TableLock::skip_if_busy);
	if (!now.found || now.health.stamp != h.stamp) {
		LockRelease(&tag, ExclusiveLock, true);
		return;
	}
	ereport(LOG, (errmsg("ruvector maintenance: rebuilding index %s: %s", target.qualified_name, h.reason),
				  errdetail("before: %s", figures)));
	char *sql = psprintf("REINDEX INDEX CONCURRENTLY %s", target.qualified_name);
	run_top_level(sql, before.owner);
	pfree(sql);

	// REINDEX CONCURRENTLY gives the new index the old one's name (and a new OID).
	Oid rebuilt = index_named(before.namespace_oid, before.name);
	// A rebuild for recall is judged by a new estimate (made as the owner and stored with the new
	// lists: of the rows the build saw, so it alone never makes the index degraded again).
	Checked after = OidIsValid(rebuilt)
						? check_index(rebuilt, h.trigger == Degradation::recall ? Estimate::always : Estimate::never)
						: Checked{};
	LockRelease(&tag, ExclusiveLock, true);
	if (!after.found) {
		ereport(WARNING, (errmsg("ruvector maintenance: index %s is gone after its rebuild", target.qualified_name)));
		return;
	}
	char after_figures[512];
	describe_figures(after.health, after_figures, sizeof after_figures);
	// A build of an index with a target_recall option measured its curve itself.
	if (after.health.curve_sample == 0 && (h.curve_sample > 0 || after.health.target > 0) && after.health.rows > 0)
		retune(rebuilt, before.owner, curve_sample_for(h), target.qualified_name, "rebuilt");
	if (improved(h.trigger, h, after.health))
		ereport(LOG, (errmsg("ruvector maintenance: rebuilt index %s (%s)", target.qualified_name, after.health.reason),
					  errdetail("before: %s; after: %s", figures, after_figures)));
	else
		ereport(WARNING, (errmsg("ruvector maintenance: the rebuild of index %s did not improve its %s",
								 target.qualified_name, trigger_name(h.trigger)),
						  errdetail("before: %s; after: %s", figures, after_figures)));
}

bool extension_present()
{
	StartTransactionCommand();
	bool present = OidIsValid(get_extension_oid("ruvector", true));
	CommitTransactionCommand();
	return present;
}

void run(const MaintenanceJob &job)
{
	if (!extension_present())
		return;
	drop_leftovers();
	if (OidIsValid(job.index)) {
		// The caller's thresholds (its session's settings), not this database's.
		apply_thresholds(job.thresholds);
		Targets t = find_indexes(psprintf(
			"SELECT c.oid, i.indrelid, n.nspname, c.relname FROM pg_catalog.pg_index i "
			"JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
			"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %u",
			job.index));
		for (int i = 0; i < t.count; i++)
			maintain_index(t.items[i], true);
		return;
	}
	if (!auto_maintain_enabled)
		return;
	Targets t = find_indexes(
		"SELECT c.oid, i.indrelid, n.nspname, c.relname FROM pg_catalog.pg_index i "
		"JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am a ON a.oid = c.relam "
		"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"WHERE i.indisvalid AND a.amname IN ('ruivfflat', 'ivfflat', 'ruhnsw', 'hnsw') AND c.relpersistence <> 't' "
		"ORDER BY c.oid");
	for (int i = 0; i < t.count; i++) {
		CHECK_FOR_INTERRUPTS();
		maintain_index(t.items[i], false);
	}
}

}  // namespace
}  // namespace ruvector::maintenance

void ruvector_maintenance_main(Datum)
{
	using namespace ruvector::maintenance;
	MaintenanceJob job;
	memcpy(&job, MyBgworkerEntry->bgw_extra, sizeof job);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	// The bootstrap superuser reads the catalogs; each rebuild runs as its index's owner.
	BackgroundWorkerInitializeConnectionByOid(job.database, InvalidOid, 0);
	pgstat_report_appname("ruvector maintenance");
	ruvector::pg::call_boundary([&] { run(job); });
}
