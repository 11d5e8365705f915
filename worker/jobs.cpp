#include "worker/jobs.hpp"

#include "shmem/codec/errors.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/gnn_model.hpp"
#include "worker/kernels/knn.hpp"
#include "worker/kernels/kmeans.hpp"
#include "worker/kernels/metric.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ruvector::jobs {

namespace {

// The table entry of a request's metric code (the worker's inputs are float32 rows).
const kernels::MetricInfo &request_metric(kernels::Metric code, const char *what)
{
	const kernels::MetricInfo *m = kernels::find_metric(kernels::ElementType::float32, code);
	if (!m)
		throw std::invalid_argument(std::string(what) + ": unknown metric");
	return *m;
}

}  // namespace

void check_kmeans_request(const proto::KmeansRequest &req)
{
	if (req.n == 0)
		throw std::invalid_argument("k-means needs at least one non-NULL vector");
	if (req.k < 1 || req.k > req.n)
		throw std::invalid_argument("k must be between 1 and the number of vectors (" + std::to_string(req.n) + ")");
	if (req.max_iterations < 1)
		throw std::invalid_argument("max_iterations must be at least 1");
	if (!request_metric(req.metric, "k-means").kmeans)
		throw std::invalid_argument("k-means supports the l2, cosine and ip metrics");
}

