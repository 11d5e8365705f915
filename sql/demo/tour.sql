-- A short tour of ruvector, run by ./run demo. Every result below is computed live.
\pset footer off
SET client_min_messages = warning;
\echo '== ruvector tour =='
CREATE EXTENSION IF NOT EXISTS ruvector;
-- A previous tour's objects: the graph first, then its tables.
\o /dev/null
SELECT ruvector_graph_drop(name) FROM ruvector_graphs() WHERE name = 'tour';
\o
DROP TABLE IF EXISTS tour_items, tour_edges, tour_knn;

\echo '\n-- pgvector-compatible vector type and operators'
SELECT '[1,2,3]'::vector AS v,
       '[1,2,3]'::vector <-> '[4,6,3]' AS l2,
       '[1,2,3]'::vector <#> '[4,6,3]' AS neg_inner_product,
       '[1,2,3]'::vector <=> '[4,6,3]' AS cosine_distance,
       '[1,2,3]'::vector <+> '[4,6,3]' AS l1;

\echo '\n-- 20,000 items in 3 topics (seeded), exact nearest neighbours of a query'
SELECT setseed(0.5);
CREATE TABLE tour_items (id bigserial PRIMARY KEY, topic int, embedding vector(16));
INSERT INTO tour_items (topic, embedding)
SELECT t, (SELECT array_agg(CASE WHEN j % 3 = t THEN 1.0 ELSE 0.0 END + random() * 0.3) FROM generate_series(1, 16) j WHERE g > 0)::real[]
FROM generate_series(1, 20000) g, LATERAL (SELECT g % 3 AS t) s;
SELECT id, topic, round((embedding <-> (SELECT embedding FROM tour_items WHERE id = 1))::numeric, 4) AS distance
FROM tour_items ORDER BY embedding <-> (SELECT embedding FROM tour_items WHERE id = 1) LIMIT 5;

\echo '\n-- aggregates: the mean embedding per topic'
SELECT topic, count(*), subvector(avg(embedding), 1, 4) AS mean_first_4 FROM tour_items GROUP BY topic ORDER BY topic;

\echo '\n-- the background worker: parallel k-means on its thread pool'
SELECT state, threads, requests_served, shared_memory_limit FROM ruvector_worker_status();
SELECT cluster, size, subvector(centroid, 1, 4) AS centroid_first_4 FROM ruvector_kmeans('tour_items', 'embedding', 3) ORDER BY cluster;
SELECT round(ruvector_worker_ping()::numeric, 1) AS worker_round_trip_us;

\echo '\n-- a ruivfflat index (trained on the worker); the planner uses it for ORDER BY ... LIMIT'
CREATE INDEX tour_items_ivf ON tour_items USING ruivfflat (embedding vector_l2_ops) WITH (lists = 30);
SET ivfflat.probes = 3;
EXPLAIN (COSTS OFF) SELECT id FROM tour_items ORDER BY embedding <-> (SELECT embedding FROM tour_items WHERE id = 1) LIMIT 5;
SELECT id, topic FROM tour_items ORDER BY embedding <-> (SELECT embedding FROM tour_items WHERE id = 1) LIMIT 5;
SELECT lists, vectors, list_min, list_max, round(imbalance::numeric, 2) AS imbalance, centroid_cache FROM ruvector_ivfflat_stats('tour_items_ivf');

\echo '\n-- a k-NN graph built from the vectors, then GNN layers over it'
SELECT ruvector_build_knn_graph('tour_items', 'embedding', 'tour_knn', 5) AS edges;
\o /dev/null
SELECT ruvector_gnn_model_drop(name) FROM ruvector_gnn_models WHERE name = 'tour_gcn';
SELECT ruvector_gnn_model_create('tour_gcn', 'gcn', ARRAY[16, 8, 3]);
\o
SELECT name, layers, layer_types, dims, parameters FROM ruvector_gnn_models WHERE name = 'tour_gcn';
\o /dev/null
SELECT ruvector_graph_create('tour', 'tour_items', 'tour_knn', weight_column => 'weight');
\o
SELECT node_id, embedding FROM ruvector_gnn_forward('tour_gcn', 'tour') ORDER BY node_id LIMIT 3;
SELECT name, nodes, edges, version, cached_version FROM ruvector_graphs();
SELECT node_id, hops, round(distance::numeric, 4) AS distance
FROM ruvector_subgraph_search(1, (SELECT embedding FROM tour_items WHERE id = 2), 'tour', 2, 5);
