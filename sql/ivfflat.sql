-- The ruivfflat index access method, and `ivfflat` as an alias so pgvector schemas restore unchanged.

CREATE FUNCTION ruivfflat_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD ruivfflat TYPE INDEX HANDLER ruivfflat_handler;
COMMENT ON ACCESS METHOD ruivfflat IS 'IVFFlat index for vectors, trained by the ruvector worker';
CREATE ACCESS METHOD ivfflat TYPE INDEX HANDLER ruivfflat_handler;
COMMENT ON ACCESS METHOD ivfflat IS 'pgvector''s name for ruivfflat';

-- Support function 1 of each opclass names its metric.
CREATE FUNCTION ruivfflat_l2_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruivfflat_ip_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruivfflat_cosine_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruivfflat_l1_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS vector_l2_ops DEFAULT FOR TYPE vector USING ruivfflat AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_l2_support(internal);
CREATE OPERATOR CLASS vector_ip_ops FOR TYPE vector USING ruivfflat AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_ip_support(internal);
CREATE OPERATOR CLASS vector_cosine_ops FOR TYPE vector USING ruivfflat AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_cosine_support(internal);
CREATE OPERATOR CLASS vector_l1_ops FOR TYPE vector USING ruivfflat AS
	OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_l1_support(internal);

CREATE OPERATOR CLASS vector_l2_ops DEFAULT FOR TYPE vector USING ivfflat AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_l2_support(internal);
CREATE OPERATOR CLASS vector_ip_ops FOR TYPE vector USING ivfflat AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_ip_support(internal);
CREATE OPERATOR CLASS vector_cosine_ops FOR TYPE vector USING ivfflat AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_cosine_support(internal);
CREATE OPERATOR CLASS vector_l1_ops FOR TYPE vector USING ivfflat AS
	OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_l1_support(internal);

-- halfvec: the lists store halves (half the bytes of vector lists), as pgvector's ivfflat
-- halfvec opclasses (pgvector has no halfvec_l1_ops for ivfflat, nor do we).
CREATE FUNCTION ruivfflat_halfvec_l2_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruivfflat_halfvec_ip_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ruivfflat_halfvec_cosine_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR CLASS halfvec_l2_ops FOR TYPE halfvec USING ruivfflat AS
	OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_halfvec_l2_support(internal);
CREATE OPERATOR CLASS halfvec_ip_ops FOR TYPE halfvec USING ruivfflat AS
	OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_halfvec_ip_support(internal);
CREATE OPERATOR CLASS halfvec_cosine_ops FOR TYPE halfvec USING ruivfflat AS
	OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_halfvec_cosine_support(internal);
CREATE OPERATOR CLASS halfvec_l2_ops FOR TYPE halfvec USING ivfflat AS
	OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_halfvec_l2_support(internal);
CREATE OPERATOR CLASS halfvec_ip_ops FOR TYPE halfvec USING ivfflat AS
	OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_halfvec_ip_support(internal);
CREATE OPERATOR CLASS halfvec_cosine_ops FOR TYPE halfvec USING ivfflat AS
	OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_halfvec_cosine_support(internal);

-- bit: the lists store the bit strings and order them by <~> (Hamming), as pgvector's ivfflat
-- bit_hamming_ops; k-means trains on the bits as 0/1 floats, each centroid the majority of its list.
CREATE FUNCTION ruivfflat_bit_hamming_support(internal) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR CLASS bit_hamming_ops FOR TYPE bit USING ruivfflat AS
	OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_bit_hamming_support(internal);
CREATE OPERATOR CLASS bit_hamming_ops FOR TYPE bit USING ivfflat AS
	OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
	FUNCTION 1 ruivfflat_bit_hamming_support(internal);

CREATE FUNCTION ruvector_ivfflat_stats(index regclass,
	OUT lists integer, OUT lists_requested integer, OUT probes integer, OUT dimensions integer,
	OUT metric text, OUT vectors bigint, OUT list_min bigint, OUT list_mean double precision,
	OUT list_max bigint, OUT imbalance double precision, OUT pages bigint, OUT bytes bigint,
	OUT centroid_cache text, OUT built_rows bigint, OUT sample_rows bigint,
	OUT quantizer text, OUT bytes_per_vector integer, OUT rerank integer)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_ivfflat_stats(regclass) IS 'shape and health of a ruivfflat index: lists, sizes, balance, cache state';
