// ruhnsw internals shared by build, insert and scan (and vacuum): pages, the meta page, element
// loading, the layer search and neighbour selection. The AM surface is in hnsw.hpp.
//
// Elements are compared on the page: an element's distance is the metric's order() of the query
// row against the row bytes of its element tuple, under a share buffer lock, with no copy and no
// fmgr call. Only inserts copy rows (neighbour selection compares candidates with each other).
#pragma once
#include "extension/hnsw/hnsw.hpp"
#include "extension/recent_buffers.hpp"
#include "worker/kernels/hnsw_graph.hpp"

namespace ruvector::hnsw {

namespace graph = kernels::hnsw;

/* Pages and the meta page */
void init_page(Page page);
Buffer new_buffer(Relation index, ForkNumber fork = MAIN_FORKNUM);  // at the end, exclusively locked
HnswMetaPage read_meta(Relation index);  // validated copy (index_corrupted error otherwise)
const MetricInfo &meta_metric(Relation index, const HnswMetaPage &meta);
// Store a measured recall curve in the meta page (generic WAL); errors when the index was rebuilt
// since `stamp` was read.
void write_recall_curve(Relation index, uint64 stamp, const RecallCurve &curve);
// Store the maintenance process's recall estimate in the meta page (generic WAL); false when the
// index was rebuilt meanwhile (another stamp).
bool write_recall_estimate(Relation index, uint64 stamp, const RecallEstimate &estimate);

// Page changes: generic WAL, or (during a build, whose pages are logged at the end) plain dirty
// buffers. Up to MAX_GENERIC_XLOG_PAGES buffers, each exclusively locked by the caller.
struct PageEdit {
	bool wal;
	GenericXLogState *state;
	Buffer bufs[MAX_GENERIC_XLOG_PAGES];
	int n;
	PageEdit(Relation index, bool building);
	Page add(Buffer buf, bool new_page = false);  // the page to change
	void finish();
	void abort();
};

// Entry point and insert page updates of the meta page: the entry only when `level` is above the
// current entry level (or there is none), the insert page only forwards. `force_entry` replaces the
// entry whatever its level (vacuum, when the entry point goes).
void update_meta(Relation index, bool building, const ItemPointerData *entry, int level, bool force_entry,
				 BlockNumber insert_page);

/* Statistics (hnswstats.cpp): counts over every element page. */
struct GraphCounts {
	int64 elements = 0;    // live element tuples (slots not freed by vacuum)
	int64 heap_tids = 0;   // heap rows they index
	int64 deleted = 0;     // freed slots, reusable by inserts
	int64 layer0_links = 0;
	int64 per_level[64] = {};
	int max_level = -1;
};
GraphCounts count_graph(Relation index, int m);

/* Values */

// The indexed form of a value: the row in the metric's element type, normalised for cosine
// (value_floats, prepare_vector, then the element type); false for a value that is not indexed
// (zero vector under cosine; a zero query stays zero). `scratch` holds dim floats.
bool prepare_value(const MetricInfo &metric, Datum value, int dim, std::byte *row, float *scratch, bool query);
// The same in a row palloc'd in the current context, for every element type (variable-size sparse
// rows too: pgvector's checks, the typmod's dimensions and at most kMaxSparseNnz non-zero elements
// for a row); null for a row that is not indexed. A query is always returned.
std::byte *value_row(const MetricInfo &metric, Datum value, int dim, bool query);
inline constexpr int kMaxSparseNnz = 1000;  // pgvector's HNSW_MAX_NNZ: an element fits one page

// A new element's level: floor(-ln(U) / ln(m)), U uniform in (0, 1], capped at max_level(m), as
// kernels::hnsw::draw_level (there from the build's seed, here from the backend's PRNG).
int random_level(int m);

/* Searching the graph on the pages */

inline uint64 tid_key(const ItemPointerData &t) { return uint64(ItemPointerGetBlockNumberNoCheck(&t)) << 16 | ItemPointerGetOffsetNumberNoCheck(&t); }
inline ItemPointerData key_tid(uint64 key)
{
	ItemPointerData t;
	ItemPointerSet(&t, BlockNumber(key >> 16), OffsetNumber(key & 0xFFFF));
	return t;
}

// An element as a search saw it: where it is, its distance to the search's query, and what the
// caller needs next (its neighbour tuple, heap TIDs, and for inserts its row).
struct Element {
	uint64 key;         // index TID of the element tuple
	float distance;
	uint8 level;
	uint8 version;
	uint8 ntids;        // 0: being deleted (navigation only)
	bool flag;          // free for the caller (the scan: returned)
	ItemPointerData neighbourtid;
	ItemPointerData heaptids[kMaxHeapTids];
	std::byte *row;     // copied row (searches that keep rows), else null
	// Its neighbours in one layer, copied when it entered a search's result and its neighbour
	// tuple was on the page already locked (so expanding it reads no page); nlinks -1: not copied.
	ItemPointerData *links;
	int16 nlinks;
	uint8 links_layer;
};

// A set of index TIDs (open addressing; keys are never 0: block 0 is the meta page).
struct TidSet {
	uint64 *slots = nullptr;
	uint32 mask = 0, count = 0;
	MemoryContext cxt = nullptr;
	void init(MemoryContext c, uint32 expected);
	bool insert(uint64 key);  // false when already present
	bool contains(uint64 key) const;
	void clear();
};

// A binary heap of elements by distance (min-heap, or max-heap with `max`).
struct ElementHeap {
	Element **items = nullptr;
	int size = 0, capacity = 0;
	bool max = false;
	MemoryContext cxt = nullptr;
	void init(MemoryContext c, bool is_max, int cap);
	void push(Element *e);
	Element *pop();
	Element *top() const { return items[0]; }
	bool empty() const { return size == 0; }
};

// One search over the pages: query, metric, and the scratch it reuses between layers.
struct Search {
	Relation index;
	const MetricInfo *metric;
	int dim;
	int m;
	Size row_bytes;          // of every row; 0 for variable-size rows (row_size says)
	const std::byte *query;  // prepared row; null: every distance is 0 (NULL query)
	bool keep_rows;          // copy rows into elements (inserts)
	uint64 skip = 0;         // an element never returned (vacuum repairs it)
	bool skip_deleting = false;  // elements being deleted guide the search but take no place in ef (vacuum)
	MemoryContext cxt;
	TidSet visited;
	ElementHeap discarded;   // iterative scans: elements that left or never entered the result
	bool keep_discarded = false;
	uint64 loaded = 0;       // elements loaded at layer 0 (hnsw.max_scan_tuples)
	// element arena
	char *arena = nullptr;
	Size arena_left = 0;
	RecentBuffers *recent = nullptr;  // the index's (RecentBuffers::for_relation)

