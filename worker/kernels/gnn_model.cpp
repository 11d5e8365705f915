#include "worker/kernels/gnn_model.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

const char *layer_type_name(LayerType t) noexcept
{
	switch (t) {
	case LayerType::gcn:
		return "gcn";
	case LayerType::sage:
		return "sage";
	case LayerType::gin:
		return "gin";
	case LayerType::gat:
		return "gat";
	case LayerType::global_add_pool:
		return "global_add_pool";
	case LayerType::global_mean_pool:
		return "global_mean_pool";
	case LayerType::global_max_pool:
		return "global_max_pool";
	case LayerType::attentional_aggregation:
		return "attentional_aggregation";
	case LayerType::set2set:
		return "set2set";
	case LayerType::linear:
		return "linear";
	}
	return "unknown";
}

bool is_readout(LayerType t) noexcept
{
	switch (t) {
	case LayerType::global_add_pool:
	case LayerType::global_mean_pool:
	case LayerType::global_max_pool:
	case LayerType::attentional_aggregation:
	case LayerType::set2set:
		return true;
	default:
		return false;
	}
}

const GnnParam *GnnLayer::param(std::string_view name) const noexcept
{
	for (const auto &p : params)
		if (p.name == name)
			return &p;
	return nullptr;
}

/* Encoding: the protocol's Writer/Reader, one field after the other. */

std::vector<std::byte> encode(const GnnModel &m)
{
	proto::Writer w;
	w.put(std::uint32_t(0x474e4e32));  // "GNN2"
	w.put(std::uint8_t(m.relu_between));
	w.put(m.sample_size);
	w.put(m.seed);
	w.put(std::uint32_t(m.layers.size()));
	for (const auto &l : m.layers) {
		w.put(l.type);
		w.put(l.in_dim);
		w.put(l.out_dim);
		w.put(std::uint8_t(l.add_self_loops));
		w.put(std::uint8_t(l.normalize));
		w.put(l.aggr);
		w.put(std::uint8_t(l.root_weight));
		w.put(std::uint8_t(l.project));
		w.put(std::uint32_t(l.aggrs.size()));
		for (Aggr a : l.aggrs)
			w.put(a);
		w.put(std::uint8_t(l.attn));
		w.put(l.eps);
		w.put(std::uint32_t(l.mlp.size()));
		for (auto s : l.mlp)
			w.put(s);
		w.put(std::uint32_t(l.nn_mlp.size()));
		for (auto s : l.nn_mlp)
			w.put(s);
		w.put(l.processing_steps);
		w.put(l.heads);
		w.put(std::uint8_t(l.concat));
		w.put(l.negative_slope);
		w.put(std::uint32_t(l.params.size()));
		for (const auto &p : l.params) {
			w.put_string(p.name);
			w.put(std::uint32_t(p.shape.size()));
			for (auto d : p.shape)
				w.put(d);
			w.put(std::uint64_t(p.data.size()));
			w.put_bytes(std::as_bytes(std::span(p.data)));
		}
	}
	w.put(std::uint64_t(m.batch.size()));
	w.put_bytes(std::as_bytes(std::span(m.batch)));
	w.put(std::uint64_t(m.graph_ids.size()));
	w.put_bytes(std::as_bytes(std::span(m.graph_ids)));
	auto b = w.bytes();
	return {b.begin(), b.end()};
}

