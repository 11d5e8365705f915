#!/usr/bin/env bash
# ./run bench distance: exact top-10 (ORDER BY embedding <-> q LIMIT 10) over 100k x 128 through SQL,
# and the distance kernels' throughput against the machine's memory bandwidth, in one run.
. "$(dirname "$0")/lib.sh"
cmake --build "$RUVECTOR_BUILD" --target kernel_bench -j"$(nproc)" >/dev/null
echo "== kernels (single thread) =="
"$RUVECTOR_BUILD/kernel_bench"

bench_cluster
prefix=$(gen 100000 128 1000 clustered_100k_128)
load "$prefix" items 128
$PY - "$prefix" >"$BENCH_TMP/queries.sql" <<'PY'
import sys, numpy as np
q = np.load(sys.argv[1] + ".queries.npy")[:50]
for row in q:
    print("[" + ",".join("%.7g" % v for v in row) + "]")
PY
echo "== exact top-10 through SQL (100k x 128, seq scan, 50 queries) =="
psql -X -q -At <<SQL
CREATE TEMP TABLE q (i serial, v vector(128));
\\copy q (v) FROM '$BENCH_TMP/queries.sql'
CREATE TEMP TABLE t (ms float8);
DO \$\$
DECLARE r record; t0 timestamptz; ids bigint[];
BEGIN
  FOR r IN SELECT v FROM q ORDER BY i LOOP
    t0 := clock_timestamp();
    SELECT array_agg(id) INTO ids FROM (SELECT id FROM items ORDER BY embedding <-> r.v LIMIT 10) s;
    INSERT INTO t VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END \$\$;
SELECT format('median query time: %s ms   (%s QPS; p90 %s ms)',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
              round((1000 / percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1),
              round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 2)) FROM t;
SELECT format('vector data scanned: %s GB/s (100000 x 512 bytes per query)',
              round((100000 * 512 / (percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) / 1000) / 1e9)::numeric, 2)) FROM t;
SQL
