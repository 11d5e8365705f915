#include "extension/table_reader.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace ruvector {

// The schema ruvector was installed into (PG15 has no get_extension_schema()).
Oid extension_schema()
{
	Oid ext = get_extension_oid("ruvector", false);
	Relation rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	SysScanDesc scan = systable_beginscan(rel, ExtensionOidIndexId, true, nullptr, 1, &key);
	HeapTuple tuple = systable_getnext(scan);
	Oid nsp = HeapTupleIsValid(tuple) ? reinterpret_cast<Form_pg_extension>(GETSTRUCT(tuple))->extnamespace : InvalidOid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

Oid vector_type_oid()
{
	static Oid cached = InvalidOid;
	if (!OidIsValid(cached)) {
		Oid nsp = extension_schema();
		cached = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("vector"), ObjectIdGetDatum(nsp));
		if (!OidIsValid(cached))
			elog(ERROR, "ruvector: type vector not found");
	}
	return cached;
}

char *qualified_relation_name(Oid relid)
{
	char *rel = get_rel_name(relid);
	if (!rel)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
}

AttrNumber check_vector_column(Oid relid, const char *column)
{
	char *rel = qualified_relation_name(relid);
	AttrNumber att = get_attnum(relid, column);
	if (att == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of relation %s does not exist", column, rel)));
	if (get_atttype(relid, att) != vector_type_oid())
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("column \"%s\" of relation %s is not of type vector", column, rel),
						errdetail("It is of type %s.", format_type_be(get_atttype(relid, att)))));
	return att;
}

VectorRows read_vector_column(Oid relid, const char *column)
{
	check_vector_column(relid, column);
	char *query = psprintf("SELECT %s FROM %s", quote_identifier(column), qualified_relation_name(relid));
	MemoryContext caller = CurrentMemoryContext;

	VectorRows rows{nullptr, 0, 0, 0};
	Size cap = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPIPlanPtr plan = SPI_prepare(query, 0, nullptr);
	if (!plan)
		elog(ERROR, "SPI_prepare failed for \"%s\"", query);
	Portal portal = SPI_cursor_open(nullptr, plan, nullptr, nullptr, true);
	for (;;) {
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++) {
			bool isnull;
			Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			if (isnull) {
				rows.nulls_skipped++;
				continue;
			}
			Vector *v = datum_get_vector(d);
			if (rows.n == 0)
				rows.dim = v->dim;
			else if (v->dim != rows.dim)
				ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
								errmsg("different vector dimensions %d and %d", rows.dim, v->dim),
								errdetail("Every vector in column \"%s\" must have the same dimension.", column)));
			Size need = Size(rows.n + 1) * rows.dim;
			if (need > cap) {
				cap = std::max<Size>(need * 2, 1024 * Size(rows.dim));
				MemoryContext old = MemoryContextSwitchTo(caller);
				rows.data = static_cast<float *>(rows.data ? repalloc_huge(rows.data, cap * sizeof(float))
				                                           : MemoryContextAllocHuge(caller, cap * sizeof(float)));
				MemoryContextSwitchTo(old);
			}
			memcpy(rows.data + Size(rows.n) * rows.dim, v->x, sizeof(float) * rows.dim);
			rows.n++;
			if (reinterpret_cast<Pointer>(v) != DatumGetPointer(d))
				pfree(v);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return rows;
}

}  // namespace ruvector
