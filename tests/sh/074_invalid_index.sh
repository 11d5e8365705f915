#!/usr/bin/env bash
# An invalid ruivfflat index, as a cancelled CREATE INDEX CONCURRENTLY leaves it (the catalog entry
# is committed, then the build waits for a transaction that holds the table): ruvector_ivfflat_stats
# says so (55000) instead of failing to read its pages. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_invalid_index
q "CREATE TABLE t (id int, v vector(3))"
q "INSERT INTO t SELECT i, ARRAY[i, i % 7, 1]::vector(3) FROM generate_series(1, 500) i"

# A writer keeps the table busy until the build has timed out.
psql -X -q -c "BEGIN" -c "INSERT INTO t VALUES (0, '[0,0,0]')" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 &
writer=$!
for _ in $(seq 1 50); do
	[ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass AND mode = 'RowExclusiveLock' AND granted")" -ge 1 ] && break
	sleep 0.1
done
state=$(PGOPTIONS="-c statement_timeout=1s" sqlstate_of "CREATE INDEX CONCURRENTLY t_idx ON t USING ruivfflat (v) WITH (lists = 4)")
is "$state" 57014 "CREATE INDEX CONCURRENTLY is cancelled while it waits for the writer"
is "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_idx'::regclass")" f "and leaves an invalid index"
is "$(sqlstate_of "SELECT * FROM ruvector_ivfflat_stats('t_idx')")" 55000 "ruvector_ivfflat_stats on it: 55000, not a read error"
msg=$(psql -X -q -At -c "SELECT * FROM ruvector_ivfflat_stats('t_idx')" 2>&1)
echo "$msg" | grep -q 'index "t_idx" is not valid'; ok $? "the message says the index is not valid"
echo "$msg" | grep -q 'HINT:  REINDEX INDEX t_idx'; ok $? "and the hint says to REINDEX it"
wait $writer

q "REINDEX INDEX t_idx"
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('t_idx')")" 501 "after REINDEX the stats read the index"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
