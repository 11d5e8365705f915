#include "extension/table_reader.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
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

namespace {

// SELECT of these columns as the executor checks it: the table, or else each column.
void check_select(Relation rel, std::span<const AttrNumber> atts)
{
	Oid user = GetUserId();
	Oid relid = RelationGetRelid(rel);
	if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (AttrNumber att : atts)
		if (pg_attribute_aclcheck(relid, att, user, ACL_SELECT) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind), RelationGetRelationName(rel));
	if (atts.empty())
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind), RelationGetRelationName(rel));
}

// Why `SELECT ... FROM rel` may mean more than its own heap for the caller, or nullptr. Row-level
// security is checked first: with row_security = off it raises the executor's error.
const char *needs_sql(Relation rel)
{
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		return "row-level security applies";
	char kind = rel->rd_rel->relkind;
	if (kind != RELKIND_RELATION && kind != RELKIND_MATVIEW)
		return "it is not a plain table";
	if (rel->rd_rel->relhassubclass)
		return "it has inheritance children";
	if (!RelationIsPopulated(rel))
		return "it has not been populated";
	return nullptr;
}

}  // namespace

bool scan_table(Oid relid, std::span<const AttrNumber> atts, ScanAs as, ScanRowFn row, void *arg)
{
	Relation rel = table_open(relid, AccessShareLock);
	if (as == ScanAs::caller) {
		check_select(rel, atts);
		if (const char *why = needs_sql(rel)) {
			ereport(DEBUG1, (errmsg_internal("ruvector: reading %s through SQL: %s", RelationGetRelationName(rel), why)));
			table_close(rel, AccessShareLock);
			return false;
		}
	}
	int natts = int(atts.size());
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (natts + 1)));
	bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * (natts + 1)));
	AttrNumber last = 0;
	for (AttrNumber a : atts)
		last = std::max(last, a);
	// Detoasted values and whatever the callback allocates for one row go with the row.
	MemoryContext per_row = AllocSetContextCreate(CurrentMemoryContext, "ruvector scan row", ALLOCSET_SMALL_SIZES);
	TupleTableSlot *slot = table_slot_create(rel, nullptr);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, nullptr);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
		CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, last);
		for (int i = 0; i < natts; i++) {
			values[i] = slot->tts_values[atts[i] - 1];
			nulls[i] = slot->tts_isnull[atts[i] - 1];
		}
		MemoryContext old = MemoryContextSwitchTo(per_row);
		row(arg, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(per_row);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(per_row);
	table_close(rel, AccessShareLock);
	pfree(values);
	pfree(nulls);
	return true;
}

namespace {

// Appends non-NULL vectors of one column to a VectorRows (either reader).
struct VectorAppender {
	VectorRows &rows;
	const char *column;
	MemoryContext cxt;
	Size cap = 0;

	void add(bool isnull, Datum d)
	{
		if (isnull) {
			rows.nulls_skipped++;
			return;
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
			rows.data = static_cast<float *>(rows.data ? repalloc_huge(rows.data, cap * sizeof(float))
			                                           : MemoryContextAllocHuge(cxt, cap * sizeof(float)));
		}
		memcpy(rows.data + Size(rows.n) * rows.dim, v->x, sizeof(float) * rows.dim);
		rows.n++;
		if (reinterpret_cast<Pointer>(v) != DatumGetPointer(d))
			pfree(v);
	}
};

}  // namespace

VectorRows read_vector_column(Oid relid, const char *column)
{
	AttrNumber att = check_vector_column(relid, column);
	VectorRows rows{nullptr, 0, 0, 0};
	VectorAppender out{rows, column, CurrentMemoryContext};
	auto row = [&out](const Datum *v, const bool *n) { out.add(n[0], v[0]); };
	if (scan_table(relid, std::span(&att, 1), ScanAs::caller, row))
		return rows;

	char *query = psprintf("SELECT %s FROM %s", quote_identifier(column), qualified_relation_name(relid));
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
			out.add(isnull, d);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return rows;
}

}  // namespace ruvector
