-- Every SQL statement of pgvector 0.8.0's README.md (github.com/pgvector/pgvector, tag v0.8.0), in the
-- README's order, each under the README section it comes from. Run by 084_pgvector_readme.sh through
-- pgvector_readme.py, which documents the annotations. The README's statements are copied verbatim;
-- where they cannot run verbatim (pgvector's extension name, placeholders such as `SELECT ...`,
-- fragments, PostgreSQL 16 syntax) an annotation says so and keeps the README's text.
-- The README reuses the table `items` with different column types; `setup:` lines rebuild it as each
-- section assumes (they are not README statements and are not counted).

-- § Getting Started
-- mapped: ruvector provides pgvector's types and functions itself, so its own extension is created instead
-- readme: CREATE EXTENSION vector;
CREATE EXTENSION ruvector;

-- § Getting Started
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));

-- § Getting Started
INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[4,5,6]');

-- § Getting Started
SELECT * FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 5;

-- § Storing
-- setup: DROP TABLE items
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));

-- § Storing
-- setup: ALTER TABLE items DROP COLUMN embedding
ALTER TABLE items ADD COLUMN embedding vector(3);

-- § Storing
INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[4,5,6]');

-- § Storing
-- copy-binary-from: SELECT embedding FROM items
COPY items (embedding) FROM STDIN WITH (FORMAT BINARY);

-- § Storing
INSERT INTO items (id, embedding) VALUES (1, '[1,2,3]'), (2, '[4,5,6]')
    ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding;

-- § Storing
UPDATE items SET embedding = '[1,2,3]' WHERE id = 1;

-- § Storing
DELETE FROM items WHERE id = 1;

-- § Querying
SELECT * FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 5;

-- § Querying
SELECT * FROM items WHERE id != 1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 5;

-- § Querying
SELECT * FROM items WHERE embedding <-> '[3,1,2]' < 5;

-- § Querying / Distances
SELECT embedding <-> '[3,1,2]' AS distance FROM items;

-- § Querying / Distances
SELECT (embedding <#> '[3,1,2]') * -1 AS inner_product FROM items;

-- § Querying / Distances
SELECT 1 - (embedding <=> '[3,1,2]') AS cosine_similarity FROM items;

-- § Querying / Aggregates
SELECT AVG(embedding) FROM items;

-- § Querying / Aggregates
-- setup: ALTER TABLE items ADD COLUMN category_id int, ADD COLUMN location_id int
SELECT category_id, AVG(embedding) FROM items GROUP BY category_id;

-- § HNSW
CREATE INDEX ON items USING hnsw (embedding vector_l2_ops);

-- § HNSW
CREATE INDEX ON items USING hnsw (embedding vector_ip_ops);

-- § HNSW
CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops);

-- § HNSW
CREATE INDEX ON items USING hnsw (embedding vector_l1_ops);

-- § HNSW
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
-- setup: CREATE TABLE items (id bigserial PRIMARY KEY, embedding bit(3))
-- setup: INSERT INTO items (embedding) VALUES ('000'), ('111')
CREATE INDEX ON items USING hnsw (embedding bit_hamming_ops);

-- § HNSW
CREATE INDEX ON items USING hnsw (embedding bit_jaccard_ops);

-- § HNSW / Index Options
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
CREATE INDEX ON items USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64);

-- § HNSW / Query Options
SET hnsw.ef_search = 100;

-- § HNSW / Query Options
BEGIN;

-- § HNSW / Query Options
SET LOCAL hnsw.ef_search = 100;

-- § HNSW / Query Options
-- placeholder: `SELECT ...` stands for the reader's query
SELECT ...

-- § HNSW / Query Options
COMMIT;

-- § HNSW / Index Build Time
SET maintenance_work_mem = '8GB';

-- § HNSW / Index Build Time
SET max_parallel_maintenance_workers = 7; -- plus leader

-- § HNSW / Indexing Progress
SELECT phase, round(100.0 * blocks_done / nullif(blocks_total, 0), 1) AS "%" FROM pg_stat_progress_create_index;

-- § IVFFlat
CREATE INDEX ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 100);

-- § IVFFlat
CREATE INDEX ON items USING ivfflat (embedding vector_ip_ops) WITH (lists = 100);

-- § IVFFlat
CREATE INDEX ON items USING ivfflat (embedding vector_cosine_ops) WITH (lists = 100);