	void init(Relation rel, const MetricInfo &mi, int dims, int mm, const std::byte *q, bool rows, MemoryContext c);
	Element *new_element(Size row_size);  // with room for a row of row_size bytes (keep_rows)
	Size row_size(const std::byte *row) const { return row_bytes ? row_bytes : metric->element().size_of(row, Size(dim)); }
	void *arena_alloc(Size size);
	Buffer pin(BlockNumber blk);  // ReadBuffer, through the recent-buffer hint
	// The entry point, loaded (null when it cannot be: deleted meanwhile).
	Element *load(const ItemPointerData &tid);
	// Algorithm 2: the `ef` nearest elements of `layer` reachable from `entries` (which must have
	// been loaded and are marked visited here), in `out` nearest first; returns their count.
	// `fresh_visited` clears the visited set first (each layer of an insert); iterative scans keep it.
	int search_layer(Element **entries, int nentries, int ef, int layer, Element ***out, bool fresh_visited);
	// Greedy descent from the entry point to `to_layer` + 1 (ef = 1), returning the nearest.
	Element *descend(Element *entry, int from_layer, int to_layer);
	// Where a search of `to_layer` starts (graph::query_layer1_ef): the greedy descent to layer
	// to_layer + 2, then the nearest elements of a search of layer to_layer + 1; the entry point
	// alone when from_layer is not above to_layer. Queries enter layer 0 so, and inserts their own
	// top layer. Returns their count (at least 1), in `out`. The visited set is the caller's to clear.
	int enter(Element *entry, int from_layer, Element ***out, int to_layer = 0);
	// The neighbour TIDs of an element in one layer (its neighbour tuple re-read and checked
	// against the element's version and level); returns how many were valid, -1 when stale.
	int neighbours(const Element *e, int layer, ItemPointerData *out);
};

// pgvector's neighbour selection (the paper's heuristic with kept pruned connections): from
// `cands` (nearest first by distance to the base, rows kept), up to `lm` neighbours in `out`.
int select_neighbours(const MetricInfo &metric, int dim, Element **cands, int n, int lm, Element **out);

inline int layer_m(int m, int layer) { return layer == 0 ? 2 * m : m; }

/* Insert (hnswinsert.cpp), used by the build too, and by vacuum to repair elements */

// An element's neighbours per layer 0..level (sel[layer][0..n[layer]), from a search with `ef`
// starting at the meta page's entry point, without elements being deleted or s.skip; layer0 holds
// the layer-0 candidates they were chosen from, nearest first.
struct Neighbours {
	Element ***sel;
	int *n;
	Element **layer0;
	int nlayer0;
};
Neighbours find_neighbours(Search &s, const HnswMetaPage &meta, int level, int ef);
// Link neighbour `n` back to the element `new_tid` (row `new_row`) in `layer`, as an insert does.
// `force`: when the heuristic would prune the new element, it takes the farthest neighbour's slot
// anyway (an element's last chance of an in-link). Returns whether n now links to it.
bool link_back(Search &s, Element *n, int layer, const ItemPointerData &new_tid, const std::byte *new_row, bool building,
               bool force = false);

// Insert one prepared row with its heap TID; `building`: no WAL (the build logs every page at the end).
void insert_row(Relation index, const std::byte *row, const ItemPointerData &heap_tid, bool building);
// Write a new element and its neighbour tuple (A.5 placement); returns the element's TID.
ItemPointerData place_element(Relation index, const HnswMetaPage &meta, const char *etup, Size esize,
							  HnswNeighbourTuple ntup, Size nsize, bool building);

}  // namespace ruvector::hnsw