GnnModel decode_gnn_model(std::span<const std::byte> bytes)
{
	proto::Reader r(bytes);
	if (r.get<std::uint32_t>() != 0x474e4e32)
		throw std::invalid_argument("not a ruvector GNN model");
	GnnModel m;
	m.relu_between = r.get<std::uint8_t>() != 0;
	m.sample_size = r.get<std::uint32_t>();
	m.seed = r.get<std::uint64_t>();
	std::uint32_t nl = r.get<std::uint32_t>();
	if (nl > 1024)
		throw std::invalid_argument("too many GNN layers");
	m.layers.resize(nl);
	for (auto &l : m.layers) {
		l.type = r.get<LayerType>();
		if (std::uint8_t(l.type) > std::uint8_t(kLastLayerType))
			throw std::invalid_argument("unknown GNN layer type");
		l.in_dim = r.get<std::uint32_t>();
		l.out_dim = r.get<std::uint32_t>();
		l.add_self_loops = r.get<std::uint8_t>() != 0;
		l.normalize = r.get<std::uint8_t>() != 0;
		l.aggr = r.get<Aggr>();
		if (std::uint8_t(l.aggr) > std::uint8_t(Aggr::lstm))
			throw std::invalid_argument("unknown SAGE aggregation");
		l.root_weight = r.get<std::uint8_t>() != 0;
		l.project = r.get<std::uint8_t>() != 0;
		std::uint32_t na = r.get<std::uint32_t>();
		if (na > 64)
			throw std::invalid_argument("too many SAGE aggregations");
		l.aggrs.resize(na);
		for (Aggr &a : l.aggrs) {
			a = r.get<Aggr>();
			if (std::uint8_t(a) > std::uint8_t(Aggr::lstm))
				throw std::invalid_argument("unknown SAGE aggregation");
		}
		l.attn = r.get<std::uint8_t>() != 0;
		l.eps = r.get<float>();
		for (auto *steps : {&l.mlp, &l.nn_mlp}) {
			std::uint32_t ns = r.get<std::uint32_t>();
			if (ns > kMaxMlpSteps)
				throw std::invalid_argument("GNN MLP too long");
			steps->resize(ns);
			for (auto &s : *steps)
				s = r.get<std::uint8_t>();
		}
		l.processing_steps = r.get<std::uint32_t>();
		l.heads = r.get<std::uint32_t>();
		l.concat = r.get<std::uint8_t>() != 0;
		l.negative_slope = r.get<float>();
		std::uint32_t np = r.get<std::uint32_t>();
		if (np > 4096)
			throw std::invalid_argument("too many GNN parameters");
		l.params.resize(np);
		for (auto &p : l.params) {
			p.name = std::string(r.get_string());
			std::uint32_t nd = r.get<std::uint32_t>();
			if (nd > 8)
				throw std::invalid_argument("GNN parameter of too many dimensions");
			p.shape.resize(nd);
			for (auto &d : p.shape)
				d = r.get<std::uint32_t>();
			std::uint64_t count = r.get<std::uint64_t>();
			auto b = r.take(count * sizeof(float));
			p.data.resize(count);
			std::memcpy(p.data.data(), b.data(), b.size());
		}
	}
	std::uint64_t nb = r.get<std::uint64_t>();
	if (nb > (std::uint64_t(1) << 32))
		throw std::invalid_argument("GNN model batch out of range");
	auto bb = r.take(nb * sizeof(std::uint32_t));
	m.batch.resize(nb);
	std::memcpy(m.batch.data(), bb.data(), bb.size());
	std::uint64_t ng = r.get<std::uint64_t>();
	if (ng > (std::uint64_t(1) << 32))
		throw std::invalid_argument("GNN model graph ids out of range");
	auto gb = r.take(ng * sizeof(std::int64_t));
	m.graph_ids.resize(ng);
	std::memcpy(m.graph_ids.data(), gb.data(), gb.size());
	if (!r.at_end())
		throw std::invalid_argument("trailing bytes after a GNN model");
	return m;
}

/* Checking and running */

