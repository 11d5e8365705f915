#include "shmem/codec/errors.hpp"

#include <algorithm>
#include <new>

namespace ruvector::proto {

SqlStateError::SqlStateError(std::string_view sqlstate, const std::string &message, std::string detail, std::string hint)
	: std::runtime_error(message), detail_(std::move(detail)), hint_(std::move(hint))
{
	std::fill(sqlstate_, sqlstate_ + 5, 'X');
	std::copy_n(sqlstate.begin(), std::min<std::size_t>(sqlstate.size(), 5), sqlstate_);
	if (sqlstate.size() != 5)
		std::copy_n("XX000", 5, sqlstate_);
	sqlstate_[5] = '\0';
}

namespace {

ErrorPayload make(const char *state, std::string message, std::string detail = {}, std::string hint = {})
{
	ErrorPayload e;
	std::copy_n(state, 5, e.sqlstate);
	e.message = std::move(message);
	e.detail = std::move(detail);
	e.hint = std::move(hint);
	return e;
}

ErrorPayload describe(std::exception_ptr ex)
{
	try {
		std::rethrow_exception(ex);
	} catch (const SqlStateError &e) {
		return make(e.sqlstate(), e.what(), e.detail(), e.hint());
	} catch (const ProtocolError &e) {
		return make("08P01", e.what());
	} catch (const std::bad_alloc &) {
		return make("53200", "out of memory");
	} catch (const std::invalid_argument &e) {
		return make("22023", e.what());
	} catch (const std::length_error &e) {
		return make("54000", e.what());
	} catch (const std::exception &e) {
		return make("XX000", e.what());
	} catch (...) {
		return make("XX000", "unknown C++ exception");
	}
}

}  // namespace

ErrorPayload describe_current_exception() noexcept
{
	try {
		return describe(std::current_exception());
	} catch (...) {
		// Copying the message failed: memory is short. Short strings need no allocation.
		ErrorPayload e;
		std::copy_n("53200", 5, e.sqlstate);
		e.message = "out of memory";
		return e;
	}
}

}  // namespace ruvector::proto
