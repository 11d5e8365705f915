// ruvector_gnn_forward_into's bulk path (see gnn_into.hpp): the setup, checks and batched writes
// of COPY FROM (src/backend/commands/copyfrom.c) for the one case of rows (bigint, vector) into a
// plain table. PostgreSQL calls only, with trivially destructible locals: an error (a unique
// violation, a failed CHECK) longjmps out as from any executor code, and the (sub)transaction's
// abort takes back every row written so far.
#include "extension/graph/gnn_into.hpp"
#include "extension/table_reader.hpp"
#include "extension/types/vector.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
}

namespace ruvector {

bool gnn_into_bulk = true;

void define_gnn_into_gucs()
{
	DefineCustomBoolVariable("ruvector.gnn_into_bulk",
							 "Writes the rows of ruvector_gnn_forward_into with bulk heap inserts when the target allows.",
							 "Off, every call runs INSERT INTO target SELECT ... (the path taken when a target has triggers, "
							 "rules, row-level security or partitions).",
							 &gnn_into_bulk, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
}

namespace {

// Rows per table_multi_insert call, and the most tuple bytes held before one (COPY's buffer holds
// up to 1000 rows / 64 kB; a batch fills several heap pages, each one WAL record).
constexpr int kBatchRows = 128;
constexpr Size kBatchBytes = 256 * 1024;

// Why `rel` needs the INSERT path (nullptr: the bulk path is equivalent). *defaults gets an
// ExprState per attribute (nullptr where the column stays NULL) for the columns besides the two.
const char *bulk_obstacle(Relation rel, AttrNumber id_att, AttrNumber emb_att, int out_dim, ExprState ***defaults)
{
	if (!gnn_into_bulk)
		return "ruvector.gnn_into_bulk is off";
	if (XactReadOnly || IsInParallelMode())
		return "a read-only or parallel transaction";
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition)
		return "not a plain table";
	if (RELATION_IS_OTHER_TEMP(rel))
		return "another session's temporary table";
	if (rel->rd_rules)
		return "the table has rules";
	const TriggerDesc *t = rel->trigdesc;
	if (t && (t->trig_insert_before_row || t->trig_insert_after_row || t->trig_insert_instead_row ||
			  t->trig_insert_before_statement || t->trig_insert_after_statement || t->trig_insert_new_table))
		return "the table has INSERT triggers (or foreign keys or deferrable constraints)";
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED)
		return "row-level security applies";
	TupleDesc desc = RelationGetDescr(rel);
	Form_pg_attribute id = TupleDescAttr(desc, id_att - 1), emb = TupleDescAttr(desc, emb_att - 1);
	if (id->atttypid != INT8OID || emb->atttypid != vector_type_oid())
		return "the columns are not of types bigint and vector";
	if (emb->atttypmod >= 0 && emb->atttypmod != out_dim)
		return "the embedding column has other dimensions";
	if (desc->constr && desc->constr->has_generated_stored)
		return "the table has generated columns";
	auto *exprs = static_cast<ExprState **>(palloc0(sizeof(ExprState *) * desc->natts));
	for (int i = 0; i < desc->natts; i++) {
		Form_pg_attribute a = TupleDescAttr(desc, i);
		if (a->attisdropped || a->attnum == id_att || a->attnum == emb_att)
			continue;
		if (get_typtype(a->atttypid) == TYPTYPE_DOMAIN)
			return "another column is of a domain type";
		auto *expr = reinterpret_cast<Expr *>(build_column_default(rel, a->attnum));
		if (!expr)
			continue;
		expr = expression_planner(expr);
		if (contain_volatile_functions_not_nextval(reinterpret_cast<Node *>(expr)))
			return "another column has a volatile default";
		exprs[i] = ExecInitExpr(expr, nullptr);
	}
	*defaults = exprs;
	return nullptr;
}

struct Writer {
	EState *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId cid;
	TupleTableSlot **slots;
	int used;
	Size bytes;
};

void flush(Writer &w)
{
	if (w.used == 0)
		return;
	Relation rel = w.rri->ri_RelationDesc;
	// table_multi_insert may leak into the current context: the per-tuple one.
	MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(w.estate));
	table_multi_insert(rel, w.slots, w.used, w.cid, 0, w.bistate);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < w.used; i++) {
		if (w.rri->ri_NumIndices > 0) {
			ResetPerTupleExprContext(w.estate);
			// Unique and exclusion constraints are checked here, immediately (deferrable ones are
			// triggers, so their tables take the INSERT path).
			List *recheck = ExecInsertIndexTuples(w.rri, w.slots[i], w.estate, false, false, nullptr, NIL);
			list_free(recheck);
		}
		ExecClearTuple(w.slots[i]);
	}
	w.used = 0;
	w.bytes = 0;
}

}  // namespace

