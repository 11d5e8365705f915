// What makes each request kind valid, in one place: the backend checks a request before posting it
// (so the user gets the error without a round trip), the worker checks it again on receipt (a
// request is untrusted input to the worker). PG-free; each check throws proto::SqlStateError or
// std::invalid_argument (22023), which both sides turn into the same SQL error (errors.hpp).
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "shmem/codec/protocol.hpp"

#include <cstdint>
#include <string_view>

namespace ruvector::proto {

// k-means, the parts that do not depend on the rows: metric, k >= 1, max_iterations >= 1.
void check_kmeans_parameters(const KmeansRequest &req);
// k-means over req.n rows: at least one row, and k <= n. `input` names the rows for the error's
// detail ("Column "v" of t"); empty for none.
void check_kmeans_rows(const KmeansRequest &req, std::string_view input = {});
// Both, in that order.
void check_kmeans_request(const KmeansRequest &req);

// At least one centroid of at least one dimension, a known metric.
void check_assign_request(const AssignRequest &req);

// The vectors in the store entry (blob_bytes) match n x dim, the row range is inside them, k in
// 1..10000 for a k-NN request, a known metric.
void check_graph_build_request(const GraphBuildRequest &req, std::uint64_t blob_bytes);

// An HNSW build: m 2..100, ef_construction 4..1000 and at least 2 * m, dim > 0, a known metric
// code (element type and metric), max_level <= 255, n below 2^31, then the memory rule below.
void check_hnsw_build_request(const HnswBuildRequest &req);
// The memory an HNSW build takes in the worker: the graph while it is built (graph_bytes) plus the
// rows, twice (the input and the copy a build grouped by locality works on). Above a nonzero memory_budget, check_hnsw_build_request refuses (53200, before anything is
// allocated) with a hint to raise maintenance_work_mem.
std::uint64_t hnsw_build_bytes(const HnswBuildRequest &req);
// The metric table entry of an HNSW request's code; throws 22023 for an unknown one.
const kernels::MetricInfo &hnsw_metric(const HnswBuildRequest &req);

// The float32 metric table entry of a request's metric code; `what` names the request in the error.
const kernels::MetricInfo &request_metric(kernels::Metric code, const char *what);

}  // namespace ruvector::proto
