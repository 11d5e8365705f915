#!/usr/bin/env bash
# Scale-out over postgres_fdw (docs/scale-out.md): a coordinator and two shards, each its own cluster
# with ruvector preloaded. The coordinator's items table is hash partitioned by id; its partitions are
# foreign tables on the shards, each of which holds a ruivfflat index. 60,000 rows of 16 dimensions
# (low, to keep the run short) are loaded through the coordinator. Checks that inserts are routed (the
# load, and rows inserted once the indexes exist, which are then found), that the nearest-neighbour
# ORDER BY runs on the shards, how many rows a shard sends, that at probes = lists the answers equal an
# exact search over all rows, how ivfflat.probes reaches the shards, that at a normal probes setting
# recall@10 is within 0.01 of the same rows on one node, and that a shard that is down fails the
# query. Helpers shared with tests/bench/scaleout.sh are in lib.sh. Prints TAP.
. "$(dirname "$0")/lib.sh"

BASE="$RUVECTOR_TEST_DATA/../scaleout"
SOCK="$BASE/sock"
CPORT=$((PGPORT + 21)) S1PORT=$((PGPORT + 22)) S2PORT=$((PGPORT + 23))
N=60000 LISTS=20

as_pg_user rm -rf "$BASE"
as_pg_user mkdir -p "$SOCK"
for node in coord:$CPORT s1:$S1PORT s2:$S2PORT; do
	# pg_stat_statements counts the rows each FETCH of the coordinator's cursor returns.
	start_cluster "$BASE/${node%%:*}" "$SOCK" "${node##*:}" shared_buffers=32MB \
		shared_preload_libraries=ruvector,pg_stat_statements >/dev/null 2>&1
	ok $? "cluster ${node%%:*} starts with ruvector preloaded"
done
c() { on "$CPORT" "$@"; }
cleanup() {
	for n in coord s1 s2; do stop_cluster "$BASE/$n"; done
	as_pg_user rm -rf "$BASE"
}
trap cleanup EXIT

for port in $S1PORT $S2PORT; do
	on "$port" "CREATE EXTENSION ruvector" "CREATE EXTENSION pg_stat_statements" \
		"CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(16))"
done
c "CREATE EXTENSION ruvector" "CREATE EXTENSION postgres_fdw"
c "CREATE TABLE items (id bigint, embedding vector(16)) PARTITION BY HASH (id)"
for i in 1 2; do
	shard_server "$CPORT" "$i" $((PGPORT + 21 + i)) batch_size 1000
	shard_partition "$CPORT" "$i" 2
done

# Load through the coordinator: each row goes to the shard its hash partition lives on.
c "SELECT setseed(0.21)" "INSERT INTO items SELECT i, ARRAY(SELECT (random() * 10)::real FROM generate_series(1, 16) d WHERE i > 0)::vector(16) FROM generate_series(1, $N) i"
ok $? "$N rows inserted through the coordinator"
n1=$(on "$S1PORT" "SELECT count(*) FROM items")
n2=$(on "$S2PORT" "SELECT count(*) FROM items")
is "$n1" "$(c "SELECT count(*) FROM generate_series(1, $N) i WHERE satisfies_hash_partition('items'::regclass, 2, 0, i::bigint)")" \
	"shard 1 holds exactly the rows of hash remainder 0 ($n1)"
is "$((n1 + n2))" "$N" "shard 2 holds the rest ($n2)"
for port in $S1PORT $S2PORT; do
	on "$port" "CREATE INDEX ON items USING ruivfflat (embedding vector_l2_ops) WITH (lists = $LISTS)" "ANALYZE items"
done
# One node holding every row, on the coordinator: the exact answers (no index there).
c "CREATE TABLE whole AS SELECT * FROM items" "ANALYZE whole"
is "$(c "SELECT count(*) FROM whole")" "$N" "the coordinator reads every row back from the shards"

