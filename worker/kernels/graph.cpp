#include "worker/kernels/graph.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

namespace {

void check_node_count(std::size_t n)
{
	// Node numbers travel as uint32.
	if (n > std::size_t(std::numeric_limits<std::uint32_t>::max()) + 1)
		throw std::invalid_argument("graph has " + std::to_string(n) + " nodes; at most 4294967296 are supported");
}

// Rebuilds g row by row: keep(i, e) says whether edge e of row i stays; loop(i, w) says whether
// row i gets one loop appended at its end, and sets its weight. Weights stay implicit (empty)
// when every resulting weight is 1 and g had none. Two passes (count, then fill), so the arrays
// are sized once.
template <class Keep, class Loop>
Csr rebuild(CsrView g, bool implicit_weights, const Keep &keep, const Loop &loop)
{
	Csr out;
	out.n = g.n;
	out.row_ptr.resize(g.n + 1);
	out.row_ptr[0] = 0;
	float w = 1.0f;
	for (std::size_t i = 0; i < g.n; i++) {
		std::uint64_t count = 0;
		for (std::uint64_t e = g.row_ptr[i]; e < g.row_ptr[i + 1]; e++)
			count += keep(i, std::size_t(e)) ? 1 : 0;
		out.row_ptr[i + 1] = out.row_ptr[i] + count + (loop(i, w) ? 1 : 0);
	}
	out.col.resize(out.row_ptr[g.n]);
	if (!implicit_weights)
		out.weight.resize(out.row_ptr[g.n]);
	for (std::size_t i = 0; i < g.n; i++) {
		std::uint64_t at = out.row_ptr[i];
		for (std::uint64_t e = g.row_ptr[i]; e < g.row_ptr[i + 1]; e++) {
			if (!keep(i, std::size_t(e)))
				continue;
			out.col[at] = g.col[e];
			if (!implicit_weights)
				out.weight[at] = g.edge_weight(std::size_t(e));
			at++;
		}
		if (loop(i, w)) {
			out.col[at] = std::uint32_t(i);
			if (!implicit_weights)
				out.weight[at] = w;
		}
	}
	return out;
}

}  // namespace

Csr build_csr(std::size_t n, std::span<const std::uint32_t> src, std::span<const std::uint32_t> dst,
              std::span<const float> weight)
{
	check_node_count(n);
	if (src.size() != dst.size())
		throw std::invalid_argument("edge lists differ in length: " + std::to_string(src.size()) + " sources, " +
		                            std::to_string(dst.size()) + " targets");
	if (!weight.empty() && weight.size() != src.size())
		throw std::invalid_argument("got " + std::to_string(weight.size()) + " edge weights for " +
		                            std::to_string(src.size()) + " edges");
	for (std::size_t e = 0; e < src.size(); e++)
		if (src[e] >= n || dst[e] >= n)
			throw std::invalid_argument("edge " + std::to_string(e) + " (" + std::to_string(src[e]) + " -> " +
			                            std::to_string(dst[e]) + ") refers to a node outside 0.." +
			                            (n ? std::to_string(n - 1) : std::string("(no nodes)")));

	// Counting sort by target; a stable scatter keeps each row in input order.
	Csr g;
	g.n = n;
	g.row_ptr.assign(n + 1, 0);
	for (std::uint32_t d : dst)
		g.row_ptr[d + 1]++;
	for (std::size_t i = 0; i < n; i++)
		g.row_ptr[i + 1] += g.row_ptr[i];
	std::vector<std::uint64_t> next(g.row_ptr.begin(), g.row_ptr.end() - 1);
	g.col.resize(src.size());
	if (!weight.empty())
		g.weight.resize(src.size());
	for (std::size_t e = 0; e < src.size(); e++) {
		std::uint64_t at = next[dst[e]]++;
		g.col[at] = src[e];
		if (!weight.empty())
			g.weight[at] = weight[e];
	}
	return g;
}

void validate(CsrView g)
{
	check_node_count(g.n);
	if (g.row_ptr.size() != g.n + 1)
		throw std::invalid_argument("graph row offsets: expected " + std::to_string(g.n + 1) + ", got " +
		                            std::to_string(g.row_ptr.size()));
	if (g.row_ptr[0] != 0 || g.row_ptr[g.n] != g.col.size())
		throw std::invalid_argument("graph row offsets do not span the edge list");
	for (std::size_t i = 0; i < g.n; i++)
		if (g.row_ptr[i + 1] < g.row_ptr[i])
			throw std::invalid_argument("graph row offsets decrease at node " + std::to_string(i));
	if (!g.weight.empty() && g.weight.size() != g.col.size())
		throw std::invalid_argument("graph has " + std::to_string(g.weight.size()) + " edge weights for " +
		                            std::to_string(g.col.size()) + " edges");
	for (std::uint32_t j : g.col)
		if (j >= g.n)
			throw std::invalid_argument("graph edge from node " + std::to_string(j) + " but the graph has " +
			                            std::to_string(g.n) + " nodes");
}

