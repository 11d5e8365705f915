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

}  // namespace

struct ResetHook {
	MemoryContextCallback callback;
	ExplainedScan *scan;  // null once the scan ended
};

namespace {

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
	// A context keeps its reset callbacks until it is reset or deleted, and cannot drop one: the
	// callback lives in the context, and forgets the scan when endscan unregisters it (an SPI
	// caller's context sees many scans begin and end; see maintenance/recall.cpp).
	MemoryContext cxt = GetMemoryChunkContext(scan);
	auto *hook = static_cast<ResetHook *>(MemoryContextAlloc(cxt, sizeof(ResetHook)));
	hook->scan = e;
	hook->callback.func = [](void *arg) {
		auto *h = static_cast<ResetHook *>(arg);
		if (h->scan)
			unlink(h->scan);
	};
	hook->callback.arg = hook;
	e->on_reset = hook;
	MemoryContextRegisterResetCallback(cxt, &hook->callback);
}

void explain_unregister_scan(ExplainedScan *e)
{
	unlink(e);
	if (e->on_reset)
		e->on_reset->scan = nullptr;
	e->on_reset = nullptr;
}

void install_index_explain_hook()
{
	prev_index_name_hook = explain_get_index_name_hook;
	explain_get_index_name_hook = index_name_with_details;
}

}  // namespace ruvector