NQ=200
mapfile -t QV < <(c "SELECT embedding FROM whole WHERE id % 300 = 7 ORDER BY id LIMIT $NQ")
topk_sql() { echo "SELECT string_agg(id::text, ',') FROM (SELECT id FROM $1 ORDER BY embedding <-> '$2' LIMIT 10) s"; }
answers() {  # answers TABLE [SQL...]: the top-10 ids of every query vector, a line each, after the SQL
	local t=$1 v
	shift
	local sql=("$@")
	for v in "${QV[@]}"; do sql+=("$(topk_sql "$t" "$v")"); done
	c "${sql[@]}"
}
exact=$(answers whole)
set_probes() {  # how a setting reaches the shards: libpq's options keyword on the foreign server
	for i in 1 2; do server_option "$CPORT" "shard$i" options "-c ivfflat.probes=$1"; done
}

set_probes $LISTS
is "$(answers items)" "$exact" "probes = lists on every shard: the coordinator's top 10 equals an exact search over all rows"

plan=$(c "EXPLAIN (VERBOSE, COSTS OFF) $(topk_sql items "${QV[0]}")")
is "$(grep -c 'Remote SQL: .*ORDER BY (embedding OPERATOR(public.<->) .*) ASC NULLS LAST' <<<"$plan")" 2 \
	"EXPLAIN VERBOSE: the ORDER BY <-> is in both shards' remote SQL"
grep -q 'Merge Append' <<<"$plan"
ok $? "the coordinator merges the shards' ordered streams (Merge Append)"
grep -q 'LIMIT' <<<"$(grep 'Remote SQL' <<<"$plan")"
is $? 1 "the LIMIT is not pushed into a partition's remote SQL (PostgreSQL 15)"
# postgres_fdw runs the remote SQL (no LIMIT) as a cursor, planned for its first rows: the shard
# uses its ruivfflat index (docs/scale-out.md); a cursor planned for all its rows sorts them all.
rsql=$(grep -m1 'Remote SQL' <<<"$plan" | sed 's/^ *Remote SQL: //')
on "$S1PORT" "BEGIN" "EXPLAIN (COSTS OFF) DECLARE c CURSOR FOR $rsql" | grep -q 'Index Scan using items_embedding_idx'
ok $? "a shard runs the pushed ORDER BY (a cursor without LIMIT) as a ruivfflat index scan"
on "$S1PORT" "BEGIN" "SET cursor_tuple_fraction = 1" "EXPLAIN (COSTS OFF) DECLARE c CURSOR FOR $rsql" | grep -q 'Index Scan'
is $? 1 "a cursor planned for all its rows (cursor_tuple_fraction = 1) does not use the index"
on "$S1PORT" "EXPLAIN (COSTS OFF) $rsql" | grep -q 'Index Scan'
is $? 1 "nor does the same query outside a cursor (it would return too few rows)"

reset_stats() { for port in $S1PORT $S2PORT; do on "$port" "SELECT pg_stat_statements_reset()" >/dev/null; done; }
reset_stats
c "$(topk_sql items "${QV[1]}")" >/dev/null
f1=$(fetched_rows "$S1PORT") f2=$(fetched_rows "$S2PORT")
echo "# rows sent for one LIMIT 10 query, default fetch_size: shard 1 $f1, shard 2 $f2"
is "$f1 $f2" "100 100" "with the default fetch_size each shard sends one batch of 100 rows for LIMIT 10"
for i in 1 2; do c "ALTER SERVER shard$i OPTIONS (ADD fetch_size '10')"; done
reset_stats
got=$(c "$(topk_sql items "${QV[1]}")")
f1=$(fetched_rows "$S1PORT") f2=$(fetched_rows "$S2PORT")
echo "# rows sent with fetch_size 10: shard 1 $f1, shard 2 $f2"
[ "$f1" -ge 10 ] && [ "$f2" -ge 10 ] && [ $((f1 + f2)) -le 30 ]
ok $? "with fetch_size 10 the shards send 10-30 rows in all for LIMIT 10 ($((f1 + f2)))"
is "$got" "$(sed -n 2p <<<"$exact")" "and the answer is unchanged"

