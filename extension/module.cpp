// Module entry: PG_MODULE_MAGIC, GUCs, shared memory hooks and the background worker.
#include "extension/client/worker_client.hpp"
#include "extension/compat.hpp"
#include "extension/graph/gnn_into.hpp"
#include "extension/hnsw/hnsw.hpp"
#include "extension/index_explain.hpp"
#include "extension/ivfflat/ivfflat.hpp"
#include "extension/maintenance/health.hpp"
#include "extension/scan/exact_scan.hpp"
#include "extension/scan/function_scan.hpp"
#include "shmem/control.hpp"
#include "shmem/store.hpp"

extern "C" {
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/guc.h"
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace ruvector {

int rv_worker_threads = 0;
int rv_shared_memory_limit_mb = 1024;
int rv_queue_size_kb = 64;
int rv_worker_wait_timeout_ms = 10000;
int rv_progress_interval_ms = 5000;

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;
static ProcessUtility_hook_type prev_process_utility = nullptr;

// The one ProcessUtility hook: each concern looks at the statement before PostgreSQL runs it.
static void process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
	if (compat::refuse_pgvector(pstmt->utilityStmt))
		return;
	pstmt = ivf::qualify_gnn_edge_table(pstmt, read_only_tree);
	if (prev_process_utility)
		prev_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
	else
		standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
	maintenance::run_deferred_tunes();  // recall curves of indexes a REINDEX rebuilt
}

static void shmem_request()
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(control_shmem_size(), store_shmem_size()));
	RequestNamedLWLockTranche("ruvector", 1);
}

static void shmem_startup()
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	control_shmem_startup();
	store_shmem_startup();
}

static void define_gucs()
{
	DefineCustomIntVariable("ruvector.worker_wait_timeout",
							"How long a query waits for the ruvector worker to become ready.",
							"After a server start or a worker restart; 0 fails at once.", &rv_worker_wait_timeout_ms,
							10000, 0, 3600 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("ruvector.progress_interval", "How often long graph builds report progress.",
							"A NOTICE with the nodes done, edges written and time left.", &rv_progress_interval_ms, 5000,
							0, 3600 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("ruvector.worker_threads", "Compute threads of the ruvector worker.",
							"0 means one per CPU core.", &rv_worker_threads, 0, 0, 1024, PGC_POSTMASTER, 0,
							nullptr, nullptr, nullptr);
	DefineCustomIntVariable("ruvector.shared_memory_limit",
							"Upper bound on the dynamic shared memory the ruvector worker uses.",
							"Graphs, index centroids and request buffers count against it; a request that "
							"would exceed it fails with an error.",
							&rv_shared_memory_limit_mb, 1024, 8, INT_MAX / 2, PGC_SIGHUP, GUC_UNIT_MB, nullptr,
							nullptr, nullptr);
	DefineCustomIntVariable("ruvector.queue_size", "Size of each request and response queue per backend.",
							nullptr, &rv_queue_size_kb, 64, 16, 64 * 1024, PGC_POSTMASTER, GUC_UNIT_KB, nullptr,
							nullptr, nullptr);
	define_worker_client_gucs();
}

static void register_worker()
{
	BackgroundWorker w;
	memset(&w, 0, sizeof w);
	// A database connection (to none) makes the worker visible in pg_stat_activity and
	// terminable with pg_terminate_backend.
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	// Consistent state: it writes no WAL, so it can serve queries on a hot standby too.
	w.bgw_start_time = BgWorkerStart_ConsistentState;
	w.bgw_restart_time = 1;
	strlcpy(w.bgw_library_name, "ruvector", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "ruvector_worker_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "ruvector worker", BGW_MAXLEN);
	strlcpy(w.bgw_type, "ruvector worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}

}  // namespace ruvector

void _PG_init(void)
{
	using namespace ruvector;
	define_gucs();
	ivf::define_ivfflat_gucs();
	maintenance::define_maintenance_gucs();
	ivf::register_ivfflat_reloptions();
	ivf::register_gnn_index_reloptions();
	ivf::install_ivfflat_hooks();
	install_index_explain_hook();
	hnsw::define_hnsw_gucs();
	hnsw::register_hnsw_reloptions();
	scan::define_exact_scan_gucs();
	scan::install_exact_scan();
	scan::define_function_scan_gucs();
	scan::install_function_scan();
	define_gnn_into_gucs();
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = process_utility;
	if (!process_shared_preload_libraries_in_progress)
		return;  // the vector type works anyway; worker-backed functions say ruvector must be preloaded
	MarkGUCPrefixReserved("ruvector");
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	register_worker();
}
