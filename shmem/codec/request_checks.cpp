#include "shmem/codec/request_checks.hpp"

#include "shmem/codec/errors.hpp"

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

}  // namespace ruvector::proto
