#include "worker/jobs.hpp"

#include "shmem/codec/errors.hpp"
#include "shmem/codec/request_checks.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/gnn_model.hpp"
#include "worker/kernels/hnsw_graph.hpp"
#include "worker/kernels/knn.hpp"
#include "worker/kernels/kmeans.hpp"
#include "worker/kernels/metric.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ruvector::jobs {

using proto::request_metric;

std::vector<std::byte> run_kmeans(const proto::KmeansRequest &req, const float *data, kernels::CancelToken cancel)
{
	kernels::KmeansOptions opts;
	opts.k = int(req.k);
	opts.max_iterations = int(req.max_iterations);
	opts.seed = req.seed;
	opts.spherical = request_metric(req.metric, "k-means").spherical;
	kernels::KmeansResult r = kernels::kmeans(data, req.n, req.dim, opts, cancel);

	proto::KmeansResultHeader h{req.k, req.dim, std::uint32_t(r.iterations), 0, r.objective};
	return proto::encode_kmeans_reply(h, r.sizes, r.centroids);
}

namespace {

// What a NodeError means to the user: the node by its id, the layer by its number and type.
// From a readout on, rows are graphs, named by their keys.
proto::SqlStateError node_error(const kernels::NodeError &e, const kernels::GnnModel &m, std::span<const std::int64_t> ids)
{
	bool graph_rows = false;
	for (std::size_t k = 0; k <= e.layer && k < m.layers.size(); k++)
		graph_rows = graph_rows || kernels::is_readout(m.layers[k].type);
	if (graph_rows)
		ids = m.graph_ids;
	const std::string node = e.node < ids.size() ? std::to_string(ids[e.node]) : "#" + std::to_string(e.node);
	std::string layer = "layer " + std::to_string(e.layer);
	if (e.layer < m.layers.size())
		layer += std::string(" (") + kernels::layer_type_name(m.layers[e.layer].type) + ")";
	if (e.kind == kernels::NodeError::Kind::overflow)
		return {"22003", "value out of range: overflow",
				"The output of GNN " + layer + " for " + (graph_rows ? "graph " : "node ") + node +
					" does not fit in real (float4).",
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
                                       kernels::CancelToken cancel, std::span<std::byte> room, std::uint64_t room_dp)
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
	h.out_dim = model.layers.back().out_dim;
	// A model ending in a readout gives one row per graph, named by its key; otherwise one per node.
	const std::vector<std::int64_t> whole{0};
	std::span<const std::int64_t> ids = g.ids;
	if (kernels::has_readout(model))
		ids = model.graph_ids.empty() ? std::span<const std::int64_t>(whole) : std::span<const std::int64_t>(model.graph_ids);
	h.nodes = ids.size();
	if (proto::gnn_reply_bytes(h.nodes, h.out_dim) > room.size())
		return proto::encode_gnn_forward_reply(h, ids, y);
	// Straight into the reply's allocation: header, ids, then the rows, copied in parallel blocks.
	std::byte *out = room.data();
	std::memcpy(out, &h, sizeof h);
	std::memcpy(out + sizeof h, ids.data(), sizeof(std::int64_t) * h.nodes);
	std::byte *rows = out + sizeof h + sizeof(std::int64_t) * h.nodes;
	const std::size_t total = sizeof(float) * y.size(), block = std::size_t(1) << 20;
	tbb::parallel_for(std::size_t(0), (total + block - 1) / block, [&](std::size_t b) {
		std::size_t from = b * block;
		std::memcpy(rows + from, reinterpret_cast<const std::byte *>(y.data()) + from, std::min(block, total - from));
	});
	h.in_dsa = 1;  // the answer: where the reply is
	h.reply_dp = room_dp;
	h.reply_alloc = room.size();
	return proto::encode_gnn_forward_reply(h);
}

std::vector<std::byte> run_graph_build(const proto::GraphBuildRequest &req, const float *base, kernels::CancelToken cancel)
{
	const kernels::MetricInfo &metric = request_metric(req.metric, "graph build");
	if (!req.epsilon_mode) {
		std::vector<std::byte> out(proto::knn_reply_bytes(req));
		kernels::knn_rows(base, req.n, req.dim, metric, req.row_begin, req.row_end, req.k,
		                  reinterpret_cast<kernels::Neighbor *>(out.data()), cancel);
		return out;
	}
	std::vector<kernels::EpsEdge> edges =
		kernels::eps_rows(base, req.n, req.dim, metric, req.row_begin, req.row_end, req.epsilon, req.max_edges, cancel);
	return proto::encode_eps_reply(edges);
}

std::vector<std::byte> run_assign(const proto::AssignRequest &req, const float *data, kernels::CancelToken cancel)
{
	const float *centroids = data;
	const float *rows = data + std::size_t(req.k) * req.dim;
	std::vector<std::byte> out(proto::assign_reply_bytes(req));
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

std::vector<std::byte> run_hnsw_build(const proto::HnswBuildRequest &req, const std::byte *rows, kernels::CancelToken cancel)
{
	kernels::hnsw::BuildParams p;
	p.m = req.m;
	p.ef_construction = req.ef_construction;
	p.max_level = req.max_level;
	p.seed = req.seed;
	// The graph goes as soon as it is encoded: the reply alone is sent.
	return proto::encode_hnsw_graph_reply(kernels::hnsw::build(proto::hnsw_metric(req), rows, req.n, req.dim, p, cancel));
}

}  // namespace ruvector::jobs
