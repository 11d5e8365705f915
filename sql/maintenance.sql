-- Index health and self-maintenance (issue 18): ruvector_index_health, the ruvector_index_health
-- view and ruvector_index_maintain.

CREATE FUNCTION ruvector_index_health(index regclass, recall_sample integer DEFAULT 0,
	OUT access_method text, OUT state text, OUT reason text, OUT rebuild_would_help boolean,
	OUT lists integer, OUT lists_requested integer, OUT rows bigint, OUT built_rows bigint,
	OUT inserted_since_build bigint, OUT dead_rows bigint, OUT list_min bigint, OUT list_max bigint,
	OUT imbalance double precision, OUT build_imbalance double precision, OUT auto_maintain boolean,
	OUT degraded_by text, OUT drift double precision, OUT estimated_recall double precision,
	OUT estimated_at integer, OUT dead_elements bigint, OUT removed_since_build bigint, OUT churn double precision)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_index_health(regclass, integer) IS 'health of a ruivfflat or ruhnsw index: healthy or degraded, why, and the figures';

-- Every valid ruivfflat/ruhnsw index (and their pgvector-named aliases) whose table the caller may
-- read; the function reads each index's pages.
CREATE VIEW ruvector_index_health AS
SELECT n.nspname AS schemaname, t.relname AS tablename, c.relname AS indexname, c.oid::regclass AS index, h.*
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_am a ON a.oid = c.relam
CROSS JOIN LATERAL ruvector_index_health(c.oid::regclass) h
WHERE a.amname IN ('ruivfflat', 'ivfflat', 'ruhnsw', 'hnsw')
  AND i.indisvalid
  AND NOT pg_catalog.pg_is_other_temp_schema(c.relnamespace)
  AND pg_catalog.has_table_privilege(i.indrelid, 'SELECT');
COMMENT ON VIEW ruvector_index_health IS 'health of every ruivfflat and ruhnsw index the caller may read';
GRANT SELECT ON ruvector_index_health TO PUBLIC;

CREATE PROCEDURE ruvector_index_maintain(index regclass)
	AS 'MODULE_PATHNAME', 'ruvector_index_maintain' LANGUAGE C;
COMMENT ON PROCEDURE ruvector_index_maintain(regclass) IS 'check a ruivfflat or ruhnsw index now and rebuild it online (REINDEX INDEX CONCURRENTLY) when it is degraded';

CREATE FUNCTION ruvector_index_tune(index regclass, sample integer DEFAULT 50)
	RETURNS TABLE (probes integer, recall double precision, ratio double precision, mean_probes double precision,
	               ef_search integer)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION ruvector_index_tune(regclass, integer) IS 'measure an index''s recall@10 curve (ruivfflat: at probes 1, 2, 4, ... lists and at per-query probe ratios; ruhnsw: at ef_search 10 to 1000) and store it for ruvector.ivfflat_target_recall and ruvector.hnsw_target_recall to pick from';