std::vector<std::byte> run_kmeans(const proto::KmeansRequest &req, const float *data, kernels::CancelToken cancel)
{
	check_kmeans_request(req);
	kernels::KmeansOptions opts;
	opts.k = int(req.k);
	opts.max_iterations = int(req.max_iterations);
	opts.seed = req.seed;
	opts.spherical = request_metric(req.metric, "k-means").spherical;
	kernels::KmeansResult r = kernels::kmeans(data, req.n, req.dim, opts, cancel);

	proto::KmeansResultHeader h{req.k, req.dim, std::uint32_t(r.iterations), 0, r.objective};
	proto::Writer w;
	w.put(h);
	for (std::uint32_t c = 0; c < req.k; c++) {
		w.put(std::int64_t(r.sizes[c]));
		w.put_bytes(std::as_bytes(std::span(r.centroids.data() + std::size_t(c) * req.dim, req.dim)));
	}
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

namespace {

// What a NodeError means to the user: the node by its id, the layer by its number and type.
proto::SqlStateError node_error(const kernels::NodeError &e, const kernels::GnnModel &m, std::span<const std::int64_t> ids)
{
	const std::string node = e.node < ids.size() ? std::to_string(ids[e.node]) : "#" + std::to_string(e.node);
	std::string layer = "layer " + std::to_string(e.layer);
	if (e.layer < m.layers.size())
		layer += std::string(" (") + kernels::layer_type_name(m.layers[e.layer].type) + ")";
	if (e.kind == kernels::NodeError::Kind::overflow)
		return {"22003", "value out of range: overflow",
				"The output of GNN " + layer + " for node " + node + " does not fit in real (float4).",
				"Scale the embeddings, edge weights or model weights down."};
	char deg[32];
	std::snprintf(deg, sizeof deg, "%g", e.value);
	return {"22023", "GCN normalisation needs a non-negative weighted in-degree",
			"Node " + node + " has weighted in-degree " + deg + " (the weights of its in-edges and its self-loop) in GNN " +
				layer + ".",
			"Use non-negative edge weights, or a GCN layer with \"normalize\": false."};
}

}  // namespace

std::vector<std::byte> run_gnn_forward(std::span<const std::byte> model_bytes, std::span<const std::byte> graph_bytes,
                                       kernels::CancelToken cancel)
{
	auto start = std::chrono::steady_clock::now();
	kernels::GnnModel model = kernels::decode_gnn_model(model_bytes);
	std::vector<std::uint64_t> aligned;  // a copy only when the blob is misaligned
	kernels::GraphView g = kernels::view_graph(graph_bytes, aligned);
	std::vector<float> y;
	try {
		y = kernels::run_model(model, g.csr, g.x, g.dim, cancel);
	} catch (const kernels::NodeError &e) {
		throw node_error(e, model, g.ids);
	}
	proto::GnnForwardResult h;
	h.compute_ns = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
	h.nodes = g.csr.n;
	h.out_dim = model.layers.back().out_dim;
	proto::Writer w;
	w.put(h);
	w.put_bytes(std::as_bytes(std::span(g.ids)));
	w.put_bytes(std::as_bytes(std::span(y)));
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

void check_graph_build_request(const proto::GraphBuildRequest &req, std::uint64_t blob_bytes)
{
	if (req.dim == 0 || req.n == 0 || req.n * req.dim * sizeof(float) != blob_bytes)
		throw std::invalid_argument("graph build: the vectors do not match the request");
	if (req.row_begin > req.row_end || req.row_end > req.n)
		throw std::invalid_argument("graph build: row range out of bounds");
	request_metric(req.metric, "graph build");
	if (!req.epsilon_mode && (req.k == 0 || req.k > 10000))
		throw std::invalid_argument("k must be between 1 and 10000");
}

std::vector<std::byte> run_graph_build(const proto::GraphBuildRequest &req, const float *base, kernels::CancelToken cancel)
{
	const kernels::MetricInfo &metric = request_metric(req.metric, "graph build");
	std::size_t rows = req.row_end - req.row_begin;
	if (!req.epsilon_mode) {
		std::vector<std::byte> out(rows * req.k * sizeof(kernels::Neighbor));
		kernels::knn_rows(base, req.n, req.dim, metric, req.row_begin, req.row_end, req.k,
		                  reinterpret_cast<kernels::Neighbor *>(out.data()), cancel);
		return out;
	}
	std::vector<kernels::EpsEdge> edges =
		kernels::eps_rows(base, req.n, req.dim, metric, req.row_begin, req.row_end, req.epsilon, req.max_edges, cancel);
	proto::Writer w;
	w.put(std::uint64_t(edges.size()));
	w.put_bytes(std::as_bytes(std::span(edges)));
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

void check_assign_request(const proto::AssignRequest &req)
{
	if (req.k < 1 || req.dim < 1)
		throw std::invalid_argument("assignment needs at least one centroid of at least one dimension");
	request_metric(req.metric, "assignment");
}

std::vector<std::byte> run_assign(const proto::AssignRequest &req, const float *data, kernels::CancelToken cancel)
{
	check_assign_request(req);
	const float *centroids = data;
	const float *rows = data + std::size_t(req.k) * req.dim;
	std::vector<std::byte> out(req.n * sizeof(std::int32_t));
	auto *labels = reinterpret_cast<std::int32_t *>(out.data());
	const kernels::MetricInfo &metric = request_metric(req.metric, "assignment");
	if (metric.from_dots) {
		kernels::assign_nearest(rows, req.n, req.dim, centroids, req.k, metric.spherical, labels, nullptr, cancel);
		return out;
	}
	// No GEMM form (l1): one ordering distance per (row, centroid) pair.
	tbb::parallel_for(tbb::blocked_range<std::size_t>(0, req.n, 256), [&](const tbb::blocked_range<std::size_t> &r) {
		if (cancel.requested())
			return;
		for (std::size_t i = r.begin(); i < r.end(); i++) {
			const float *x = rows + i * req.dim;
			float best = metric.order(kernels::as_row(x), kernels::as_row(centroids), req.dim);
			std::int32_t label = 0;
			for (std::uint32_t c = 1; c < req.k; c++) {
				float d = metric.order(kernels::as_row(x), kernels::as_row(centroids + std::size_t(c) * req.dim), req.dim);
				if (d < best) {
					best = d;
					label = std::int32_t(c);
				}
			}
			labels[i] = label;
		}
	});
	cancel.check();
	return out;
}

}  // namespace ruvector::jobs
