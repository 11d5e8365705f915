#!/usr/bin/env bash
# ruivfflat across sessions and restarts: vacuum space reuse, CONCURRENTLY, REINDEX, DROP, TRUNCATE,
# build progress, concurrent inserts, crash recovery, unlogged tables. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_ivf

# Clustered data: 50 centres in 8 dimensions (deterministic).
q "CREATE TABLE pts (id int PRIMARY KEY, v vector(8))"
q "INSERT INTO pts SELECT i, ARRAY(SELECT (((i % 50) * 7 + d * 13) % 41)::real + ((i * 31 + d * 17) % 100) / 100.0 FROM generate_series(1, 8) d)::vector(8) FROM generate_series(1, 20000) i"
Q="(SELECT v FROM pts WHERE id = 777)"
top() {  # top PROBES: the ids of the 20 nearest rows through the index
	psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = ${1}" \
		-c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM pts ORDER BY v <-> $Q LIMIT 20) s"
}
exact=$(psql -X -q -At -c "SET enable_indexscan = off" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM pts ORDER BY v <-> $Q, id LIMIT 20) s")

# --- CREATE INDEX CONCURRENTLY, and the centroid cache follows the index
q "CREATE INDEX CONCURRENTLY pts_idx ON pts USING ruivfflat (v) WITH (lists = 40)"
is "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'pts_idx'::regclass")" t "CREATE INDEX CONCURRENTLY builds a valid index"
is "$(top 40)" "$exact" "it answers exactly with probes = lists"
tag1=$(q "SELECT tag FROM ruvector_store_entries() WHERE object = 'pts_idx'::regclass AND kind = 1")
[ -n "$tag1" ]; ok $? "the build published the centroids to the shared store"

# --- REINDEX: new centroids, new cache entry, same answers
q "REINDEX INDEX pts_idx"
tag2=$(q "SELECT tag FROM ruvector_store_entries() WHERE object = 'pts_idx'::regclass AND kind = 1")
[ -n "$tag2" ] && [ "$tag2" != "$tag1" ]; ok $? "REINDEX replaces the cached centroids"
is "$(top 40)" "$exact" "and the index still answers exactly"
q "REINDEX INDEX CONCURRENTLY pts_idx"
is "$(top 40)" "$exact" "REINDEX CONCURRENTLY too"
is "$(q "SELECT centroid_cache FROM ruvector_ivfflat_stats('pts_idx')")" shared "the new index's centroids are cached"

# --- build progress is reported in phases
q "CREATE TABLE big (id int, v vector(32))"
q "INSERT INTO big SELECT i, ARRAY(SELECT ((i * d) % 97)::real FROM generate_series(1, 32) d)::vector(32) FROM generate_series(1, 200000) i"
psql -X -q -c "SET maintenance_work_mem = '256MB'" -c "CREATE INDEX big_idx ON big USING ruivfflat (v) WITH (lists = 1000)" &
builder=$!
phases=""
while kill -0 $builder 2>/dev/null; do
	p=$(q "SELECT phase FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass" 2>/dev/null)
	[ -n "$p" ] && phases="$phases|$p"
	sleep 0.02
done
wait $builder; ok $? "a 200k-row, 1000-list build succeeds"
seen=$(echo "$phases" | tr '|' '\n' | grep -v '^$' | sort -u | tr '\n' ',')
echo "# phases seen: $seen"
n=$(echo "$seen" | tr ',' '\n' | grep -cE 'sampling|performing k-means|assigning tuples|writing lists')
[ "$n" -ge 2 ]; ok $? "pg_stat_progress_create_index shows the build's phases ($seen)"
q "DROP TABLE big"

