#include "shmem/pg.hpp"

namespace ruvector::pg {

void capture_current_exception(PendingError &pending) noexcept
{
	auto copy = [](char *dst, std::size_t cap, const std::string &src) { strlcpy(dst, src.c_str(), cap); };
	try {
		throw;
	} catch (const PgException &e) {
		pending.edata = e.edata();
		return;
	} catch (...) {
	}
	proto::ErrorPayload e = proto::describe_current_exception();
	const char *s = e.sqlstate;
	pending.sqlerrcode = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
	copy(pending.message, sizeof pending.message, e.message);
	copy(pending.detail, sizeof pending.detail, e.detail);
	copy(pending.hint, sizeof pending.hint, e.hint);
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
