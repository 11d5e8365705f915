-- GNN forward passes and named graphs (GraphStore). The model catalog is in gnn.sql.

-- Named graphs: a node table and an edge table, cached on the worker as CSR. The catalog is
-- written only through ruvector_graph_create/drop; a row's tables never change, and its version
-- moves forward at every change to either table (statement triggers), which is what keeps a cached
-- copy from serving data a query's snapshot does not see.
CREATE TABLE ruvector_graph_catalog (
	name text PRIMARY KEY,
	graph_id integer GENERATED ALWAYS AS IDENTITY UNIQUE,
	node_table regclass NOT NULL,
	edge_table regclass NOT NULL,
	embedding_column name NOT NULL,
	id_column name NOT NULL,
	src_column name NOT NULL,
	dst_column name NOT NULL,
	weight_column name,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('ruvector_graph_catalog', '');
-- and the identity's position, so graphs created after a restore get new ids
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ruvector_graph_catalog', 'graph_id'), '');
REVOKE ALL ON ruvector_graph_catalog FROM PUBLIC;
GRANT SELECT ON ruvector_graph_catalog TO PUBLIC;

-- Statement trigger on a graph's tables: the graph's version moves on (at commit, for everyone).
-- It only counts on the graph's own tables: attached elsewhere (by a role that does not own the
-- graph) it would let that role invalidate the graph's cached copy at will, so it refuses. A
-- graph that does not exist (yet: ruvector_graph_create puts the triggers first) is left alone.
CREATE FUNCTION ruvector_graph_touch() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
BEGIN
	UPDATE @extschema@.ruvector_graph_catalog SET version = version + 1
	WHERE name = TG_ARGV[0] AND TG_RELID IN (node_table::oid, edge_table::oid);
	IF NOT FOUND AND EXISTS (SELECT 1 FROM @extschema@.ruvector_graph_catalog WHERE name = TG_ARGV[0]) THEN
		RAISE EXCEPTION 'table % is not a table of graph "%"', TG_RELID::regclass, TG_ARGV[0]
			USING ERRCODE = '42501',
			DETAIL = 'ruvector_graph_touch() moves a graph''s version and runs only on the graph''s own tables.',
			HINT = format('Drop trigger %I on %s.', TG_NAME, TG_RELID::regclass);
	END IF;
	RETURN NULL;
END $$;

CREATE FUNCTION ruvector_graph_trigger_name(graph text) RETURNS name
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT ('ruvector_graph_' || left(md5(graph), 16))::name $$;

-- Only the owner of a graph's tables may create or drop the graph (it puts triggers on them).
-- Missing tables (dropped with the event trigger off) are skipped. (No SET search_path, so that
-- the message names the table as the caller would.)
CREATE FUNCTION ruvector_graph_check_owner(graph text, tables regclass[]) RETURNS void
	LANGUAGE plpgsql STABLE AS $$
DECLARE t regclass;
BEGIN
	FOREACH t IN ARRAY tables LOOP
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')) THEN
			RAISE EXCEPTION 'must be owner of table %', t USING ERRCODE = '42501',
				DETAIL = format('Graph "%s" keeps version triggers on its node and edge tables; only their owner may create or drop it.', graph);
		END IF;
	END LOOP;
END $$;

-- Registers the catalog row once the caller has shown it could put the version triggers on both
-- tables (ruvector_graph_create checks ownership first; the triggers are the proof this function
-- can see, as it runs as the extension owner).
CREATE FUNCTION ruvector_graph_register(graph text, p_nodes regclass, p_edges regclass, p_embedding name,
	p_id name, p_src name, p_dst name, p_weight name) RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
BEGIN
	IF (SELECT count(DISTINCT tgrelid) FROM pg_trigger WHERE tgname = ruvector_graph_trigger_name(graph)
	    AND tgfoid = 'ruvector_graph_touch'::regproc AND tgrelid IN (p_nodes, p_edges))
	   < (SELECT count(DISTINCT r) FROM unnest(ARRAY[p_nodes, p_edges]) r) THEN
		RAISE EXCEPTION 'graph "%" has no version triggers', graph USING ERRCODE = '55000',
			HINT = 'Create graphs with ruvector_graph_create().';
	END IF;
	INSERT INTO ruvector_graph_catalog (name, node_table, edge_table, embedding_column, id_column, src_column, dst_column, weight_column)
	VALUES (graph, p_nodes, p_edges, p_embedding, p_id, p_src, p_dst, p_weight);
