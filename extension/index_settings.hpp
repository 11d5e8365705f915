// Settings the vector index access methods share.
//
// LinkedIntSetting: one integer setting under two names: ruvector's and pgvector's (ruvector.ivfflat_probes and
// ivfflat.probes, ruvector.hnsw_ef_search and hnsw.ef_search). An application written for
// pgvector sets pgvector's name and expects it to work. Whichever name was set last (and is still
// in force after RESET or rollback) decides, and both show that value; when neither was set
// explicitly, the caller's fallback (an index option, or the default) applies.
//
// GUC hooks take no user argument, so each pair is its own instantiation: LinkedIntSetting<Tag>.
#pragma once
extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace ruvector {

template <class Tag>
class LinkedIntSetting {
public:
	struct Name {
		const char *name;
		const char *short_desc;
		const char *long_desc;
	};

	static void define(Name ours, Name pgvectors, int boot, int min, int max)
	{
		boot_ = boot;
		vars_[0] = vars_[1] = boot;
		DefineCustomIntVariable(ours.name, ours.short_desc, ours.long_desc, &vars_[0], boot, min, max, PGC_USERSET, GUC_EXPLAIN,
								check, assign<0>, show);
		DefineCustomIntVariable(pgvectors.name, pgvectors.short_desc, pgvectors.long_desc, &vars_[1], boot, min, max,
								PGC_USERSET, GUC_EXPLAIN, check, assign<1>, show);
	}

	// The value set last by the user under either name, if any.
	static std::optional<int> explicit_value()
	{
		const Setting *s = current();
		return s ? std::optional<int>(s->value) : std::nullopt;
	}
	static int value() { return explicit_value().value_or(boot_); }

private:
	struct Setting {
		int value;
		bool explicit_;  // set by the user (SET, ALTER ... SET, postgresql.conf), not the default
		uint64 seq;      // when it was last assigned
	};
	static inline Setting settings_[2];
	static inline uint64 seq_ = 0;
	static inline int vars_[2];
	static inline int boot_ = 0;
	static inline char show_buf_[16];

	static const Setting *current()
	{
		const Setting *best = nullptr;
		for (const auto &s : settings_)
			if (s.explicit_ && (!best || s.seq > best->seq))
				best = &s;
		return best;
	}
	static bool check(int *, void **extra, GucSource source)
	{
		bool *e = static_cast<bool *>(malloc(sizeof(bool)));
		if (!e)
			return false;
		*e = source > PGC_S_DYNAMIC_DEFAULT;
		*extra = e;
		return true;
	}
	template <int Which>
	static void assign(int value, void *extra)
	{
		settings_[Which] = Setting{value, extra && *static_cast<bool *>(extra), ++seq_};
	}
	static const char *show()
	{
		snprintf(show_buf_, sizeof show_buf_, "%d", value());
		return show_buf_;
	}
};

// hnsw.iterative_scan and ivfflat.iterative_scan: pgvector's values.
enum class IterativeScan { off = 0, relaxed_order = 1, strict_order = 2 };
inline const struct config_enum_entry iterative_scan_options[] = {
	{"off", int(IterativeScan::off), false},
	{"relaxed_order", int(IterativeScan::relaxed_order), false},
	{"strict_order", int(IterativeScan::strict_order), false},
	{nullptr, 0, false},
};

}  // namespace ruvector
