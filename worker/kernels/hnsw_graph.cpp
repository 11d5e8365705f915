// The in-memory HNSW graph build (see hnsw_graph.hpp).
//
// Concurrency: every node has a one-byte spinlock, held only while its neighbour lists are read
// (copied out) or changed, and never together with another node's, so no lock order exists to get
// wrong. The entry point and the top level are under one mutex, which an insert holds throughout
// only when its level is above the current top (rare: a few times per build). Levels are known
// before the build, so every list has its slots from the start.
//
// Work: an insert is a greedy descent (ef 1) to its level, then per layer a search with
// ef_construction candidates (all of which seed the next layer down, as in pgvector), neighbour
// selection and reverse links. Reverse links into a full list re-run the heuristic with
// pgvector's cached "closer" flags: the flags from the list's previous selection stay valid for
// the candidates before the new one, so an update costs a few distances instead of a quadratic
// pass over 2m + 1 rows.
#include "worker/kernels/hnsw_graph.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/float16.hpp"
#include "worker/kernels/kmeans.hpp"

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ruvector::kernels::hnsw {

namespace {

constexpr std::size_t kChunk = 64;         // rows an insert task takes at a time, in insertion order

// splitmix64: a well-mixed 64-bit hash of (seed, row).
std::uint64_t mix(std::uint64_t x) noexcept
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

struct Cand {
	float d;
	std::int32_t id;
};
// Nearer first; equal distances by node number, so that orders are deterministic.
inline bool nearer(const Cand &a, const Cand &b) noexcept { return a.d < b.d || (a.d == b.d && a.id < b.id); }

// The order a node's neighbour selection takes its candidates in: nearer first, equal distances
// in a pseudo-random order of the node numbers that differs from owner to owner (a bijection per
// owner, so still a total order: the cached flags depend on it). With one global order, rows at
// equal distance (identical rows, all at 0) would all keep the same few nodes, and the rest of
// them would become unreachable.
struct OwnerOrder {
	std::uint32_t salt;
	explicit OwnerOrder(std::int32_t owner) : salt(std::uint32_t(owner) * 0x9E3779B1u + 0x7F4A7C15u) {}
	std::uint32_t key(std::int32_t id) const noexcept { return (std::uint32_t(id) ^ salt) * 0x85EBCA6Bu; }
	bool operator()(const Cand &a, const Cand &b) const noexcept
	{
		return a.d < b.d || (a.d == b.d && key(a.id) < key(b.id));
	}
};
struct NearerOnTop {  // max-heap on distance: the farthest result on top
	bool operator()(const Cand &a, const Cand &b) const noexcept { return nearer(a, b); }
};
struct FartherOnTop {  // min-heap: the nearest candidate on top
	bool operator()(const Cand &a, const Cand &b) const noexcept { return nearer(b, a); }
};

// The metric's ordering distance over rows, by the float32 or half kernels directly where the rows
// are float32 or halves (one indirect call instead of two), else the table's order(). NaN (an
// overflowed inner product) orders as +Infinity, so heaps stay consistent.
class Space {
public:
	Space(const MetricInfo &metric, const std::byte *rows, std::size_t dim)
		: rows_(rows), stride_(metric.row_bytes(dim)), dim_(dim), order_(metric.order)
	{
		if (metric.type == ElementType::float16 && metric.metric != Metric::l1) {
			const HalfKernels &k = active_half_kernels();
			if (metric.metric == Metric::l2) {
				f16_ = k.l2_squared;
				f16q_ = k.l2_squared_rows;
			} else {
				f16_ = k.inner_product;
				f16q_ = k.inner_product_rows;
				negate_ = true;
			}
		}
		if (metric.type == ElementType::float32) {
			const DistanceKernels &k = active_kernels();
			if (metric.metric == Metric::l2)
				f32_ = k.l2_squared;
			else if (metric.metric == Metric::ip || metric.metric == Metric::cosine) {
				f32_ = k.inner_product;
				negate_ = true;
			}
		}
	}

	const std::byte *row(std::size_t i) const noexcept { return rows_ + i * stride_; }

	float operator()(const std::byte *a, const std::byte *b) const noexcept
	{
		float d;
		if (f32_) {
			d = f32_(reinterpret_cast<const float *>(a), reinterpret_cast<const float *>(b), dim_);
			if (negate_)
				d = -d;
		} else if (f16_) {
			d = f16_(reinterpret_cast<const half *>(a), reinterpret_cast<const half *>(b), dim_);
			if (negate_)
				d = -d;
		} else
			d = order_(a, b, dim_);
		return d == d ? d : std::numeric_limits<float>::infinity();
	}
	float operator()(const std::byte *a, std::int32_t b) const noexcept { return (*this)(a, row(std::size_t(b))); }

	// An insert's query: its row and, on half rows, that row's floats, converted once and compared
	// by the half rows kernels, one row a call (the same distances, one conversion per element less).
	struct Query {
		const std::byte *row;
		const float *f;
	};
	Query query(const std::byte *row, std::vector<float> &buf) const
	{
		if (!f16_)
			return {row, nullptr};
		buf.resize(dim_);
		active_half_kernels().to_float(reinterpret_cast<const half *>(row), buf.data(), dim_);
		return {row, buf.data()};
	}
	float operator()(const Query &q, std::int32_t b) const noexcept
	{
		if (!q.f)
			return (*this)(q.row, b);
		float d;
		f16q_(q.f, reinterpret_cast<const half *>(row(std::size_t(b))), 1, dim_, dim_, &d);
		if (negate_)
			d = -d;
		return d == d ? d : std::numeric_limits<float>::infinity();
	}

	void prefetch(std::int32_t i) const noexcept
	{
		const char *p = reinterpret_cast<const char *>(row(std::size_t(i)));
		for (std::size_t off = 0; off < stride_; off += 64)
			__builtin_prefetch(p + off);
	}

private:
	const std::byte *rows_;
	std::size_t stride_, dim_;
	float (*order_)(const std::byte *, const std::byte *, std::size_t);
	float (*f32_)(const float *, const float *, std::size_t) = nullptr;
	float (*f16_)(const half *, const half *, std::size_t) = nullptr;
	void (*f16q_)(const float *, const half *, std::size_t, std::size_t, std::size_t, float *) = nullptr;
	bool negate_ = false;
};

// Visited marks without clearing: a node is visited when its tag equals the current epoch.
class Visited {
public:
	explicit Visited(std::size_t n) : tags_(n, 0) {}
	void next()
	{
		if (++epoch_ == 0) {
			std::fill(tags_.begin(), tags_.end(), 0);
			epoch_ = 1;
		}
	}
	// Marks i; true when it was not marked yet.
	bool mark(std::int32_t i) noexcept
	{
		std::uint32_t &t = tags_[std::size_t(i)];
		if (t == epoch_)
			return false;
		t = epoch_;
		return true;
	}

private:
	std::vector<std::uint32_t> tags_;
	std::uint32_t epoch_ = 0;
};

// One thread's search state, reused across inserts.
struct Scratch {
	explicit Scratch(std::size_t n) : visited(n) {}
	Visited visited;
	std::vector<Cand> candidates, results, entry, pruned, merged, kept, added;
	std::vector<std::int32_t> ids, fresh;
	std::vector<float> query;  // the insert's row as floats (half rows)
	// Per layer of the node being inserted: its selected neighbours and how many of them the
	// heuristic kept (the rest are kept pruned ones); full when there were more candidates than
	// slots (only then are the kCloser flags valid).
	struct Selection {
		std::vector<Cand> cands;
		std::size_t kept = 0;
		bool full = false;
	};
	std::vector<Selection> selections;
};

// Algorithm 2 over layer `layer`: the ef nearest nodes to q reachable from `entry`, nearest first.
// lists.read(node, layer, out) appends node's neighbours at that layer to out; lists.prefetch(node,
// layer) starts loading them.
template <class Lists, class Q>
void search_layer(const Space &space, const Q &q, std::int32_t self, const std::vector<Cand> &entry,
                  std::size_t ef, std::uint32_t layer, Scratch &s, Lists &lists, std::vector<Cand> &out)
{
	s.visited.next();
	if (self >= 0)
		s.visited.mark(self);
	auto &C = s.candidates, &W = s.results;
	C.clear();
	W.clear();
	for (const Cand &e : entry)
		if (s.visited.mark(e.id)) {
			C.push_back(e);
			W.push_back(e);
		}
	std::make_heap(C.begin(), C.end(), FartherOnTop());
	std::make_heap(W.begin(), W.end(), NearerOnTop());
	while (W.size() > ef) {
		std::pop_heap(W.begin(), W.end(), NearerOnTop());
		W.pop_back();
	}
	while (!C.empty()) {
		Cand c = C.front();
		if (W.size() >= ef && c.d > W.front().d)
			break;
		std::pop_heap(C.begin(), C.end(), FartherOnTop());
		C.pop_back();
		s.ids.clear();
		lists.read(c.id, layer, s.ids);
		s.fresh.clear();
		for (std::int32_t nb : s.ids)
			if (s.visited.mark(nb)) {
				s.fresh.push_back(nb);
				space.prefetch(nb);
			}
		const std::size_t k = s.fresh.size();
		for (std::size_t j = 0; j < k; j++) {
			Cand e{space(q, s.fresh[j]), s.fresh[j]};
			if (W.size() < ef || nearer(e, W.front())) {
				lists.prefetch(e.id, layer);  // a candidate: its list is likely read soon
				C.push_back(e);
				std::push_heap(C.begin(), C.end(), FartherOnTop());
				W.push_back(e);
				std::push_heap(W.begin(), W.end(), NearerOnTop());
				if (W.size() > ef) {
					std::pop_heap(W.begin(), W.end(), NearerOnTop());
					W.pop_back();
				}
			}
		}
	}
	out.assign(W.begin(), W.end());
	std::sort(out.begin(), out.end(), nearer);
}

// Greedy descent (ef 1) from `cur` through layers top..bottom+1.
template <class Lists, class Q>
Cand descend(const Space &space, const Q &q, Cand cur, std::uint32_t top, std::uint32_t bottom, Scratch &s,
             Lists &lists)
{
	for (std::uint32_t layer = top; layer > bottom; layer--) {
		for (bool changed = true; changed;) {
			changed = false;
			s.ids.clear();
			lists.read(cur.id, layer, s.ids);
			for (std::int32_t nb : s.ids) {
				Cand e{space(q, nb), nb};
				if (nearer(e, cur)) {
					cur = e;
					changed = true;
				}
			}
		}
	}
	return cur;
}

class SpinLock {
public:
	// Held for a few hundred nanoseconds at most, so spinning wins; but a holder the kernel
	// preempted (a loaded machine) would keep the others spinning for its whole time slice, so
	// after a while they yield.
	void lock() noexcept
	{
		for (unsigned spins = 0; flag_.exchange(true, std::memory_order_acquire);)
			while (flag_.load(std::memory_order_relaxed)) {
				if (++spins % 256 == 0)
					std::this_thread::yield();
#if defined(__x86_64__) || defined(__i386__)
				else
					_mm_pause();
#endif
			}
	}
	void unlock() noexcept { flag_.store(false, std::memory_order_release); }

private:
	std::atomic<bool> flag_{false};
};

// Slot flags (build only): the candidate was kept by the heuristic ("closer" to the list's owner
// than to every kept nearer candidate); on a list's first slot, also that the list's flags are
// valid for its current members (pgvector's closerSet).
constexpr std::uint8_t kCloser = 1, kCloserSet = 2;

class Builder {
public:
	// Build-time lists: layer 0 at a fixed stride (node * 2m), so that reading a node's list is
	// one cache miss, not two; the upper layers after them, per node at upper_[node]. finish()
	// lays them out as Graph has them.
	//
	// Nodes are positions in `rows`, which may be a permutation of the caller's rows (row_of[node];
	// empty for the identity): finish() numbers them back, and levels follow the caller's rows.
	Builder(const MetricInfo &metric, const std::byte *rows, std::size_t n, std::size_t dim, const BuildParams &p,
	        std::vector<std::int32_t> row_of)
		: space_(metric, rows, dim), n_(n), p_(p), locks_(new SpinLock[n]), row_of_(std::move(row_of))
	{
		g_.m = p.m;
		g_.levels.resize(n);
		upper_.resize(n);
		std::size_t slots = n * layer_slots(p.m, 0);
		for (std::size_t i = 0; i < n; i++) {
			std::uint32_t level = draw_level(p, row_of_.empty() ? i : std::size_t(row_of_[i]));
			g_.levels[i] = std::uint8_t(level);
			upper_[i] = slots;
			slots += std::size_t(level) * p.m;
		}
		links_.assign(slots, -1);
		dist_.resize(slots);
		flags_.assign(slots, 0);
	}

	Graph finish() &&
	{
		dist_ = {};
		flags_ = {};
		Graph out;
		out.m = p_.m;
		out.levels.resize(n_);
		std::vector<std::int32_t> node_of(row_of_.empty() ? 0 : n_);  // the caller's row -> node
		for (std::size_t i = 0; i < row_of_.size(); i++)
			node_of[std::size_t(row_of_[i])] = std::int32_t(i);
		auto node = [&](std::size_t row) { return node_of.empty() ? row : std::size_t(node_of[row]); };
		auto row = [&](std::int32_t v) { return v < 0 || row_of_.empty() ? v : row_of_[std::size_t(v)]; };
		out.entry = entry_ < 0 ? -1 : row(std::int32_t(entry_));
		out.offsets.resize(n_ + 1);
		std::uint64_t at = 0;
		for (std::size_t r = 0; r < n_; r++) {
			out.levels[r] = g_.levels[node(r)];
			out.offsets[r] = at;
			at += link_slots(p_.m, out.levels[r]);
		}
		out.offsets[n_] = at;
		out.links.resize(at);
		const std::size_t s0 = layer_slots(p_.m, 0);
		for (std::size_t r = 0; r < n_; r++) {
			const std::size_t v = node(r);
			std::int32_t *dst = out.links.data() + out.offsets[r];
			std::transform(links_.data() + v * s0, links_.data() + (v + 1) * s0, dst, row);
			std::transform(links_.data() + upper_[v], links_.data() + upper_[v] + std::size_t(out.levels[r]) * p_.m,
			               dst + s0, row);
		}
		return out;
	}

	// The node of the caller's row `r`.
	std::int32_t node_of_row(std::size_t r) const noexcept
	{
		return row_of_.empty() ? std::int32_t(r) : std::int32_t(inverse_[r]);
	}
	void set_inverse(std::vector<std::int32_t> inverse) { inverse_ = std::move(inverse); }

	void insert(std::int32_t q, Scratch &s)
	{
		const std::uint32_t level = g_.levels[std::size_t(q)];
		std::unique_lock<std::mutex> top_lock(entry_mutex_);
		const std::int32_t entry = std::int32_t(entry_);
		const std::uint32_t top = top_level_;
		if (entry < 0) {  // the first node
			entry_ = q;
			top_level_ = level;
			return;
		}
		if (level <= top)
			top_lock.unlock();

		const Space::Query qrow = space_.query(space_.row(std::size_t(q)), s.query);
		Cand cur{space_(qrow, entry), entry};
		cur = descend(space_, qrow, cur, top, std::min(level, top), s, *this);
		s.entry.assign(1, cur);
		// Search every layer first, then link from layer 0 up: other threads reach q only through
		// a link to it, and one at layer L must find q's lists at layers L and below written (a
		// search that reached q through an upper layer before its layer-0 list existed found q
		// alone, and the node it was inserting ended with q as its only neighbour, unreachable).
		const std::uint32_t low_top = std::min(level, top);
		if (s.selections.size() < low_top + 1)
			s.selections.resize(low_top + 1);
		for (std::uint32_t layer = low_top + 1; layer-- > 0;) {
			std::vector<Cand> &found = s.merged;
			search_layer(space_, qrow, q, s.entry, p_.ef_construction, layer, s, *this, found);
			select_own(q, layer, found, s, s.selections[layer]);
			s.entry.swap(found);
		}
		for (std::uint32_t layer = 0; layer <= low_top; layer++) {
			write_own(q, layer, s.selections[layer], s);
			// The neighbours' distances and flags are cold (a search reads only their links): the
			// next few are fetched while one is updated.
			const std::vector<Cand> &cands = s.selections[layer].cands;
			for (std::size_t i = 0; i < std::min(kLinkAhead, cands.size()); i++)
				prefetch_slots(cands[i].id, layer);
			for (std::size_t i = 0; i < cands.size(); i++) {
				if (i + kLinkAhead < cands.size())
					prefetch_slots(cands[i + kLinkAhead].id, layer);
				link_back(cands[i].id, layer, Cand{cands[i].d, q}, s);
			}
		}
		if (level > top) {
			entry_ = q;
			top_level_ = level;
		}
	}

	// The lists search_layer and descend walk.
	void read(std::int32_t node, std::uint32_t layer, std::vector<std::int32_t> &out)
	{
		const std::int32_t *l = links_.data() + slot(node, layer);
		const std::size_t lm = slots(layer);
		std::lock_guard<SpinLock> guard(locks_[std::size_t(node)]);
		for (std::size_t i = 0; i < lm && l[i] >= 0; i++)
			out.push_back(l[i]);
	}
	void prefetch(std::int32_t node, std::uint32_t layer) const noexcept
	{
		__builtin_prefetch(links_.data() + slot(node, layer));
	}

private:
	static constexpr std::size_t kLinkAhead = 4;  // reverse links whose lists are prefetched ahead

	// Starts loading what link_back reads of node's list at `layer` besides the links.
	void prefetch_slots(std::int32_t node, std::uint32_t layer) const noexcept
	{
		const std::size_t at = slot(node, layer), last = at + slots(layer) - 1;
		for (std::size_t i = at; i <= last; i += 16)
			__builtin_prefetch(dist_.data() + i, 1);
		__builtin_prefetch(dist_.data() + last, 1);
		__builtin_prefetch(flags_.data() + at, 1);
		__builtin_prefetch(flags_.data() + last, 1);
	}

	std::size_t slot(std::int32_t node, std::uint32_t layer) const noexcept
	{
		return layer == 0 ? std::size_t(node) * layer_slots(p_.m, 0)
		                  : upper_[std::size_t(node)] + std::size_t(layer - 1) * p_.m;
	}
	std::size_t slots(std::uint32_t layer) const noexcept { return layer_slots(p_.m, layer); }

	// Whether e (at distance e.d from the owner) is nearer the owner than every row of `kept`.
	bool closer(const Cand &e, const Cand *kept, std::size_t count) const noexcept
	{
		const std::byte *row = space_.row(std::size_t(e.id));
		for (std::size_t i = 0; i < count; i++)
			if (space_(row, kept[i].id) <= e.d)
				return false;
		return true;
	}

	// The new node's own list at `layer` from its candidates (nearest first): the heuristic, then
	// the pruned candidates in distance order while slots are left.
	void select_own(std::int32_t q, std::uint32_t layer, std::vector<Cand> &found, Scratch &s, Scratch::Selection &sel)
	{
		const std::size_t lm = slots(layer);
		for (std::size_t i = 1; i < found.size(); i++)
			if (found[i].d == found[i - 1].d) {  // rare but for duplicates: sort the ties q's way
				std::sort(found.begin(), found.end(), OwnerOrder(q));
				break;
			}
		std::vector<Cand> &selected = sel.cands;
		selected.clear();
		s.pruned.clear();
		sel.full = found.size() > lm;
		if (!sel.full)
			selected.assign(found.begin(), found.end());
		else {
			for (const Cand &e : found) {
				if (selected.size() >= lm)
					break;
				if (closer(e, selected.data(), selected.size()))
					selected.push_back(e);
				else
					s.pruned.push_back(e);
			}
		}
		sel.kept = selected.size();
		for (std::size_t i = 0; i < s.pruned.size() && selected.size() < lm; i++)
			selected.push_back(s.pruned[i]);
	}

	// Write the selection as q's list at `layer`.
	void write_own(std::int32_t q, std::uint32_t layer, const Scratch::Selection &sel, Scratch &s)
	{
		const std::size_t lm = slots(layer);
		const std::vector<Cand> &selected = sel.cands;
		std::vector<std::uint8_t> &flags = flags_;
		std::size_t at = slot(q, layer);
		std::lock_guard<SpinLock> guard(locks_[std::size_t(q)]);
		// Links to q's list made meanwhile (none are expected, since q is linked in from layer 0 up
		// after its own list is written, but they are kept if there are any) go after the
		// selection while there is room.
		auto &extra = s.kept;
		extra.clear();
		for (std::size_t i = 0; i < lm && links_[at + i] >= 0; i++) {
			Cand c{dist_[at + i], links_[at + i]};
			if (std::none_of(selected.begin(), selected.end(), [&](const Cand &e) { return e.id == c.id; }))
				extra.push_back(c);
		}
		std::size_t len = 0;
		for (; len < selected.size(); len++) {
			links_[at + len] = selected[len].id;
			dist_[at + len] = selected[len].d;
			flags[at + len] = sel.full && len < sel.kept ? kCloser : 0;
		}
		for (std::size_t i = 0; i < extra.size() && len < lm; i++, len++) {
			links_[at + len] = extra[i].id;
			dist_[at + len] = extra[i].d;
			flags[at + len] = 0;
		}
		// The cached flags hold for the selection alone (and only lists that are full use them).
		if (sel.full && len == selected.size())
			flags[at] |= kCloserSet;
	}

	// Add `add` (the new node, at distance add.d from `node`) to node's list at `layer`: into a
	// free slot, or, when the list is full, by re-running the heuristic over the list and the new
	// node and dropping the one it prunes (pgvector's update, with its cached flags).
	void link_back(std::int32_t node, std::uint32_t layer, Cand add, Scratch &s)
	{
		const std::size_t lm = slots(layer), at = slot(node, layer);
		std::int32_t *links = links_.data() + at;
		float *dist = dist_.data() + at;
		std::uint8_t *flags = flags_.data() + at;
		std::lock_guard<SpinLock> guard(locks_[std::size_t(node)]);
		std::size_t len = 0;
		while (len < lm && links[len] >= 0) {
			// Already there: `node` was inserted meanwhile and found the new node itself.
			if (links[len] == add.id)
				return;
			len++;
		}
		if (len < lm) {
			links[len] = add.id;
			dist[len] = add.d;
			flags[len] = 0;  // not evaluated yet (a list with cached flags is full)
			return;
		}

		// Members nearest first, with their cached flags.
		struct Member {
			Cand c;
			bool closer;
		};
		Member m[2 * 100 + 1];
		const bool cached = flags[0] & kCloserSet;
		for (std::size_t i = 0; i < lm; i++)
			m[i] = {{dist[i], links[i]}, bool(flags[i] & kCloser)};
		m[lm] = {add, false};
		const OwnerOrder order(node);
		std::sort(m, m + lm + 1, [&](const Member &a, const Member &b) { return order(a.c, b.c); });

		auto &kept = s.kept, &added = s.added;
		kept.clear();
		added.clear();
		std::size_t pruned_at[2 * 100 + 1], npruned = 0, next = 0;
		bool removed_any = false;
		for (; next <= lm && kept.size() < lm; next++) {
			Member &e = m[next];
			if (!cached)
				e.closer = closer(e.c, kept.data(), kept.size());
			else if (!added.empty()) {
				if (e.closer) {
					e.closer = closer(e.c, added.data(), added.size());
					removed_any |= !e.closer;
				} else if (removed_any) {
					e.closer = closer(e.c, kept.data(), kept.size());
					if (e.closer)
						added.push_back(e.c);
				}
			} else if (e.c.id == add.id) {
				e.closer = closer(e.c, kept.data(), kept.size());
				if (e.closer)
					added.push_back(e.c);
			}
			if (e.closer)
				kept.push_back(e.c);
			else
				pruned_at[npruned++] = next;
		}
		// Keep pruned members in distance order while there is room; the first one left over (or
		// the farthest member, never looked at) is dropped.
		std::size_t fill = std::min(npruned, lm - kept.size());
		std::size_t drop = fill < npruned ? pruned_at[fill] : next;
		if (m[drop].c.id == add.id && cached)
			return;  // nothing changes (the members' flags are as they were)
		std::size_t out = 0;
		for (std::size_t i = 0; i <= lm; i++) {
			if (i == drop)
				continue;
			links[out] = m[i].c.id;
			dist[out] = m[i].c.d;
			// Members after the last one looked at were not re-evaluated: only `drop` is such.
			flags[out] = m[i].closer ? kCloser : 0;
			out++;
		}
		flags[0] |= kCloserSet;
	}

	Space space_;
	std::size_t n_;
	BuildParams p_;
	Graph g_;                          // levels; the rest at finish()
	std::vector<std::size_t> upper_;   // per node: where its layer 1 list starts in links_
	std::vector<std::int32_t> links_;  // per slot: a neighbour, -1 empty (lists fill from the front)
	std::vector<float> dist_;          // per slot: distance to the list's owner
	std::vector<std::uint8_t> flags_; // per slot: kCloser, kCloserSet
	std::unique_ptr<SpinLock[]> locks_;
	std::vector<std::int32_t> row_of_;   // node -> the caller's row (empty: the identity)
	std::vector<std::int32_t> inverse_;  // the caller's row -> node
	std::mutex entry_mutex_;
	std::int64_t entry_ = -1;
	std::uint32_t top_level_ = 0;
};

}  // namespace

std::uint32_t draw_level(const BuildParams &p, std::uint64_t row) noexcept
{
	// 53 random bits -> U in (0, 1].
	double u = double((mix(p.seed ^ mix(row)) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double ml = 1.0 / std::log(double(std::max<std::uint32_t>(p.m, 2)));
	double level = std::floor(-std::log(u) * ml);
	return level >= double(p.max_level) ? p.max_level : std::uint32_t(level);
}

std::size_t graph_bytes(std::size_t n, const BuildParams &p) noexcept
{
	// Expected link slots per node: 2m at layer 0, m per upper layer, and a node has 1/(m - 1)
	// upper layers on average (P(level >= l) = m^-l); a quarter more covers the draw's spread.
	const double m = std::max<std::uint32_t>(p.m, 2);
	const double slots = 2 * m + 1.25 * m / (m - 1);
	// Per slot: the link (4), its distance (4) and flags (1) during the build. Per node: level,
	// offset, lock, its place in the insertion order, and one visited tag per thread (up to 4
	// threads counted).
	const double per_node = slots * 9 + 1 + 8 + 1 + 4 + 4 * 4;
	return std::size_t(double(n) * per_node) + 4096;
}

namespace {

// The order rows are inserted in: a permutation of the caller's rows drawn from the seed. The
// caller's order is the table's, often grouped (loaded cluster by cluster, or by time): inserted so,
// a cluster's first rows found only the neighbouring cluster their search ended in and linked
// there, its later rows entered elsewhere and never found them, and the cluster ended in two parts
// that queries find one of (tests/sh/100's rows: recall@10 over all rows at ef_search 40 0.94-0.97
// through SQL; HnswGraph.ClusterOrderedRowsKeepClustersWhole). In a random order the first rows of
// every cluster come early and far apart, as HNSW assumes.
std::vector<std::int32_t> insertion_order(std::size_t n, std::uint64_t seed)
{
	std::vector<std::int32_t> order(n);
	for (std::size_t i = 0; i < n; i++)
		order[i] = std::int32_t(i);
	std::uint64_t state = mix(seed ^ 0x6A09E667F3BCC909ull);
	for (std::size_t i = n; i > 1; i--) {
		state = mix(state);
		std::swap(order[i - 1], order[std::size_t(state % i)]);
	}
	return order;
}

// Rows whose neighbours are close in memory: an insert then reads a few clusters' rows, which stay
// in cache, rather than rows spread over the whole table (about 10% off a 100k x 128 build). The
// rows are grouped by their nearest of ~n/256 centres (rows taken at a fixed stride), in insertion
// order within a group, so that the rows inserted so far fill the start of each group and the
// searches touch fewer pages (in row order within a group, a build inserting in a random order took
// about 10% more CPU time than one in row order); empty when not worth it (rows that fit in cache
// anyway, or not float32).
// Only the memory layout changes: inserts still go in insertion_order(), so the graph is the same
// (up to the order of exactly equal distances).
std::vector<std::int32_t> locality_order(const MetricInfo &metric, const std::byte *rows, std::size_t n,
                                         std::size_t dim, std::size_t min_bytes, const std::vector<std::int32_t> &order,
                                         const CancelToken &cancel)
{
	const std::size_t bytes = n * metric.row_bytes(dim);
	if (metric.type != ElementType::float32 || n < 2 || bytes < min_bytes)
		return {};
	const auto *x = reinterpret_cast<const float *>(rows);
	const std::size_t k = std::clamp<std::size_t>(n / 256, 16, 4096);
	std::vector<float> centres(k * dim);
	for (std::size_t c = 0; c < k; c++)
		std::copy_n(x + (c * (n / k)) * dim, dim, centres.data() + c * dim);
	std::vector<std::int32_t> label(n);
	assign_nearest(x, n, dim, centres.data(), k, metric.spherical, label.data(), nullptr, cancel);
	std::vector<std::size_t> start(k + 1, 0);
	for (std::int32_t l : label)
		start[std::size_t(l) + 1]++;
	for (std::size_t c = 0; c < k; c++)
		start[c + 1] += start[c];
	std::vector<std::int32_t> row_of(n);
	for (std::int32_t r : order)
		row_of[start[std::size_t(label[std::size_t(r)])]++] = r;
	return row_of;
}

// The half-precision metric a build compares its rows with, or null for the rows' own: float32
// rows of l2, ip or cosine of at least min_bytes, on a CPU that converts halves in hardware. A
// build's searches are bound by fetching rows from memory (about 2100 distances per insert), and
// halves halve the bytes; the graph differs only where distances differ by less than the rounding
// (recall of 100k x 128 builds as with float rows, see docs/benchmarks.md).
const MetricInfo *half_metric(const MetricInfo &metric, std::size_t n, std::size_t dim, std::size_t min_bytes)
{
	if (metric.type != ElementType::float32 || metric.metric == Metric::l1 || n * metric.row_bytes(dim) < min_bytes)
		return nullptr;
	if (active_half_kernels().isa == Isa::scalar)
		return nullptr;
	return find_metric(ElementType::float16, metric.metric);
}

// The rows the build works on: row_of[i] as row i (the identity when row_of is empty), as they are
// or, when `halves` (their metric) is given, as halves of the rows scaled by one power of two that brings the
// largest component to [2^14, 2^15): no half overflows, none of the large ones is subnormal, and
// every distance scales by the same factor (the square of it), so orders are kept.
std::vector<std::byte> build_copy(const MetricInfo &metric, const MetricInfo *halves, const std::byte *rows,
                                  std::size_t n, std::size_t dim, const std::vector<std::int32_t> &row_of,
                                  const CancelToken &cancel)
{
	auto source = [&](std::size_t i) { return row_of.empty() ? i : std::size_t(row_of[i]); };
	const std::size_t rb = metric.row_bytes(dim);
	std::vector<std::byte> out;
	if (!halves) {
		out.resize(n * rb);
		tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 4096), [&](const tbb::blocked_range<std::size_t> &r) {
			for (std::size_t i = r.begin(); i < r.end(); i++)
				std::memcpy(out.data() + i * rb, rows + source(i) * rb, rb);
		});
		return out;
	}
	const auto *x = reinterpret_cast<const float *>(rows);
	const float largest = max_abs(x, n, dim, cancel);
	const float scale = largest > 0 ? std::ldexp(1.0f, std::clamp(14 - std::ilogb(largest), -126, 126)) : 1.0f;
	const std::size_t hb = halves->row_bytes(dim);
	const HalfKernels &hk = active_half_kernels();
	out.resize(n * hb);
	tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, 4096), [&](const tbb::blocked_range<std::size_t> &r) {
		std::vector<float> scaled(dim);
		for (std::size_t i = r.begin(); i < r.end(); i++) {
			const float *src = x + source(i) * dim;
			for (std::size_t j = 0; j < dim; j++)
				scaled[j] = src[j] * scale;
			hk.from_float(scaled.data(), reinterpret_cast<half *>(out.data() + i * hb), dim);
		}
	});
	return out;
}

