-- Included by pgTAP files (\ir include/gauss_clusters.sql after \set gc_seed, gc_rows, gc_items,
-- gc_centers and gc_queries): overlapping Gaussian clusters, 200 centres in 32 dimensions (table
-- :gc_centers), :gc_rows rows (:gc_items (id int primary key, v vector(32))) around them and 200
-- held-out queries (:gc_queries (qid, v)), seeded with :gc_seed. Where neighbours spread over
-- several lists or graph regions, so that recall grows with probes and ef_search.
SELECT setseed(:gc_seed);
CREATE FUNCTION pg_temp.gauss() RETURNS float8 LANGUAGE sql AS $$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
CREATE TABLE :gc_centers AS SELECT c, ARRAY(SELECT pg_temp.gauss() FROM generate_series(1, 32) d WHERE c > 0) AS x FROM generate_series(1, 200) c;
CREATE TABLE :gc_items (id int PRIMARY KEY, v vector(32));
INSERT INTO :gc_items SELECT i, ARRAY(SELECT x[d] + 1.25 * pg_temp.gauss() FROM generate_series(1, 32) d)::vector(32)
	FROM generate_series(1, :gc_rows) i JOIN :gc_centers ON c = 1 + (i * 7919) % 200;
CREATE TABLE :gc_queries AS SELECT q AS qid, ARRAY(SELECT x[d] + 1.25 * pg_temp.gauss() FROM generate_series(1, 32) d)::vector(32) AS v
	FROM generate_series(1, 200) q JOIN :gc_centers ON c = 1 + (q * 37) % 200;