namespace {

std::string where(std::size_t k, const GnnLayer &l)
{
	return "layer " + std::to_string(k) + " (" + layer_type_name(l.type) + ")";
}

const GnnParam &need(std::size_t k, const GnnLayer &l, const char *name, std::size_t rows, std::size_t cols)
{
	const GnnParam *p = l.param(name);
	if (!p)
		throw std::invalid_argument(where(k, l) + ": missing \"" + name + "\"");
	std::size_t count = rows * (cols ? cols : 1);
	if (p->data.size() != count)
		throw std::invalid_argument(where(k, l) + ": \"" + name + "\" has " + std::to_string(p->data.size()) +
		                            " values, expected " + std::to_string(count));
	return *p;
}

std::span<const float> optional(std::size_t k, const GnnLayer &l, const char *name, std::size_t count)
{
	const GnnParam *p = l.param(name);
	if (!p)
		return {};
	if (p->data.size() != count)
		throw std::invalid_argument(where(k, l) + ": \"" + name + "\" has " + std::to_string(p->data.size()) +
		                            " values, expected " + std::to_string(count));
	return p->data;
}

Linear linear(std::size_t k, const GnnLayer &l, const std::string &prefix, std::size_t in, std::size_t out,
              bool with_bias)
{
	const GnnParam &w = need(k, l, (prefix + "weight").c_str(), out, in);
	Linear lin;
	lin.weight = w.data;
	lin.in = in;
	lin.out = out;
	if (with_bias)
		lin.bias = optional(k, l, (prefix + "bias").c_str(), out);
	return lin;
}

// An MLP's steps (GIN's nn.K, attentional aggregation's gate_nn.K / nn.K); Linear widths follow
// the stored weight shapes, starting from in_dim. Returns the steps; out gets the final width.
std::vector<MlpStep> mlp_steps(std::size_t k, const GnnLayer &l, const std::vector<std::uint8_t> &kinds,
                               const std::string &key, std::size_t in_dim, std::size_t &out)
{
	std::vector<MlpStep> steps;
	std::size_t width = in_dim;
	for (std::size_t i = 0; i < kinds.size(); i++) {
		if (kinds[i] == 1) {
			steps.emplace_back(Relu{});
			continue;
		}
		std::string prefix = key + "." + std::to_string(i) + ".";
		const GnnParam *w = l.param(prefix + "weight");
		if (!w || w->shape.size() != 2 || w->shape[1] != width)
			throw std::invalid_argument(where(k, l) + ": \"" + prefix + "weight\" must be [out, " +
			                            std::to_string(width) + "]");
		std::size_t o = w->shape[0];
		steps.emplace_back(linear(k, l, prefix, width, o, true));
		width = o;
	}
	out = width;
	return steps;
}

// The GIN MLP's steps.
std::vector<MlpStep> gin_mlp(std::size_t k, const GnnLayer &l)
{
	std::size_t width = 0;
	std::vector<MlpStep> steps = mlp_steps(k, l, l.mlp, "nn", l.in_dim, width);
	if (width != l.out_dim)
		throw std::invalid_argument(where(k, l) + ": the MLP ends at width " + std::to_string(width) + ", expected " +
		                            std::to_string(l.out_dim));
	return steps;
}

Lstm lstm_params(std::size_t k, const GnnLayer &l, const std::string &prefix, std::size_t in, std::size_t hidden)
{
	Lstm p;
	p.in = in;
	p.hidden = hidden;
	p.weight_ih = need(k, l, (prefix + "weight_ih_l0").c_str(), 4 * hidden, in).data;
	p.weight_hh = need(k, l, (prefix + "weight_hh_l0").c_str(), 4 * hidden, hidden).data;
	p.bias_ih = optional(k, l, (prefix + "bias_ih_l0").c_str(), 4 * hidden);
	p.bias_hh = optional(k, l, (prefix + "bias_hh_l0").c_str(), 4 * hidden);
	return p;
}

// A readout over x (one row per node); batch empty = one graph.
std::vector<float> run_readout(std::size_t k, const GnnLayer &l, std::span<const float> x, const GnnModel &m,
                               std::size_t nodes, CancelToken cancel)
{
	std::vector<std::uint32_t> one;
	std::span<const std::uint32_t> batch = m.batch;
	std::size_t graphs = m.graph_ids.size();
	if (m.batch.empty()) {
		one.assign(nodes, 0);
		batch = one;
		graphs = 1;
	} else if (m.batch.size() != nodes) {
		throw std::invalid_argument(where(k, l) + ": the batch assigns " + std::to_string(m.batch.size()) +
		                            " nodes to graphs, the graph has " + std::to_string(nodes));
	}
	const std::size_t d = l.in_dim;
	switch (l.type) {
	case LayerType::global_add_pool:
		return global_pool(x, d, batch, graphs, Pool::add, cancel);
	case LayerType::global_mean_pool:
		return global_pool(x, d, batch, graphs, Pool::mean, cancel);
	case LayerType::global_max_pool:
		return global_pool(x, d, batch, graphs, Pool::max, cancel);
	case LayerType::attentional_aggregation: {
		std::size_t gw = 0, out = d;
		std::vector<MlpStep> gate = mlp_steps(k, l, l.mlp, "gate_nn", d, gw);
		std::vector<MlpStep> nn = mlp_steps(k, l, l.nn_mlp, "nn", d, out);
		if (out != l.out_dim)
			throw std::invalid_argument(where(k, l) + ": nn ends at width " + std::to_string(out) + ", expected " +
			                            std::to_string(l.out_dim));
		return attentional_aggregation(x, d, batch, graphs, gate, nn, cancel);
	}
	case LayerType::set2set:
		return set2set(x, d, batch, graphs, lstm_params(k, l, "lstm.", 2 * d, d), l.processing_steps, cancel);
	default:
		break;
	}
	throw std::invalid_argument(where(k, l) + ": not a readout");
}

std::vector<float> run_layer(std::size_t k, const GnnLayer &l, CsrView g, std::span<const float> x,
                             const GnnModel &m, CancelToken cancel)
{
	switch (l.type) {
	case LayerType::gcn: {
		Linear lin = linear(k, l, "lin.", l.in_dim, l.out_dim, false);
		lin.bias = optional(k, l, "bias", l.out_dim);
		return gcn_conv(g, x, lin, GcnOptions{l.add_self_loops, l.normalize}, cancel);
	}
	case LayerType::sage: {
		SageParams p;
		const std::size_t A = l.aggrs.size();
		// lin_l reads the aggregate: in wide, A x in for MultiAggregation "cat", C for "attn".
		std::size_t aw = l.in_dim;
		if (A > 0 && l.attn) {
			const GnnParam *w0 = l.param("aggr_module.lin_heads.lins.0.weight");
			if (!w0 || w0->shape.size() != 2)
				throw std::invalid_argument(where(k, l) + ": missing \"aggr_module.lin_heads.lins.0.weight\"");
			aw = w0->shape[0];
			for (std::size_t a = 0; a < A; a++)
				p.lin_heads.push_back(linear(k, l, "aggr_module.lin_heads.lins." + std::to_string(a) + ".", l.in_dim, aw, true));
			p.in_proj_weight = need(k, l, "aggr_module.multihead_attn.in_proj_weight", 3 * aw, aw).data;
			p.in_proj_bias = optional(k, l, "aggr_module.multihead_attn.in_proj_bias", 3 * aw);
			p.out_proj = linear(k, l, "aggr_module.multihead_attn.out_proj.", aw, aw, true);
		} else if (A > 0) {
			aw = A * l.in_dim;
		}
		p.lin_l = linear(k, l, "lin_l.", aw, l.out_dim, true);
		if (l.root_weight)
			p.lin_r = linear(k, l, "lin_r.", l.in_dim, l.out_dim, true);
		if (l.project)
			p.lin = linear(k, l, "lin.", l.in_dim, l.in_dim, true);
		if (A == 0 && l.aggr == Aggr::lstm)
			p.lstm = lstm_params(k, l, "aggr_module.lstm.", l.in_dim, l.in_dim);
		SageOptions opts;
		opts.aggr = l.aggr;
		opts.normalize = l.normalize;
		opts.root_weight = l.root_weight;
		opts.project = l.project;
		opts.aggrs = l.aggrs;
		opts.attn = l.attn;
		opts.heads = l.heads;
		if (m.sample_size > 0) {
			Csr sampled = sample_neighbors(g, m.sample_size, m.seed + 0x9e3779b97f4a7c15ULL * (k + 1));
			return sage_conv(sampled, x, p, opts, cancel);
		}
		return sage_conv(g, x, p, opts, cancel);
	}
	case LayerType::gin: {
		std::vector<MlpStep> mlp = gin_mlp(k, l);
		return gin_conv(g, x, l.in_dim, mlp, l.eps, cancel);
	}
	case LayerType::gat: {
		if (l.heads == 0)
			throw std::invalid_argument(where(k, l) + ": heads must be at least 1");
		std::size_t width = l.concat ? l.out_dim : std::size_t(l.out_dim) * l.heads;
		if (width % l.heads != 0)
			throw std::invalid_argument(where(k, l) + ": output width is not a multiple of heads");
		GatParams p;
		p.in = l.in_dim;
		p.heads = l.heads;
		p.channels = width / l.heads;
		p.weight = need(k, l, "lin.weight", width, l.in_dim).data;
		p.att_src = need(k, l, "att_src", width, 0).data;
		p.att_dst = need(k, l, "att_dst", width, 0).data;
		p.bias = optional(k, l, "bias", l.out_dim);
		GatOptions opts;
		opts.concat = l.concat;
		opts.negative_slope = l.negative_slope;
		opts.add_self_loops = l.add_self_loops;
		return gat_conv(g, x, p, opts, cancel);
	}
	case LayerType::linear: {
		MlpStep lin = linear(k, l, "", l.in_dim, l.out_dim, true);
		return mlp_rows(x, x.size() / std::max<std::size_t>(l.in_dim, 1), l.in_dim, std::span(&lin, 1), cancel);
	}
	default:
		return run_readout(k, l, x, m, g.n, cancel);
	}
	throw std::invalid_argument("unknown GNN layer type");
}

}  // namespace

