// Cooperative cancellation for long-running kernels. The worker's main thread owns the flag and
// sets it when the client cancels or disconnects; kernels poll it between blocks of work (every
// few milliseconds at most) and unwind by throwing Cancelled, which the job wrapper catches.
#pragma once
#include "shmem/codec/errors.hpp"

#include <atomic>

namespace ruvector::kernels {

// Raised in the client as a query cancel (57014), like PostgreSQL's own.
struct Cancelled : proto::SqlStateError {
	Cancelled() : proto::SqlStateError("57014", "canceling statement due to user request") {}
};

class CancelToken {
public:
	CancelToken() = default;
	explicit CancelToken(const std::atomic<bool> *flag) : flag_(flag) {}
	bool requested() const noexcept { return flag_ && flag_->load(std::memory_order_relaxed); }
	void check() const
	{
		if (requested())
			throw Cancelled();
	}

private:
	const std::atomic<bool> *flag_ = nullptr;
};

}  // namespace ruvector::kernels
