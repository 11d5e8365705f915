-- The background worker: health, observability and k-means.

CREATE FUNCTION ruvector_worker_ping() RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ruvector_worker_ping() IS 'round-trip time of an empty request to the ruvector worker, in microseconds';

CREATE FUNCTION ruvector_worker_status(
	OUT state text, OUT pid integer, OUT generation bigint, OUT threads integer,
	OUT requests_served bigint, OUT requests_failed bigint, OUT requests_cancelled bigint,
	OUT in_flight integer, OUT shared_memory_used bigint, OUT shared_memory_limit bigint,
	OUT store_puts bigint, OUT centroids_kept bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE ROWS 1;

CREATE FUNCTION ruvector_store_entries(
	OUT object oid, OUT kind integer, OUT bytes bigint, OUT version bigint, OUT tag bigint,
	OUT published_at timestamptz)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

CREATE FUNCTION ruvector_kmeans(rel regclass, "column" name, k integer, max_iterations integer DEFAULT 10,
	seed integer DEFAULT 42, metric text DEFAULT 'l2')
	RETURNS TABLE (cluster integer, centroid vector, size bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- Low-level access to the worker's shared store (keyed by the current database, an object oid and
-- a kind). ruvector's caches use the same store; these are for diagnostics and superusers only.
CREATE FUNCTION ruvector_store_put(object oid, kind integer, tag bigint, data bytea) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION ruvector_store_get(object oid, kind integer) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
CREATE FUNCTION ruvector_store_drop(object oid, kind integer) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION ruvector_store_put(oid, integer, bigint, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruvector_store_get(oid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruvector_store_drop(oid, integer) FROM PUBLIC;