-- § IVFFlat
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
-- setup: CREATE TABLE items (id bigserial PRIMARY KEY, embedding bit(3))
-- setup: INSERT INTO items (embedding) VALUES ('000'), ('111')
CREATE INDEX ON items USING ivfflat (embedding bit_hamming_ops) WITH (lists = 100);

-- § IVFFlat / Query Options
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
SET ivfflat.probes = 10;

-- § IVFFlat / Query Options
BEGIN;

-- § IVFFlat / Query Options
SET LOCAL ivfflat.probes = 10;

-- § IVFFlat / Query Options
-- placeholder: `SELECT ...` stands for the reader's query
SELECT ...

-- § IVFFlat / Query Options
COMMIT;

-- § IVFFlat / Index Build Time
SET max_parallel_maintenance_workers = 7; -- plus leader

-- § IVFFlat / Indexing Progress
SELECT phase, round(100.0 * tuples_done / nullif(tuples_total, 0), 1) AS "%" FROM pg_stat_progress_create_index;

-- § Filtering
SELECT * FROM items WHERE category_id = 123 ORDER BY embedding <-> '[3,1,2]' LIMIT 5;

-- § Filtering
CREATE INDEX ON items (category_id);

-- § Filtering
CREATE INDEX ON items (location_id, category_id);

-- § Filtering
CREATE INDEX ON items USING hnsw (embedding vector_l2_ops);

-- § Filtering
SET hnsw.ef_search = 200;

-- § Filtering
SET hnsw.iterative_scan = strict_order;

-- § Filtering
CREATE INDEX ON items USING hnsw (embedding vector_l2_ops) WHERE (category_id = 123);

-- § Filtering
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
CREATE TABLE items (embedding vector(3), category_id int) PARTITION BY LIST(category_id);

-- § Iterative Index Scans
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
SET hnsw.iterative_scan = strict_order;

-- § Iterative Index Scans
SET hnsw.iterative_scan = relaxed_order;

-- § Iterative Index Scans
SET ivfflat.iterative_scan = relaxed_order;

-- § Iterative Index Scans
WITH relaxed_results AS MATERIALIZED (
    SELECT id, embedding <-> '[1,2,3]' AS distance FROM items WHERE category_id = 123 ORDER BY distance LIMIT 5
) SELECT * FROM relaxed_results ORDER BY distance;

-- § Iterative Index Scans
WITH nearest_results AS MATERIALIZED (
    SELECT id, embedding <-> '[1,2,3]' AS distance FROM items ORDER BY distance LIMIT 5
) SELECT * FROM nearest_results WHERE distance < 5 ORDER BY distance;

-- § Iterative Index Scans / Iterative Scan Options / HNSW
SET hnsw.max_scan_tuples = 20000;

-- § Iterative Index Scans / Iterative Scan Options / HNSW
SET hnsw.scan_mem_multiplier = 2;

-- § Iterative Index Scans / Iterative Scan Options / IVFFlat
SET ivfflat.max_probes = 100;

-- § Half-Precision Vectors
-- setup: RESET ALL
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
CREATE TABLE items (id bigserial PRIMARY KEY, embedding halfvec(3));

-- § Half-Precision Indexing
-- setup: INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[4,5,6]')
CREATE INDEX ON items USING hnsw ((embedding::halfvec(3)) halfvec_l2_ops);

-- § Half-Precision Indexing
SELECT * FROM items ORDER BY embedding::halfvec(3) <-> '[1,2,3]' LIMIT 5;

-- § Binary Vectors
-- setup: DROP TABLE items
CREATE TABLE items (id bigserial PRIMARY KEY, embedding bit(3));

-- § Binary Vectors
INSERT INTO items (embedding) VALUES ('000'), ('111');

-- § Binary Vectors
SELECT * FROM items ORDER BY embedding <~> '101' LIMIT 5;

-- § Binary Vectors
SELECT * FROM items ORDER BY bit_count(embedding # '101') LIMIT 5;

-- § Binary Quantization
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
-- setup: INSERT INTO items (embedding) VALUES ('[1,-2,3]'), ('[-1,2,-3]'), ('[1,2,3]')
CREATE INDEX ON items USING hnsw ((binary_quantize(embedding)::bit(3)) bit_hamming_ops);

-- § Binary Quantization
-- adapted: binary_quantize('[1,-2,3]') is ambiguous (42725 "function binary_quantize(unknown) is not unique"): an untyped literal fits binary_quantize(vector) and binary_quantize(halfvec), both of category U and neither preferred; pgvector 0.8 declares the same two functions, so by PostgreSQL's resolution rules it fails there too; "::vector" added
-- readme: SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]') LIMIT 5;
SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 5;