END $$;

-- Removes the catalog row and cached copy once the graph's triggers are gone (the proof, as above,
-- that the caller owns the tables).
CREATE FUNCTION ruvector_graph_unregister(graph text) RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE r record;
BEGIN
	SELECT * INTO r FROM ruvector_graph_catalog WHERE name = graph;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'graph "%" does not exist', graph USING ERRCODE = '42704';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = ruvector_graph_trigger_name(graph) AND tgrelid IN (r.node_table, r.edge_table)) THEN
		RAISE EXCEPTION 'graph "%" still has its version triggers', graph USING ERRCODE = '55000',
			HINT = 'Drop graphs with ruvector_graph_drop().';
	END IF;
	DELETE FROM ruvector_graph_catalog WHERE name = graph;
	PERFORM ruvector_graph_uncache(r.graph_id);
	RETURN r.graph_id;
END $$;

CREATE FUNCTION ruvector_graph_create(name text, node_table regclass, edge_table regclass,
	embedding_column name DEFAULT 'embedding', id_column name DEFAULT 'id', src_column name DEFAULT 'src_id',
	dst_column name DEFAULT 'dst_id', weight_column name DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE
	trg name := ruvector_graph_trigger_name(name);
	col record;
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'graph name must not be null or empty' USING ERRCODE = '22023';
	END IF;
	IF node_table IS NULL OR edge_table IS NULL THEN
		RAISE EXCEPTION 'node_table and edge_table must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF EXISTS (SELECT 1 FROM ruvector_graph_catalog c WHERE c.name = ruvector_graph_create.name) THEN
		RAISE EXCEPTION 'graph "%" already exists', name USING ERRCODE = '42710';
	END IF;
	FOR col IN SELECT * FROM (VALUES (node_table, embedding_column, 'embedding'), (node_table, id_column, 'id'),
	                                 (edge_table, src_column, 'source'), (edge_table, dst_column, 'destination'),
	                                 (edge_table, weight_column, 'weight')) v(rel, colname, role)
	           WHERE colname IS NOT NULL LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = col.rel AND attname = col.colname AND attnum > 0 AND NOT attisdropped) THEN
			RAISE EXCEPTION 'column "%" of relation % does not exist', col.colname, col.rel
				USING ERRCODE = '42703', HINT = format('Name the %s column explicitly.', col.role);
		END IF;
	END LOOP;
	-- A named graph is cached and kept current by statement triggers on its two tables. Writes to a
	-- partition (or on a foreign table's server) do not fire a trigger on the parent, so the cache
	-- would silently go stale: only ordinary tables, with a clear error for the rest.
	FOR col IN SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'r' THEN 'a table with inheritance children'
	               WHEN 'p' THEN 'a partitioned table' WHEN 'f' THEN 'a foreign table' WHEN 'v' THEN 'a view'
	               WHEN 'm' THEN 'a materialized view' ELSE 'not an ordinary table' END AS kind
	           FROM pg_class c WHERE c.oid IN (node_table, edge_table)
	             AND (c.relkind <> 'r' OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid)) LOOP
		RAISE EXCEPTION 'named graphs need ordinary tables, and % is %', col.rel, col.kind
			USING ERRCODE = '0A000',
			DETAIL = 'A named graph is cached and kept current by triggers on its tables; writes to a partition or child table, or on a foreign table''s server, do not fire them.',
			HINT = 'Use the table form, ruvector_gnn_forward(model, node_table, edge_table), which reads the tables (partitions, children and foreign tables too) on every call.';
	END LOOP;
	PERFORM ruvector_graph_check_owner(name, ARRAY[node_table, edge_table]);
	EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION ruvector_graph_touch(%L)',
	               trg, node_table, name);
	IF edge_table <> node_table THEN
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION ruvector_graph_touch(%L)',
		               trg, edge_table, name);
	END IF;
	PERFORM ruvector_graph_register(name, node_table, edge_table, embedding_column, id_column, src_column, dst_column, weight_column);
END $$;
COMMENT ON FUNCTION ruvector_graph_create(text, regclass, regclass, name, name, name, name, name) IS 'register a named graph over a node table and an edge table';

