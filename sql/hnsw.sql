-- The ruhnsw index access method, and `hnsw` as an alias so pgvector schemas restore unchanged.
-- As in pgvector, no opclass is the default: CREATE INDEX names one. Each opclass's support
-- function 1 is the metric code function ruivfflat's opclasses use (the metric table entry).
CREATE FUNCTION ruhnsw_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD ruhnsw TYPE INDEX HANDLER ruhnsw_handler;
COMMENT ON ACCESS METHOD ruhnsw IS 'HNSW index for vectors, built by the ruvector worker';
CREATE ACCESS METHOD hnsw TYPE INDEX HANDLER ruhnsw_handler;
COMMENT ON ACCESS METHOD hnsw IS 'pgvector''s name for ruhnsw';

CREATE FUNCTION ruhnsw_halfvec_l1_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruhnsw_bit_jaccard_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruhnsw_sparsevec_l2_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruhnsw_sparsevec_ip_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruhnsw_sparsevec_cosine_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruhnsw_sparsevec_l1_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

DO $$
DECLARE
	am text;
	oc record;
BEGIN
	FOREACH am IN ARRAY ARRAY['ruhnsw', 'hnsw'] LOOP
		FOR oc IN SELECT * FROM (VALUES
			('vector_l2_ops', 'vector', '<->', 'ruivfflat_l2_support'),
			('vector_ip_ops', 'vector', '<#>', 'ruivfflat_ip_support'),
			('vector_cosine_ops', 'vector', '<=>', 'ruivfflat_cosine_support'),
			('vector_l1_ops', 'vector', '<+>', 'ruivfflat_l1_support'),
			('halfvec_l2_ops', 'halfvec', '<->', 'ruivfflat_halfvec_l2_support'),
			('halfvec_ip_ops', 'halfvec', '<#>', 'ruivfflat_halfvec_ip_support'),
			('halfvec_cosine_ops', 'halfvec', '<=>', 'ruivfflat_halfvec_cosine_support'),
			('halfvec_l1_ops', 'halfvec', '<+>', 'ruhnsw_halfvec_l1_support'),
			('bit_hamming_ops', 'bit', '<~>', 'ruivfflat_bit_hamming_support'),
			('bit_jaccard_ops', 'bit', '<%>', 'ruhnsw_bit_jaccard_support'),
			('sparsevec_l2_ops', 'sparsevec', '<->', 'ruhnsw_sparsevec_l2_support'),
			('sparsevec_ip_ops', 'sparsevec', '<#>', 'ruhnsw_sparsevec_ip_support'),
			('sparsevec_cosine_ops', 'sparsevec', '<=>', 'ruhnsw_sparsevec_cosine_support'),
			('sparsevec_l1_ops', 'sparsevec', '<+>', 'ruhnsw_sparsevec_l1_support')) AS t(name, type, op, support)
		LOOP
			EXECUTE format('CREATE OPERATOR CLASS %I FOR TYPE %s USING %I AS '
						   'OPERATOR 1 %s (%s, %s) FOR ORDER BY float_ops, FUNCTION 1 %I(internal)',
						   oc.name, oc.type, am, oc.op, oc.type, oc.type, oc.support);
		END LOOP;
	END LOOP;
END
$$;

CREATE FUNCTION ruvector_hnsw_stats(index regclass,
	OUT elements bigint, OUT heap_tids bigint, OUT deleted bigint, OUT max_level integer,
	OUT level_counts bigint[], OUT mean_layer0_degree double precision, OUT entry_point tid,
	OUT entry_level integer, OUT m integer, OUT ef_construction integer, OUT dimensions integer,
	OUT metric text, OUT pages bigint, OUT bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_hnsw_stats(regclass) IS 'shape and health of a ruhnsw index: elements, levels, links, entry point, size';
