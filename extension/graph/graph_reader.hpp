// Reading a graph (node table + edge table) in the calling backend, with the caller's privileges,
// row-level security and snapshot, and turning it into the one binary graph form (GraphBlob).
#pragma once
#include "extension/types/vector.hpp"
#include "shmem/codec/protocol.hpp"
#include "worker/kernels/knn.hpp"

#include <array>

extern "C" {
#include "utils/array.h"
}

namespace ruvector {

struct GraphSource {
	Oid nodes;
	Oid edges;
	const char *embedding;
	const char *id;
	const char *src;
	const char *dst;
	const char *weight;  // nullptr: every edge weighs 1
};

// The tables as plain palloc'd arrays. Nodes are in id order; edges hold dense node indexes.
struct GraphTables {
	int64 n;
	int dim;
	int64 *ids;
	float *x;
	int64 e;
	uint32 *src;
	uint32 *dst;
	float *w;  // nullptr when there is no weight column
	// x in the room of the request that ships the graph (worker_input_room), rather than palloc'd:
	// the room's start and size, and the bytes before the graph there (the model's)
	std::byte *room;
	Size room_bytes;
	Size room_prefix;
};

// Reads and validates: duplicate or NULL ids, NULL or mixed-dimension embeddings, NULL or dangling
// edge endpoints, NULL weights are errors; an empty node table is an error; no edges is fine.
// With a room_prefix, the features are read straight into the input room of the request that will
// ship the graph (worker_input_room, sized from the tables' row estimates) after room_prefix bytes
// of other input (the model, 8-byte aligned; 0 for a store_put): written once, where graph_bytes()
// puts them, rather than palloc'd and copied. When the estimates were short (or the node table is
// not in id order), they end up palloc'd as without a room.
GraphTables read_graph_tables(const GraphSource &src, bool nodes_by_scan = false, const Size *room_prefix = nullptr);

// Only the nodes (ids and embeddings, in id order; no edges), with the same checks.
GraphTables read_node_vectors(Oid relid, const char *id_column, const char *embedding_column);

// Graph tables from arrays (the array forms of the layer functions): node i is row i.
GraphTables graph_from_arrays(ArrayType *embeddings, ArrayType *edge_src, ArrayType *edge_dst, ArrayType *weights);

// The graph in kernels::encode_graph's layout, as the parts it is made of: the head (header and
// CSR, encoded into palloc'd memory), then the features and the ids where they are (with the zero
// padding between them), so that it reaches the worker's segment with one copy of the features.
struct GraphBytes {
	std::array<std::span<const std::byte>, 4> parts;
	uint64 nodes;
	Size size() const;
};
// (Features in a room are first moved to their place in it, or out of it when the graph does not fit.)
GraphBytes graph_bytes(GraphTables &t);
// The same as one palloc'd blob, for work on the graph in this backend.
std::span<const std::byte> graph_blob(GraphTables &t);

// Whether the current user has SELECT on every column used (superusers: always).
bool may_read_graph(const GraphSource &src);
// The same for a named graph by its catalog id; false when there is no such graph.
bool may_read_graph_id(int32 graph_id);

// Whether a shared, cached copy of these tables may serve the current user: SELECT on every column
// used (else 42501) and no row-level security in force for them on either table.
bool may_share_graph(const GraphSource &src);

// The metric table's float32 entry of 'l2', 'cosine', 'ip' (or 'inner_product'), 'l1'; anything
// else is an error (22023).
const kernels::MetricInfo &parse_graph_metric(const char *name);

// Graph-enhanced embeddings (the ruvector_gnn index): the model, or num_layers parameter-free
// layers of layer_type (identity weights, so the width is kept). Rows are in id order.
struct EnhancedEmbeddings {
	int64 n;
	int dim;
	const int64 *ids;
	const float *y;
	uint64 edges;
};
EnhancedEmbeddings compute_enhanced_embeddings(const GraphSource &src, const char *model, const char *layer_type,
											   int num_layers, const char *aggregator, int hidden_dim);

}  // namespace ruvector