void check_model(const GnnModel &m, std::size_t in_dim)
{
	if (m.layers.empty())
		throw std::invalid_argument("the model has no layers");
	std::size_t width = in_dim;
	bool pooled = false;
	for (std::size_t k = 0; k < m.layers.size(); k++) {
		const GnnLayer &l = m.layers[k];
		if (l.in_dim != width)
			throw std::invalid_argument(where(k, l) + ": expects " + std::to_string(l.in_dim) +
			                            " input features, but " + (k == 0 ? "the graph's embeddings have " : "the previous layer gives ") +
			                            std::to_string(width));
		width = l.out_dim;
		// After a readout the rows are graphs: only linear layers can follow.
		if (pooled && l.type != LayerType::linear)
			throw std::invalid_argument(where(k, l) + ": only linear layers may follow a readout");
		pooled = pooled || is_readout(l.type);
	}
	if (!m.graph_ids.empty() && !pooled)
		throw std::invalid_argument("graphs are given but the model has no readout");
	for (std::uint32_t b : m.batch)
		if (b >= m.graph_ids.size())
			throw std::invalid_argument("a node's graph is out of range");
}

bool has_readout(const GnnModel &m) noexcept
{
	for (const GnnLayer &l : m.layers)
		if (is_readout(l.type))
			return true;
	return false;
}