# --- the two ways a build orders rows: kept in memory (counting sort) when they fit in
# maintenance_work_mem, else a second scan into a tuplesort. While rows are kept the sample is a
# list of kept rows; when they stop fitting mid-scan its vectors are moved out of them (in place,
# into the sample's slot order). Same sample, same centroids, so the same lists: probes = 1 gives
# the same answers either way. vector(32), 20000 rows: at 1MB about 7000 rows fit, so with
# lists = 10 (2560 samples) the rows stop fitting after the reservoir has been replacing entries,
# and with lists = 40 (10240 samples) while it is still filling.
q "CREATE TABLE pts_mem_t (id int PRIMARY KEY, v vector(32))"
q "INSERT INTO pts_mem_t SELECT i, ARRAY(SELECT (((i % 50) * 7 + d * 13) % 41)::real + ((i * 31 + d * 17) % 100) / 100.0 FROM generate_series(1, 32) d)::vector(32) FROM generate_series(1, 20000) i"
build_path() {  # build_path MEM LISTS: builds pts_mem with them, prints the path taken (and where keeping stopped)
	psql -X -q -At -c "DROP INDEX IF EXISTS pts_mem" -c "SET maintenance_work_mem = '$1'" -c "SET client_min_messages = debug1" \
		-c "CREATE INDEX pts_mem ON pts_mem_t USING ruivfflat (v) WITH (lists = $2)" 2>&1 |
		sed -nE -e 's/.*assigning [0-9.]+ s \(([a-z ]+)\).*/\1/p' -e 's/.*rows stopped fitting in maintenance_work_mem after ([0-9]+) rows; the sample of ([0-9]+) rows.*/stopped \1 \2/p' | paste -sd' '
}
probe1() {
	psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 1" -c "SET enable_indexscan = on" \
		-c "SELECT string_agg(r.ids, ';' ORDER BY q.id) FROM pts_mem_t q CROSS JOIN LATERAL (SELECT string_agg(id::text, ',') AS ids FROM (SELECT p.id FROM pts_mem_t p ORDER BY p.v <-> q.v LIMIT 5) s) r WHERE q.id % 1000 = 1"
}
for lists in 10 40; do
	is "$(build_path 64MB $lists)" "rows kept in memory" "lists $lists: a build whose rows fit in maintenance_work_mem keeps them (no second scan, no sort)"
	kept=$(probe1)
	path=$(build_path 1MB $lists)
	[[ $path =~ ^stopped\ [0-9]+\ [0-9]+\ second\ scan\ and\ sort$ ]]
	ok $? "lists $lists: with 1MB the rows stop fitting mid-scan, then it scans again and sorts ($path)"
	read -r _ at m _ <<<"$path"
	if [ "$lists" = 10 ]; then
		[ "${at:-0}" -gt "${m:-0}" ] && [ "${m:-0}" = 2560 ]; ok $? "lists 10: the reservoir was full (2560 of $at rows) when the rows stopped fitting"
	else
		[ "${at:-0}" = "${m:-1}" ]; ok $? "lists 40: the reservoir was still filling ($m of $at rows) when the rows stopped fitting"
	fi
	is "$(probe1)" "$kept" "lists $lists: both give the same lists: probes = 1 answers agree for 20 queries"
done
q "DROP TABLE pts_mem_t"

# --- the k-means sample goes to the worker through a shared segment, and assignment batches
# through two (the worker maps them; the backend copies the next batch while the worker assigns
# one), or, when they would go over ruvector.shared_memory_limit, through the queue. Same labels
# either way; the segments' bytes count against the limit only while the build runs.
q "CREATE TABLE pts_wide (id int PRIMARY KEY, v vector(256))"
q "INSERT INTO pts_wide SELECT i, ARRAY(SELECT (((i % 50) * 7 + d * 13) % 41)::real + ((i * 31 + d * 17) % 100) / 100.0 FROM generate_series(1, 256) d)::vector(256) FROM generate_series(1, 20000) i"
transport() {  # builds pts_wide_idx, prints how the sample and the batches went
	psql -X -q -At -c "DROP INDEX IF EXISTS pts_wide_idx" -c "SET client_min_messages = debug1" \
		-c "CREATE INDEX pts_wide_idx ON pts_wide USING ruivfflat (v) WITH (lists = 20)" 2>&1 |
		sed -nE -e 's/.*kmeans request: its input \(([0-9]+) bytes\) goes through (shared memory|the queue).*/sample \1 \2/p' \
			-e 's/.*assignment batches go through (shared memory|the queue).*/batches \1/p' | paste -sd ';'
}
probe_wide() {
	psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 1" \
		-c "SELECT string_agg(r.ids, ';' ORDER BY q.id) FROM pts_wide q CROSS JOIN LATERAL (SELECT string_agg(id::text, ',') AS ids FROM (SELECT p.id FROM pts_wide p ORDER BY p.v <-> q.v LIMIT 5) s) r WHERE q.id % 1000 = 1"
}
used0=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
is "$(transport)" "sample 5242880 shared memory;batches shared memory" "the sample (20 lists x 256 rows x 1 kB) and the assignment batches go through shared segments when the limit allows"
shared=$(probe_wide)
# 24 MB: too little for the two 16.8 MB segments, enough for the worker's one 16.8 MB input buffer.
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '24MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 25165824 ] && break; sleep 0.1; done
is "$(transport)" "sample 5242880 shared memory;batches the queue" "over ruvector.shared_memory_limit (2 x 16.8 MB against 24 MB) the batches go through the queue"
is "$(q "SELECT count(*) FROM pg_class WHERE relname = 'pts_wide_idx'")" 1 "and the build succeeds"
is "$(probe_wide)" "$shared" "both ways give the same lists: probes = 1 answers agree"
# 8 MB: a 40-list sample (10.5 MB) fits neither a segment nor the worker's own buffer: the build
# fails with the limit's error and leaves the table's other index alone.
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '8MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 8388608 ] && break; sleep 0.1; done
out=$(psql -X -q -At -c "SET client_min_messages = debug1" -c "CREATE INDEX pts_wide_40 ON pts_wide USING ruivfflat (v) WITH (lists = 40)" 2>&1)
grep -q "kmeans request: its input (10485760 bytes) goes through the queue" <<<"$out"; ok $? "a sample over the limit falls back to the queue"
grep -q "ruvector shared memory limit exceeded" <<<"$out"; ok $? "where the worker refuses it with the limit's error"
is "$(sqlstate_of "CREATE INDEX pts_wide_40 ON pts_wide USING ruivfflat (v) WITH (lists = 40)")" 53200 "SQLSTATE 53200"
is "$(q "SELECT count(*) FROM pg_class WHERE relname = 'pts_wide_40'")" 0 "no index is left behind"
is "$(probe_wide)" "$shared" "the existing index answers as before"
q "ALTER SYSTEM RESET ruvector.shared_memory_limit" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" != 8388608 ] && break; sleep 0.1; done
is "$(transport)" "sample 5242880 shared memory;batches shared memory" "with the limit back, shared segments again"
is "$(probe_wide)" "$shared" "and the same lists"
# The accounting is back where it was, apart from the index's cached centroids (published by the
# builds: 20 x 256 floats plus the entry's header, at most a few kB more than before).
used1=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
[ "$((used1 - used0))" -ge 0 ] && [ "$((used1 - used0))" -lt 65536 ]; ok $? "after the builds the segments no longer count against the limit ($used0 -> $used1 bytes)"
q "DROP TABLE pts_wide"