// Whether the half copy keeps the rows' nearest neighbours. A half keeps 11 bits of a component,
// so where rows differ by little against their size (an offset every row shares, tight clusters
// far from the origin) the distances between near rows drown in the rounding and the graph would
// link the wrong rows. For kGuardQueries rows spread over the data, their top kGuardTop among up to
// kGuardRows rows (every step-th) by the float rows and by the halves are compared; the build uses
// the halves only when at least kGuardAgreement of those neighbours are the same.
constexpr std::size_t kGuardQueries = 32, kGuardRows = std::size_t(1) << 17, kGuardTop = 10;
constexpr double kGuardAgreement = 0.95;

bool halves_keep_neighbours(const MetricInfo &metric, const MetricInfo &halves, const std::byte *rows,
                            const std::byte *half_rows, std::size_t n, std::size_t dim,
                            const std::vector<std::int32_t> &row_of, const CancelToken &cancel)
{
	const std::size_t step = std::max<std::size_t>(1, n / kGuardRows), candidates = (n + step - 1) / step;
	if (candidates <= kGuardTop)
		return true;
	auto source = [&](std::size_t i) { return row_of.empty() ? i : std::size_t(row_of[i]); };
	const std::size_t rb = metric.row_bytes(dim), hb = halves.row_bytes(dim);
	const std::size_t queries = std::min(kGuardQueries, n);
	std::vector<std::size_t> agreed(queries, 0);
	auto ordered = [](float d) { return d == d ? d : std::numeric_limits<float>::infinity(); };
	tbb::parallel_for(std::size_t(0), queries, [&](std::size_t qi) {
		cancel.check();
		const std::size_t q = qi * (n / queries);
		std::vector<std::pair<float, std::size_t>> by_float(candidates), by_half(candidates);
		for (std::size_t c = 0; c < candidates; c++) {
			const std::size_t j = c * step;
			const float inf = std::numeric_limits<float>::infinity();
			by_float[c] = {j == q ? inf : ordered(metric.order(rows + source(q) * rb, rows + source(j) * rb, dim)), j};
			by_half[c] = {j == q ? inf : ordered(halves.order(half_rows + q * hb, half_rows + j * hb, dim)), j};
		}
		auto top = [](std::vector<std::pair<float, std::size_t>> &v) {
			std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(kGuardTop), v.end());
			std::vector<std::size_t> ids;
			for (std::size_t i = 0; i < kGuardTop; i++)
				ids.push_back(v[i].second);
			std::sort(ids.begin(), ids.end());
			return ids;
		};
		std::vector<std::size_t> a = top(by_float), b = top(by_half), both;
		std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
		agreed[qi] = both.size();
	});
	std::size_t total = 0;
	for (std::size_t a : agreed)
		total += a;
	return double(total) >= kGuardAgreement * double(queries * kGuardTop);
}

}  // namespace

