// ruhnsw scan (not implemented yet: the skeleton raises a clear error).
#include "extension/hnsw/hnsw.hpp"

namespace ruvector::hnsw {

namespace {
[[noreturn]] void not_implemented(const char *what)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("ruhnsw %s is not implemented yet", what)));
	pg_unreachable();
}
}  // namespace

IndexScanDesc hnswbeginscan(Relation, int, int) { not_implemented("scan"); }
void hnswrescan(IndexScanDesc, ScanKey, int, ScanKey, int) { not_implemented("scan"); }
bool hnswgettuple(IndexScanDesc, ScanDirection) { not_implemented("scan"); }
void hnswendscan(IndexScanDesc) {}

}  // namespace ruvector::hnsw
