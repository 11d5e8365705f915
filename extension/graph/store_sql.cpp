// Low-level access to the worker's shared store (superuser only): publish, read and drop a blob.
// ruvector's own caches (index centroids, graphs) go through the same calls; these functions exist
// for diagnostics and to test the store's guarantees directly.
#include "extension/client/worker_client.hpp"
#include "shmem/store.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
}

using namespace ruvector;

namespace {

proto::StoreKey store_key(FunctionCallInfo fcinfo)
{
	return proto::StoreKey{MyDatabaseId, PG_GETARG_OID(0), uint32(PG_GETARG_INT32(1))};
}

}  // namespace

// ruvector_store_put(object oid, kind int, tag bigint, data bytea) RETURNS bigint (the new version)
RV_FUNCTION(ruvector_store_put)
{
	bytea *data = PG_GETARG_BYTEA_PP(3);
	proto::StoreKey key = store_key(fcinfo);
	client::store_put(key, uint64(PG_GETARG_INT64(2)),
					  {{reinterpret_cast<const std::byte *>(VARDATA_ANY(data)), VARSIZE_ANY_EXHDR(data)}});
	PG_RETURN_INT64(int64(store_current_version(key)));
}

// ruvector_store_get(object oid, kind int) RETURNS bytea (NULL when absent)
RV_FUNCTION(ruvector_store_get)
{
	require_worker_support();
	uint64 version, tag, bytes;
	void *blob = store_copy_out(store_key(fcinfo), &version, &tag, &bytes);
	if (!blob)
		PG_RETURN_NULL();
	bytea *result = static_cast<bytea *>(palloc(VARHDRSZ + bytes));
	SET_VARSIZE(result, VARHDRSZ + bytes);
	memcpy(VARDATA(result), blob, bytes);
	PG_RETURN_BYTEA_P(result);
}

// ruvector_store_drop(object oid, kind int) RETURNS boolean (whether there was an entry)
RV_FUNCTION(ruvector_store_drop)
{
	proto::StoreKey key = store_key(fcinfo);
	bool existed = store_current_version(key) != 0;
	client::store_drop(key);
	PG_RETURN_BOOL(existed);
}