bool gnn_into_bulk_insert(Oid target, AttrNumber id_att, AttrNumber emb_att, const ForwardResult &r, int64 *inserted)
{
	Relation rel = table_open(target, RowExclusiveLock);
	ExprState **defaults = nullptr;
	const char *why = bulk_obstacle(rel, id_att, emb_att, r.out_dim, &defaults);
	if (why) {
		ereport(DEBUG1, (errmsg_internal("ruvector_gnn_forward_into: INSERT into %s: %s", RelationGetRelationName(rel), why)));
		table_close(rel, NoLock);
		return false;
	}
	// The executor's checks of an INSERT naming the two columns: privileges (and any
	// ExecutorCheckPerms_hook), then whether the relation takes inserts at all.
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = target;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	rte->insertedCols = bms_add_member(bms_make_singleton(id_att - FirstLowInvalidHeapAttributeNumber),
									   emb_att - FirstLowInvalidHeapAttributeNumber);
	List *range_table = list_make1(rte);
	ExecCheckRTPerms(range_table, true);

	Writer w{};
	w.estate = CreateExecutorState();
	ExecInitRangeTable(w.estate, range_table);
	w.rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(w.estate, w.rri, 1);
	CheckValidResultRel(w.rri, CMD_INSERT);
	ExecOpenIndices(w.rri, false);
	w.cid = GetCurrentCommandId(true);
	w.bistate = GetBulkInsertState();
	w.slots = static_cast<TupleTableSlot **>(palloc0(sizeof(TupleTableSlot *) * kBatchRows));

	TupleDesc desc = RelationGetDescr(rel);
	bool check = desc->constr != nullptr;
	ExprContext *econtext = GetPerTupleExprContext(w.estate);
	Size vbytes = vector_size(r.out_dim);
	for (int64 i = 0; i < r.nodes; i++) {
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(w.estate);
		if (!w.slots[w.used])
			w.slots[w.used] = table_slot_create(rel, &w.estate->es_tupleTable);
		TupleTableSlot *slot = w.slots[w.used];
		ExecClearTuple(slot);
		MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(w.estate));
		for (int a = 0; a < desc->natts; a++) {
			slot->tts_values[a] = 0;
			slot->tts_isnull[a] = true;
			if (defaults[a])
				slot->tts_values[a] = ExecEvalExpr(defaults[a], econtext, &slot->tts_isnull[a]);
		}
		Vector *v = new_vector(r.out_dim);
		memcpy(v->x, r.y + Size(i) * Size(r.out_dim), sizeof(float) * Size(r.out_dim));
		slot->tts_values[id_att - 1] = Int64GetDatum(r.ids[i]);
		slot->tts_isnull[id_att - 1] = false;
		slot->tts_values[emb_att - 1] = PointerGetDatum(v);
		slot->tts_isnull[emb_att - 1] = false;
		ExecStoreVirtualTuple(slot);
		slot->tts_tableOid = target;
		MemoryContextSwitchTo(old);
		if (check)  // NOT NULL and CHECK constraints, with the executor's messages
			ExecConstraints(w.rri, slot, w.estate);
		ExecMaterializeSlot(slot);  // out of the per-tuple memory, until the batch is written
		w.used++;
		w.bytes += vbytes;
		if (w.used == kBatchRows || w.bytes >= kBatchBytes)
			flush(w);
	}
	flush(w);

	FreeBulkInsertState(w.bistate);
	table_finish_bulk_insert(rel, 0);
	ExecResetTupleTable(w.estate->es_tupleTable, false);
	ExecCloseResultRelations(w.estate);
	ExecCloseRangeTableRelations(w.estate);
	FreeExecutorState(w.estate);
	table_close(rel, NoLock);
	// What later commands of this statement's caller see, as after SPI's INSERT.
	CommandCounterIncrement();
	ereport(DEBUG1, (errmsg_internal("ruvector_gnn_forward_into: " INT64_FORMAT " rows written in bulk into %s", r.nodes,
									 get_rel_name(target))));
	*inserted = r.nodes;
	return true;
}

}  // namespace ruvector