CREATE FUNCTION ruvector_graph_uncache(graph_id integer) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION ruvector_graph_uncache(integer) FROM PUBLIC;

-- The graph's version triggers on those of its tables that still exist.
CREATE FUNCTION ruvector_graph_drop_triggers(graph text, node_table regclass, edge_table regclass) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE t regclass;
BEGIN
	FOREACH t IN ARRAY ARRAY[node_table, edge_table] LOOP
		IF EXISTS (SELECT 1 FROM pg_class WHERE oid = t) THEN
			EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', ruvector_graph_trigger_name(graph), t);
		END IF;
	END LOOP;
END $$;

CREATE FUNCTION ruvector_graph_drop(name text) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE r record; id integer;
BEGIN
	SELECT * INTO r FROM ruvector_graph_catalog c WHERE c.name = ruvector_graph_drop.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'graph "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	PERFORM ruvector_graph_check_owner(name, ARRAY[r.node_table, r.edge_table]);
	PERFORM ruvector_graph_drop_triggers(name, r.node_table, r.edge_table);
	id := ruvector_graph_unregister(name);
END $$;

-- Dropping a graph's node or edge table drops the graph, as dropping a table drops its triggers
-- and indexes: the version trigger left on the other table, the catalog row and the cached copy.
CREATE FUNCTION ruvector_graph_on_drop() RETURNS event_trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE r record;
BEGIN
	FOR r IN SELECT c.* FROM ruvector_graph_catalog c
	         WHERE c.node_table::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE classid = 'pg_class'::regclass)
	            OR c.edge_table::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE classid = 'pg_class'::regclass)
	LOOP
		PERFORM ruvector_graph_drop_triggers(r.name, r.node_table, r.edge_table);
		DELETE FROM ruvector_graph_catalog WHERE graph_id = r.graph_id;
		PERFORM ruvector_graph_uncache(r.graph_id);
		RAISE NOTICE 'graph "%" was dropped with its table', r.name;
	END LOOP;
END $$;
CREATE EVENT TRIGGER ruvector_graph_on_drop ON sql_drop EXECUTE FUNCTION ruvector_graph_on_drop();

-- The cached copy of a graph the caller may read (SELECT on every column it uses): one row, NULLs
-- when not cached; no row for a graph the caller may not read.
CREATE FUNCTION ruvector_graph_cache(graph_id integer, OUT nodes bigint, OUT edges bigint, OUT bytes bigint,
	OUT version bigint, OUT loaded_at timestamptz) RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT ROWS 1;

-- The graphs the caller may read.
CREATE FUNCTION ruvector_graphs(OUT name text, OUT node_table regclass, OUT edge_table regclass, OUT nodes bigint,
	OUT edges bigint, OUT bytes bigint, OUT version bigint, OUT cached_version bigint, OUT loaded_at timestamptz)
	RETURNS SETOF record LANGUAGE sql STABLE AS $$
	SELECT g.name, g.node_table, g.edge_table, c.nodes, c.edges, c.bytes, g.version, c.version, c.loaded_at
	FROM ruvector_graph_catalog g, LATERAL ruvector_graph_cache(g.graph_id) c ORDER BY g.name
$$;

-- Forward passes.
CREATE FUNCTION ruvector_gnn_forward(model text, graph text)
	RETURNS TABLE (node_id bigint, embedding vector)
	AS 'MODULE_PATHNAME', 'ruvector_gnn_forward_graph' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ruvector_gnn_forward(model text, node_table regclass, edge_table regclass,
	embedding_column name DEFAULT 'embedding', id_column name DEFAULT 'id', src_column name DEFAULT 'src_id',
	dst_column name DEFAULT 'dst_id', weight_column name DEFAULT NULL, sample_size integer DEFAULT NULL,
	seed integer DEFAULT 42)
	RETURNS TABLE (node_id bigint, embedding vector)
	AS 'MODULE_PATHNAME', 'ruvector_gnn_forward_tables' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
-- The forward pass written into a table (INSERT as the caller); returns the rows inserted.
CREATE FUNCTION ruvector_gnn_forward_into(model text, graph text, target regclass,
	id_column name DEFAULT 'id', embedding_column name DEFAULT 'embedding') RETURNS bigint
	AS 'MODULE_PATHNAME', 'ruvector_gnn_forward_into' LANGUAGE C VOLATILE PARALLEL UNSAFE;
