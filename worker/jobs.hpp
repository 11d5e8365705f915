// Worker jobs: what runs on the TBB threads for each request kind. PG-free: inputs are plain
// pointers the worker's main thread resolved, outputs are bytes the main thread streams back.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include "shmem/codec/protocol.hpp"
#include "worker/kernels/cancel.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace ruvector::jobs {

// Each run_* takes a request the worker checked on receipt (shmem/codec/request_checks.hpp) and
// answers in the reply format protocol.hpp declares for its kind.

std::vector<std::byte> run_kmeans(const proto::KmeansRequest &req, const float *data, kernels::CancelToken cancel);

// GNN forward: decode the model, run it over the graph blob (read in place when it starts 8-byte
// aligned, else from one aligned copy), answer GnnForwardResult + ids + rows. A kernels::NodeError
// becomes a proto::SqlStateError naming the node by its id: 22003 for an overflow, 22023 for a negative GCN degree.
// When the whole reply fits in `room` (the reply's DSA allocation, named `room_dp`), it is written
// there and the answer is its header alone, in_dsa set.
std::vector<std::byte> run_gnn_forward(std::span<const std::byte> model, std::span<const std::byte> graph,
                                       kernels::CancelToken cancel, std::span<std::byte> room = {},
                                       std::uint64_t room_dp = 0);

// k-NN / epsilon graph edges for a row range (GraphBuildRequest's response).
std::vector<std::byte> run_graph_build(const proto::GraphBuildRequest &req, const float *base, kernels::CancelToken cancel);

// Nearest-centroid labels for an index build. data = k centroids, then n rows (both dim floats).
// Result: n int32 labels. Ties go to the lower list number.
std::vector<std::byte> run_assign(const proto::AssignRequest &req, const float *data, kernels::CancelToken cancel);

// The HNSW graph of req.n rows (checked by check_hnsw_build_request, memory included), on the
// arena's threads; the reply is encode_hnsw_graph_reply's.
std::vector<std::byte> run_hnsw_build(const proto::HnswBuildRequest &req, const std::byte *rows, kernels::CancelToken cancel);

}  // namespace ruvector::jobs