-- § Binary Quantization
-- adapted: PostgreSQL 15 requires an alias on a subquery in FROM (16 does not); "AS t" added. And as above, "::vector" added
-- readme: SELECT * FROM (SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]') LIMIT 20) ORDER BY embedding <=> '[1,-2,3]' LIMIT 5;
SELECT * FROM (
    SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 20
) AS t ORDER BY embedding <=> '[1,-2,3]' LIMIT 5;

-- § Sparse Vectors
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
CREATE TABLE items (id bigserial PRIMARY KEY, embedding sparsevec(5));

-- § Sparse Vectors
INSERT INTO items (embedding) VALUES ('{1:1,3:2,5:3}/5'), ('{1:4,3:5,5:6}/5');

-- § Sparse Vectors
SELECT * FROM items ORDER BY embedding <-> '{1:3,3:1,5:2}/5' LIMIT 5;

-- § Hybrid Search
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
-- setup: ALTER TABLE items ADD COLUMN content text, ADD COLUMN textsearch tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(content, ''))) STORED
-- setup: UPDATE items SET content = 'hello search ' || id
SELECT id, content FROM items, plainto_tsquery('hello search') query
    WHERE textsearch @@ query ORDER BY ts_rank_cd(textsearch, query) DESC LIMIT 5;

-- § Indexing Subvectors
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
-- setup: CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(5))
-- setup: INSERT INTO items (embedding) VALUES ('[1,2,3,4,5]'), ('[5,4,3,2,1]'), ('[1,0,1,0,1]')
CREATE INDEX ON items USING hnsw ((subvector(embedding, 1, 3)::vector(3)) vector_cosine_ops);

-- § Indexing Subvectors
SELECT * FROM items ORDER BY subvector(embedding, 1, 3)::vector(3) <=> subvector('[1,2,3,4,5]'::vector, 1, 3) LIMIT 5;

-- § Indexing Subvectors
-- adapted: PostgreSQL 15 requires an alias on a subquery in FROM (16 does not); "AS t" added
-- readme: SELECT * FROM (SELECT * FROM items ORDER BY subvector(embedding, 1, 3)::vector(3) <=> subvector('[1,2,3,4,5]'::vector, 1, 3) LIMIT 20) ORDER BY embedding <=> '[1,2,3,4,5]' LIMIT 5;
SELECT * FROM (
    SELECT * FROM items ORDER BY subvector(embedding, 1, 3)::vector(3) <=> subvector('[1,2,3,4,5]'::vector, 1, 3) LIMIT 20
) AS t ORDER BY embedding <=> '[1,2,3,4,5]' LIMIT 5;

-- § Performance / Tuning
SHOW config_file;

-- § Performance / Tuning
SHOW shared_buffers;

-- § Performance / Loading
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
-- copy-binary-from: SELECT embedding FROM items
COPY items (embedding) FROM STDIN WITH (FORMAT BINARY);

-- § Performance / Indexing
-- placeholder: `CREATE INDEX CONCURRENTLY ...` is the start of the reader's statement
CREATE INDEX CONCURRENTLY ...

-- § Performance / Querying
EXPLAIN ANALYZE SELECT * FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 5;

-- § Performance / Querying / Exact Search
SET max_parallel_workers_per_gather = 4;

-- § Performance / Querying / Exact Search
SELECT * FROM items ORDER BY embedding <#> '[3,1,2]' LIMIT 5;

-- § Performance / Querying / Approximate Search
CREATE INDEX ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 1000);

-- § Performance / Vacuuming
-- setup: CREATE INDEX index_name ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 1)
REINDEX INDEX CONCURRENTLY index_name;

-- § Performance / Vacuuming
-- adapted: `table_name` is a placeholder for the reader's table
-- readme: VACUUM table_name;
VACUUM items;

-- § Monitoring
CREATE EXTENSION pg_stat_statements;