-- Internal to ruvector_gnn_forward_into: the rows its INSERT reads.
CREATE FUNCTION _ruvector_gnn_into_rows(OUT node_id bigint, OUT embedding vector) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'ruvector_gnn_into_rows' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION ruvector_message_pass(node_table regclass, edge_table regclass, embedding_column name DEFAULT 'embedding',
	num_hops integer DEFAULT 2, layer_type text DEFAULT 'gcn', model text DEFAULT NULL)
	RETURNS TABLE (node_id bigint, updated_embedding vector)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Array forms for small graphs: node i is row i of embeddings (0-based in the edge arrays).
CREATE FUNCTION ruvector_gcn_forward(embeddings real[], edge_src bigint[], edge_dst bigint[],
	edge_weights real[] DEFAULT NULL, model text DEFAULT NULL, out_features integer DEFAULT NULL) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ruvector_graphsage_forward(embeddings real[], edge_src bigint[], edge_dst bigint[],
	edge_weights real[] DEFAULT NULL, model text DEFAULT NULL, out_features integer DEFAULT NULL,
	sample_size integer DEFAULT NULL, seed integer DEFAULT 42) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ruvector_gat_forward(embeddings real[], edge_src bigint[], edge_dst bigint[],
	edge_weights real[] DEFAULT NULL, model text DEFAULT NULL, out_features integer DEFAULT NULL,
	heads integer DEFAULT NULL) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ruvector_gin_forward(embeddings real[], edge_src bigint[], edge_dst bigint[],
	edge_weights real[] DEFAULT NULL, model text DEFAULT NULL, out_features integer DEFAULT NULL) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Models are shared definitions: every role may run them (importing and dropping are up to the
-- catalog tables' privileges, by default the extension owner's). The view shows no more than the tables.
GRANT SELECT ON ruvector_gnn_model_catalog, ruvector_gnn_model_layers, ruvector_gnn_model_params, ruvector_gnn_models TO PUBLIC;

-- Graph construction from vectors: a new edge table (src_id, dst_id, weight = distance).
CREATE FUNCTION ruvector_build_knn_graph(node_table regclass, embedding_column name, edge_table text, k integer,
	distance_metric text DEFAULT 'l2', id_column name DEFAULT 'id', exact boolean DEFAULT true) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ruvector_build_knn_graph(regclass, name, text, integer, text, name, boolean) IS 'edges from every node''s k nearest neighbours (itself excluded), weighted by distance';
CREATE FUNCTION ruvector_build_eps_graph(node_table regclass, embedding_column name, edge_table text, epsilon real,
	distance_metric text DEFAULT 'l2', id_column name DEFAULT 'id', max_edges bigint DEFAULT 10000000) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ruvector_build_eps_graph(regclass, name, text, real, text, name, bigint) IS 'edges between all pairs within distance epsilon (at most max_edges)';

-- Graph-aware queries.
CREATE FUNCTION ruvector_gnn_score(node_id bigint, query vector, graph text, num_hops integer DEFAULT 2)
	RETURNS double precision AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_gnn_score(bigint, vector, text, integer) IS 'cosine similarity of the query and the node''s embedding after num_hops of parameter-free GCN propagation';

