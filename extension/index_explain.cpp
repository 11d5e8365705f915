// EXPLAIN ANALYZE details of vector index scans (index_explain.hpp).
#include "extension/index_explain.hpp"

extern "C" {
#include "commands/explain.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

namespace ruvector {

namespace {

ExplainedScan *open_scans = nullptr;
explain_get_index_name_hook_type prev_index_name_hook = nullptr;

void unlink(ExplainedScan *e)
{
	if (!e->linked)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		open_scans = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->linked = false;
}

const char *index_name_with_details(Oid index)
{
	StringInfoData details;
	initStringInfo(&details);
	for (ExplainedScan *e = open_scans; e; e = e->next) {
		if (RelationGetRelid(e->scan->indexRelation) != index)
			continue;
		if (details.len > 0)
			appendStringInfoString(&details, "; ");
		e->describe(e->scan, &details);
	}
	if (details.len == 0)
		return prev_index_name_hook ? prev_index_name_hook(index) : nullptr;
	// EXPLAIN quotes the whole string as an identifier, so the name goes in as it is.
	const char *name = get_rel_name(index);
	return psprintf("%s: %s", name ? name : "?", details.data);
}

}  // namespace

void explain_register_scan(ExplainedScan *e, IndexScanDesc scan, void (*describe)(IndexScanDesc, StringInfo))
{
	e->scan = scan;
	e->describe = describe;
	e->prev = nullptr;
	e->next = open_scans;
	if (open_scans)
		open_scans->prev = e;
	open_scans = e;
	e->linked = true;
	e->on_reset.func = [](void *arg) { unlink(static_cast<ExplainedScan *>(arg)); };
	e->on_reset.arg = e;
	MemoryContextRegisterResetCallback(GetMemoryChunkContext(scan), &e->on_reset);
}

void explain_unregister_scan(ExplainedScan *e) { unlink(e); }

void install_index_explain_hook()
{
	prev_index_name_hook = explain_get_index_name_hook;
	explain_get_index_name_hook = index_name_with_details;
}

}  // namespace ruvector
