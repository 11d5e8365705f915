#!/usr/bin/env bash
# A streaming standby replays ruivfflat's WAL (build, inserts, vacuum) and answers like the primary.
# The primary runs with wal_consistency_checking = generic, so the standby also checks every page
# it replays against the primary's image. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_standby
q "ALTER SYSTEM SET wal_consistency_checking = 'generic'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null

STANDBY="$RUVECTOR_TEST_DATA/../standby"
SPORT=$((PGPORT + 1))
as_pg_user rm -rf "$STANDBY"
as_pg_user "$RUVECTOR_PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$STANDBY" -R -X stream -c fast >/dev/null 2>&1
ok $? "pg_basebackup makes a standby"
as_pg_user "$RUVECTOR_PG_BIN/pg_ctl" -D "$STANDBY" -l "$STANDBY/server.log" -o "-c port=$SPORT" -w start >/dev/null 2>&1
ok $? "the standby starts (ruvector preloaded there too)"
sq() { PGPORT=$SPORT q "$1"; }

# Build, then inserts, deletes, vacuum and more inserts on the primary.
q "CREATE TABLE pts (id int PRIMARY KEY, v vector(16))"
q "INSERT INTO pts SELECT i, ARRAY(SELECT (((i % 64) * 5 + d * 11) % 37)::real + ((i * 13 + d * 7) % 100) / 50.0 FROM generate_series(1, 16) d)::vector(16) FROM generate_series(1, 30000) i"
q "CREATE INDEX pts_idx ON pts USING ruivfflat (v) WITH (lists = 50)"
for round in 1 2 3; do
	q "DELETE FROM pts WHERE id % 7 = $round"
	q "VACUUM pts"
	q "INSERT INTO pts SELECT i + 100000 * $round, ARRAY(SELECT ((i * d + $round) % 41)::real FROM generate_series(1, 16) d)::vector(16) FROM generate_series(1, 3000) i"
done
lsn=$(q "SELECT pg_current_wal_lsn()")
caught_up=1
for _ in $(seq 1 300); do
	[ "$(sq "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)" = t ] && { caught_up=0; break; }
	sleep 0.1
done
ok $caught_up "the standby replays up to the primary's WAL position"

answers() {  # answers PORT PROBES: top-10 ids for 10 queries
	PGPORT=$1 psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = $2" -c "
		SELECT string_agg(ids, ' ' ORDER BY q) FROM (SELECT q, (SELECT string_agg(id::text, ',') FROM (
			SELECT id FROM pts ORDER BY v <-> (SELECT v FROM pts WHERE id = q * 997 + 1 OR id = q * 997 + 2 LIMIT 1) LIMIT 10) s) ids
		FROM generate_series(1, 10) q) t"
}
p10=$(answers "$PGPORT" 10)
[ -n "$p10" ]; ok $? "the primary answers"
is "$(answers "$SPORT" 10)" "$p10" "the standby returns the same results as the primary (probes 10)"
is "$(answers "$SPORT" 50)" "$(answers "$PGPORT" 50)" "and with probes = lists"
is "$(sq "SELECT vectors FROM ruvector_ivfflat_stats('pts_idx')")" "$(q "SELECT vectors FROM ruvector_ivfflat_stats('pts_idx')")" \
	"the standby's index holds the same entries"
is "$(sq "SELECT centroid_cache FROM ruvector_ivfflat_stats('pts_idx')")" shared "the standby's worker caches the centroids too"
grep -q "inconsistent page" "$STANDBY/server.log"; is $? 1 "no page differs from the primary's image on replay"

as_pg_user "$RUVECTOR_PG_BIN/pg_ctl" -D "$STANDBY" -m fast -w stop >/dev/null 2>&1
as_pg_user rm -rf "$STANDBY"
q "ALTER SYSTEM RESET wal_consistency_checking" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