# --- DROP INDEX removes the cache entry
oid=$(q "SELECT 'pts_idx'::regclass::oid")
q "DROP INDEX pts_idx"
is "$(q "SELECT count(*) FROM ruvector_store_entries() WHERE object = $oid")" 0 "DROP INDEX removes the cached centroids"

# --- VACUUM removes dead entries and inserts reuse the space
q "CREATE INDEX pts_idx ON pts USING ruivfflat (v) WITH (lists = 40)"
size0=$(q "SELECT pg_relation_size('pts_idx')")
q "CREATE TABLE pts_copy AS SELECT * FROM pts"
q "DELETE FROM pts"
q "VACUUM pts"
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('pts_idx')")" 0 "VACUUM removes the entries of deleted rows"
q "INSERT INTO pts SELECT * FROM pts_copy"
is "$(q "SELECT pg_relation_size('pts_idx')")" "$size0" "re-inserting the same rows after VACUUM reuses the space (size unchanged)"
is "$(top 40)" "$exact" "and the index answers exactly again"

# --- TRUNCATE leaves an empty, working index
q "CREATE TABLE tr (id int, v vector(2))"
q "INSERT INTO tr SELECT i, ARRAY[i, i]::vector FROM generate_series(1, 1000) i"
q "CREATE INDEX tr_idx ON tr USING ruivfflat (v) WITH (lists = 10)"
q "TRUNCATE tr" 2>/dev/null
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('tr_idx')")" 0 "TRUNCATE empties the index"
q "INSERT INTO tr VALUES (1, '[5,5]'), (2, '[9,9]')"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SELECT id FROM tr ORDER BY v <-> '[8,8]' LIMIT 1")" 2 "and rows inserted afterwards are found"

# --- concurrent inserts into an index built on an empty table: nothing lost
q "CREATE TABLE ins (id bigserial PRIMARY KEY, v vector(8))"
q "CREATE INDEX ins_idx ON ins USING ruivfflat (v) WITH (lists = 100)" 2>/dev/null
cat >"$RUVECTOR_TEST_DATA/../ins.sql" <<'SQL'
INSERT INTO ins (v) SELECT ARRAY(SELECT ((((random() * 50)::int) * 7 + d * 13) % 41)::real + random()::real FROM generate_series(1, 8) d)::vector(8) FROM generate_series(1, 10);
SQL
"$RUVECTOR_PG_BIN/pgbench" -n -c 10 -j 2 -t 1000 -f "$RUVECTOR_TEST_DATA/../ins.sql" >"$RUVECTOR_TEST_DATA/../pgbench.out" 2>&1
ok $? "10 pgbench clients insert 100k rows concurrently"
is "$(q "SELECT count(*) FROM ins")" 100000 "the table has 100k rows"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 100" -c "SELECT count(*) FROM (SELECT id FROM ins ORDER BY v <-> '[1,2,3,4,5,6,7,8]') s")" 100000 \
	"an index scan over every list returns every row"
