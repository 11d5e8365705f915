// The one exception -> SQLSTATE table (shmem/codec/errors.hpp) that the backend, the worker's
// main thread and its jobs share.
#include "shmem/codec/errors.hpp"
#include "worker/kernels/cancel.hpp"

#include <gtest/gtest.h>

#include <new>
#include <string>

using namespace ruvector;

namespace {

template <class Ex>
proto::ErrorPayload described(Ex ex)
{
	try {
		throw ex;
	} catch (...) {
		return proto::describe_current_exception();
	}
}

std::string state(const proto::ErrorPayload &e) { return std::string(e.sqlstate, 5); }

}  // namespace

TEST(Errors, StandardExceptions)
{
	EXPECT_EQ(state(described(std::bad_alloc())), "53200");
	EXPECT_EQ(described(std::bad_alloc()).message, "out of memory");
	auto inval = described(std::invalid_argument("k must be positive"));
	EXPECT_EQ(state(inval), "22023");
	EXPECT_EQ(inval.message, "k must be positive");
	EXPECT_EQ(state(described(std::length_error("too many edges"))), "54000");
	EXPECT_EQ(state(described(std::runtime_error("boom"))), "XX000");
	EXPECT_EQ(state(described(std::out_of_range("index"))), "XX000");
	EXPECT_EQ(state(described(42)), "XX000");
	EXPECT_EQ(described(42).message, "unknown C++ exception");
}

TEST(Errors, ProtocolErrorsAreProtocolViolations)
{
	auto e = described(proto::ProtocolError("truncated message"));
	EXPECT_EQ(state(e), "08P01");
	EXPECT_EQ(e.message, "truncated message");
	// What a corrupt frame or payload actually throws.
	std::vector<std::byte> junk(3);
	try {
		std::span<const std::byte> payload;
		proto::parse_frame(junk, &payload);
		FAIL() << "a 3-byte frame parsed";
	} catch (...) {
		EXPECT_EQ(state(proto::describe_current_exception()), "08P01");
	}
	try {
		proto::decode_error(junk);
		FAIL() << "a 3-byte error payload decoded";
	} catch (...) {
		EXPECT_EQ(state(proto::describe_current_exception()), "08P01");
	}
}

TEST(Errors, ExceptionsThatNameTheirSqlstate)
{
	auto c = described(kernels::Cancelled());
	EXPECT_EQ(state(c), "57014");
	EXPECT_EQ(c.message, "canceling statement due to user request");
	auto e = described(proto::SqlStateError("53200", "ruvector shared memory limit exceeded", "needs 10 bytes", "raise it"));
	EXPECT_EQ(state(e), "53200");
	EXPECT_EQ(e.message, "ruvector shared memory limit exceeded");
	EXPECT_EQ(e.detail, "needs 10 bytes");
	EXPECT_EQ(e.hint, "raise it");
	// A malformed SQLSTATE is an internal error, never a garbled code.
	EXPECT_EQ(state(described(proto::SqlStateError("5320", "short"))), "XX000");
}
