#!/usr/bin/env bash
# CREATE EXTENSION vector where ruvector is installed but its library is not loaded in the session
# (a server without ruvector in shared_preload_libraries, a fresh session): the event trigger loads
# it and refuses the statement as the ProcessUtility hook does (pgtap/087 covers the preloaded case).
. "$(dirname "$0")/lib.sh"

pg_ctl_test restart -o "-c shared_preload_libraries=''" >/dev/null
fresh_db compat_unpreloaded
is "$(q "SHOW shared_preload_libraries")" "" "the server runs without ruvector preloaded"

out=$(psql -X -q -At -v VERBOSITY=verbose -c "CREATE EXTENSION vector" 2>&1)
is "$(sed -n 1p <<<"$out")" 'ERROR:  42710: extension "vector" cannot be installed alongside ruvector' \
	"a fresh session: CREATE EXTENSION vector fails with 42710"
is "$(grep '^HINT' <<<"$out")" 'HINT:  Use the ruvector extension; pgvector applications run on it unchanged.' "with the hint"

out=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS vector WITH VERSION '0.8.0'" 2>&1)
ok $? "a fresh session: CREATE EXTENSION IF NOT EXISTS vector succeeds"
grep -q 'NOTICE:  extension "vector" is provided by ruvector, skipping' <<<"$out"
ok $? "with the NOTICE saying ruvector provides it"
is "$(q "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('vector', 'ruvector')")" \
	"ruvector" "and installs nothing"
is "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'plpgsql'")" 1 "other extensions are untouched"
is "$(sqlstate_of "CREATE EXTENSION IF NOT EXISTS plpgsql")" "" "CREATE EXTENSION of another extension still works"

pg_ctl_test restart -o "-c shared_preload_libraries=ruvector" >/dev/null
wait_for_worker
ok $? "the server runs with ruvector preloaded again"
psql -X -q -d postgres -c "DROP DATABASE compat_unpreloaded" >/dev/null 2>&1
done_testing
