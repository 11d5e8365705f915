// Cooperative cancellation for long-running kernels. The worker's main thread owns the flag and
// sets it when the client cancels or disconnects; kernels poll it between blocks of work (every
// few milliseconds at most) and unwind by throwing Cancelled, which the job wrapper catches.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <atomic>
#include <exception>

namespace ruvector::kernels {

struct Cancelled : std::exception {
	const char *what() const noexcept override { return "canceling statement due to user request"; }
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
