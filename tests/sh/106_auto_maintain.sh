#!/usr/bin/env bash
# Self-maintaining indexes (issue 18): with ruvector.auto_maintain on, the ruvector worker starts a
# maintenance process per database every ruvector.maintenance_naptime (1 s here), which rebuilds
# degraded ruivfflat and ruhnsw indexes by itself: an index built on an empty table and then loaded with
# 100k rows becomes a 100-list index within a bounded time (recall@10 at probes 10 >= 0.9), the same after
# TRUNCATE and COPY; drifted data marks an index degraded and a rebuild follows; the auto_maintain
# option and the GUC switch it off; a ruhnsw index with freed slots, or whose graph's recall fell
# under ruvector.maintenance_min_recall, is rebuilt (recall recovers). Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_auto_maintain
log_start=$(stat -c %s "$RUVECTOR_TEST_DATA/server.log")
tmp=$(mktemp -d)
restore() {
	psql -X -q -d postgres -c "ALTER SYSTEM RESET ruvector.auto_maintain" -c "ALTER SYSTEM RESET ruvector.maintenance_naptime" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap restore EXIT
new_log() { tail -c +"$((log_start + 1))" "$RUVECTOR_TEST_DATA/server.log"; }
# wait_log TEXT: whether the server log gains a line with TEXT within 20 s
wait_log() {
	local _
	for _ in $(seq 1 100); do
		new_log | grep -q "$1" && return 0
		sleep 0.2
	done
	return 1
}
# wait_for SQL WANT SECONDS: until SQL returns WANT; prints the seconds it took, returns 1 on timeout.
wait_for() {
	local start
	start=$(now_ms)
	while [ $(($(now_ms) - start)) -lt $(($3 * 1000)) ]; do
		if [ "$(q "$1" 2>/dev/null)" = "$2" ]; then
			echo $((($(now_ms) - start) / 1000))
			return 0
		fi
		sleep 0.2
	done
	return 1
}

maintenance_fixture
q "CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(16))"
q "CREATE INDEX items_idx ON items USING ruivfflat (embedding vector_l2_ops) WITH (lists = 100)" 2>/dev/null
q "CREATE INDEX items_manual ON items USING ruivfflat (embedding vector_l2_ops) WITH (lists = 100, auto_maintain = off)" 2>/dev/null

is "$(q "SHOW ruvector.auto_maintain")" off "the test cluster starts with auto maintenance off"
# The other tests' databases keep their indexes, some degraded (built on empty tables): their
# rebuilds are not this test's business, so they are switched off there (the processes still visit
# those databases, at most two at a time, and this one gets its turn in every round).
for db in $(q "SELECT string_agg(quote_ident(datname), ' ') FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> current_database()"); do
	psql -X -q -d "$db" -c "DO \$\$ DECLARE i regclass; BEGIN
		FOR i IN SELECT c.oid FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE a.amname IN ('ruivfflat', 'ruhnsw') AND c.relkind = 'i' LOOP
			EXECUTE format('ALTER INDEX %s SET (auto_maintain = off)', i);
		END LOOP; END \$\$" >/dev/null 2>&1
done
q "ALTER SYSTEM SET ruvector.auto_maintain = on"
q "ALTER SYSTEM SET ruvector.maintenance_naptime = '1s'"
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
is "$(q "SHOW ruvector.auto_maintain") $(q "SHOW ruvector.maintenance_naptime")" "on 1s" "turned on, checking every second"

# --- an index built on an empty table, then loaded
q "INSERT INTO items (embedding) SELECT * FROM clustered(100000)"
secs=$(wait_for "SELECT lists FROM ruvector_index_health('items_idx')" 100 60)
ok $? "the index built on the empty table became a 100-list index by itself within 60 s (${secs:-timeout} s)"
is "$(q "SELECT state FROM ruvector_index_health('items_idx')")" healthy "and is healthy"
r=$(q "SELECT recall_at_10(10)")
echo "# recall@10 at probes 10: $r"
ok "$(q "SELECT ($r >= 0.9)::int - 1")" "recall@10 at probes 10 is at least 0.9 (got $r)"
new_log | grep -q "ruvector maintenance: rebuilding index public.items_idx: 1 list of 100 requested"
ok $? "the maintenance process logged why it rebuilt"
new_log | grep -qE "ruvector maintenance: rebuilt index public.items_idx" && new_log | grep -qE "DETAIL:  before: lists 1 of 100, rows [0-9]+, .*; after: lists 100 of 100, rows 100000"
ok $? "and the figures before and after"
sleep 3
is "$(q "SELECT lists || ' ' || state FROM ruvector_index_health('items_manual')")" "1 degraded" \
	"an index WITH (auto_maintain = off) is left degraded"
new_log | grep -q "rebuilding index public.items_manual"
ok "$([ $? -ne 0 ]; echo $?)" "and never rebuilt"
q "DROP INDEX items_manual"

# --- the nightly TRUNCATE; COPY pipeline
q "COPY (SELECT * FROM clustered(100000)) TO STDOUT" >"$tmp/rows.csv"
oid=$(q "SELECT 'items_idx'::regclass::oid")
q "TRUNCATE items" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy items (embedding) FROM '$tmp/rows.csv'"
secs=$(wait_for "SELECT lists FROM ruvector_index_health('items_idx')" 100 60)
ok $? "after TRUNCATE and COPY the index is back to 100 lists within 60 s (${secs:-timeout} s)"
r=$(q "SELECT recall_at_10(10)")
echo "# recall@10 at probes 10 after TRUNCATE and COPY: $r"
ok "$(q "SELECT ($r >= 0.9)::int - 1")" "recall@10 at probes 10 is at least 0.9 (got $r)"
ok "$([ "$(q "SELECT 'items_idx'::regclass::oid")" != "$oid" ]; echo $?)" "by an online rebuild (a new relation under the name)"

# --- drift: as many rows again, from the same clusters with their centres shifted, pile into a
# few lists
q "ALTER INDEX items_idx SET (auto_maintain = off)"
sleep 1.5  # a round that started before the change has ended
q "INSERT INTO items (embedding) SELECT (SELECT array_agg(((g % 100) * 37 + i * 11) % 100 + 150 + random()) FROM generate_series(1, 16) i WHERE g > 0)::vector FROM generate_series(1, 100000) g"
is "$(q "SELECT state || ' ' || degraded_by FROM ruvector_index_health('items_idx')")" "degraded imbalance" \
	"100000 rows of shifted clusters (half the table) mark the index degraded by imbalance"
# recall@10 at probes 1 over the 40 rows whose id % 5000 = 7, from both halves of the table
r_before=$(q "SELECT round(recall_at_10(1, 5000)::numeric, 3)")
imb=$(q "SELECT round(imbalance::numeric, 2) || ' vs ' || round(build_imbalance::numeric, 2) FROM ruvector_index_health('items_idx')")
echo "# imbalance $imb at the build"
oid=$(q "SELECT 'items_idx'::regclass::oid")
q "ALTER INDEX items_idx SET (auto_maintain = on)"
secs=$(wait_for "SELECT ('items_idx'::regclass::oid <> $oid AND (SELECT state FROM ruvector_index_health('items_idx')) = 'healthy')::text" true 60)
ok $? "with auto_maintain on again a rebuild follows within 60 s (${secs:-timeout} s) and the index is healthy"
new_log | grep -q "ruvector maintenance: rebuilding index public.items_idx: list imbalance"
ok $? "the log says the imbalance triggered it"
is "$(q "SELECT auto_maintain FROM ruvector_index_health('items_idx')")" t "the rebuilt index keeps its options"
r_after=$(q "SELECT round(recall_at_10(1, 5000)::numeric, 3)")
q "ALTER INDEX items_idx SET (auto_maintain = off)"
q "REINDEX INDEX items_idx"  # a fresh build of the same rows
r_fresh=$(q "SELECT round(recall_at_10(1, 5000)::numeric, 3)")
q "ALTER INDEX items_idx SET (auto_maintain = on)"
echo "# recall@10 at probes 1: $r_before with the shifted rows, $r_after after the rebuild, $r_fresh for a fresh build"
ok "$(q "SELECT (abs($r_after - $r_fresh) <= 0.02)::int - 1")" "after the rebuild recall@10 at probes 1 is within 0.02 of a fresh build's ($r_after vs $r_fresh)"

# --- the GUC switches it off
q "ALTER SYSTEM SET ruvector.auto_maintain = off"
q "SELECT pg_reload_conf()" >/dev/null
sleep 1.5
q "TRUNCATE items" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy items (embedding) FROM '$tmp/rows.csv'"
sleep 3
is "$(q "SELECT lists || ' ' || state FROM ruvector_index_health('items_idx')")" "1 degraded" \
	"with ruvector.auto_maintain off a degraded index stays as it is"

# --- recall estimated in the background (ruvector.maintenance_min_recall)
# Lists trained on 10 of the 100 clusters, then rows of all 100: the lists grow and recall@10 at
# probes 1 falls (about 0.8 here, 0.97 after a rebuild). The other figures' thresholds are out of
# reach in this database, so only the recall estimate can trigger the rebuild.
q "ALTER INDEX items_idx SET (auto_maintain = off)"
q "CREATE TABLE recall_items (id bigserial PRIMARY KEY, embedding vector(16))"
q "INSERT INTO recall_items (embedding) SELECT (SELECT embedding FROM clustered(1, g)) FROM generate_series(1, 40000) g WHERE g % 100 < 10"
q "CREATE INDEX recall_idx ON recall_items USING ruivfflat (embedding vector_l2_ops) WITH (lists = 100)"
q "ALTER DATABASE $PGDATABASE SET ruvector.maintenance_imbalance_ratio = 1e6"
q "ALTER DATABASE $PGDATABASE SET ruvector.maintenance_drift_ratio = 1e6"
# 200 sample queries: the estimate's spread (about 0.01) keeps it off the 0.9 threshold on both sides
# (0.77-0.82 before, 0.96-0.98 after, measured leaving each sample row out of its answers).
q "ALTER DATABASE $PGDATABASE SET ruvector.maintenance_recall_sample = 200"
q "ALTER SYSTEM SET ruvector.auto_maintain = on"
q "SELECT pg_reload_conf()" >/dev/null
q "INSERT INTO recall_items (embedding) SELECT * FROM clustered(30000, 50000)"
oid=$(q "SELECT 'recall_idx'::regclass::oid")
sleep 3
is "$(q "SELECT 'recall_idx'::regclass::oid = $oid AND estimated_recall IS NULL FROM ruvector_index_health('recall_idx')")" t \
	"with ruvector.maintenance_min_recall off (the default) the maintenance process estimates no recall and leaves the index"
new_log | grep -q "estimated recall@10 of index public.recall_idx"
ok "$([ $? -ne 0 ]; echo $?)" "and logs no estimate"
r=$(q "SELECT round(estimated_recall::numeric, 3) FROM ruvector_index_health('recall_idx', 200)")
echo "# recall@10 at probes 1 before: $r (200 sample queries)"
q "ALTER DATABASE $PGDATABASE SET ruvector.maintenance_min_recall = 0.9"
secs=$(wait_for "SELECT ('recall_idx'::regclass::oid <> $oid)::text" true 60)
ok $? "with ruvector.maintenance_min_recall = 0.9 a rebuild follows within 60 s (${secs:-timeout} s)"
new_log | grep -qE "ruvector maintenance: estimated recall@10 of index public.recall_idx: 0\.[0-9]+ at probes 1 \(200 sample queries\)"
ok $? "the maintenance process logged its estimate (200 sample queries at the index's probes)"
new_log | grep -qE "ruvector maintenance: rebuilding index public.recall_idx: estimated recall@10 0\.[0-9]+ is under 0\.900 \(200 sample queries at probes 1\)$"
ok $? "and why it rebuilt"
wait_log "ruvector maintenance: rebuilt index public.recall_idx"
ok $? "and that the rebuild improved the estimate"
new_log | grep -A1 "ruvector maintenance: rebuilt index public.recall_idx" |
	grep -qE "DETAIL:  before: .*, estimated recall@10 0\.[0-9]+ at probes 1; after: .*, estimated recall@10 (0\.9|1\.0)[0-9]* at probes 1$"
ok $? "with the estimates before and after (at least 0.9 after)"
new_log | grep -E "recall_idx" | sed 's/^/# /'
is "$(q "SELECT state || ' ' || (estimated_recall >= 0.9) FROM ruvector_index_health('recall_idx')")" "healthy true" \
	"the rebuilt index is healthy, with the estimate the maintenance process stored after the rebuild (>= 0.9)"
r=$(q "SELECT estimated_recall FROM ruvector_index_health('recall_idx', 200)")
echo "# recall@10 at probes 1 after: $r (200 sample queries)"
ok "$(q "SELECT ($r >= 0.9)::int - 1")" "a fresh estimate agrees: recall@10 at probes 1 is at least 0.9 (got $r)"
n=$(new_log | grep -c "estimated recall@10 of index public.recall_idx")
sleep 3
is "$(new_log | grep -c "estimated recall@10 of index public.recall_idx")" "$n" \
	"no new estimate while the rows do not change (it is re-made after 20% of them changed)"
oid=$(q "SELECT 'recall_idx'::regclass::oid")

# --- the recall curve is kept through rebuilds (target_recall)
# The option set on an untuned index: the maintenance process measures the curve.
q "ALTER INDEX recall_idx SET (target_recall = 0.95)"
explain_recall() {
	q "SET enable_seqscan = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM recall_items ORDER BY embedding <-> (SELECT embedding FROM recall_items ORDER BY id LIMIT 1) LIMIT 10" |
		grep -oE 'recall_idx: probes [^"]*' | sed -E 's/, [0-9]+ rows scanned.*//'
}
# wait_until SECONDS COMMAND...: until COMMAND succeeds; prints the seconds it took, returns 1 on timeout.
wait_until() {
	local start limit=$1
	shift
	start=$(now_ms)
	while [ $(($(now_ms) - start)) -lt $((limit * 1000)) ]; do
		"$@" && { echo $((($(now_ms) - start) / 1000)); return 0; }
		sleep 0.3
	done
	return 1
}
# target_chosen: EXPLAIN shows probes chosen for the target.
target_chosen() { explain_recall | grep -q "for target recall 0.95"; }
is "$(explain_recall)" "recall_idx: probes 1 of 100 lists (fixed: target recall 0.95, but the index has no measured curve)" \
	"right after the option is set the index has no curve yet"
secs=$(wait_until 60 target_chosen)
ok $? "the maintenance process measures the curve of an index given a target within 60 s (${secs:-timeout} s)"
new_log | grep -qE "ruvector maintenance: measured the recall curve of untuned index public.recall_idx \(8 points, 50 sample queries\)"
ok $? "and logs it"
echo "# $(explain_recall)"
# A plain REINDEX of an index with a target measures the new lists' curve in the build.
rfn=$(q "SELECT pg_relation_filenode('recall_idx')")
q "REINDEX INDEX recall_idx"
ok "$([ "$(q "SELECT pg_relation_filenode('recall_idx')")" != "$rfn" ]; echo $?)" "a plain REINDEX rebuilds the index (new storage)"
e=$(explain_recall)
echo "# after REINDEX: $e"
ok "$(echo "$e" | grep -qE "^recall_idx: probes [0-9.]+ .*of 100 lists \(for target recall 0\.95: [0-9.]+ measured\)$"; echo $?)" \
	"right after a plain REINDEX a scan probes for the target, and EXPLAIN says so"
p=$(echo "$e" | sed -E 's/^recall_idx: probes ([0-9.]+) .*/\1/')
# Held-out queries: rows of the same 100 clusters that the table does not hold. The curve's sample
# rows leave themselves out of their answers, so it measures what held-out queries see; it meets
# the target with 95% confidence over its 50 queries, and the held-out mean over 300 queries has a
# spread of its own (CI saw 0.949 over 100 of them when the curve still counted each sample row as
# its own neighbour). So the check fails when the held-out queries show the target missed: their
# mean more than 3 standard errors under 0.95.
read -r held held_se < <(psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -c "SET enable_seqscan = off" -c "SELECT round(avg(hit), 4), round(stddev_samp(hit) / sqrt(count(*)::numeric), 4) FROM (
	SELECT (SELECT count(*) FROM unnest(ARRAY(SELECT id FROM recall_items ORDER BY embedding <-> qv LIMIT 10)) g
		WHERE g = ANY (ARRAY(SELECT id FROM recall_items ORDER BY (embedding <-> qv) + 0, id LIMIT 10))) / 10.0 AS hit
	FROM (SELECT embedding AS qv FROM clustered(300, 900000)) qs) x")
echo "# held-out recall@10 at the target's probes $p: $held (standard error $held_se, 300 queries)"
ok "$(q "SELECT ($held + 3 * $held_se >= 0.95)::int - 1")" \
	"held-out queries under the target after REINDEX meet it: recall@10 $held, not 3 standard errors ($held_se) under 0.95"
# VACUUM FULL and CLUSTER rebuild the index too (after the statement, as for REINDEX).
q "VACUUM FULL recall_items"
ok "$(explain_recall | grep -qE "for target recall 0\.95: [0-9.]+ measured"; echo $?)" "after VACUUM FULL the index has its curve at once"
q "CLUSTER recall_items USING recall_items_pkey"
ok "$(explain_recall | grep -qE "for target recall 0\.95: [0-9.]+ measured"; echo $?)" "and after CLUSTER"
# The nightly TRUNCATE; COPY: the maintenance process's rebuild measures the curve too.
q "COPY (SELECT embedding FROM recall_items) TO STDOUT" >"$tmp/recall.csv"
q "TRUNCATE recall_items" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy recall_items (embedding) FROM '$tmp/recall.csv'"
secs=$(wait_for "SELECT lists FROM ruvector_index_health('recall_idx')" 100 60)
ok $? "after TRUNCATE and COPY the maintenance process rebuilds the index (${secs:-timeout} s)"
e=$(explain_recall)
echo "# after the online rebuild: $e"
ok "$(echo "$e" | grep -qE "for target recall 0\.95: [0-9.]+ measured"; echo $?)" "and the rebuilt index has its curve at once"
# --- ruhnsw: the maintenance process measures the ef_search curve of an index given a target, and
# measures it again once a fifth of its rows changed (without ruvector.maintenance_min_recall: an
# estimate under it after the inserts would rebuild the index instead, which measures a "rebuilt"
# curve, as tested above for ruivfflat)
q "ALTER DATABASE $PGDATABASE RESET ALL"
q "CREATE TABLE hnsw_items AS SELECT id, embedding FROM recall_items"
q "CREATE INDEX hnsw_idx ON hnsw_items USING ruhnsw (embedding vector_l2_ops) WITH (m = 8, ef_construction = 32)"
q "ALTER INDEX hnsw_idx SET (target_recall = 0.95)"
explain_hnsw() {
	q "SET enable_seqscan = off; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM hnsw_items ORDER BY embedding <-> (SELECT embedding FROM hnsw_items ORDER BY id LIMIT 1) LIMIT 10" |
		grep -oE 'hnsw_idx: ef_search [^"]*' | sed -E 's/, [0-9]+ elements visited.*//'
}
# logged PATTERN: the server log (since the test began) has a line matching PATTERN.
logged() { new_log | grep -qE "$1"; }
is "$(explain_hnsw)" "hnsw_idx: ef_search 40 (fixed: target recall 0.95, but the index has no measured curve)" \
	"right after the option is set the ruhnsw index has no curve yet"
secs=$(wait_until 60 logged "measured the recall curve of untuned index public.hnsw_idx \(11 points, 50 sample queries\)")
ok $? "the maintenance process measures the ef_search curve of a ruhnsw index given a target within 60 s (${secs:-timeout} s)"
e=$(explain_hnsw)
echo "# $e"
ok "$(echo "$e" | grep -qE "^hnsw_idx: ef_search [0-9]+ \(for target recall 0\.95: [0-9.]+ measured\)$"; echo $?)" \
	"then a scan searches with the ef_search the curve says meets the target, and EXPLAIN says so"
q "INSERT INTO hnsw_items (id, embedding) SELECT 1000000 + g, embedding FROM clustered((SELECT count(*) / 2 FROM hnsw_items)::int, 700000) WITH ORDINALITY c(embedding, g)"
secs=$(wait_until 60 logged "measured the recall curve of changed index public.hnsw_idx")
ok $? "after a fifth of its rows changed it measures the curve again within 60 s (${secs:-timeout} s)"
q "ALTER INDEX hnsw_idx RESET (target_recall)"
n=$(new_log | grep -c "recall curve of .*index public.hnsw_idx")
q "INSERT INTO hnsw_items (id, embedding) SELECT 2000000 + g, embedding FROM clustered(2000, 800000) WITH ORDINALITY c(embedding, g)"
sleep 3
is "$(new_log | grep -c "recall curve of .*index public.hnsw_idx")" "$n" "without a target it keeps no curve"

q "ALTER DATABASE $PGDATABASE RESET ALL"
q "DROP TABLE hnsw_items"

# --- ruhnsw: freed slots make an index degraded; the maintenance process rebuilds it online
q "CREATE TABLE hdead (id bigserial PRIMARY KEY, embedding vector(16)) WITH (autovacuum_enabled = off)"
q "INSERT INTO hdead (embedding) SELECT * FROM clustered(6000)"
q "CREATE INDEX hdead_idx ON hdead USING ruhnsw (embedding vector_l2_ops)"
q "CREATE INDEX hdead_manual ON hdead USING ruhnsw (embedding vector_l2_ops) WITH (auto_maintain = off)"
oid=$(q "SELECT 'hdead_idx'::regclass::oid")
q "DELETE FROM hdead WHERE id % 3 <> 0"
q "VACUUM hdead"
secs=$(wait_for "SELECT ('hdead_idx'::regclass::oid <> $oid AND (SELECT state || ' ' || dead_elements FROM ruvector_index_health('hdead_idx')) = 'healthy 0')::text" true 60)
ok $? "a ruhnsw index with two thirds of its slots freed is rebuilt by the maintenance process within 60 s (${secs:-timeout} s), healthy"
new_log | grep -q "ruvector maintenance: rebuilding index public.hdead_idx: 4000 of 6000 element slots (67%) are freed by vacuum, at least 50%"
ok $? "the log says why"
new_log | grep -A1 "ruvector maintenance: rebuilt index public.hdead_idx" |
	grep -qE "DETAIL:  before: elements 2000, rows 2000 \(built 6000\), freed slots 4000 \(67%\).*; after: elements 2000, rows 2000 \(built 2000\), freed slots 0 \(0%\)"
ok $? "and the figures before and after"
sleep 2
is "$(q "SELECT state || ' ' || degraded_by FROM ruvector_index_health('hdead_manual')")" "degraded dead" \
	"a ruhnsw index WITH (auto_maintain = off) is left degraded"
new_log | grep -q "rebuilding index public.hdead_manual"
ok "$([ $? -ne 0 ]; echo $?)" "and never rebuilt"
q "DROP TABLE hdead"

# --- a table being vacuumed (here: held in SHARE UPDATE EXCLUSIVE mode, VACUUM's lock) is not
# checked while the lock is held: a VACUUM in progress shows half-done figures
q "CREATE TABLE hbusy (id bigserial PRIMARY KEY, embedding vector(16))"
q "CREATE INDEX hbusy_idx ON hbusy USING ruivfflat (embedding vector_l2_ops) WITH (lists = 10)" 2>/dev/null
psql -X -q -c "BEGIN" -c "LOCK TABLE hbusy IN SHARE UPDATE EXCLUSIVE MODE" -c "SELECT pg_sleep(5)" -c "COMMIT" >/dev/null &
holder=$!
wait_for "SELECT count(*) FROM pg_locks WHERE relation = 'hbusy'::regclass AND mode = 'ShareUpdateExclusiveLock' AND granted" 1 10 >/dev/null
q "INSERT INTO hbusy (embedding) SELECT * FROM clustered(2000)"
sleep 3
new_log | grep -q "index public.hbusy_idx"
ok "$([ $? -ne 0 ]; echo $?)" "a degraded index whose table is locked by a VACUUM is neither checked nor rebuilt while the lock is held"
wait "$holder"
secs=$(wait_for "SELECT lists FROM ruvector_index_health('hbusy_idx')" 10 60)
ok $? "and is rebuilt once the lock is gone (${secs:-timeout} s)"
q "DROP TABLE hbusy"

# --- ruhnsw: a damaged graph's recall, estimated in the background, triggers a rebuild; recall recovers
q "CREATE TABLE hrecall (id bigserial PRIMARY KEY, embedding vector(16)) WITH (autovacuum_enabled = off)"
q "INSERT INTO hrecall (embedding) SELECT embedding + array_fill(50::real, ARRAY[16])::vector FROM clustered(2000)"
q "CREATE INDEX hrecall_idx ON hrecall USING ruhnsw (embedding vector_l2_ops) WITH (auto_maintain = off)"
hrecall_at_40() {
	psql -X -q -At -v ON_ERROR_STOP=1 -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = 40" -c "SELECT avg(hit) FROM (
		SELECT (SELECT count(*) FROM unnest(ARRAY(SELECT id FROM hrecall ORDER BY embedding <-> qv LIMIT 10)) g
			WHERE g = ANY (ARRAY(SELECT id FROM hrecall ORDER BY (embedding <-> qv) + 0, id LIMIT 10))) / 10.0 AS hit
		FROM (SELECT embedding AS qv FROM hrecall ORDER BY id % 101, id LIMIT 50) qs) x"
}
read -r before batches < <(damage_graph hrecall hrecall_idx)
echo "# estimated recall@10 at ef_search 40 of the damaged graph: $before (200 sample queries; $batches batches of 4000 inserts)"
ok "$(q "SELECT ($before < 0.93)::int - 1")" "the inserts damaged the graph: its estimated recall@10 at ef_search 40 is under 0.93 (got $before)"
q "ALTER DATABASE $PGDATABASE SET ruvector.maintenance_min_recall = 0.97"
q "ALTER DATABASE $PGDATABASE SET ruvector.maintenance_recall_sample = 200"
oid=$(q "SELECT 'hrecall_idx'::regclass::oid")
q "ALTER INDEX hrecall_idx SET (auto_maintain = on)"
secs=$(wait_for "SELECT ('hrecall_idx'::regclass::oid <> $oid)::text" true 60)
ok $? "with ruvector.maintenance_min_recall = 0.97 the maintenance process rebuilds the damaged ruhnsw index within 60 s (${secs:-timeout} s)"
new_log | grep -qE "ruvector maintenance: estimated recall@10 of index public.hrecall_idx: 0\.[0-9]+ at ef_search 40 \(200 sample queries\)"
ok $? "it logged its background estimate at the index's ef_search"
new_log | grep -qE "ruvector maintenance: rebuilding index public.hrecall_idx: estimated recall@10 0\.[0-9]+ is under 0\.970 \(200 sample queries at ef_search 40\)$"
ok $? "and why it rebuilt"
wait_log "ruvector maintenance: rebuilt index public.hrecall_idx"
ok $? "and that the rebuild improved the estimate"
new_log | grep -A1 "ruvector maintenance: rebuilt index public.hrecall_idx" |
	grep -qE "DETAIL:  before: .*, estimated recall@10 0\.[0-9]+ at ef_search 40; after: .*, estimated recall@10 (0\.9[7-9]|1\.0)[0-9]* at ef_search 40$"
ok $? "with the estimates before and after (at least 0.97 after)"
new_log | grep -E "hrecall_idx" | sed 's/^/# /'
is "$(q "SELECT state || ' ' || estimated_at || ' ' || (estimated_recall >= 0.97) FROM ruvector_index_health('hrecall_idx')")" "healthy 40 true" \
	"the rebuilt index is healthy, with the estimate the maintenance process stored at ef_search 40"
after=$(hrecall_at_40)
echo "# recall@10 at ef_search 40 after the background rebuild: $after"
ok "$(q "SELECT ($after >= 0.95)::int - 1")" "recall@10 at ef_search 40 recovered to at least 0.95: $before estimated before, $after after"

q "ALTER DATABASE $PGDATABASE RESET ALL"
q "ALTER SYSTEM SET ruvector.auto_maintain = off"
q "SELECT pg_reload_conf()" >/dev/null
done_testing