# ivfflat.probes: a coordinator SET does not reach the shards; the server's options keyword does.
PROBES=2
set_probes $PROBES
shard_merge() {  # the top 10 of both shards asked directly with SET ivfflat.probes = PROBES
	local sql=("SET ivfflat.probes = $PROBES") i=0
	for v in "${QV[@]}"; do
		i=$((i + 1))
		sql+=("SELECT $i || ' ' || id || ' ' || (embedding <-> '$v') FROM items ORDER BY embedding <-> '$v' LIMIT 10")
	done
	for port in $S1PORT $S2PORT; do on "$port" "${sql[@]}"; done | python3 -c '
import sys, collections
by_q = collections.defaultdict(list)
for line in sys.stdin:
    q, i, d = line.split()
    by_q[int(q)].append((float(d), i))
for q in sorted(by_q):
    print(",".join(i for _, i in sorted(by_q[q])[:10]))'
}
fdw=$(answers items)
is "$fdw" "$(shard_merge)" "options '-c ivfflat.probes=$PROBES': the coordinator's answers equal the shards' own with that setting"
recall() {  # recall GOT WANT: fraction of the exact ids found
	python3 - "$1" "$2" <<-'EOF'
	import sys
	got, want = (l.split('\n') for l in sys.argv[1:3])
	hits = sum(len(set(g.split(',')) & set(w.split(','))) for g, w in zip(got, want))
	print(f"{hits / sum(len(w.split(',')) for w in want):.3f}")
	EOF
}
r=$(recall "$fdw" "$exact")
r_shards=$(recall "$(shard_merge)" "$exact")
echo "# recall@10 over $NQ queries with probes $PROBES of $LISTS: coordinator $r, shards asked directly $r_shards"
python3 -c "import sys; sys.exit(not (abs($r - $r_shards) <= 0.01 and $r < 1))"
ok $? "recall through the coordinator equals recall on the shards with the same setting, and probes $PROBES loses some ($r)"
is "$(c "SET ivfflat.probes = $LISTS" "$(topk_sql items "${QV[0]}")")" "$(head -1 <<<"$fdw")" \
	"a SET ivfflat.probes on the coordinator does not reach the shards"

# A server's new options reach a coordinator session that already holds a connection to the shard.
i=$(paste -d' ' <(seq 1 $NQ) <(echo "$fdw") <(echo "$exact") | awk '$2 != $3 { print $1; exit }')
if [ -n "$i" ]; then
	v=${QV[$((i - 1))]}
	got=$(c "$(topk_sql items "$v")" "ALTER SERVER shard1 OPTIONS (SET options '-c ivfflat.probes=$LISTS')" \
		"ALTER SERVER shard2 OPTIONS (SET options '-c ivfflat.probes=$LISTS')" "$(topk_sql items "$v")")
	is "$got" "$(sed -n "${i}p" <<<"$fdw")"$'\n'"$(sed -n "${i}p" <<<"$exact")" \
		"ALTER SERVER ... OPTIONS (SET options ...) applies to the next query of an open session"
else
	ok 1 "no query differs between probes $PROBES and $LISTS"
fi

