// ruhnsw build (not implemented yet: the skeleton raises a clear error).
#include "extension/hnsw/hnsw.hpp"

namespace ruvector::hnsw {

namespace {
[[noreturn]] void not_implemented(const char *what)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("ruhnsw %s is not implemented yet", what)));
	pg_unreachable();
}
}  // namespace

IndexBuildResult *hnswbuild(Relation, Relation, IndexInfo *) { not_implemented("build"); }
void hnswbuildempty(Relation) { not_implemented("build"); }

}  // namespace ruvector::hnsw
