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

#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace ruvector::pg {

// An error raised by ruvector's C++ code, with the SQLSTATE it should carry.
class Error : public std::runtime_error {
public:
	Error(int sqlerrcode, const std::string &message, std::string detail = {}, std::string hint = {})
		: std::runtime_error(message), sqlerrcode_(sqlerrcode), detail_(std::move(detail)), hint_(std::move(hint))
	{
	}
	int sqlerrcode() const noexcept { return sqlerrcode_; }
	const std::string &detail() const noexcept { return detail_; }
	const std::string &hint() const noexcept { return hint_; }

private:
	int sqlerrcode_;
	std::string detail_;
	std::string hint_;
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

// Run PostgreSQL code from C++ that owns resources. fn must not throw C++ exceptions.
template <class Fn>
auto guard(Fn &&fn) -> decltype(fn())
{
	using R = decltype(fn());
	MemoryContext volatile ctx = CurrentMemoryContext;
	ErrorData *volatile edata = nullptr;
	if constexpr (std::is_void_v<R>) {
		PG_TRY();
		{
			fn();
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
	} else {
		std::optional<R> result;
		PG_TRY();
		{
			result.emplace(fn());
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
		return std::move(*result);
	}
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

// Same for callbacks that are not fmgr functions (access method callbacks, hooks).
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
