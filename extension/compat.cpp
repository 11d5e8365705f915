// pgvector and ruvector cannot share a database or a backend: both define the type vector, its
// operators and the ivfflat access method, and pgvector's library defines the ivfflat.* settings
// ruvector already defines. These checks turn what would fail half-way through the other one's
// script (`type "vector" already exists`, `attempt to redefine parameter "ivfflat.probes"`) into
// one clear error before anything of it runs.
#include "extension/compat.hpp"

#include "shmem/pg.hpp"

extern "C" {
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "nodes/parsenodes.h"
}

namespace {

constexpr const char *kProvides =
	"ruvector already provides pgvector's types, operators, functions and index methods (vector, halfvec, "
	"sparsevec, ivfflat).";

// pgvector's library as LOAD names it: 'vector', 'vector.so', '$libdir/vector' or a path ending so.
bool is_pgvector_library(const char *file)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	return strcmp(base, "vector") == 0 || strcmp(base, "vector" DLSUFFIX) == 0;
}

}  // namespace

namespace ruvector::compat {

bool refuse_pgvector(Node *stmt)
{
	if (IsA(stmt, CreateExtensionStmt)) {
		auto *create = castNode(CreateExtensionStmt, stmt);
		if (strcmp(create->extname, "vector") != 0)
			return false;
		if (!OidIsValid(get_extension_oid("ruvector", true)))
			// ruvector's library is loaded here (this hook runs), so pgvector's would fail to load.
			ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
							errmsg("extension \"vector\" cannot be installed where ruvector is loaded"),
							errdetail("%s pgvector's library would redefine the ivfflat.* settings ruvector defines.", kProvides),
							errhint("Use CREATE EXTENSION ruvector; pgvector applications run on it unchanged.")));
		if (create->if_not_exists) {
			// What pgvector applications and migrations run: ruvector already provides it.
			ereport(NOTICE, (errmsg("extension \"vector\" is provided by ruvector, skipping"), errdetail("%s", kProvides)));
			return true;
		}
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("extension \"vector\" cannot be installed alongside ruvector"), errdetail("%s", kProvides),
						errhint("Use the ruvector extension; pgvector applications run on it unchanged.")));
	}
	if (IsA(stmt, CommentStmt)) {
		// A pg_dump of a pgvector database comments on the extension it creates just before.
		auto *comment = castNode(CommentStmt, stmt);
		if (comment->objtype != OBJECT_EXTENSION || strcmp(strVal(comment->object), "vector") != 0 ||
			OidIsValid(get_extension_oid("vector", true)) || !OidIsValid(get_extension_oid("ruvector", true)))
			return false;
		ereport(NOTICE, (errmsg("extension \"vector\" is provided by ruvector, skipping"), errdetail("%s", kProvides)));
		return true;
	}
	if (IsA(stmt, LoadStmt) && is_pgvector_library(castNode(LoadStmt, stmt)->filename))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("pgvector's library cannot be loaded where ruvector is loaded"),
						errdetail("%s pgvector's library would redefine the ivfflat.* settings ruvector defines.", kProvides),
						errhint("Use the ruvector extension; pgvector applications run on it unchanged.")));
	return false;
}

}  // namespace ruvector::compat

// Called first by ruvector's install script, so CREATE EXTENSION ruvector in a database with
// pgvector fails before its first CREATE TYPE, with or without ruvector preloaded.
RV_FUNCTION(ruvector_refuse_pgvector)
{
	if (OidIsValid(get_extension_oid("vector", true)))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("extension \"ruvector\" cannot be installed alongside extension \"vector\" (pgvector)"),
						errdetail("Both define the types vector, halfvec and sparsevec, their operators and the ivfflat access method."),
						errhint("Install ruvector in another database and restore a pg_dump of this one into it; pgvector "
								"applications run on ruvector unchanged.")));
	PG_RETURN_VOID();
}

// Where ruvector's library is not loaded yet (a server without it in shared_preload_libraries, a
// session that has not used it), the ProcessUtility hook is not there: this ddl_command_start
// event trigger loads the library and refuses CREATE EXTENSION vector the same way.
RV_FUNCTION(ruvector_pgvector_guard)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED), errmsg("ruvector_pgvector_guard() must be called as an event trigger")));
	Node *stmt = reinterpret_cast<EventTriggerData *>(fcinfo->context)->parsetree;
	if (IsA(stmt, CreateExtensionStmt) && ruvector::compat::refuse_pgvector(stmt)) {
		// IF NOT EXISTS: an event trigger cannot skip the statement, so it makes it name the
		// extension that provides vector, which exists: PostgreSQL then skips it.
		auto *create = castNode(CreateExtensionStmt, stmt);
		create->extname = pstrdup("ruvector");
		create->options = NIL;
	}
	PG_RETURN_VOID();
}
