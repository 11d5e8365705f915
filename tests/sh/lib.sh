# Helpers for scripted TAP tests (tests/sh/*.sh), run by ./run test against its throwaway cluster.
# Environment from ./run: PGHOST PGPORT PGUSER, RUVECTOR_TEST_DATA (data directory),
# RUVECTOR_PG_BIN, RUVECTOR_PG_OS_USER.
set -u

TAP_N=0
TAP_FAILED=0

ok() {  # ok CONDITION_EXIT_STATUS DESCRIPTION
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

is() {  # is GOT WANT DESCRIPTION
	TAP_N=$((TAP_N + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $TAP_N - $3"
	else
		echo "not ok $TAP_N - $3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

fresh_db() {  # fresh_db NAME: (re)create database NAME with the extension and make it the default
	export PGDATABASE=$1
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE" >/dev/null 2>&1
	q "CREATE EXTENSION ruvector"
}

q() {  # q SQL: one value, no alignment
	psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# The SQLSTATE of the error SQL raises (empty when it succeeds).
sqlstate_of() {
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null |
		sed -nE 's/^ERROR:  ([0-9A-Z]{5}): .*/\1/p' | head -1
}

as_pg_user() {
	if [ "$(id -un)" = "$RUVECTOR_PG_OS_USER" ]; then "$@"; else (cd / && runuser -u "$RUVECTOR_PG_OS_USER" -- "$@"); fi
}

pg_ctl_test() {  # pg_ctl_test ARGS...: pg_ctl on the test cluster
	as_pg_user "$RUVECTOR_PG_BIN/pg_ctl" -D "$RUVECTOR_TEST_DATA" -l "$RUVECTOR_TEST_DATA/server.log" -w "$@"
}

wait_for_worker() {  # until the worker answers (after a restart)
	for _ in $(seq 1 100); do
		[ "$(q "SELECT state FROM ruvector_worker_status()" 2>/dev/null)" = ready ] && return 0
		sleep 0.1
	done
	return 1
}

now_ms() { date +%s%3N; }

# ivf_durability_checks TABLE TYPE DIM OP WHAT [SETTING...]: the checks ruivfflat's entry formats share
# across statements that cannot run in a pgTAP transaction. TABLE (id int key, v TYPE) holds rows 1..5000
# of ivf_rows and its index (20 lists) was built on them; row 777 is the query, OP the operator; SETTINGs
# ("name = value") go to every index scan. With every list probed the index answers as the seq scan
# (distances in order: the rows repeat, so ties are exact); VACUUM removes the entries of deleted rows
# (WHAT names them) and re-inserted rows reuse the space; after a crash the index returns the same rows
# (WAL replay). Leaves 5600 rows; the caller checks its own entry count.
ivf_rows() {  # ivf_rows TABLE TYPE DIM: rows 1..5000 of the shape above
	q "INSERT INTO $1 SELECT i, ARRAY(SELECT (((i % 40) * 7 + d * 13) % 41)::real / 8 + ((i * 31 + d * 17) % 100) / 400.0 FROM generate_series(1, $3) d)::$2 FROM generate_series(1, 5000) i"
}
ivf_durability_checks() {
	local t=$1 type=$2 dim=$3 op=$4 what=$5
	shift 5
	local sets=(-c "SET enable_seqscan = off" -c "SET ivfflat.probes = 20") s
	for s in "$@"; do sets+=(-c "SET $s"); done
	local query="(SELECT v FROM $t WHERE id = 777)"
	local nearest="SELECT string_agg(d::text, ',') FROM (SELECT v $op $query AS d FROM $t ORDER BY v $op $query LIMIT 300) x"
	ivf_top() { psql -X -q -At "${sets[@]}" -c "$nearest"; }
	ivf_exact() { psql -X -q -At -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" -c "$nearest"; }
	local plan
	plan=$(psql -X -q -At -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) SELECT id FROM $t ORDER BY v $op $query LIMIT 300")
	case "$plan" in *"Index Scan using ${t}_idx"*) ok 0 "the scans go through the index" ;; *) ok 1 "the scans go through the index: $plan" ;; esac
	is "$(ivf_top)" "$(ivf_exact)" "$what: with every list probed the index answers as the seq scan"

	local size0
	size0=$(q "SELECT pg_relation_size('${t}_idx')")
	q "CREATE TABLE ${t}_saved AS SELECT * FROM $t WHERE id % 2 = 0"
	q "DELETE FROM $t WHERE id % 2 = 0"
	q "VACUUM $t"
	is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('${t}_idx')")" "$(q "SELECT count(*) FROM $t")" \
		"VACUUM removes the $what entries of deleted rows"
	is "$(ivf_top)" "$(ivf_exact)" "and the index still answers as the seq scan"
	q "INSERT INTO $t SELECT * FROM ${t}_saved"
	is "$(q "SELECT pg_relation_size('${t}_idx')")" "$size0" "re-inserting the rows after VACUUM reuses the space (size unchanged)"
	is "$(ivf_top)" "$(ivf_exact)" "inserted rows are found in order"

	q "INSERT INTO $t SELECT i, ARRAY(SELECT ((i * d) % 29)::real / 4 FROM generate_series(1, $dim) d)::$type FROM generate_series(5001, 5600) i"
	local before
	before=$(ivf_top)
	pg_ctl_test -m immediate stop >/dev/null
	pg_ctl_test start >/dev/null
	wait_for_worker
	is "$(ivf_top)" "$before" "after a crash the index returns the same rows (WAL replay)"
	is "$(ivf_top)" "$(ivf_exact)" "which are the seq scan's"
}

# damage_graph TABLE INDEX: a poorly linked ruhnsw graph for the maintenance tests. Rows of
# clustered() inserted with ef_construction 4 (the option reset afterwards), in batches of 4000 (up
# to eight), until the index's estimated recall@10 at ef_search 40 (ruvector_index_health over 200
# sample rows, as the maintenance process estimates it) is under 0.93: how far such inserts damage
# a graph depends on the levels each insert draws (a run of the tests' own 50-query measure stayed
# at 0.936 after 24000 inserts, where the estimate read 0.901). The tests' recall threshold, 0.97,
# is over 3 spreads of a 200-query estimate (about 0.012) above that and as far under a fresh
# build's (0.99-1.0). Prints the estimate and the batches inserted.
damage_graph() {
	local recall batch
	q "ALTER INDEX $2 SET (ef_construction = 4)"
	for batch in 1 2 3 4 5 6 7 8; do
		q "INSERT INTO $1 (embedding) SELECT * FROM clustered(4000, 196000 + 4000 * $batch)"
		recall=$(q "SET hnsw.ef_search = 40; SELECT round(estimated_recall::numeric, 3) FROM ruvector_index_health('$2', 200)")
		[ "$batch" -ge 2 ] && [ "$(q "SELECT $recall < 0.93")" = t ] && break
	done
	q "ALTER INDEX $2 RESET (ef_construction)"
	echo "$recall $batch"
}

# maintenance_fixture: SQL functions clustered(n, first) (16-dimensional rows in 100 clusters, row g
# in cluster g % 100; row 0 has no vector) and recall_at_10(probes[, every]) (mean recall@10 of 30 rows
# of `items`, or of every row whose id % every = 7, through its index against an exact scan), for the
# index maintenance tests.
maintenance_fixture() {
	# 100 clusters in 16 dimensions; row g is in cluster g % 100.
	q "CREATE FUNCTION clustered(n int, first int DEFAULT 1) RETURNS TABLE (embedding vector) LANGUAGE sql AS \$\$
		SELECT (SELECT array_agg(((g % 100) * 37 + i * 11) % 100 + random()) FROM generate_series(1, 16) i WHERE g > 0)::vector
		FROM generate_series(first, first + n - 1) g \$\$"
	# recall_at_10(probes[, every]): mean recall@10 through the index against an exact scan, 30 queries
	# from the rows (every > 0: the rows whose id % every = 7, spread over the whole table).
	q "CREATE FUNCTION recall_at_10(probes int, every int DEFAULT 0) RETURNS float8 LANGUAGE plpgsql AS \$\$
	DECLARE total float8 := 0; n int := 0; qv vector; got bigint[]; want bigint[];
	BEGIN
		PERFORM set_config('ivfflat.probes', probes::text, true);
		PERFORM set_config('enable_seqscan', 'off', true);
		FOR qv IN SELECT embedding FROM items WHERE every = 0 OR id % every = 7
				ORDER BY CASE WHEN every = 0 THEN id % 101 END, id LIMIT CASE WHEN every = 0 THEN 30 END LOOP
			got := ARRAY(SELECT id FROM items ORDER BY embedding <-> qv LIMIT 10);
			want := ARRAY(SELECT id FROM items ORDER BY (embedding <-> qv) + 0, id LIMIT 10);
			total := total + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (want)) / 10.0;
			n := n + 1;
		END LOOP;
		RETURN total / n;
	END \$\$"
}

# Scale-out over postgres_fdw (tests/sh/110_scaleout.sh, tests/bench/scaleout.sh, docs/scale-out.md):
# a coordinator and shards, each a cluster started by start_cluster with its socket in $SOCK.
on() {  # on PORT SQL...: run statements in one session on the node at PORT, print their results
	local port=$1 args=() s
	shift
	for s in "$@"; do args+=(-c "$s"); done
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -p "$port" -U postgres -d postgres "${args[@]}"
}
shard_server() {  # shard_server COORD_PORT I SHARD_PORT [OPTION VALUE ...]: server shardI and its user mapping
	local cport=$1 i=$2 sport=$3 opts=""
	shift 3
	while [ $# -ge 2 ]; do opts+=", $1 '$2'"; shift 2; done
	on "$cport" "CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
		OPTIONS (host '$SOCK', port '$sport', dbname 'postgres', extensions 'ruvector'$opts)" \
		"CREATE USER MAPPING FOR postgres SERVER shard$i OPTIONS (user 'postgres')"
}
shard_partition() {  # shard_partition COORD_PORT I MODULUS: items_I, the foreign partition of items on shardI
	on "$1" "CREATE FOREIGN TABLE items_$2 PARTITION OF items FOR VALUES WITH (MODULUS $3, REMAINDER $(($2 - 1)))
		SERVER shard$2 OPTIONS (table_name 'items')"
}
server_option() {  # server_option COORD_PORT SERVER NAME VALUE: add or change a foreign server's option
	on "$1" "ALTER SERVER $2 OPTIONS (ADD $3 '$4')" 2>/dev/null || on "$1" "ALTER SERVER $2 OPTIONS (SET $3 '$4')"
}
fetched_rows() {  # fetched_rows PORT: rows the shard at PORT returned to FETCHes since pg_stat_statements_reset()
	on "$1" "SELECT coalesce(sum(rows), 0) FROM pg_stat_statements WHERE query LIKE 'FETCH %'"
}