-- § Monitoring
-- env: pg_stat_statements must be in shared_preload_libraries, which the test cluster does not set
SELECT query, calls, ROUND((total_plan_time + total_exec_time) / calls) AS avg_time_ms,
    ROUND((total_plan_time + total_exec_time) / 60000) AS total_time_min
    FROM pg_stat_statements ORDER BY total_plan_time + total_exec_time DESC LIMIT 20;

-- § Monitoring
BEGIN;

-- § Monitoring
SET LOCAL enable_indexscan = off; -- use exact search

-- § Monitoring
-- placeholder: `SELECT ...` stands for the reader's query
SELECT ...

-- § Monitoring
COMMIT;

-- § Frequently Asked Questions
CREATE TABLE embeddings (model_id bigint, item_id bigint, embedding vector, PRIMARY KEY (model_id, item_id));

-- § Frequently Asked Questions
CREATE INDEX ON embeddings USING hnsw ((embedding::vector(3)) vector_l2_ops) WHERE (model_id = 123);

-- § Frequently Asked Questions
-- setup: INSERT INTO embeddings VALUES (123, 1, '[1,2,3]'), (123, 2, '[3,1,2]'), (7, 3, '[1,2,3,4]')
SELECT * FROM embeddings WHERE model_id = 123 ORDER BY embedding::vector(3) <-> '[3,1,2]' LIMIT 5;

-- § Frequently Asked Questions
-- setup: CREATE TABLE items_vector AS SELECT * FROM items
-- setup: DROP TABLE items
CREATE TABLE items (id bigserial PRIMARY KEY, embedding double precision[]);

-- § Frequently Asked Questions
-- use {} instead of [] for Postgres arrays
INSERT INTO items (embedding) VALUES ('{1,2,3}'), ('{4,5,6}');

-- § Frequently Asked Questions
ALTER TABLE items ADD CHECK (vector_dims(embedding::vector) = 3);

-- § Frequently Asked Questions
CREATE INDEX ON items USING hnsw ((embedding::vector(3)) vector_l2_ops);

-- § Frequently Asked Questions
SELECT * FROM items ORDER BY embedding::vector(3) <-> '[3,1,2]' LIMIT 5;

-- § Frequently Asked Questions
-- setup: DROP TABLE items
-- setup: ALTER TABLE items_vector RENAME TO items
-- setup: CREATE INDEX index_name ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 1)
SELECT pg_size_pretty(pg_relation_size('index_name'));

-- § Troubleshooting
-- adapted: the README shows the ORDER BY fragment of a query; completed with SELECT * FROM items
-- readme: ORDER BY embedding <=> '[3,1,2]' LIMIT 5;
SELECT * FROM items ORDER BY embedding <=> '[3,1,2]' LIMIT 5;

-- § Troubleshooting
-- adapted: the README shows the ORDER BY fragment of a query; completed with SELECT * FROM items
-- readme: ORDER BY 1 - (embedding <=> '[3,1,2]') DESC LIMIT 5;
SELECT * FROM items ORDER BY 1 - (embedding <=> '[3,1,2]') DESC LIMIT 5;

-- § Troubleshooting
BEGIN;

-- § Troubleshooting
SET LOCAL enable_seqscan = off;

-- § Troubleshooting
-- placeholder: `SELECT ...` stands for the reader's query
SELECT ...

-- § Troubleshooting
COMMIT;

-- § Troubleshooting
BEGIN;

-- § Troubleshooting
SET LOCAL min_parallel_table_scan_size = 1;

-- § Troubleshooting
SET LOCAL parallel_setup_cost = 1;

-- § Troubleshooting
-- placeholder: `SELECT ...` stands for the reader's query
SELECT ...

-- § Troubleshooting
COMMIT;

-- § Troubleshooting
ALTER TABLE items ALTER COLUMN embedding SET STORAGE PLAIN;

-- § Troubleshooting
DROP INDEX index_name;

-- § Upgrading
-- mapped: the extension is ruvector
-- readme: ALTER EXTENSION vector UPDATE;
ALTER EXTENSION ruvector UPDATE;

-- § Upgrading
-- mapped: the extension is ruvector
-- readme: SELECT extversion FROM pg_extension WHERE extname = 'vector';
SELECT extversion FROM pg_extension WHERE extname = 'ruvector';

-- § Upgrade Notes / 0.6.0 / Postgres 12
ALTER TYPE vector SET (STORAGE = external);
