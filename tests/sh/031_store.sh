#!/usr/bin/env bash
# The shared store across sessions: the memory limit leaves the old version intact, entries never
# cross databases, and readers never see a half-published version. Prints TAP.
. "$(dirname "$0")/lib.sh"

export PGDATABASE=ruvector_store_a
for db in ruvector_store_a ruvector_store_b; do
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
	PGDATABASE=$db q "CREATE EXTENSION ruvector"
done

# --- over the limit: a clear error, the published version and the accounting are untouched
q "SELECT ruvector_store_put(920001, 1, 1, decode(repeat('ab', 1000), 'hex'))" >/dev/null
used=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '8MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 8388608 ] && break; sleep 0.1; done
is "$(sqlstate_of "SELECT ruvector_store_put(920001, 1, 2, decode(repeat('cd', 9000000), 'hex'))")" 53200 "a blob over the limit fails with 53200"
is "$(q "SELECT md5(ruvector_store_get(920001, 1)) = md5(decode(repeat('ab', 1000), 'hex'))")" t "the published version is intact"
is "$(q "SELECT tag FROM ruvector_store_entries() WHERE object = 920001")" 1 "and still the same version"
is "$(q "SELECT shared_memory_used FROM ruvector_worker_status()")" "$used" "nothing is left allocated"
q "ALTER SYSTEM RESET ruvector.shared_memory_limit" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null

# --- a large job input does not stay behind: two 46 MB k-means requests with a 6 MB store entry
# published between them, under a 64 MB limit. (When job inputs lived in the DSA, the freed 46 MB
# buffer stayed a DSA segment, the entry went into it, and the second request failed with 53200
# although only 6 MB were in use.)
q "CREATE TABLE frag (id int, v vector(128))"
q "INSERT INTO frag SELECT i, (SELECT array_agg(((i * 7 + d * 13) % 101)::real) FROM generate_series(1, 128) d)::vector(128) FROM generate_series(1, 90000) i"
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '64MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 67108864 ] && break; sleep 0.1; done
used=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
is "$(q "SELECT sum(size) FROM ruvector_kmeans('frag', 'v', 10, 2)")" 90000 "a 46 MB k-means request under a 64 MB limit"
q "SELECT ruvector_store_put(920003, 1, 1, decode(repeat('cd', 6000000), 'hex'))" >/dev/null
is "$(q "SELECT shared_memory_used FROM ruvector_worker_status()")" "$((used + 6000000))" "its input is no longer counted once it is done; the 6 MB entry is"
is "$(q "SELECT sum(size) FROM ruvector_kmeans('frag', 'v', 10, 2)")" 90000 "the same request again, with the entry published in between"
q "SELECT ruvector_store_drop(920003, 1)" >/dev/null
is "$(q "SELECT shared_memory_used FROM ruvector_worker_status()")" "$used" "and the accounting is back where it was"
q "ALTER SYSTEM RESET ruvector.shared_memory_limit" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
q "DROP TABLE frag"

# --- entries are keyed by database
is "$(PGDATABASE=ruvector_store_b q "SELECT ruvector_store_get(920001, 1) IS NULL")" t "another database does not see the entry"
is "$(PGDATABASE=ruvector_store_b q "SELECT count(*) FROM ruvector_store_entries() WHERE object = 920001")" 0 "nor list it"
PGDATABASE=ruvector_store_b q "SELECT ruvector_store_put(920001, 1, 5, '\\x05')" >/dev/null
is "$(q "SELECT tag FROM ruvector_store_entries() WHERE object = 920001")" 1 "the same key in another database is a separate entry"

# --- publication is atomic: readers only ever see whole versions (every byte the same value)
q "SELECT ruvector_store_put(920002, 1, 0, decode(repeat('00', 1048576), 'hex'))" >/dev/null
(
	for i in $(seq 1 40); do
		h=$(printf '%02x' $((i % 256)))
		q "SELECT ruvector_store_put(920002, 1, $i, decode(repeat('$h', 1048576), 'hex'))" >/dev/null
	done
) &
writer=$!
for r in 1 2 3; do
	(
		bad=0
		for _ in $(seq 1 40); do
			ok=$(q "SELECT b = decode(repeat(encode(substring(b FROM 1 FOR 1), 'hex'), length(b)), 'hex') AND length(b) = 1048576
			        FROM (SELECT ruvector_store_get(920002, 1) AS b) s")
			[ "$ok" = t ] || bad=$((bad + 1))
		done
		echo "$bad" >"$RUVECTOR_TEST_DATA/../store_reader.$r"
	) &
done
wait
bad=$(cat "$RUVECTOR_TEST_DATA"/../store_reader.* | awk '{s += $1} END {print s}')
is "$bad" 0 "120 reads during 40 publications never saw a torn version"
is "$(q "SELECT tag FROM ruvector_store_entries() WHERE object = 920002")" 40 "the last publication wins"

q "SELECT ruvector_store_drop(920001, 1), ruvector_store_drop(920002, 1)" >/dev/null
PGDATABASE=ruvector_store_b q "SELECT ruvector_store_drop(920001, 1)" >/dev/null
is "$(q "SELECT in_flight FROM ruvector_worker_status()")" 0 "no request left in flight"
for db in ruvector_store_a ruvector_store_b; do psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null; done
done_testing
