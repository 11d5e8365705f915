#!/usr/bin/env bash
# Self-maintaining indexes (issue 18): with ruvector.auto_maintain on, the ruvector worker starts a
# maintenance process per database every ruvector.maintenance_naptime (1 s here), which rebuilds
# degraded ruivfflat indexes by itself: an index built on an empty table and then loaded becomes a
# 100-list index within a bounded time (recall@10 at probes 10 >= 0.9), the same after TRUNCATE and
# COPY; drifted data marks an index degraded and a rebuild follows; the auto_maintain option and
# the GUC switch it off. Prints TAP.
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
		FOR i IN SELECT c.oid FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'ruivfflat' AND c.relkind = 'i' LOOP
			EXECUTE format('ALTER INDEX %s SET (auto_maintain = off)', i);
		END LOOP; END \$\$" >/dev/null 2>&1
done
q "ALTER SYSTEM SET ruvector.auto_maintain = on"
q "ALTER SYSTEM SET ruvector.maintenance_naptime = '1s'"
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
is "$(q "SHOW ruvector.auto_maintain") $(q "SHOW ruvector.maintenance_naptime")" "on 1s" "turned on, checking every second"

# --- an index built on an empty table, then loaded
q "INSERT INTO items (embedding) SELECT * FROM clustered(20000)"
secs=$(wait_for "SELECT lists FROM ruvector_index_health('items_idx')" 100 60)
ok $? "the index built on the empty table became a 100-list index by itself within 60 s (${secs:-timeout} s)"
is "$(q "SELECT state FROM ruvector_index_health('items_idx')")" healthy "and is healthy"
r=$(q "SELECT recall_at_10(10)")
echo "# recall@10 at probes 10: $r"
ok "$(q "SELECT ($r >= 0.9)::int - 1")" "recall@10 at probes 10 is at least 0.9 (got $r)"
new_log | grep -q "ruvector maintenance: rebuilding index public.items_idx: 1 list of 100 requested"
ok $? "the maintenance process logged why it rebuilt"
new_log | grep -qE "ruvector maintenance: rebuilt index public.items_idx" && new_log | grep -qE "DETAIL:  before: lists 1 of 100, rows [0-9]+, .*; after: lists 100 of 100, rows 20000"
ok $? "and the figures before and after"
sleep 3
is "$(q "SELECT lists || ' ' || state FROM ruvector_index_health('items_manual')")" "1 degraded" \
	"an index WITH (auto_maintain = off) is left degraded"
new_log | grep -q "rebuilding index public.items_manual"
ok "$([ $? -ne 0 ]; echo $?)" "and never rebuilt"
q "DROP INDEX items_manual"

# --- the nightly TRUNCATE; COPY pipeline
q "COPY (SELECT * FROM clustered(20000)) TO STDOUT" >"$tmp/rows.csv"
oid=$(q "SELECT 'items_idx'::regclass::oid")
q "TRUNCATE items" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy items (embedding) FROM '$tmp/rows.csv'"
secs=$(wait_for "SELECT lists FROM ruvector_index_health('items_idx')" 100 60)
ok $? "after TRUNCATE and COPY the index is back to 100 lists within 60 s (${secs:-timeout} s)"
r=$(q "SELECT recall_at_10(10)")
echo "# recall@10 at probes 10 after TRUNCATE and COPY: $r"
ok "$(q "SELECT ($r >= 0.9)::int - 1")" "recall@10 at probes 10 is at least 0.9 (got $r)"
ok "$([ "$(q "SELECT 'items_idx'::regclass::oid")" != "$oid" ]; echo $?)" "by an online rebuild (a new relation under the name)"

# --- drift: shifted rows pile into a few lists
q "ALTER INDEX items_idx SET (auto_maintain = off)"
sleep 1.5  # a round that started before the change has ended
q "INSERT INTO items (embedding) SELECT (SELECT array_agg(300 + random() * 5) FROM generate_series(1, 16) i WHERE g > 0)::vector FROM generate_series(1, 30000) g"
is "$(q "SELECT state || ' ' || degraded_by FROM ruvector_index_health('items_idx')")" "degraded imbalance" \
	"30000 rows far from every cluster mark the index degraded by imbalance"
imb=$(q "SELECT round(imbalance::numeric, 2) || ' vs ' || round(build_imbalance::numeric, 2) FROM ruvector_index_health('items_idx')")
echo "# imbalance $imb at the build"
oid=$(q "SELECT 'items_idx'::regclass::oid")
q "ALTER INDEX items_idx SET (auto_maintain = on)"
secs=$(wait_for "SELECT ('items_idx'::regclass::oid <> $oid AND (SELECT state FROM ruvector_index_health('items_idx')) = 'healthy')::text" true 60)
ok $? "with auto_maintain on again a rebuild follows within 60 s (${secs:-timeout} s) and the index is healthy"
new_log | grep -q "ruvector maintenance: rebuilding index public.items_idx: list imbalance"
ok $? "the log says the imbalance triggered it"
is "$(q "SELECT auto_maintain FROM ruvector_index_health('items_idx')")" t "the rebuilt index keeps its options"

# --- the GUC switches it off
q "ALTER SYSTEM SET ruvector.auto_maintain = off"
q "SELECT pg_reload_conf()" >/dev/null
sleep 1.5
q "TRUNCATE items" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy items (embedding) FROM '$tmp/rows.csv'"
sleep 3
is "$(q "SELECT lists || ' ' || state FROM ruvector_index_health('items_idx')")" "1 degraded" \
	"with ruvector.auto_maintain off a degraded index stays as it is"
done_testing