std::vector<float> run_model(const GnnModel &m, CsrView g, std::span<const float> x, std::size_t in_dim,
                             CancelToken cancel)
{
	check_model(m, in_dim);
	std::vector<float> cur;
	std::span<const float> input = x;
	for (std::size_t k = 0; k < m.layers.size(); k++) {
		std::vector<float> out;
		try {
			out = run_layer(k, m.layers[k], g, input, m, cancel);
			if (m.relu_between && k + 1 < m.layers.size() && !is_readout(m.layers[k].type))
				relu_inplace(out);
			// After the activation: ReLU of a value that overflowed to -Inf is exactly 0.
			check_finite_rows(out, m.layers[k].out_dim);
		} catch (NodeError &e) {
			e.layer = k;
			throw;
		}
		cur = std::move(out);
		input = cur;
	}
	return cur;
}

GnnLayer identity_layer(LayerType type, std::uint32_t dim)
{
	GnnLayer l;
	l.type = type;
	l.in_dim = l.out_dim = dim;
	std::vector<float> eye(std::size_t(dim) * dim, 0.0f);
	for (std::uint32_t i = 0; i < dim; i++)
		eye[std::size_t(i) * dim + i] = 1.0f;
	switch (type) {
	case LayerType::gcn:
		l.params.push_back({"lin.weight", {dim, dim}, eye});
		break;
	case LayerType::sage:
		l.normalize = false;
		l.params.push_back({"lin_l.weight", {dim, dim}, eye});
		l.params.push_back({"lin_r.weight", {dim, dim}, eye});
		break;
	case LayerType::gin:
		l.mlp = {0};
		l.params.push_back({"nn.0.weight", {dim, dim}, eye});
		break;
	case LayerType::gat:
		// Zero attention vectors: every logit is 0, so softmax weighs all in-neighbours and self equally.
		l.params.push_back({"lin.weight", {dim, dim}, eye});
		l.params.push_back({"att_src", {1, 1, dim}, std::vector<float>(dim, 0.0f)});
		l.params.push_back({"att_dst", {1, 1, dim}, std::vector<float>(dim, 0.0f)});
		break;
	default:
		throw std::invalid_argument(std::string("no identity layer of type ") + layer_type_name(type));
	}
	return l;
}

