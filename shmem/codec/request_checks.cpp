#include "shmem/codec/request_checks.hpp"

#include "shmem/codec/errors.hpp"
#include "worker/kernels/hnsw_graph.hpp"

#include <limits>

#include <stdexcept>
#include <string>

namespace ruvector::proto {

const kernels::MetricInfo &request_metric(kernels::Metric code, const char *what)
{
	const kernels::MetricInfo *m = kernels::find_metric(kernels::ElementType::float32, code);
	if (!m)
		throw std::invalid_argument(std::string(what) + ": unknown metric");
	return *m;
}

void check_kmeans_parameters(const KmeansRequest &req)
{
	if (!request_metric(req.metric, "k-means").kmeans)
		throw SqlStateError("22023", "k-means supports the l2, cosine and ip metrics",
		                    "L1 has no mean-based centroid update.");
	if (req.k < 1)
		throw std::invalid_argument("k must be at least 1");
	if (req.max_iterations < 1)
		throw std::invalid_argument("max_iterations must be at least 1");
}

void check_kmeans_rows(const KmeansRequest &req, std::string_view input)
{
	if (req.n == 0)
		throw SqlStateError("22000", "k-means needs at least one non-NULL vector",
		                    input.empty() ? std::string() : std::string(input) + " has no non-NULL values.");
	if (req.k > req.n)
		throw std::invalid_argument("k must be between 1 and the number of vectors (" + std::to_string(req.n) + ")");
}

void check_kmeans_request(const KmeansRequest &req)
{
	check_kmeans_parameters(req);
	check_kmeans_rows(req);
}

void check_assign_request(const AssignRequest &req)
{
	if (req.k < 1 || req.dim < 1)
		throw std::invalid_argument("assignment needs at least one centroid of at least one dimension");
	request_metric(req.metric, "assignment");
}

void check_graph_build_request(const GraphBuildRequest &req, std::uint64_t blob_bytes)
{
	if (req.dim == 0 || req.n == 0 || req.n * req.dim * sizeof(float) != blob_bytes)
		throw std::invalid_argument("graph build: the vectors do not match the request");
	if (req.row_begin > req.row_end || req.row_end > req.n)
		throw std::invalid_argument("graph build: row range out of bounds");
	request_metric(req.metric, "graph build");
	if (!req.epsilon_mode && (req.k == 0 || req.k > 10000))
		throw std::invalid_argument("k must be between 1 and 10000");
}

const kernels::MetricInfo &hnsw_metric(const HnswBuildRequest &req)
{
	const kernels::MetricInfo *m = kernels::find_metric_code(req.metric);
	if (!m)
		throw std::invalid_argument("hnsw build: unknown metric code " + std::to_string(req.metric));
	// The graph build takes fixed-stride rows; sparse indexes are built by the on-disk insert path.
	if (m->element().variable_size())
		throw std::invalid_argument("hnsw build: variable-size rows (" + std::string(m->element().sql_type) +
		                            ") are not built by the worker");
	return *m;
}

std::uint64_t hnsw_build_bytes(const HnswBuildRequest &req)
{
	kernels::hnsw::BuildParams p;
	p.m = req.m;
	// The rows, and the copy a large float32 build works on (BuildParams::locality_min_bytes).
	return kernels::hnsw::graph_bytes(req.n, p) + 2 * req.n * hnsw_metric(req).row_bytes(req.dim);
}

namespace {

std::string megabytes(std::uint64_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MB"; }

}  // namespace

void check_hnsw_build_request(const HnswBuildRequest &req)
{
	if (req.m < 2 || req.m > 100)
		throw SqlStateError("22023", "m must be between 2 and 100", "The request has m = " + std::to_string(req.m) + ".");
	if (req.ef_construction < 4 || req.ef_construction > 1000)
		throw SqlStateError("22023", "ef_construction must be between 4 and 1000",
		                    "The request has ef_construction = " + std::to_string(req.ef_construction) + ".");
	if (req.ef_construction < 2 * req.m)
		throw SqlStateError("22023", "ef_construction must be greater than or equal to 2 * m");
	if (req.dim == 0)
		throw SqlStateError("22023", "hnsw build: dimensions must be greater than 0");
	const kernels::MetricInfo &metric = hnsw_metric(req);
	if (req.max_level > 255)
		throw std::invalid_argument("hnsw build: max_level must be at most 255");
	if (req.n > std::uint64_t(std::numeric_limits<std::int32_t>::max()) ||
	    req.n > (std::uint64_t(1) << 40) / metric.row_bytes(req.dim))
		throw SqlStateError("54000", "too many rows for an hnsw graph",
		                    "The build has " + std::to_string(req.n) + " rows of " +
		                        std::to_string(metric.row_bytes(req.dim)) + " bytes.");
	const std::uint64_t need = hnsw_build_bytes(req);
	if (req.memory_budget != 0 && need > req.memory_budget)
		throw SqlStateError("53200", "hnsw graph does not fit into maintenance_work_mem",
		                    "The graph of " + std::to_string(req.n) + " rows and the rows need " + megabytes(need) +
		                        "; maintenance_work_mem is " + megabytes(req.memory_budget) + ".",
		                    "Increase maintenance_work_mem to at least " + megabytes(need) + ".");
}

}  // namespace ruvector::proto