# The same rows on one node (the coordinator's table whole, with its own index and the same lists):
# at a normal probes setting the shards' merged answers have the one node's recall.
NORMAL=8
c "CREATE INDEX whole_idx ON whole USING ruivfflat (embedding vector_l2_ops) WITH (lists = $LISTS)" "ANALYZE whole"
c "EXPLAIN (COSTS OFF) $(topk_sql whole "${QV[0]}")" | grep -q 'Index Scan using whole_idx'
ok $? "the one node answers from its ruivfflat index"
set_probes $NORMAL
r_fdw=$(recall "$(answers items)" "$exact")
r_one=$(recall "$(answers whole "SET ivfflat.probes = $NORMAL")" "$exact")
echo "# recall@10 over $NQ queries at probes $NORMAL of $LISTS lists: 2 shards $r_fdw, one node $r_one"
python3 -c "import sys; sys.exit(not (abs($r_fdw - $r_one) <= 0.01 and 0.8 <= $r_one < 1))"
ok $? "probes $NORMAL: recall@10 over the shards ($r_fdw) is within 0.01 of one node's ($r_one), which misses some"

# Inserts through the coordinator once the shards have their indexes: each row lands on the shard of
# its hash partition, enters that shard's index and is found through the coordinator.
c "SELECT setseed(0.5)" "INSERT INTO items SELECT i, ARRAY(SELECT (random() * 10)::real FROM generate_series(1, 16) d WHERE i > 0)::vector(16) FROM generate_series($((N + 1)), $((N + 30))) i"
for r in 0 1; do
	port=$((S1PORT + r))
	is "$(on "$port" "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE id > $N")" \
		"$(c "SELECT string_agg(i::text, ',' ORDER BY i) FROM generate_series($((N + 1)), $((N + 30))) i WHERE satisfies_hash_partition('items'::regclass, 2, $r, i::bigint)")" \
		"a row inserted through the coordinator lands on shard $((r + 1)) exactly when its hash remainder is $r"
	is "$(on "$port" "SELECT vectors FROM ruvector_ivfflat_stats('items_embedding_idx')")" "$(on "$port" "SELECT count(*) FROM items")" \
		"and enters shard $((r + 1))'s index"
done
mapfile -t NEW < <(c "SELECT id || ' ' || embedding FROM items WHERE id > $N ORDER BY id")
sql=()
for row in "${NEW[@]}"; do sql+=("$(topk_sql items "${row#* }")"); done
found=0
i=0
while read -r ids; do
	[ "${ids%%,*}" = "${NEW[$i]%% *}" ] && found=$((found + 1))
	i=$((i + 1))
done < <(c "${sql[@]}")
is "$found/$i" "30/30" "each inserted row is the first answer through the coordinator for its own vector (probes $NORMAL)"

# GNN over the sharded table: a named graph (cached, kept current by triggers that writes on the
# shards never fire) is refused with a clear error; the table form reads the foreign partitions on
# every call and gives what the same rows on one node give (nodes 1..2000 in a ring of edges).
c "CREATE TABLE ring (src_id bigint, dst_id bigint)" "INSERT INTO ring SELECT i, i % 2000 + 1 FROM generate_series(1, 2000) i" \
	"SELECT ruvector_gnn_model_create('m16', 'gcn', ARRAY[16, 4], '{}'::jsonb, 7)" >/dev/null
out=$(c "SELECT ruvector_graph_create('sharded', 'items', 'ring')" 2>&1)
grep -q 'named graphs need ordinary tables, and items is a partitioned table' <<<"$out"
ok $? "a named graph over the sharded table is refused with a clear error"
gnn_sql="SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('m16', '%s', 'ring') WHERE node_id <= 2000"
gnn_sharded=$(c "$(printf "$gnn_sql" items)")
[ -n "$gnn_sharded" ] && [ "$gnn_sharded" = "$(c "$(printf "$gnn_sql" whole)")" ]
ok $? "the table form over the sharded table equals the one node's"

# A shard that is down fails the whole query: no partial answer.
stop_cluster "$BASE/s2"
out=$(c "$(topk_sql items "${QV[0]}")" 2>"$BASE/err")
rc=$?
[ $rc -ne 0 ] && [ -z "$out" ]
ok $? "with shard 2 down the query fails and returns no rows"
grep -q 'could not connect to server "shard2"' "$BASE/err"
ok $? "and the error names the shard ($(head -1 "$BASE/err"))"

done_testing
