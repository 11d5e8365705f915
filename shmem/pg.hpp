// The C++ / PostgreSQL boundary, shared by the backend code and the worker.
//
// Two rules, in the shape pg_duckdb uses:
//  * RV_FUNCTION(name) declares an SQL-callable entry point. Its body may throw; the wrapper
//    catches every C++ exception and raises it as a PostgreSQL error *after* the catch block has
//    closed, so no C++ frame owning resources is skipped by the longjmp.
//  * pg::guard(fn) runs PostgreSQL code from C++ that owns resources: a PostgreSQL error inside
//    fn becomes a pg::PgException, so destructors run and the error is re-raised at the boundary.
// Glue code that calls PostgreSQL directly (ereport, palloc) keeps only trivially destructible
// locals; RAII objects live in the PG-free kernels or behind pg::guard.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include "shmem/codec/errors.hpp"

#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace ruvector::pg {

// An error raised by ruvector's C++ code, with the SQLSTATE it should carry.
class Error : public proto::SqlStateError {
public:
	Error(int sqlerrcode, const std::string &message, std::string detail = {}, std::string hint = {})
		: proto::SqlStateError(unpack_sql_state(sqlerrcode), message, std::move(detail), std::move(hint))
	{
	}
	int sqlerrcode() const noexcept
	{
		const char *s = sqlstate();
		return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
	}
};

// A PostgreSQL error caught by guard(), travelling through C++ frames to the boundary.
class PgException : public std::exception {
public:
	explicit PgException(ErrorData *edata) : edata_(edata) {}
	const char *what() const noexcept override { return edata_->message ? edata_->message : "postgres error"; }
	ErrorData *edata() const noexcept { return edata_; }

private:
	ErrorData *edata_;  // palloc'd in the memory context that was current when guard() started
};

// Run PostgreSQL code from C++ that owns resources. A C++ exception fn throws passes through
// unchanged: it is caught inside the PG_TRY and rethrown after it, so it never unwinds a frame
// that PG_TRY set up (which would leave PostgreSQL's error stack pointing at a dead frame).
template <class Fn>
auto guard(Fn &&fn) -> decltype(fn())
{
	using R = decltype(fn());
	MemoryContext volatile ctx = CurrentMemoryContext;
	ErrorData *volatile edata = nullptr;
	std::exception_ptr cxx;  // set only when fn returned by throwing, so no longjmp follows
	using Slot = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;
	Slot result{};
	PG_TRY();
	{
		try {
			if constexpr (std::is_void_v<R>)
				fn();
			else
				result.emplace(fn());
		} catch (...) {
			cxx = std::current_exception();
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	if (edata)
		throw PgException(edata);
	if (cxx)
		std::rethrow_exception(cxx);
	if constexpr (!std::is_void_v<R>)
		return std::move(*result);
}

// What an exception caught at the boundary turns into; plain storage so it outlives the catch.
struct PendingError {
	ErrorData *edata = nullptr;
	int sqlerrcode = 0;
	char message[1024] = {};
	char detail[1024] = {};
	char hint[512] = {};
};

// Fill `pending` from the exception being handled. Call only inside a catch block.
void capture_current_exception(PendingError &pending) noexcept;
// Raise the captured error as a PostgreSQL ERROR. Call only after the catch block has closed.
[[noreturn]] void raise(const PendingError &pending);

// Run an SQL entry point's body with exceptions contained.
template <class Impl>
inline Datum call_entry(Impl impl, FunctionCallInfo fcinfo)
{
	PendingError pending;
	try {
		return impl(fcinfo);
	} catch (...) {
		capture_current_exception(pending);
	}
	raise(pending);
}

// Same for callbacks that are not fmgr functions: access method callbacks, hooks, table scan
// callbacks, and code that runs inside a PG_TRY (whose frame a C++ exception must not unwind).
// The error is raised with ereport, so it longjmps from here like any PostgreSQL error.
template <class Fn>
inline auto call_boundary(Fn &&fn) -> decltype(fn())
{
	PendingError pending;
	try {
		return fn();
	} catch (...) {
		capture_current_exception(pending);
	}
	raise(pending);
}

}  // namespace ruvector::pg

// Declare an exported SQL function `name` whose C++ body follows the macro.
#define RV_FUNCTION(name)                                                                    \
	extern "C" PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                                     \
	extern "C" {                                                                             \
	PG_FUNCTION_INFO_V1(name);                                                               \
	}                                                                                        \
	static Datum name##_impl([[maybe_unused]] FunctionCallInfo fcinfo);                      \
	extern "C" Datum name(PG_FUNCTION_ARGS) { return ruvector::pg::call_entry(name##_impl, fcinfo); } \
	static Datum name##_impl([[maybe_unused]] FunctionCallInfo fcinfo)