CREATE FUNCTION ruvector_gnn_classify(node_id bigint, graph text, model text, OUT class integer, OUT score double precision)
	RETURNS record AS 'MODULE_PATHNAME', 'ruvector_gnn_classify_node' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION ruvector_gnn_classify(graph text, model text)
	RETURNS TABLE (node_id bigint, class integer, score double precision)
	AS 'MODULE_PATHNAME', 'ruvector_gnn_classify_graph' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION ruvector_graphsage_search(node_table regclass, edge_table regclass, query vector,
	num_layers integer DEFAULT 2, sample_size integer DEFAULT 10, k integer DEFAULT 10, model text DEFAULT NULL)
	RETURNS TABLE (id bigint, score double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- The k nodes within max_hops of the center (edges followed in either direction), closest to the query.
-- The graph comes third, as in ruvector_gnn_score: it is required, and only trailing parameters have defaults.
CREATE FUNCTION ruvector_subgraph_search(center_node bigint, query_embedding vector, graph text,
	max_hops integer DEFAULT 3, k integer DEFAULT 10, distance_metric text DEFAULT 'l2')
	RETURNS TABLE (node_id bigint, hops integer, distance double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_subgraph_search(bigint, vector, text, integer, integer, text) IS 'the k nodes within max_hops of the center (breadth-first over the graph''s CSR, edges either way) closest to the query';

-- ruvector_differentiable_search's arithmetic, in double (every finite vector works).
CREATE FUNCTION _ruvector_attention_query(query vector, candidates vector[]) RETURNS vector
	AS 'MODULE_PATHNAME', 'ruvector_attention_query' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _ruvector_attention_query(vector, vector[]) IS
	'internal to ruvector_differentiable_search: (q + sum softmax(<q, x> / sqrt(d)) x) / 2';
CREATE FUNCTION _ruvector_attention_query(query vector, candidates vector[], model text) RETURNS vector
	AS 'MODULE_PATHNAME', 'ruvector_attention_query_model' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION _ruvector_attention_query(vector, vector[], text) IS
	'internal to ruvector_differentiable_search: the enhanced query of a model''s RuVector layer (multi-head attention, then out)';
CREATE FUNCTION _ruvector_hnsw_candidates(index regclass, query vector, k integer, num_hops integer) RETURNS tid[]
	AS 'MODULE_PATHNAME', 'ruvector_hnsw_candidates' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION _ruvector_hnsw_candidates(regclass, vector, integer, integer) IS
	'internal to ruvector_differentiable_search: heap TIDs of the k nearest elements of a ruhnsw index and of their layer-0 neighbours, num_hops deep';
CREATE FUNCTION _ruvector_cosine_similarity(a vector, b vector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'ruvector_cosine_similarity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _ruvector_cosine_similarity(vector, vector) IS
	'internal to ruvector_differentiable_search: cosine similarity in double, NULL for a zero vector';

-- The RuVector layer: the k nearest rows through a ruivfflat or ruhnsw index, expanded num_hops
-- times (ruivfflat: over each row's own k nearest rows; ruhnsw: over the index's layer-0 neighbour
-- lists), attention-weighted into an enhanced query, then re-ranked. With C the candidates, d the
-- dimension, and no model:
--   alpha_c = softmax_c(<q, x_c> / sqrt(d)),  q' = (q + sum_c alpha_c x_c) / 2,
-- or with a model (one layer of type "ruvector"), its multi-head attention and out transform;
--   score_c = cosine(q', x_c); the k best candidates are returned with q'.
CREATE FUNCTION ruvector_differentiable_search(query vector, index regclass, num_hops integer DEFAULT 2, k integer DEFAULT 10,
	id_column name DEFAULT 'id', model text DEFAULT NULL)
	RETURNS TABLE (id bigint, score double precision, enhanced_embedding vector)
	LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	tbl regclass;
	col name;
	op text;
	frontier bigint[];
	seen bigint[];
	next_ids bigint[];
	q2 vector;
	h integer := 0;
	am name;
	tids tid[];
BEGIN
	IF k IS NULL OR k < 1 THEN
		RAISE EXCEPTION 'k must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF num_hops IS NULL OR num_hops < 0 THEN
		RAISE EXCEPTION 'num_hops must be at least 0' USING ERRCODE = '22023';
	END IF;
	SELECT i.indrelid, a.attname, CASE o.opcname WHEN 'vector_l2_ops' THEN '<->' WHEN 'vector_ip_ops' THEN '<#>'
	                                             WHEN 'vector_cosine_ops' THEN '<=>' WHEN 'vector_l1_ops' THEN '<+>' END
	, m.amname
	INTO tbl, col, op, am
	FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am m ON m.oid = c.relam
	     JOIN pg_opclass o ON o.oid = i.indclass[0] JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
	WHERE i.indexrelid = index AND m.amname IN ('ruivfflat', 'ivfflat', 'ruhnsw', 'hnsw');
	IF tbl IS NULL OR op IS NULL THEN
		RAISE EXCEPTION '"%" is not a ruivfflat or ruhnsw index on a vector column', index USING ERRCODE = '42809',
			HINT = 'Give an index with a vector_l2_ops, vector_ip_ops, vector_cosine_ops or vector_l1_ops column.';
	END IF;
	IF am IN ('ruhnsw', 'hnsw') THEN
		-- The graph is the index's: rows read back through the table, so snapshot and RLS apply.
		tids := _ruvector_hnsw_candidates(index, query, k, num_hops);
		EXECUTE format('SELECT array_agg(%I::bigint) FROM %s WHERE ctid = ANY ($1)', id_column, tbl) INTO seen USING tids;
		seen := coalesce(seen, '{}');
		frontier := '{}';
	ELSE
	EXECUTE format('SELECT array_agg(%I::bigint) FROM (SELECT %I FROM %s ORDER BY %I %s $1 LIMIT $2) s', id_column, id_column, tbl, col, op)
		INTO frontier USING query, k;
	seen := coalesce(frontier, '{}');
	WHILE h < num_hops AND cardinality(frontier) > 0 LOOP
		h := h + 1;
		EXECUTE format('SELECT array_agg(DISTINCT nb) FROM unnest($1::bigint[]) f(fid), LATERAL (SELECT %1$I::bigint AS nb FROM %2$s'
		               ' ORDER BY %3$I %4$s (SELECT %3$I FROM %2$s WHERE %1$I = f.fid) LIMIT $2) s WHERE NOT (nb = ANY ($3))',
		               id_column, tbl, col, op)
			INTO next_ids USING frontier, k, seen;
		frontier := coalesce(next_ids, '{}');
		seen := seen || frontier;
	END LOOP;
	END IF;
	-- attention over the candidates, then the enhanced query (both computed in double)
	IF model IS NULL THEN
		EXECUTE format('SELECT _ruvector_attention_query($1, array_agg(%I)) FROM %s WHERE %I = ANY ($2)', col, tbl, id_column)
			INTO q2 USING query, seen;
	ELSE
		EXECUTE format('SELECT _ruvector_attention_query($1, array_agg(%I), $3) FROM %s WHERE %I = ANY ($2)', col, tbl, id_column)
			INTO q2 USING query, seen, model;
	END IF;
	IF q2 IS NULL THEN
		RETURN;
	END IF;
	-- zero vectors have no cosine similarity: they are not ranked
	RETURN QUERY EXECUTE format('SELECT s.cid, s.sim, $1 FROM (SELECT %1$I::bigint AS cid, _ruvector_cosine_similarity(%2$I, $1) AS sim'
	                            ' FROM %3$s WHERE %1$I = ANY ($2)) s WHERE s.sim IS NOT NULL ORDER BY 2 DESC, 1 LIMIT $3',
	                            id_column, col, tbl)
		USING q2, seen, k;
END $$;

-- The ruvector_gnn index: ruivfflat lists over graph-enhanced embeddings (see the user guide). It
-- holds the enhanced embeddings, not the column's, so its operator classes claim no operator (ORDER
-- BY embedding <=> q keeps its meaning and never uses it); ruvector_gnn_search queries it.
CREATE FUNCTION ruvector_gnn_handler(internal) RETURNS index_am_handler AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE ACCESS METHOD ruvector_gnn TYPE INDEX HANDLER ruvector_gnn_handler;
COMMENT ON ACCESS METHOD ruvector_gnn IS 'IVF index over graph-enhanced embeddings (message passing at build time), queried with ruvector_gnn_search';
CREATE OPERATOR CLASS vector_cosine_ops DEFAULT FOR TYPE vector USING ruvector_gnn AS
	FUNCTION 1 ruivfflat_cosine_support(internal);
CREATE OPERATOR CLASS vector_l2_ops FOR TYPE vector USING ruvector_gnn AS
	FUNCTION 1 ruivfflat_l2_support(internal);
CREATE OPERATOR CLASS vector_ip_ops FOR TYPE vector USING ruvector_gnn AS
	FUNCTION 1 ruivfflat_ip_support(internal);
CREATE FUNCTION ruvector_gnn_search(index regclass, query vector, k integer DEFAULT 10)
	RETURNS TABLE (id bigint, distance double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_gnn_search(regclass, vector, integer) IS 'the k rows nearest to the query by their graph-enhanced embeddings in a ruvector_gnn index (the opclass''s distance), nearest first';
CREATE FUNCTION ruvector_gnn_index_stats(index regclass, OUT edge_table text, OUT layer_type text, OUT num_layers integer,
	OUT model text, OUT built_edges bigint, OUT current_edges bigint, OUT stale boolean)
	RETURNS record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
