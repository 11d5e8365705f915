// The one way kernels split work across the worker's threads.
#pragma once
#include "worker/kernels/cancel.hpp"
#include "shmem/codec/pg_free.hpp"

#include <algorithm>
#include <cstddef>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

namespace ruvector::kernels {

// Runs body(b, begin, end) for the fixed blocks [b*size, min(n, (b+1)*size)), checking for
// cancellation before each. The blocks never depend on the thread count, so each row is computed
// the same way whoever runs it, and per-block results combined in block order are deterministic.
template <class Body>
void for_blocks(std::size_t n, std::size_t size, const CancelToken &cancel, const Body &body)
{
	std::size_t count = (n + size - 1) / size;
	tbb::parallel_for(
		tbb::blocked_range<std::size_t>(0, count, 1),
		[&](const tbb::blocked_range<std::size_t> &r) {
			for (std::size_t b = r.begin(); b != r.end(); b++) {
				cancel.check();
				body(b, b * size, std::min(n, (b + 1) * size));
			}
		},
		tbb::simple_partitioner());
}

}  // namespace ruvector::kernels
