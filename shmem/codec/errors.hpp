// The one table that maps C++ exceptions to SQLSTATEs. The backend's boundary (shmem/pg.cpp), the
// worker's main thread and its TBB jobs (worker/worker_main.cpp) all go through it, so one
// failure reads the same wherever it happens. PG-free: TBB threads use it, GoogleTest covers it.
#pragma once
#include "shmem/codec/pg_free.hpp"
#include "shmem/codec/protocol.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

namespace ruvector::proto {

// An exception that names its SQLSTATE: pg::Error (ruvector's own errors) and kernels::Cancelled.
class SqlStateError : public std::runtime_error {
public:
	SqlStateError(std::string_view sqlstate, const std::string &message, std::string detail = {}, std::string hint = {});
	const char *sqlstate() const noexcept { return sqlstate_; }  // 5 characters, NUL-terminated
	const std::string &detail() const noexcept { return detail_; }
	const std::string &hint() const noexcept { return hint_; }

private:
	char sqlstate_[6];
	std::string detail_;
	std::string hint_;
};

// The SQL error the exception being handled becomes. Call only inside a catch block.
//   SqlStateError           its own SQLSTATE, message, detail and hint
//   ProtocolError           08P01 protocol_violation (a corrupt or truncated frame)
//   std::bad_alloc          53200 out_of_memory
//   std::invalid_argument   22023 invalid_parameter_value (the kernels' input checks)
//   std::length_error       54000 program_limit_exceeded (a size guard, e.g. max_edges)
//   anything else           XX000 internal_error
ErrorPayload describe_current_exception() noexcept;

}  // namespace ruvector::proto
