// The rows of a forward pass as ruvector's value-per-call functions hold them (ruvector_gnn_forward,
// ruvector_message_pass, extension/graph/gnn_sql.cpp): the worker's reply, read in place. The
// streamed function scan (extension/scan/function_scan.cpp) reads rows straight from here once the
// function's first call has computed them, instead of calling it again for each row.
#pragma once
#include "shmem/pg.hpp"

extern "C" {
#include "fmgr.h"
}

namespace ruvector {

struct ForwardResult {
	bool stale;
	int64 nodes;
	int out_dim;
	const int64 *ids;
	const float *y;  // nodes x out_dim
};

// The result the set-returning call `fcinfo` of one of those functions holds (after its first
// call, until its set is done), and how many rows it has returned; nullptr otherwise.
const ForwardResult *forward_rows_held(FunctionCallInfo fcinfo, uint64 *returned);

}  // namespace ruvector