/* Graph blobs */

namespace {

std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t(7); }

struct Sections {
	std::size_t row_ptr, col, weight, x, ids, total;
};

Sections sections(const GraphHeader &h)
{
	Sections s;
	s.row_ptr = align8(sizeof(GraphHeader));
	s.col = s.row_ptr + align8(sizeof(std::uint64_t) * (h.nodes + 1));
	s.weight = s.col + align8(sizeof(std::uint32_t) * h.edges);
	s.x = s.weight + (h.has_weight ? align8(sizeof(float) * h.edges) : 0);
	s.ids = s.x + align8(sizeof(float) * h.nodes * h.dim);
	s.total = s.ids + sizeof(std::int64_t) * h.nodes;
	return s;
}

}  // namespace

namespace {

GraphHeader header_of(const Csr &g, std::uint32_t dim)
{
	return GraphHeader{kGraphMagic, dim, g.n, g.edges(), g.weight.empty() ? 0u : 1u, 0};
}

}  // namespace

std::size_t encoded_graph_size(const Csr &g, std::uint32_t dim) { return sections(header_of(g, dim)).total; }

GraphLayout graph_layout(const Csr &g, std::uint32_t dim)
{
	Sections s = sections(header_of(g, dim));
	return {s.x, s.ids, s.total};
}

GraphLayout graph_layout(std::uint64_t nodes, std::uint64_t edges, std::uint32_t dim, bool weighted)
{
	Sections s = sections(GraphHeader{kGraphMagic, dim, nodes, edges, weighted ? 1u : 0u, 0});
	return {s.x, s.ids, s.total};
}

void encode_graph_head_into(std::span<std::byte> out, const Csr &g, std::uint32_t dim)
{
	GraphHeader h = header_of(g, dim);
	Sections s = sections(h);
	if (out.size() != s.x)
		throw std::invalid_argument("graph head buffer does not match the graph's size");
	// Each section, then zeros up to the next one (the padding of the 8-byte alignment).
	auto put = [&](std::size_t at, const void *src, std::size_t len, std::size_t next) {
		if (len)
			std::memcpy(out.data() + at, src, len);
		std::memset(out.data() + at + len, 0, next - at - len);
	};
	put(0, &h, sizeof h, s.row_ptr);
	put(s.row_ptr, g.row_ptr.data(), sizeof(std::uint64_t) * (g.n + 1), s.col);
	put(s.col, g.col.data(), sizeof(std::uint32_t) * g.edges(), s.weight);
	if (h.has_weight)
		put(s.weight, g.weight.data(), sizeof(float) * g.edges(), s.x);
}