std::size_t max_in_degree(CsrView g) noexcept
{
	std::size_t m = 0;
	for (std::size_t i = 0; i < g.n; i++)
		m = std::max(m, g.in_degree(i));
	return m;
}

Csr remove_self_loops(CsrView g)
{
	return rebuild(
		g, g.weight.empty(), [&](std::size_t i, std::size_t e) { return g.col[e] != i; },
		[](std::size_t, float &) { return false; });
}

Csr add_self_loops(CsrView g, float fill_value)
{
	return rebuild(
		g, g.weight.empty() && fill_value == 1.0f, [](std::size_t, std::size_t) { return true; },
		[&](std::size_t, float &w) {
			w = fill_value;
			return true;
		});
}

Csr replace_self_loops(CsrView g, float fill_value)
{
	return rebuild(
		g, g.weight.empty() && fill_value == 1.0f, [&](std::size_t i, std::size_t e) { return g.col[e] != i; },
		[&](std::size_t, float &w) {
			w = fill_value;
			return true;
		});
}

Csr add_remaining_self_loops(CsrView g, float fill_value)
{
	return rebuild(
		g, g.weight.empty() && fill_value == 1.0f, [&](std::size_t i, std::size_t e) { return g.col[e] != i; },
		[&](std::size_t i, float &w) {
			w = fill_value;
			for (std::uint64_t e = g.row_ptr[i]; e < g.row_ptr[i + 1]; e++)
				if (g.col[e] == i)
					w = g.edge_weight(std::size_t(e));  // the last loop wins, as PyG's scatter assignment
			return true;
		});
}

Csr sample_neighbors(CsrView g, std::size_t sample_size, std::uint64_t seed)
{
	if (sample_size >= max_in_degree(g))
		return Csr{g.n, {g.row_ptr.begin(), g.row_ptr.end()}, {g.col.begin(), g.col.end()},
		           {g.weight.begin(), g.weight.end()}};
	Csr out;
	out.n = g.n;
	out.row_ptr.resize(g.n + 1);
	out.row_ptr[0] = 0;
	for (std::size_t i = 0; i < g.n; i++) {
		std::uint64_t lo = g.row_ptr[i], hi = g.row_ptr[i + 1];
		std::size_t deg = std::size_t(hi - lo);
		if (deg <= sample_size) {
			out.col.insert(out.col.end(), g.col.begin() + std::ptrdiff_t(lo), g.col.begin() + std::ptrdiff_t(hi));
			if (!g.weight.empty())
				out.weight.insert(out.weight.end(), g.weight.begin() + std::ptrdiff_t(lo),
				                  g.weight.begin() + std::ptrdiff_t(hi));
		} else {
			// Selection sampling (Knuth's algorithm S): one pass, picks come out in row order. A
			// stream per node, so a node's sample does not depend on the others.
			SplitMix64 rng(seed ^ SplitMix64(std::uint64_t(i)).next());
			std::size_t need = sample_size;
			for (std::size_t t = 0; t < deg && need > 0; t++) {
				if (rng.uniform() * double(deg - t) < double(need)) {
					out.col.push_back(g.col[lo + t]);
					if (!g.weight.empty())
						out.weight.push_back(g.weight[lo + t]);
					need--;
				}
			}
		}
		out.row_ptr[i + 1] = out.col.size();
	}
	return out;
}

std::vector<std::int32_t> hop_counts(CsrView g, std::size_t start, std::uint32_t max_hops)
{
	if (start >= g.n)
		throw std::invalid_argument("start node is out of range");
	// Out-edges: the in-edge rows transposed, so a hop can follow an edge from either end.
	std::vector<std::uint64_t> out_ptr(g.n + 1, 0);
	for (std::uint32_t s : g.col)
		out_ptr[std::size_t(s) + 1]++;
	for (std::size_t i = 0; i < g.n; i++)
		out_ptr[i + 1] += out_ptr[i];
	std::vector<std::uint32_t> out_col(g.col.size());
	{
		std::vector<std::uint64_t> fill(out_ptr.begin(), out_ptr.end() - 1);
		for (std::size_t d = 0; d < g.n; d++)
			for (std::uint64_t e = g.row_ptr[d]; e < g.row_ptr[d + 1]; e++)
				out_col[fill[g.col[e]]++] = std::uint32_t(d);
	}
	std::vector<std::int32_t> hops(g.n, -1);
	std::vector<std::uint32_t> frontier{std::uint32_t(start)}, next;
	hops[start] = 0;
	for (std::uint32_t depth = 1; depth <= max_hops && !frontier.empty(); depth++) {
		next.clear();
		auto visit = [&](std::uint32_t v) {
			if (hops[v] < 0) {
				hops[v] = std::int32_t(depth);
				next.push_back(v);
			}
		};
		for (std::uint32_t u : frontier) {
			for (std::uint64_t e = g.row_ptr[u]; e < g.row_ptr[u + 1]; e++)
				visit(g.col[e]);
			for (std::uint64_t e = out_ptr[u]; e < out_ptr[u + 1]; e++)
				visit(out_col[e]);
		}
		frontier.swap(next);
	}
	return hops;
}

}  // namespace ruvector::kernels
