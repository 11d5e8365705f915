#include "shmem/pg.hpp"

namespace ruvector::pg {

void capture_current_exception(PendingError &pending) noexcept
{
	auto copy = [](char *dst, std::size_t cap, const char *src) { strlcpy(dst, src ? src : "", cap); };
	try {
		throw;
	} catch (const PgException &e) {
		pending.edata = e.edata();
	} catch (const Error &e) {
		pending.sqlerrcode = e.sqlerrcode();
		copy(pending.message, sizeof pending.message, e.what());
		copy(pending.detail, sizeof pending.detail, e.detail().c_str());
		copy(pending.hint, sizeof pending.hint, e.hint().c_str());
	} catch (const std::bad_alloc &) {
		pending.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
		copy(pending.message, sizeof pending.message, "out of memory");
	} catch (const std::invalid_argument &e) {
		pending.sqlerrcode = ERRCODE_INVALID_PARAMETER_VALUE;
		copy(pending.message, sizeof pending.message, e.what());
	} catch (const std::exception &e) {
		pending.sqlerrcode = ERRCODE_INTERNAL_ERROR;
		copy(pending.message, sizeof pending.message, e.what());
	} catch (...) {
		pending.sqlerrcode = ERRCODE_INTERNAL_ERROR;
		copy(pending.message, sizeof pending.message, "unknown C++ exception");
	}
}

void raise(const PendingError &pending)
{
	if (pending.edata)
		ReThrowError(pending.edata);
	ereport(ERROR,
			(errcode(pending.sqlerrcode), errmsg("%s", pending.message),
			 pending.detail[0] ? errdetail("%s", pending.detail) : 0,
			 pending.hint[0] ? errhint("%s", pending.hint) : 0));
	pg_unreachable();
}

}  // namespace ruvector::pg
