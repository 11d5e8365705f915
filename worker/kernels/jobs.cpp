#include "worker/kernels/jobs.hpp"

#include "worker/kernels/kmeans.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace ruvector::jobs {

void check_kmeans_request(const proto::KmeansRequest &req)
{
	if (req.n == 0)
		throw std::invalid_argument("k-means needs at least one non-NULL vector");
	if (req.k < 1 || req.k > req.n)
		throw std::invalid_argument("k must be between 1 and the number of vectors (" + std::to_string(req.n) + ")");
	if (req.max_iterations < 1)
		throw std::invalid_argument("max_iterations must be at least 1");
	if (req.metric == proto::KmeansMetric::l1)
		throw std::invalid_argument("k-means supports the l2, cosine and ip metrics");
}

std::vector<std::byte> run_kmeans(const proto::KmeansRequest &req, const float *data, kernels::CancelToken cancel)
{
	check_kmeans_request(req);
	kernels::KmeansOptions opts;
	opts.k = int(req.k);
	opts.max_iterations = int(req.max_iterations);
	opts.seed = req.seed;
	opts.spherical = req.metric == proto::KmeansMetric::cosine || req.metric == proto::KmeansMetric::inner_product;
	kernels::KmeansResult r = kernels::kmeans(data, req.n, req.dim, opts, cancel);

	KmeansResultHeader h{req.k, req.dim, std::uint32_t(r.iterations), 0, r.objective};
	proto::Writer w;
	w.put(h);
	for (std::uint32_t c = 0; c < req.k; c++) {
		w.put(std::int64_t(r.sizes[c]));
		w.put_bytes(std::as_bytes(std::span(r.centroids.data() + std::size_t(c) * req.dim, req.dim)));
	}
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

}  // namespace ruvector::jobs