recall() {  # recall PROBES over 20 queries against an exact scan
	psql -X -q -At <<-SQL
	SET enable_indexscan = off;
	CREATE TEMP TABLE t AS SELECT q, array(SELECT id FROM ins ORDER BY v <-> (SELECT v FROM ins WHERE id = q * 997) LIMIT 10) ids FROM generate_series(1, 20) q;
	RESET enable_indexscan; SET enable_seqscan = off; SET ivfflat.probes = $1;
	SELECT round(avg((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)) / 10.0), 3) FROM t,
		LATERAL (SELECT array(SELECT id FROM ins ORDER BY v <-> (SELECT v FROM ins WHERE id = t.q * 997) LIMIT 10) ids) g;
	SQL
}
r=$(recall 10)
awk "BEGIN {exit !($r >= 0.95)}"; ok $? "recall at probes 10 after the concurrent inserts: $r (index built empty: one list)"
q "REINDEX INDEX ins_idx"
is "$(q "SELECT lists FROM ruvector_ivfflat_stats('ins_idx')")" 100 "REINDEX after loading trains the 100 lists"
r=$(recall 10)
awk "BEGIN {exit !($r >= 0.95)}"; ok $? "recall at probes 10 of 100 lists after REINDEX: $r"

# --- durability of the build's writes: left to the next checkpoint, unless one began during the build
q "CREATE TABLE ck (id int, v vector(2))"
q "INSERT INTO ck SELECT i, ARRAY[i, i % 7]::vector FROM generate_series(1, 200) i"
build_ck() {  # build_ck: the build's DEBUG1 line about the fsync
	psql -X -q -At -c "DROP INDEX IF EXISTS ck_idx" -c "SET client_min_messages = debug1" \
		-c "CREATE INDEX ck_idx ON ck USING ruivfflat (v) WITH (lists = 4)" 2>&1 | grep -o "fsync [0-9.]* s ([a-z :]*)"
}
left=1
for _ in 1 2 3; do  # a timed checkpoint could begin during a build: never three times in a row
	q "CHECKPOINT"
	build_ck | grep -q "(left to the next checkpoint)" && { left=0; break; }
done
ok $left "a build with no checkpoint during it leaves the fsync to the next checkpoint"
# A checkpoint that begins during the build never sees the pages (they bypass shared buffers), and
# recovery from it would not replay their WAL: the build fsyncs them itself. The scan sleeps per row.
q "CREATE FUNCTION slow_v(v vector) RETURNS vector LANGUAGE plpgsql IMMUTABLE AS \$\$BEGIN PERFORM pg_sleep(0.2); RETURN v; END\$\$"
q "CREATE TABLE ck_slow (v vector(2))"
TMP_CK=$(mktemp)
q "INSERT INTO ck_slow SELECT v FROM ck WHERE id <= 6"
psql -X -q -At -c "SET client_min_messages = debug1" \
	-c "CREATE INDEX ck_slow_idx ON ck_slow USING ruivfflat ((slow_v(v)::vector(2))) WITH (lists = 2)" >"$TMP_CK" 2>&1 &
sleep 0.4
q "CHECKPOINT"
wait $!
grep -q "fsync [0-9.]* s (at once: a checkpoint began during the build)" "$TMP_CK"; ok $? "a checkpoint during the build: the build fsyncs its pages itself"
rm -f "$TMP_CK"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SELECT count(*) FROM (SELECT 1 FROM ck_slow ORDER BY slow_v(v)::vector(2) <-> '[1,1]' LIMIT 3) s")" 3 "and that index answers"

# --- crash: immediate shutdown, restart, same answers (the shared cache is rebuilt from the pages)
q "CREATE UNLOGGED TABLE ul (id int, v vector(2))"
q "INSERT INTO ul SELECT i, ARRAY[i, 0]::vector FROM generate_series(1, 500) i"
q "CREATE INDEX ul_idx ON ul USING ruivfflat (v) WITH (lists = 5)"
q "INSERT INTO pts SELECT id + 100000, v FROM pts_copy WHERE id % 10 = 0"
before10=$(top 10)
before40=$(top 40)
pg_ctl_test stop -m immediate >/dev/null 2>&1
pg_ctl_test start >/dev/null 2>&1
wait_for_worker; ok $? "the server restarts after an immediate shutdown"
is "$(q "SELECT centroid_cache FROM ruvector_ivfflat_stats('pts_idx')")" "not loaded" "the shared cache is empty after the crash"
is "$(top 10)" "$before10" "probes 10: the same results as before the crash"
is "$(top 40)" "$before40" "probes = lists: the same results as before the crash"
is "$(q "SELECT centroid_cache FROM ruvector_ivfflat_stats('pts_idx')")" shared "the first scan reloaded the shared cache from the index pages"
is "$(q "SELECT count(*) FROM ul")" 0 "the unlogged table is empty after the crash"
q "INSERT INTO ul VALUES (1, '[3,0]'), (2, '[7,0]')"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SELECT id FROM ul ORDER BY v <-> '[6,0]' LIMIT 1")" 2 "its index was reset from the init fork and works"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
