// SQL functions served by the worker: ping, status, store listing and k-means.
#include "extension/table_reader.hpp"
#include "extension/client/worker_client.hpp"
#include "extension/graph/graph_reader.hpp"
#include "shmem/store.hpp"

extern "C" {
#include "catalog/index.h"
#include "catalog/pg_authid_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

using namespace ruvector;

namespace {

const char *state_name(WorkerState s)
{
	switch (s) {
	case WorkerState::stopped:
		return "stopped";
	case WorkerState::starting:
		return "starting";
	case WorkerState::ready:
		return "ready";
	}
	return "unknown";
}

// ruvector_kmeans's metric argument: a name of the metric table (as the index opclasses spell it).
kernels::Metric parse_metric(const char *name)
{
	const kernels::MetricInfo *m = kernels::find_metric(kernels::ElementType::float32, name);
	if (!m)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown k-means metric \"%s\"", name),
						errhint("Use one of: l2, cosine, ip.")));
	return m->metric;
}

}  // namespace

// Round trip of an empty request, in microseconds.
RV_FUNCTION(ruvector_worker_ping)
{
	instr_time start, end;
	INSTR_TIME_SET_CURRENT(start);
	client::ping();
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	PG_RETURN_FLOAT8(INSTR_TIME_GET_DOUBLE(end) * 1e6);
}

RV_FUNCTION(ruvector_worker_status)
{
	require_worker_support();
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	auto state = WorkerState(pg_atomic_read_u32(&rv_control->worker_state));
	Datum values[12];
	bool nulls[12] = {};
	values[0] = CStringGetTextDatum(state_name(state));
	values[1] = Int32GetDatum(rv_control->worker_pid);
	nulls[1] = state != WorkerState::ready;
	values[2] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->generation)));
	values[3] = Int32GetDatum(rv_control->worker_threads);
	values[4] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->served)));
	values[5] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->failed)));
	values[6] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->cancelled)));
	values[7] = Int32GetDatum(int32(pg_atomic_read_u32(&rv_control->in_flight)));
	values[8] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->dsa_used)));
	values[9] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->dsa_limit)));
	values[10] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->store_puts)));
	values[11] = Int64GetDatum(int64(pg_atomic_read_u64(&rv_control->centroids_kept)));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return Datum(0);
}

namespace {

// Whether a role that is neither superuser nor pg_read_all_stats may see a store entry: the
// centroids of indexes on tables it can SELECT, the graphs it may read, its own backend's scratch.
bool may_see_entry(const proto::StoreKey &key)
{
	switch (key.kind) {
	case kStoreKindCentroids: {
		Oid heap = IndexGetRelation(key.object, true);
		bool missing = false;
		return OidIsValid(heap) && pg_class_aclcheck_ext(heap, GetUserId(), ACL_SELECT, &missing) == ACLCHECK_OK;
	}
	case kStoreKindGraph:
		return may_read_graph_id(int32(key.object));
	case kStoreKindScratch:
		return int(key.object) == MyProcPid;
	default:
		return false;
	}
}

}  // namespace

// What the shared store holds for the current database, as far as the caller may know.
RV_FUNCTION(ruvector_store_entries)
{
	require_worker_support();
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	// A copy, as deciding what the caller may see reads catalogs (not under the store lock).
	auto *entries = static_cast<RvStoreEntry *>(palloc(sizeof(RvStoreEntry) * kStoreCapacity));
	int n = 0;
	LWLockAcquire(rv_store->lock, LW_SHARED);
	for (const RvStoreEntry &e : rv_store->entries)
		if (e.in_use && e.key.database == MyDatabaseId)
			entries[n++] = e;
	LWLockRelease(rv_store->lock);
	bool sees_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	for (int i = 0; i < n; i++) {
		const RvStoreEntry &e = entries[i];
		if (!sees_all && !may_see_entry(e.key))
			continue;
		Datum values[6];
		bool nulls[6] = {};
		values[0] = ObjectIdGetDatum(e.key.object);
		values[1] = Int32GetDatum(int32(e.key.kind));
		values[2] = Int64GetDatum(int64(e.bytes));
		values[3] = Int64GetDatum(int64(e.version));
		values[4] = Int64GetDatum(int64(e.tag));
		values[5] = TimestampTzGetDatum(e.published_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}

// ruvector_kmeans(rel regclass, column name, k int, max_iterations int, seed int, metric text)
RV_FUNCTION(ruvector_kmeans)
{
	Oid relid = PG_GETARG_OID(0);
	const char *column = NameStr(*PG_GETARG_NAME(1));
	int32 k = PG_GETARG_INT32(2);
	int32 max_iterations = PG_GETARG_INT32(3);
	int32 seed = PG_GETARG_INT32(4);

	proto::KmeansRequest req;
	req.k = uint32(std::max(k, 0));  // a negative k or max_iterations fails the check as 0 does
	req.max_iterations = uint32(std::max(max_iterations, 0));
	req.seed = uint64(uint32(seed));
	req.metric = parse_metric(text_to_cstring(PG_GETARG_TEXT_PP(5)));
	proto::check_kmeans_parameters(req);  // before reading the table
	require_worker_support();

	VectorRows rows = read_vector_column(relid, column);
	req.n = uint64(rows.n);
	req.dim = uint32(rows.dim);
	proto::check_kmeans_rows(req, psprintf("Column \"%s\" of %s", column, qualified_relation_name(relid)));
	proto::KmeansReply reply = client::kmeans(req, rows.data);

	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	for (uint32 c = 0; c < reply.header.k; c++) {
		Vector *centroid = new_vector(rows.dim);
		reply.copy_centroid(c, centroid->x);
		Datum values[3] = {Int32GetDatum(int32(c)), PointerGetDatum(centroid), Int64GetDatum(reply.size(c))};
		bool nulls[3] = {};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}