Graph build(const MetricInfo &metric, const std::byte *rows, std::size_t n, std::size_t dim, const BuildParams &params,
            const CancelToken &cancel)
{
	if (params.m < 2 || params.m > 100)
		throw std::invalid_argument("m must be between 2 and 100");
	if (params.ef_construction < 1)
		throw std::invalid_argument("ef_construction must be at least 1");
	if (params.max_level > 255)
		throw std::invalid_argument("max_level must be at most 255");
	if (n > std::size_t(std::numeric_limits<std::int32_t>::max()))
		throw std::invalid_argument("too many rows for a graph");
	if (dim == 0 && n > 0)
		throw std::invalid_argument("rows need at least one dimension");
	cancel.check();

	// The rows in locality order, when that pays (a copy: the caller's rows stay as they are).
	const std::vector<std::int32_t> order = insertion_order(n, params.seed);
	std::vector<std::int32_t> row_of = locality_order(metric, rows, n, dim, params.locality_min_bytes, order, cancel);
	std::vector<std::byte> local;
	std::vector<std::int32_t> inverse;
	const MetricInfo *halves = half_metric(metric, n, dim, params.half_min_bytes);
	if (halves) {
		local = build_copy(metric, halves, rows, n, dim, row_of, cancel);
		if (!halves_keep_neighbours(metric, *halves, rows, local.data(), n, dim, row_of, cancel)) {
			halves = nullptr;
			local.clear();
		}
	}
	if (local.empty() && !row_of.empty())
		local = build_copy(metric, nullptr, rows, n, dim, row_of, cancel);
	if (!local.empty())
		rows = local.data();
	if (!row_of.empty()) {
		inverse.resize(n);
		for (std::size_t i = 0; i < n; i++)
			inverse[std::size_t(row_of[i])] = std::int32_t(i);
	}
	Builder b(halves ? *halves : metric, rows, n, dim, params, std::move(row_of));
	b.set_inverse(std::move(inverse));
	if (n == 0)
		return std::move(b).finish();

	tbb::enumerable_thread_specific<std::unique_ptr<Scratch>> scratch;
	auto local_scratch = [&]() -> Scratch & {
		auto &s = scratch.local();
		if (!s)
			s = std::make_unique<Scratch>(n);
		return *s;
	};
	b.insert(b.node_of_row(std::size_t(order[0])), local_scratch());
	// Every thread takes the next chunk of the insertion order, so the graph grows as a serial
	// build's does, whatever the thread count.
	std::atomic<std::size_t> next{1};
	const int tasks = std::max(1, tbb::this_task_arena::max_concurrency());
	tbb::parallel_for(0, tasks, [&](int) {
		Scratch &s = local_scratch();
		for (;;) {
			cancel.check();
			std::size_t from = next.fetch_add(kChunk, std::memory_order_relaxed);
			if (from >= n)
				break;
			std::size_t to = std::min(n, from + kChunk);
			for (std::size_t i = from; i < to; i++)
				b.insert(b.node_of_row(std::size_t(order[i])), s);
		}
	});
	return std::move(b).finish();
}