void encode_graph_into(std::span<std::byte> out, const Csr &g, std::span<const float> x, std::uint32_t dim,
                       std::span<const std::int64_t> ids)
{
	Sections s = sections(header_of(g, dim));
	if (x.size() != g.n * std::size_t(dim) || ids.size() != g.n)
		throw std::invalid_argument("graph features or ids do not match the node count");
	if (out.size() != s.total)
		throw std::invalid_argument("graph buffer does not match the graph's size");
	encode_graph_head_into(out.first(s.x), g, dim);
	std::memcpy(out.data() + s.x, x.data(), sizeof(float) * x.size());
	std::memset(out.data() + s.x + sizeof(float) * x.size(), 0, s.ids - s.x - sizeof(float) * x.size());
	std::memcpy(out.data() + s.ids, ids.data(), sizeof(std::int64_t) * ids.size());
}

std::vector<std::byte> encode_graph(const Csr &g, std::span<const float> x, std::uint32_t dim,
                                    std::span<const std::int64_t> ids)
{
	std::vector<std::byte> out(encoded_graph_size(g, dim));
	encode_graph_into(out, g, x, dim, ids);
	return out;
}

GraphHeader graph_header(std::span<const std::byte> bytes)
{
	GraphHeader h;
	if (bytes.size() < sizeof h)
		throw std::invalid_argument("truncated graph");
	std::memcpy(&h, bytes.data(), sizeof h);
	if (h.magic != kGraphMagic)
		throw std::invalid_argument("not a ruvector graph");
	if (h.nodes > (std::uint64_t(1) << 32) || h.edges > (std::uint64_t(1) << 40) || h.dim > 65536)
		throw std::invalid_argument("graph dimensions out of range");
	if (sections(h).total != bytes.size())
		throw std::invalid_argument("graph size does not match its header");
	return h;
}

namespace {

bool aligned8(std::span<const std::byte> bytes)
{
	return reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(std::uint64_t) == 0;
}

}  // namespace

GraphView view_graph(std::span<const std::byte> bytes)
{
	GraphHeader h = graph_header(bytes);
	if (!aligned8(bytes))
		throw std::invalid_argument("graph blob is not 8-byte aligned");
	Sections s = sections(h);
	auto at = [&](std::size_t offset) { return bytes.data() + offset; };
	GraphView v;
	v.dim = h.dim;
	v.csr.n = h.nodes;
	v.csr.row_ptr = {reinterpret_cast<const std::uint64_t *>(at(s.row_ptr)), h.nodes + 1};
	v.csr.col = {reinterpret_cast<const std::uint32_t *>(at(s.col)), h.edges};
	if (h.has_weight)
		v.csr.weight = {reinterpret_cast<const float *>(at(s.weight)), h.edges};
	v.x = {reinterpret_cast<const float *>(at(s.x)), h.nodes * h.dim};
	v.ids = {reinterpret_cast<const std::int64_t *>(at(s.ids)), h.nodes};
	validate(v.csr);
	return v;
}

GraphView view_graph(std::span<const std::byte> bytes, std::vector<std::uint64_t> &storage)
{
	if (!aligned8(bytes)) {
		storage.resize((bytes.size() + 7) / 8);
		std::memcpy(storage.data(), bytes.data(), bytes.size());
		bytes = {reinterpret_cast<const std::byte *>(storage.data()), bytes.size()};
	}
	return view_graph(bytes);
}

Graph decode_graph(std::span<const std::byte> bytes)
{
	std::vector<std::uint64_t> aligned;
	GraphView v = view_graph(bytes, aligned);
	Graph out;
	out.dim = v.dim;
	out.csr.n = v.csr.n;
	out.csr.row_ptr.assign(v.csr.row_ptr.begin(), v.csr.row_ptr.end());
	out.csr.col.assign(v.csr.col.begin(), v.csr.col.end());
	out.csr.weight.assign(v.csr.weight.begin(), v.csr.weight.end());
	out.x.assign(v.x.begin(), v.x.end());
	out.ids.assign(v.ids.begin(), v.ids.end());
	return out;
}

}  // namespace ruvector::kernels