std::vector<Hit> search(const Graph &g, const MetricInfo &metric, const std::byte *rows, std::size_t dim,
                        const std::byte *query, std::size_t k, std::size_t ef)
{
	std::vector<Hit> hits;
	if (g.entry < 0 || k == 0)
		return hits;
	Space space(metric, rows, dim);
	Scratch s(g.size());
	struct Lists {
		const Graph &g;
		void read(std::int32_t node, std::uint32_t layer, std::vector<std::int32_t> &out) const
		{
			for (std::int32_t nb : g.neighbours(std::size_t(node), layer)) {
				if (nb < 0)
					break;
				out.push_back(nb);
			}
		}
		void prefetch(std::int32_t node, std::uint32_t layer) const noexcept
		{
			__builtin_prefetch(g.neighbours(std::size_t(node), layer).data());
		}
	} lists{g};
	auto entry = std::int32_t(g.entry);
	const std::uint32_t top = g.levels[std::size_t(entry)];
	Cand cur = descend(space, query, Cand{space(query, entry), entry}, top, std::min<std::uint32_t>(top, 1), s, lists);
	std::vector<Cand> seeds{cur}, found;
	if (top >= 1)
		search_layer(space, query, -1, {cur}, query_layer1_ef(g.m), 1, s, lists, seeds);
	search_layer(space, query, -1, seeds, std::max(ef, k), 0, s, lists, found);
	for (std::size_t i = 0; i < std::min(k, found.size()); i++)
		hits.push_back({found[i].d, found[i].id});
	return hits;
}

}  // namespace ruvector::kernels::hnsw
