-- GNN models: a catalog of layer stacks (PyTorch Geometric GCNConv, SAGEConv, GINConv, GATConv, the
-- graph readouts global_*_pool, AttentionalAggregation and Set2Set, torch.nn.Linear) and their parameters, imported from PyG state_dicts or created with Glorot initial weights.
-- docs/gnn-models.md describes the import format; the forward functions read these tables.

CREATE TABLE ruvector_gnn_model_catalog (
	name text PRIMARY KEY,
	activation text NOT NULL DEFAULT 'relu',   -- applied between layers (never after the last): 'relu' or 'none'
	created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE ruvector_gnn_model_layers (
	model text NOT NULL REFERENCES ruvector_gnn_model_catalog (name) ON DELETE CASCADE ON UPDATE CASCADE,
	layer integer NOT NULL,          -- 0-based
	type text NOT NULL CHECK (type IN ('gcn', 'sage', 'gin', 'gat', 'global_add_pool', 'global_mean_pool',
		'global_max_pool', 'attentional_aggregation', 'set2set', 'linear', 'ruvector')),
	options jsonb NOT NULL,          -- normalised: every option of the type present, defaults filled in
	in_dim integer NOT NULL, out_dim integer NOT NULL,
	PRIMARY KEY (model, layer));
CREATE TABLE ruvector_gnn_model_params (
	model text NOT NULL, layer integer NOT NULL,
	name text NOT NULL,              -- normalised state_dict key
	shape integer[] NOT NULL,
	data real[] NOT NULL,            -- row-major, product(shape) values, 1-D array
	PRIMARY KEY (model, layer, name),
	FOREIGN KEY (model, layer) REFERENCES ruvector_gnn_model_layers ON DELETE CASCADE ON UPDATE CASCADE);
COMMENT ON TABLE ruvector_gnn_model_catalog IS 'GNN models (one row per model); see ruvector_gnn_model_import';
COMMENT ON TABLE ruvector_gnn_model_layers IS 'layers of the GNN models, with normalised options and dimensions';
COMMENT ON TABLE ruvector_gnn_model_params IS 'parameters of the GNN model layers (PyG state_dict tensors, row-major float32)';
-- Parameters are finite: NaN or an infinity in a weight can only give non-finite results. (JSON
-- has neither, so import never meets them; this stops them coming in by hand.)
CREATE FUNCTION _ruvector_gnn_params_finite() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.data && '{NaN,Infinity,-Infinity}'::real[] THEN
		RAISE EXCEPTION 'gnn model "%": parameter "%" of layer % has a NaN or infinite value', NEW.model, NEW.name, NEW.layer
			USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Model weights must be finite.';
	END IF;
	RETURN NEW;
END $$;
COMMENT ON FUNCTION _ruvector_gnn_params_finite() IS 'internal to the GNN model catalog';
CREATE TRIGGER ruvector_gnn_params_finite BEFORE INSERT OR UPDATE ON ruvector_gnn_model_params
	FOR EACH ROW EXECUTE FUNCTION _ruvector_gnn_params_finite();
-- User models are data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('ruvector_gnn_model_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('ruvector_gnn_model_layers', '');
SELECT pg_catalog.pg_extension_config_dump('ruvector_gnn_model_params', '');

CREATE VIEW ruvector_gnn_models AS
	SELECT c.name, c.activation,
		(SELECT count(*)::integer FROM ruvector_gnn_model_layers l WHERE l.model = c.name) AS layers,
		ARRAY(SELECT l.type FROM ruvector_gnn_model_layers l WHERE l.model = c.name ORDER BY l.layer) AS layer_types,
		ARRAY(SELECT s.dim FROM (
			SELECT -1 AS k, l.in_dim AS dim FROM ruvector_gnn_model_layers l WHERE l.model = c.name AND l.layer = 0
			UNION ALL
			SELECT l.layer, l.out_dim FROM ruvector_gnn_model_layers l WHERE l.model = c.name) s ORDER BY s.k) AS dims,
		(SELECT coalesce(sum(cardinality(p.data)), 0)::bigint FROM ruvector_gnn_model_params p WHERE p.model = c.name)
			AS parameters,
		c.created_at
	FROM ruvector_gnn_model_catalog c;
COMMENT ON VIEW ruvector_gnn_models IS 'GNN models: layer types, widths (input, then each layer''s output) and parameter count';

-- ---- Tensors: PyG's nested lists <-> (shape, row-major real[]) --------------------------------------

CREATE FUNCTION ruvector_gnn_glorot(out_dim integer, in_dim integer, seed bigint) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ruvector_gnn_glorot(integer, integer, bigint) IS
	'Glorot-uniform [out_dim, in_dim] weights (row-major, 1-D), deterministic in (out_dim, in_dim, seed)';

-- A number or a regular nested array of numbers (what torch.Tensor.tolist() gives) as its shape and
-- its values flattened row-major. "what" names the value in error messages.
-- (Not parallel safe: the fast path uses a subtransaction.)
CREATE FUNCTION ruvector_gnn_tensor_from_jsonb(value jsonb, what text DEFAULT 'tensor',
	OUT shape integer[], OUT data real[])
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v jsonb := value;
	depth integer;
	txt text;
	arr real[];
	from_list text := '(VALUES (1)) a0(o)';  -- the elements at the current depth, as nested expansions
	order_by text := 'a0.o';
	elem text := '$1';
	bad bigint;
	badtype text;
	toobig bigint;
	-- float32 rounding limits: FLT_MAX + half an ulp rounds to infinity, half the smallest
	-- subnormal (2^-150) and less to zero; PostgreSQL's cast rejects both, so they are decided here.
	huge constant numeric := 3.40282356779733661637539395458142568448e38;
	tiny constant numeric := 7.00649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015625e-46;
BEGIN
	IF value IS NULL THEN
		RAISE EXCEPTION '% is missing', what USING ERRCODE = 'invalid_parameter_value';
	END IF;
	shape := '{}';
	WHILE jsonb_typeof(v) = 'array' LOOP
		IF jsonb_array_length(v) = 0 THEN
			RAISE EXCEPTION '% has an empty dimension', what USING ERRCODE = 'invalid_parameter_value';
		END IF;
		shape := shape || jsonb_array_length(v);
		v := v -> 0;
	END LOOP;
	depth := cardinality(shape);
	-- Fast path: a regular nested array of plain numbers is a PostgreSQL array literal once [] are {};
	-- array input checks that it is regular and float4in rounds each number as the checks below do.
	-- Whatever it refuses (irregular, not numbers, out of float32 range, more than 6 dimensions)
	-- goes through those checks, which accept what rounds to zero and explain the rest.
	IF depth BETWEEN 1 AND 6 THEN
		txt := value::text;
	END IF;
	IF depth BETWEEN 1 AND 6 AND txt !~ '[^-0-9.eE+, \[\]]' THEN
		BEGIN
			arr := translate(txt, '[]', '{}')::real[];
			IF ARRAY(SELECT array_length(arr, d) FROM generate_series(1, array_ndims(arr)) d ORDER BY d) = shape THEN
				data := ('{' || translate(txt, '[]', '') || '}')::real[];  -- the same values, 1-D
				RETURN;
			END IF;
		EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
			NULL;
		END;
	END IF;
	-- Every sub-array at depth k (the root is depth 1) has shape[k] elements, like the first one.
	FOR k IN 1 .. depth LOOP
		IF k > 1 THEN
			EXECUTE format('SELECT count(*) FROM %s WHERE CASE WHEN jsonb_typeof(%s) = ''array'' '
				'THEN jsonb_array_length(%s) <> $2 ELSE true END', from_list, elem, elem)
				INTO bad USING value, shape[k];
			IF bad > 0 THEN
				RAISE EXCEPTION '% is a ragged array: every sub-array at depth % must have % elements, like the first',
					what, k, shape[k] USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
		from_list := format('%s, jsonb_array_elements(%s) WITH ORDINALITY a%s(x, o)', from_list, elem, k);
		order_by := format('%s, a%s.o', order_by, k);
		elem := format('a%s.x', k);
	END LOOP;
	-- The leaves: numbers that round to a finite float32 (JSON has no NaN or infinities); those that
	-- round to zero become 0.
	EXECUTE format($q$
		SELECT count(*) FILTER (WHERE z.t <> 'number'), min(z.t) FILTER (WHERE z.t <> 'number'),
			count(*) FILTER (WHERE abs(z.n) >= $2),
			array_agg(CASE WHEN z.n IS NULL OR abs(z.n) >= $2 THEN NULL
				WHEN abs(z.n) <= $3 THEN 0::real ELSE z.n::real END ORDER BY %s)
		FROM %s, LATERAL (SELECT jsonb_typeof(%s) AS t,
			CASE WHEN jsonb_typeof(%s) = 'number' THEN (%s)::numeric END AS n) z$q$,
		order_by, from_list, elem, elem, elem)
		INTO bad, badtype, toobig, data USING value, huge, tiny;
	IF bad > 0 THEN
		IF badtype = 'array' THEN
			RAISE EXCEPTION '% is a ragged array: its elements are nested to different depths', what
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RAISE EXCEPTION '% must be a number or a nested array of numbers, found a % value', what, badtype
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF toobig > 0 THEN
		RAISE EXCEPTION '% has a value out of range for real (float32)', what USING ERRCODE = 'invalid_parameter_value';
	END IF;
END $$;
COMMENT ON FUNCTION ruvector_gnn_tensor_from_jsonb(jsonb, text) IS
	'shape and row-major float32 values of a number or regular nested JSON array of numbers';

-- The inverse: values nested by shape (a bare number when shape is empty).
CREATE FUNCTION ruvector_gnn_tensor_to_jsonb(shape integer[], data real[]) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	SET extra_float_digits = 1   -- shortest text that reads back as the same float32
AS $$
DECLARE
	depth integer := cardinality(shape);
	cur jsonb[];
	n bigint := 1;
BEGIN
	FOR k IN 1 .. depth LOOP
		n := n * shape[k];
	END LOOP;
	IF n <> cardinality(data) OR array_ndims(data) > 1 THEN
		RAISE EXCEPTION 'shape [%] does not match % values', array_to_string(shape, ', '), cardinality(data)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF depth = 0 THEN
		RETURN to_jsonb(data[array_lower(data, 1)]);
	END IF;
	-- Innermost rows straight from the values, then each outer level groups the one below.
	cur := ARRAY(SELECT jsonb_agg(g.x ORDER BY g.o)
		FROM (SELECT u.x, u.o, (u.o - 1) / shape[depth] AS chunk FROM unnest(data) WITH ORDINALITY u(x, o)) g
		GROUP BY g.chunk ORDER BY g.chunk);
	FOR k IN REVERSE depth - 1 .. 1 LOOP
		cur := ARRAY(SELECT jsonb_agg(g.e ORDER BY g.o)
			FROM (SELECT u.e, u.o, (u.o - 1) / shape[k] AS chunk FROM unnest(cur) WITH ORDINALITY u(e, o)) g
			GROUP BY g.chunk ORDER BY g.chunk);
	END LOOP;
	RETURN cur[1];
END $$;
COMMENT ON FUNCTION ruvector_gnn_tensor_to_jsonb(integer[], real[]) IS
	'row-major values as a nested JSON array of the given shape (the inverse of ruvector_gnn_tensor_from_jsonb)';

-- ---- Internal helpers of import and create ---------------------------------------------------------

-- "shape" as [a, b], for messages.
CREATE FUNCTION _ruvector_gnn_shape_text(shape anyarray) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$SELECT '[' || pg_catalog.array_to_string(shape, ', ') || ']'$$;
COMMENT ON FUNCTION _ruvector_gnn_shape_text(anyarray) IS 'internal to the GNN model catalog';

-- Raise unless shape matches expected: same rank, and equal where expected names a number (other
-- entries, like 'out', are labels that match anything).
CREATE FUNCTION _ruvector_gnn_expect(ctx text, key text, shape integer[], expected text[]) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
	IF cardinality(shape) <> cardinality(expected)
		OR EXISTS (SELECT 1 FROM unnest(shape, expected) u(s, e) WHERE u.e ~ '^[0-9]+$' AND u.s <> u.e::integer) THEN
		RAISE EXCEPTION '%: "%" has shape %, expected %', ctx, key, _ruvector_gnn_shape_text(shape),
			_ruvector_gnn_shape_text(expected) USING ERRCODE = 'invalid_parameter_value';
	END IF;
END $$;
COMMENT ON FUNCTION _ruvector_gnn_expect(text, text, integer[], text[]) IS 'internal to the GNN model catalog';

-- state_dict[key] as (shape, data); NULLs when absent and not required.
CREATE FUNCTION _ruvector_gnn_param(ctx text, sd jsonb, key text, required boolean,
	OUT shape integer[], OUT data real[])
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
	IF NOT sd ? key THEN
		IF required THEN
			RAISE EXCEPTION '%: "%" is missing from the state_dict', ctx, key USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RETURN;
	END IF;
	SELECT * INTO shape, data FROM ruvector_gnn_tensor_from_jsonb(sd -> key, format('%s: "%s"', ctx, key));
END $$;
COMMENT ON FUNCTION _ruvector_gnn_param(text, jsonb, text, boolean) IS 'internal to the GNN model catalog';

-- A float32 option value as JSON (the shortest text of the float32).
CREATE FUNCTION _ruvector_gnn_real_option(ctx text, key text, v jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	SET extra_float_digits = 1
AS $$
DECLARE
	n numeric;
BEGIN
	IF jsonb_typeof(v) IS DISTINCT FROM 'number' THEN
		RAISE EXCEPTION '%: option "%" must be a number, got %', ctx, key, v USING ERRCODE = 'invalid_parameter_value';
	END IF;
	n := v::numeric;
	IF abs(n) >= 3.40282356779733661637539395458142568448e38 THEN
		RAISE EXCEPTION '%: option "%" is out of range for real (float32)', ctx, key USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN to_jsonb(CASE WHEN abs(n) <= 7.00649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015625e-46 THEN 0::real ELSE n::real END);
END $$;
COMMENT ON FUNCTION _ruvector_gnn_real_option(text, text, jsonb) IS 'internal to the GNN model catalog';

-- Check a layer's options and fill in the defaults. GIN's "mlp" is checked here but filled in by
-- the caller (it depends on the state_dict).
CREATE FUNCTION _ruvector_gnn_options(ctx text, layer_type text, options jsonb) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
	defaults jsonb;
	result jsonb;
	k text;
	v jsonb;
BEGIN
	IF options IS NULL OR jsonb_typeof(options) = 'null' THEN
		options := '{}';
	END IF;
	IF jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION '%: "options" must be a JSON object, got %', ctx, options USING ERRCODE = 'invalid_parameter_value';
	END IF;
	defaults := CASE layer_type
		WHEN 'gcn' THEN '{"add_self_loops": true, "normalize": true}'
		WHEN 'sage' THEN '{"aggr": "mean", "normalize": false, "root_weight": true, "project": false}'
		WHEN 'gin' THEN '{"eps": 0}'
		WHEN 'gat' THEN '{"heads": 1, "concat": true, "negative_slope": 0.2, "add_self_loops": true}'
		WHEN 'set2set' THEN '{"processing_steps": null}'
		WHEN 'ruvector' THEN '{"heads": 1}'
		ELSE '{}'  -- global_*_pool, linear; attentional_aggregation's gate_nn and nn are checked below
	END::jsonb;
	result := defaults;
	FOR k, v IN SELECT e.key, e.value FROM jsonb_each(options) e LOOP
		IF NOT (defaults ? k OR (layer_type = 'gin' AND k = 'mlp')
				OR (layer_type = 'attentional_aggregation' AND k IN ('gate_nn', 'nn'))
				OR (layer_type = 'sage' AND k IN ('mode', 'num_heads'))) THEN
			RAISE EXCEPTION '%: unknown option "%"', ctx, k USING ERRCODE = 'invalid_parameter_value',
				HINT = CASE WHEN defaults = '{}' AND layer_type <> 'attentional_aggregation'
					THEN format('%s has no options.', layer_type)
					ELSE format('%s options: %s.', layer_type,
					(SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(defaults || CASE WHEN layer_type = 'gin'
						THEN '{"mlp": null}'::jsonb WHEN layer_type = 'attentional_aggregation'
						THEN '{"gate_nn": null, "nn": null}'::jsonb WHEN layer_type = 'sage'
						THEN '{"mode": null, "num_heads": null}'::jsonb ELSE '{}'::jsonb END) x)) END;
		END IF;
		IF k IN ('add_self_loops', 'normalize', 'root_weight', 'concat', 'project') THEN
			IF jsonb_typeof(v) <> 'boolean' THEN
				RAISE EXCEPTION '%: option "%" must be true or false, got %', ctx, k, v USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF k = 'aggr' THEN
			-- A list is PyG's MultiAggregation (SAGEConv(aggr=["mean", "max"])).
			IF NOT (CASE jsonb_typeof(v) WHEN 'string' THEN (v #>> '{}') IN ('mean', 'max', 'sum', 'min', 'lstm')
					WHEN 'array' THEN jsonb_array_length(v) BETWEEN 2 AND 64 AND NOT EXISTS (SELECT 1
						FROM jsonb_array_elements(v) a(e) WHERE NOT a.e IN ('"mean"', '"max"', '"sum"', '"min"'))
					ELSE false END) THEN
				RAISE EXCEPTION '%: option "aggr" must be "mean", "max", "sum", "min" or "lstm", or a list of 2 to 64 of "mean", "max", "sum" and "min", got %', ctx, v
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF k = 'mode' THEN
			IF jsonb_typeof(v) <> 'string' OR NOT (v #>> '{}') IN ('cat', 'attn') THEN
				RAISE EXCEPTION '%: option "mode" must be "cat" or "attn", got %', ctx, v USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF k = 'num_heads' THEN
			IF NOT (CASE WHEN jsonb_typeof(v) = 'number'
					THEN v::numeric = trunc(v::numeric) AND v::numeric BETWEEN 1 AND 65536 ELSE false END) THEN
				RAISE EXCEPTION '%: option "num_heads" must be an integer from 1 to 65536, got %', ctx, v
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			v := to_jsonb(v::numeric::integer);
		ELSIF k = 'heads' THEN
			IF NOT (CASE WHEN jsonb_typeof(v) = 'number'
					THEN v::numeric = trunc(v::numeric) AND v::numeric BETWEEN 1 AND 65536 ELSE false END) THEN
				RAISE EXCEPTION '%: option "heads" must be an integer from 1 to 65536, got %', ctx, v
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			v := to_jsonb(v::numeric::integer);
		ELSIF k = 'processing_steps' THEN
			IF NOT (CASE WHEN jsonb_typeof(v) = 'number'
					THEN v::numeric = trunc(v::numeric) AND v::numeric BETWEEN 1 AND 1024 ELSE false END) THEN
				RAISE EXCEPTION '%: option "processing_steps" must be an integer from 1 to 1024, got %', ctx, v
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			v := to_jsonb(v::numeric::integer);
		ELSIF k IN ('eps', 'negative_slope') THEN
			v := _ruvector_gnn_real_option(ctx, k, v);
		ELSIF k IN ('mlp', 'gate_nn', 'nn') THEN
			IF NOT (CASE WHEN jsonb_typeof(v) = 'array' THEN jsonb_array_length(v) > 0
					AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v) s(e) WHERE NOT s.e IN ('"linear"', '"relu"'))
					ELSE false END) THEN
				RAISE EXCEPTION '%: option "%" must be a non-empty array of "linear" and "relu", got %', ctx, k, v
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			IF jsonb_array_length(v) > 1024 THEN  -- kernels::kMaxMlpSteps
				RAISE EXCEPTION '%: option "%" has % steps, at most 1024 are supported', ctx, k, jsonb_array_length(v)
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
		result := result || jsonb_build_object(k, v);
	END LOOP;
	-- MultiAggregation's combine mode ("cat" by default) and attention heads (1), only with a list.
	IF layer_type = 'sage' THEN
		IF jsonb_typeof(result -> 'aggr') = 'array' THEN
			result := jsonb_build_object('mode', 'cat') || result;
			IF result ->> 'mode' = 'attn' THEN
				result := jsonb_build_object('num_heads', 1) || result;
			ELSIF result ? 'num_heads' THEN
				RAISE EXCEPTION '%: option "num_heads" needs "mode": "attn"', ctx USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF result ? 'mode' OR result ? 'num_heads' THEN
			RAISE EXCEPTION '%: option "%" needs a list of aggregations in "aggr"', ctx,
				CASE WHEN result ? 'mode' THEN 'mode' ELSE 'num_heads' END USING ERRCODE = 'invalid_parameter_value',
				HINT = 'As SAGEConv(aggr=["mean", "max"], aggr_kwargs={"mode": "attn", ...}).';
		END IF;
	END IF;
	RETURN result;
END $$;
COMMENT ON FUNCTION _ruvector_gnn_options(text, text, jsonb) IS 'internal to the GNN model catalog';

-- The model row, or 42710 when the name is taken.
CREATE FUNCTION _ruvector_gnn_model_insert(model text, activation text) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
	m text := $1;
	a text := $2;
	n bigint;
BEGIN
	IF m IS NULL OR m = '' THEN
		RAISE EXCEPTION 'gnn model name must not be null or empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO ruvector_gnn_model_catalog AS c (name, activation) VALUES (m, a) ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n = 0 THEN
		RAISE EXCEPTION 'gnn model "%" already exists', m USING ERRCODE = 'duplicate_object',
			HINT = 'Drop it first with ruvector_gnn_model_drop(), or import under another name.';
	END IF;
END $$;
COMMENT ON FUNCTION _ruvector_gnn_model_insert(text, text) IS 'internal to the GNN model catalog';

-- Check and store an MLP given as torch.nn.Sequential keys "<prefix>.K.weight" / "<prefix>.K.bias"
-- (K: the step's index; Linear and ReLU steps only), against the option "opt" when given (else
-- derived from the keys). Returns the steps and the first and last widths.
CREATE FUNCTION _ruvector_gnn_import_mlp(m text, li integer, ctx text, sd jsonb, prefix text, opt text, given jsonb,
	OUT steps_json jsonb, OUT in_d integer, OUT out_d integer)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
	SET extra_float_digits = 1
AS $$
DECLARE
	any_re text := '^' || prefix || '\.([0-9]+)\.';
	w_re text := '^' || prefix || '\.([0-9]+)\.weight$';
	b_re text := '^' || prefix || '\.[0-9]+\.bias$';
	k text;
	steps text[];
	widx integer[];
	cur integer;
	ch integer;
	wkey text;
	sh integer[];
	dat real[];
BEGIN
	-- The forward pass runs MLPs of up to 1024 steps (kernels::kMaxMlpSteps).
	k := (SELECT x FROM jsonb_object_keys(sd) x WHERE x ~ any_re
		ORDER BY substring(x FROM any_re)::numeric DESC LIMIT 1);
	IF substring(k FROM any_re)::numeric >= 1024 THEN
		RAISE EXCEPTION '%: "%" is at MLP position %, the MLP may have at most 1024 steps (positions 0 to 1023)',
			ctx, k, substring(k FROM any_re) USING ERRCODE = 'invalid_parameter_value';
	END IF;
	widx := ARRAY(SELECT substring(x FROM w_re)::integer AS i FROM jsonb_object_keys(sd) x WHERE x ~ w_re ORDER BY i);
	FOR k IN SELECT x FROM jsonb_object_keys(sd) x WHERE x ~ b_re ORDER BY x LOOP
		IF NOT sd ? regexp_replace(k, 'bias$', 'weight') THEN
			RAISE EXCEPTION '%: "%" has no matching "%"', ctx, k, regexp_replace(k, 'bias$', 'weight')
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	IF given IS NOT NULL THEN
		steps := ARRAY(SELECT s.step FROM jsonb_array_elements_text(given) WITH ORDINALITY s(step, o) ORDER BY s.o);
		FOR j IN 1 .. cardinality(steps) LOOP
			IF steps[j] = 'linear' AND NOT (j - 1) = ANY (widx) THEN
				RAISE EXCEPTION '%: option "%" has a Linear at index % but "%.%.weight" is missing', ctx, opt, j - 1, prefix, j - 1
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END LOOP;
		FOREACH cur IN ARRAY widx LOOP
			IF cur >= cardinality(steps) THEN
				RAISE EXCEPTION '%: "%.%.weight" does not fit option "%", which has % steps', ctx, prefix, cur, opt, cardinality(steps)
					USING ERRCODE = 'invalid_parameter_value';
			ELSIF steps[cur + 1] <> 'linear' THEN
				RAISE EXCEPTION '%: "%.%.weight" does not fit option "%", whose step % is "%"', ctx, prefix, cur, opt, cur, steps[cur + 1]
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END LOOP;
	ELSE
		IF cardinality(widx) = 0 THEN
			RAISE EXCEPTION '%: the state_dict has no Linear weights ("%.K.weight")', ctx, prefix USING ERRCODE = 'invalid_parameter_value';
		END IF;
		steps := ARRAY(SELECT CASE WHEN g = ANY (widx) THEN 'linear' ELSE 'relu' END
			FROM generate_series(0, widx[cardinality(widx)]) g ORDER BY g);
	END IF;
	IF cardinality(widx) = 0 THEN
		RAISE EXCEPTION '%: option "%" has no "linear" step', ctx, opt USING ERRCODE = 'invalid_parameter_value';
	END IF;
	cur := NULL;
	FOREACH ch IN ARRAY widx LOOP
		wkey := format('%s.%s.weight', prefix, ch);
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, wkey, true);
		PERFORM _ruvector_gnn_expect(ctx, wkey, sh, '{out,in}');
		IF cur IS NULL THEN
			in_d := sh[2];
		ELSE
			PERFORM _ruvector_gnn_expect(ctx, wkey, sh, ARRAY[sh[1]::text, cur::text]);
		END IF;
		cur := sh[1];
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, wkey, sh, dat);
		wkey := format('%s.%s.bias', prefix, ch);
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, wkey, false);
		IF sh IS NOT NULL THEN
			PERFORM _ruvector_gnn_expect(ctx, wkey, sh, ARRAY[cur::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, wkey, sh, dat);
		END IF;
	END LOOP;
	out_d := cur;
	steps_json := to_jsonb(steps);
END $$;
COMMENT ON FUNCTION _ruvector_gnn_import_mlp(text, integer, text, jsonb, text, text, jsonb) IS 'internal to the GNN model catalog';

-- A torch.nn.LSTM's parameters "<prefix>weight_ih_l0" [4 hidden, in], "weight_hh_l0" [4 hidden,
-- hidden] (required), "bias_ih_l0", "bias_hh_l0" [4 hidden] (optional), checked and stored.
CREATE FUNCTION _ruvector_gnn_import_lstm(m text, li integer, ctx text, sd jsonb, prefix text, in_d integer, hidden integer)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
	sh integer[];
	dat real[];
	k text;
BEGIN
	FOREACH k IN ARRAY ARRAY['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'] LOOP
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, prefix || k, k LIKE 'weight%');
		CONTINUE WHEN sh IS NULL;
		PERFORM _ruvector_gnn_expect(ctx, prefix || k, sh, CASE k
			WHEN 'weight_ih_l0' THEN ARRAY[(4 * hidden)::text, in_d::text]
			WHEN 'weight_hh_l0' THEN ARRAY[(4 * hidden)::text, hidden::text]
			ELSE ARRAY[(4 * hidden)::text] END);
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, prefix || k, sh, dat);
	END LOOP;
END $$;
COMMENT ON FUNCTION _ruvector_gnn_import_lstm(text, integer, text, jsonb, text, integer, integer) IS 'internal to the GNN model catalog';

-- Check and store one layer of an imported model; returns its output width.
CREATE FUNCTION _ruvector_gnn_import_layer(p_model text, p_layer integer, p_spec jsonb, p_prev_out integer)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
	SET extra_float_digits = 1
AS $$
DECLARE
	m text := p_model;
	li integer := p_layer;
	t text;
	ctx text;
	opts jsonb;
	sd jsonb;
	k text;
	allowed text[];
	sh integer[];
	dat real[];
	sh2 integer[];
	dat2 real[];
	in_d integer;
	out_d integer;
	heads integer;
	ch integer;
	cur integer;
	wkey text;
	eps real;
	mlp_steps jsonb;
	gate_w integer;
	types constant text[] := '{gcn,sage,gin,gat,global_add_pool,global_mean_pool,global_max_pool,attentional_aggregation,set2set,linear,ruvector}';
BEGIN
	ctx := format('layer %s', li);
	IF jsonb_typeof(p_spec) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION '%: must be a JSON object with "type", "options" and "state_dict", got %', ctx, p_spec
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT p_spec ? 'type' THEN
		RAISE EXCEPTION '%: "type" is missing', ctx USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(p_spec -> 'type') <> 'string' OR NOT (p_spec ->> 'type') = ANY (types) THEN
		RAISE EXCEPTION '%: unknown layer type %', ctx, p_spec -> 'type' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Layer types: gcn (GCNConv), sage (SAGEConv), gin (GINConv), gat (GATConv), global_add_pool, '
				'global_mean_pool, global_max_pool, attentional_aggregation (AttentionalAggregation), set2set (Set2Set), '
				'linear (torch.nn.Linear), ruvector (the RuVector layer of ruvector_differentiable_search).';
	END IF;
	t := p_spec ->> 'type';
	ctx := format('layer %s (%s)', li, t);
	FOR k IN SELECT x FROM jsonb_object_keys(p_spec) x ORDER BY x LOOP
		IF NOT k IN ('type', 'options', 'state_dict') THEN
			RAISE EXCEPTION '%: unknown layer field "%"', ctx, k USING ERRCODE = 'invalid_parameter_value',
				HINT = 'A layer has "type", "options" and "state_dict".';
		END IF;
	END LOOP;
	opts := _ruvector_gnn_options(ctx, t, p_spec -> 'options');
	sd := p_spec -> 'state_dict';
	IF sd IS NULL THEN
		RAISE EXCEPTION '%: "state_dict" is missing', ctx USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(sd) <> 'object' THEN
		RAISE EXCEPTION '%: "state_dict" must be a JSON object of nested arrays', ctx USING ERRCODE = 'invalid_parameter_value';
	END IF;

	IF t = 'set2set' AND opts -> 'processing_steps' = 'null' THEN
		RAISE EXCEPTION '%: option "processing_steps" is required', ctx USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Give Set2Set''s processing_steps, e.g. "options": {"processing_steps": 3}.';
	END IF;
	allowed := CASE t
		WHEN 'gcn' THEN '{lin.weight,bias}'
		WHEN 'sage' THEN '{lin_l.weight,lin_l.bias}'::text[]
			|| CASE WHEN (opts ->> 'root_weight')::boolean THEN '{lin_r.weight}' ELSE '{}' END::text[]
			|| CASE WHEN (opts ->> 'project')::boolean THEN '{lin.weight,lin.bias}' ELSE '{}' END::text[]
			|| CASE WHEN opts ->> 'aggr' = 'lstm' THEN '{aggr_module.lstm.weight_ih_l0,aggr_module.lstm.weight_hh_l0,'
				'aggr_module.lstm.bias_ih_l0,aggr_module.lstm.bias_hh_l0}' ELSE '{}' END::text[]
			|| CASE WHEN opts ->> 'mode' = 'attn' THEN ARRAY(SELECT format('aggr_module.lin_heads.lins.%s.%s', a, w)
				FROM generate_series(0, jsonb_array_length(opts -> 'aggr') - 1) a, unnest('{weight,bias}'::text[]) w)
				|| '{aggr_module.multihead_attn.in_proj_weight,aggr_module.multihead_attn.in_proj_bias,'
				'aggr_module.multihead_attn.out_proj.weight,aggr_module.multihead_attn.out_proj.bias}'::text[]
				ELSE '{}' END::text[]
		WHEN 'gat' THEN '{lin.weight,lin_src.weight,lin_dst.weight,att_src,att_dst,bias}'
		WHEN 'set2set' THEN '{lstm.weight_ih_l0,lstm.weight_hh_l0,lstm.bias_ih_l0,lstm.bias_hh_l0}'
		WHEN 'linear' THEN '{weight,bias}'
		WHEN 'ruvector' THEN '{q.weight,q.bias,k.weight,k.bias,v.weight,v.bias,out.weight,out.bias}'
		ELSE '{}'  -- global pools
	END::text[];
	FOR k IN SELECT x FROM jsonb_object_keys(sd) x ORDER BY x LOOP
		IF (CASE WHEN t = 'gin' THEN NOT (k = 'eps' OR k ~ '^nn\.(0|[1-9][0-9]{0,3})\.(weight|bias)$')
				WHEN t = 'attentional_aggregation' THEN NOT k ~ '^(gate_nn|nn)\.(0|[1-9][0-9]{0,3})\.(weight|bias)$'
				ELSE NOT k = ANY (allowed) END) THEN
			RAISE EXCEPTION '%: unknown key "%"', ctx, k USING ERRCODE = 'invalid_parameter_value',
				HINT = CASE
					WHEN t = 'gin' THEN 'GINConv keys: nn.K.weight and nn.K.bias (K: the index of a Linear in the Sequential), eps.'
					WHEN t = 'attentional_aggregation' THEN 'AttentionalAggregation keys: gate_nn.K.weight, gate_nn.K.bias, '
						'nn.K.weight, nn.K.bias (K: the index of a Linear in the Sequential).'
					WHEN t = 'sage' AND k = 'lin_r.weight' THEN 'lin_r.weight is only used with root_weight = true.'
					WHEN t = 'sage' AND k LIKE 'lin.%' THEN 'lin.weight and lin.bias are only used with project = true.'
					WHEN t = 'sage' AND k LIKE 'aggr_module.lstm.%' THEN 'The LSTM is only used with aggr = "lstm".'
					WHEN cardinality(allowed) = 0 THEN format('%s has no parameters: give an empty state_dict.', t)
					ELSE format('%s keys: %s.', t, array_to_string(allowed, ', ')) END;
		END IF;
	END LOOP;

	-- A row to hang the parameters on; dimensions and the final options are set at the end.
	INSERT INTO ruvector_gnn_model_layers (model, layer, type, options, in_dim, out_dim) VALUES (m, li, t, opts, 0, 0);

	IF t = 'gcn' THEN
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lin.weight', true);
		PERFORM _ruvector_gnn_expect(ctx, 'lin.weight', sh, '{out,in}');
		out_d := sh[1];
		in_d := sh[2];
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin.weight', sh, dat);
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'bias', false);
		IF sh IS NOT NULL THEN
			PERFORM _ruvector_gnn_expect(ctx, 'bias', sh, ARRAY[out_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'bias', sh, dat);
		END IF;

	ELSIF t = 'sage' THEN
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lin_l.weight', true);
		PERFORM _ruvector_gnn_expect(ctx, 'lin_l.weight', sh, '{out,in}');
		out_d := sh[1];
		in_d := sh[2];
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin_l.weight', sh, dat);
		IF opts ->> 'mode' = 'cat' THEN  -- lin_l reads the aggregates side by side
			IF in_d % jsonb_array_length(opts -> 'aggr') <> 0 THEN
				RAISE EXCEPTION '%: "lin_l.weight" has shape %, expected [out, % * in] (% aggregations, "cat")', ctx,
					_ruvector_gnn_shape_text(sh), jsonb_array_length(opts -> 'aggr'), jsonb_array_length(opts -> 'aggr')
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			in_d := in_d / jsonb_array_length(opts -> 'aggr');
		ELSIF opts ->> 'mode' = 'attn' THEN  -- a Linear(in, C) per aggregation, MultiheadAttention(C, num_heads)
			ch := in_d;  -- C: lin_l reads the attention's output
			FOR j IN 0 .. jsonb_array_length(opts -> 'aggr') - 1 LOOP
				wkey := format('aggr_module.lin_heads.lins.%s.weight', j);
				SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, wkey, true);
				IF j = 0 THEN
					PERFORM _ruvector_gnn_expect(ctx, wkey, sh, ARRAY[ch::text, 'in']);
					in_d := sh[2];
				END IF;
				PERFORM _ruvector_gnn_expect(ctx, wkey, sh, ARRAY[ch::text, in_d::text]);
				INSERT INTO ruvector_gnn_model_params VALUES (m, li, wkey, sh, dat);
				wkey := format('aggr_module.lin_heads.lins.%s.bias', j);
				SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, wkey, false);
				IF sh IS NOT NULL THEN
					PERFORM _ruvector_gnn_expect(ctx, wkey, sh, ARRAY[ch::text]);
					INSERT INTO ruvector_gnn_model_params VALUES (m, li, wkey, sh, dat);
				END IF;
			END LOOP;
			IF ch % (opts ->> 'num_heads')::integer <> 0 THEN
				RAISE EXCEPTION '%: the attention is % wide, not a multiple of num_heads %', ctx, ch, opts ->> 'num_heads'
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			FOREACH k IN ARRAY '{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias}'::text[] LOOP
				SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'aggr_module.multihead_attn.' || k, k LIKE '%weight');
				CONTINUE WHEN sh IS NULL;
				PERFORM _ruvector_gnn_expect(ctx, 'aggr_module.multihead_attn.' || k, sh, CASE k
					WHEN 'in_proj_weight' THEN ARRAY[(3 * ch)::text, ch::text] WHEN 'in_proj_bias' THEN ARRAY[(3 * ch)::text]
					WHEN 'out_proj.weight' THEN ARRAY[ch::text, ch::text] ELSE ARRAY[ch::text] END);
				INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'aggr_module.multihead_attn.' || k, sh, dat);
			END LOOP;
		END IF;
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lin_l.bias', false);
		IF sh IS NOT NULL THEN
			PERFORM _ruvector_gnn_expect(ctx, 'lin_l.bias', sh, ARRAY[out_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin_l.bias', sh, dat);
		END IF;
		IF (opts ->> 'root_weight')::boolean THEN
			SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lin_r.weight', true);
			PERFORM _ruvector_gnn_expect(ctx, 'lin_r.weight', sh, ARRAY[out_d::text, in_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin_r.weight', sh, dat);
		END IF;
		IF (opts ->> 'project')::boolean THEN  -- Linear(in, in) + ReLU on the neighbours
			SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lin.weight', true);
			PERFORM _ruvector_gnn_expect(ctx, 'lin.weight', sh, ARRAY[in_d::text, in_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin.weight', sh, dat);
			SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lin.bias', false);
			IF sh IS NOT NULL THEN
				PERFORM _ruvector_gnn_expect(ctx, 'lin.bias', sh, ARRAY[in_d::text]);
				INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin.bias', sh, dat);
			END IF;
		END IF;
		IF opts ->> 'aggr' = 'lstm' THEN  -- LSTMAggregation(in, in)
			PERFORM _ruvector_gnn_import_lstm(m, li, ctx, sd, 'aggr_module.lstm.', in_d, in_d);
		END IF;

	ELSIF t IN ('global_add_pool', 'global_mean_pool', 'global_max_pool') THEN
		-- No parameters: the width is the previous layer's.
		IF p_prev_out IS NULL THEN
			RAISE EXCEPTION '%: a global pool cannot be the first layer', ctx USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'It has no parameters to give its width.',
				HINT = 'Put at least one graph convolution before it.';
		END IF;
		in_d := p_prev_out;
		out_d := p_prev_out;

	ELSIF t = 'attentional_aggregation' THEN
		SELECT * INTO mlp_steps, in_d, gate_w FROM _ruvector_gnn_import_mlp(m, li, ctx, sd, 'gate_nn', 'gate_nn',
			p_spec -> 'options' -> 'gate_nn');
		opts := opts || jsonb_build_object('gate_nn', mlp_steps);
		out_d := in_d;
		IF EXISTS (SELECT 1 FROM jsonb_object_keys(sd) x WHERE x ~ '^nn\.') OR (p_spec -> 'options') ? 'nn' THEN
			SELECT * INTO mlp_steps, cur, out_d FROM _ruvector_gnn_import_mlp(m, li, ctx, sd, 'nn', 'nn',
				p_spec -> 'options' -> 'nn');
			IF cur <> in_d THEN
				RAISE EXCEPTION '%: nn takes % features, gate_nn %', ctx, cur, in_d USING ERRCODE = 'invalid_parameter_value',
					HINT = 'Both read the node rows the readout gets.';
			END IF;
			opts := opts || jsonb_build_object('nn', mlp_steps);
		ELSE
			opts := opts || '{"nn": null}';
		END IF;
		IF gate_w <> 1 AND gate_w <> out_d THEN
			RAISE EXCEPTION '%: gate_nn gives % columns, expected 1 or %', ctx, gate_w, out_d
				USING ERRCODE = 'invalid_parameter_value', HINT = 'One gate per node, or one per output channel.';
		END IF;

	ELSIF t = 'set2set' THEN  -- Set2Set(in, processing_steps): LSTM(2 in, in), output 2 in
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'lstm.weight_hh_l0', true);
		PERFORM _ruvector_gnn_expect(ctx, 'lstm.weight_hh_l0', sh, '{4 * in,in}');
		in_d := sh[2];
		PERFORM _ruvector_gnn_expect(ctx, 'lstm.weight_hh_l0', sh, ARRAY[(4 * in_d)::text, in_d::text]);
		PERFORM _ruvector_gnn_import_lstm(m, li, ctx, sd, 'lstm.', 2 * in_d, in_d);
		out_d := 2 * in_d;

	ELSIF t = 'ruvector' THEN  -- q, k, v: Linear(d, heads * C); out: Linear(d + heads * C, d)
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'q.weight', true);
		PERFORM _ruvector_gnn_expect(ctx, 'q.weight', sh, '{heads * C,d}');
		in_d := sh[2];
		ch := sh[1];
		heads := (opts ->> 'heads')::integer;
		IF ch % heads <> 0 THEN
			RAISE EXCEPTION '%: "q.weight" has % rows, not a multiple of heads %', ctx, ch, heads
				USING ERRCODE = 'invalid_parameter_value', HINT = 'q, k and v give heads * C columns, C per head.';
		END IF;
		FOREACH k IN ARRAY '{q,k,v}'::text[] LOOP
			SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, k || '.weight', true);
			PERFORM _ruvector_gnn_expect(ctx, k || '.weight', sh, ARRAY[ch::text, in_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, k || '.weight', sh, dat);
			SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, k || '.bias', false);
			IF sh IS NOT NULL THEN
				PERFORM _ruvector_gnn_expect(ctx, k || '.bias', sh, ARRAY[ch::text]);
				INSERT INTO ruvector_gnn_model_params VALUES (m, li, k || '.bias', sh, dat);
			END IF;
		END LOOP;
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'out.weight', true);
		PERFORM _ruvector_gnn_expect(ctx, 'out.weight', sh, ARRAY[in_d::text, (in_d + ch)::text]);
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'out.weight', sh, dat);
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'out.bias', false);
		IF sh IS NOT NULL THEN
			PERFORM _ruvector_gnn_expect(ctx, 'out.bias', sh, ARRAY[in_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'out.bias', sh, dat);
		END IF;
		out_d := in_d;

	ELSIF t = 'linear' THEN  -- torch.nn.Linear
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'weight', true);
		PERFORM _ruvector_gnn_expect(ctx, 'weight', sh, '{out,in}');
		out_d := sh[1];
		in_d := sh[2];
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'weight', sh, dat);
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'bias', false);
		IF sh IS NOT NULL THEN
			PERFORM _ruvector_gnn_expect(ctx, 'bias', sh, ARRAY[out_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'bias', sh, dat);
		END IF;

	ELSIF t = 'gin' THEN
		SELECT * INTO mlp_steps, in_d, out_d FROM _ruvector_gnn_import_mlp(m, li, ctx, sd, 'nn', 'mlp', p_spec -> 'options' -> 'mlp');
		opts := opts || jsonb_build_object('mlp', mlp_steps);
		-- eps: a parameter (train_eps=True) or a buffer in PyG; stored as an option.
		IF sd ? 'eps' THEN
			SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, 'eps', true);
			IF cardinality(sh) > 0 THEN
				PERFORM _ruvector_gnn_expect(ctx, 'eps', sh, '{1}');
			END IF;
			eps := dat[1];
			IF (p_spec -> 'options') ? 'eps' AND (opts ->> 'eps')::real <> eps THEN
				RAISE EXCEPTION '%: option "eps" (%) does not match the state_dict''s "eps" (%)', ctx, opts -> 'eps', eps
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			opts := opts || jsonb_build_object('eps', to_jsonb(eps));
		END IF;

	ELSE  -- gat
		IF sd ? 'lin.weight' AND (sd ? 'lin_src.weight' OR sd ? 'lin_dst.weight') THEN
			RAISE EXCEPTION '%: "lin.weight" and "%" given together', ctx,
				CASE WHEN sd ? 'lin_src.weight' THEN 'lin_src.weight' ELSE 'lin_dst.weight' END
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF sd ? 'lin_dst.weight' AND NOT sd ? 'lin_src.weight' THEN
			RAISE EXCEPTION '%: "lin_dst.weight" given without "lin_src.weight"', ctx USING ERRCODE = 'invalid_parameter_value';
		END IF;
		wkey := CASE WHEN sd ? 'lin_src.weight' THEN 'lin_src.weight' ELSE 'lin.weight' END;
		SELECT * INTO sh, dat FROM _ruvector_gnn_param(ctx, sd, wkey, true);
		PERFORM _ruvector_gnn_expect(ctx, wkey, sh, '{heads * C,in}');
		in_d := sh[2];
		SELECT * INTO sh2, dat2 FROM _ruvector_gnn_param(ctx, sd, 'att_src', true);
		PERFORM _ruvector_gnn_expect(ctx, 'att_src', sh2, '{1,heads,C}');
		-- heads: the option, else what att_src says.
		IF (p_spec -> 'options') ? 'heads' THEN
			heads := (opts ->> 'heads')::integer;
		ELSE
			heads := sh2[2];
			opts := opts || jsonb_build_object('heads', heads);
		END IF;
		IF sh[1] % heads <> 0 THEN
			RAISE EXCEPTION '%: "%" has shape %, expected [% * C, %] (heads = %)', ctx, wkey, _ruvector_gnn_shape_text(sh),
				heads, in_d, heads USING ERRCODE = 'invalid_parameter_value';
		END IF;
		ch := sh[1] / heads;
		PERFORM _ruvector_gnn_expect(ctx, 'att_src', sh2, ARRAY['1', heads::text, ch::text]);
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'lin.weight', sh, dat), (m, li, 'att_src', sh2, dat2);
		IF wkey = 'lin_src.weight' AND sd ? 'lin_dst.weight' THEN
			SELECT * INTO sh2, dat2 FROM _ruvector_gnn_param(ctx, sd, 'lin_dst.weight', true);
			IF sh2 IS DISTINCT FROM sh OR dat2 IS DISTINCT FROM dat THEN
				RAISE EXCEPTION '%: "lin_dst.weight" differs from "lin_src.weight"', ctx USING ERRCODE = 'invalid_parameter_value',
					HINT = 'Only GATConv with one transform for sources and targets (integer in_channels) is supported.';
			END IF;
		END IF;
		SELECT * INTO sh2, dat2 FROM _ruvector_gnn_param(ctx, sd, 'att_dst', true);
		PERFORM _ruvector_gnn_expect(ctx, 'att_dst', sh2, ARRAY['1', heads::text, ch::text]);
		INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'att_dst', sh2, dat2);
		out_d := CASE WHEN (opts ->> 'concat')::boolean THEN heads * ch ELSE ch END;
		SELECT * INTO sh2, dat2 FROM _ruvector_gnn_param(ctx, sd, 'bias', false);
		IF sh2 IS NOT NULL THEN
			PERFORM _ruvector_gnn_expect(ctx, 'bias', sh2, ARRAY[out_d::text]);
			INSERT INTO ruvector_gnn_model_params VALUES (m, li, 'bias', sh2, dat2);
		END IF;
	END IF;

	IF p_prev_out IS NOT NULL AND in_d <> p_prev_out THEN
		RAISE EXCEPTION '%: input dimension % does not match the previous layer''s output %', ctx, in_d, p_prev_out
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE ruvector_gnn_model_layers l SET options = opts, in_dim = in_d, out_dim = out_d
		WHERE l.model = m AND l.layer = li;
	RETURN out_d;
END $$;
COMMENT ON FUNCTION _ruvector_gnn_import_layer(text, integer, jsonb, integer) IS 'internal to the GNN model catalog';

-- ---- The model functions ----------------------------------------------------------------------

CREATE FUNCTION ruvector_gnn_model_import(name text, spec jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
	m text := $1;
	s jsonb := $2;
	act text := 'relu';
	k text;
	prev integer;
	li integer;
BEGIN
	IF m IS NULL OR m = '' THEN
		RAISE EXCEPTION 'gnn model name must not be null or empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF s IS NULL OR jsonb_typeof(s) <> 'object' THEN
		RAISE EXCEPTION 'gnn model spec must be a JSON object with "layers" and optionally "activation"'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k IN SELECT x FROM jsonb_object_keys(s) x ORDER BY x LOOP
		IF NOT k IN ('activation', 'layers') THEN
			RAISE EXCEPTION 'unknown top-level key "%" in the gnn model spec', k USING ERRCODE = 'invalid_parameter_value',
				HINT = 'A model spec has "activation" and "layers".';
		END IF;
	END LOOP;
	IF s ? 'activation' THEN
		IF jsonb_typeof(s -> 'activation') <> 'string' OR NOT (s ->> 'activation') IN ('relu', 'none') THEN
			RAISE EXCEPTION '"activation" must be "relu" or "none", got %', s -> 'activation'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		act := s ->> 'activation';
	END IF;
	IF NOT (CASE WHEN jsonb_typeof(s -> 'layers') = 'array' THEN jsonb_array_length(s -> 'layers') > 0 ELSE false END) THEN
		RAISE EXCEPTION '"layers" must be a non-empty array' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM _ruvector_gnn_model_insert(m, act);
	FOR i IN 0 .. jsonb_array_length(s -> 'layers') - 1 LOOP
		prev := _ruvector_gnn_import_layer(m, i, s -> 'layers' -> i, prev);
	END LOOP;
	-- The RuVector layer is a model of its own (ruvector_differentiable_search runs it on a query).
	IF jsonb_array_length(s -> 'layers') > 1 AND EXISTS (SELECT 1 FROM ruvector_gnn_model_layers l
			WHERE l.model = m AND l.type = 'ruvector') THEN
		RAISE EXCEPTION 'a ruvector layer must be the only layer of its model' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Import it as a model of its own and give it to ruvector_differentiable_search.';
	END IF;
	-- A readout turns node rows into graph rows: only linear layers may follow it.
	SELECT l.layer, l.type INTO li, k FROM ruvector_gnn_model_layers l
		WHERE l.model = m AND l.type NOT IN ('linear') AND l.layer > (SELECT min(r.layer) FROM ruvector_gnn_model_layers r
			WHERE r.model = m AND r.type IN ('global_add_pool', 'global_mean_pool', 'global_max_pool',
				'attentional_aggregation', 'set2set'))
		ORDER BY l.layer LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'layer % (%): only linear layers may follow a readout', li, k USING ERRCODE = 'invalid_parameter_value',
			HINT = 'A model is graph convolutions, then at most one readout, then linear layers.';
	END IF;
END $$;
COMMENT ON FUNCTION ruvector_gnn_model_import(text, jsonb) IS
	'store a GNN model given as {"activation", "layers": [{"type", "options", "state_dict"}]} (PyG state_dicts)';

CREATE FUNCTION ruvector_gnn_model_export(name text) RETURNS jsonb
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, @extschema@, pg_temp
	SET extra_float_digits = 1
AS $$
DECLARE
	m text := $1;
	result jsonb;
BEGIN
	SELECT jsonb_build_object('activation', c.activation, 'layers', coalesce((
		SELECT jsonb_agg(jsonb_build_object('type', l.type, 'options', l.options, 'state_dict', coalesce((
				SELECT jsonb_object_agg(p.name, ruvector_gnn_tensor_to_jsonb(p.shape, p.data))
				FROM ruvector_gnn_model_params p WHERE p.model = l.model AND p.layer = l.layer), '{}'::jsonb))
			ORDER BY l.layer)
		FROM ruvector_gnn_model_layers l WHERE l.model = c.name), '[]'::jsonb))
	INTO result
	FROM ruvector_gnn_model_catalog c WHERE c.name = m;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'gnn model "%" does not exist', m USING ERRCODE = 'undefined_object';
	END IF;
	RETURN result;
END $$;
COMMENT ON FUNCTION ruvector_gnn_model_export(text) IS
	'a stored GNN model in the import format (nested arrays, normalised options)';

CREATE FUNCTION ruvector_gnn_model_create(name text, layer_type text, dims integer[], options jsonb DEFAULT '{}',
	seed integer DEFAULT 42) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
	SET extra_float_digits = 1
AS $$
DECLARE
	m text := $1;
	t text := $2;
	d integer[] := $3;
	o jsonb := coalesce($4, '{}');
	ctx text;
	opts jsonb;
	in_d integer;
	out_d integer;
	base bigint;
	heads integer;
	ch integer;
BEGIN
	IF t IS NULL OR NOT t IN ('gcn', 'sage', 'gin', 'gat') THEN
		RAISE EXCEPTION 'unknown layer type "%"', t USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Layer types: gcn (GCNConv), sage (SAGEConv), gin (GINConv), gat (GATConv).';
	END IF;
	IF d IS NULL OR array_ndims(d) <> 1 OR cardinality(d) < 2 THEN
		RAISE EXCEPTION 'dims must list the input width and each layer''s output width, e.g. ARRAY[16, 32, 8], got %', d
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	d := d[array_lower(d, 1):array_upper(d, 1)];  -- 1-based
	IF array_position(d, NULL) IS NOT NULL OR EXISTS (SELECT 1 FROM unnest(d) x WHERE x < 1) THEN
		RAISE EXCEPTION 'dims must be positive, got %', d USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF $5 IS NULL THEN
		RAISE EXCEPTION 'seed must not be null' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM _ruvector_gnn_model_insert(m, 'relu');
	FOR li IN 0 .. cardinality(d) - 2 LOOP
		ctx := format('layer %s (%s)', li, t);
		opts := _ruvector_gnn_options(ctx, t, o);
		in_d := d[li + 1];
		out_d := d[li + 2];
		-- Parameter k of layer li is drawn with seed * 2^20 + 16 * li + k.
		base := $5::bigint * 1048576 + 16 * li;
		IF t = 'gin' THEN
			IF opts ? 'mlp' AND opts -> 'mlp' <> '["linear", "relu", "linear"]' THEN
				RAISE EXCEPTION '%: ruvector_gnn_model_create builds a Linear-ReLU-Linear MLP; option "mlp" must be ["linear", "relu", "linear"] or absent',
					ctx USING ERRCODE = 'invalid_parameter_value';
			END IF;
			opts := opts || '{"mlp": ["linear", "relu", "linear"]}';
		END IF;
		INSERT INTO ruvector_gnn_model_layers (model, layer, type, options, in_dim, out_dim) VALUES (m, li, t, opts, in_d, out_d);
		IF t = 'gcn' THEN
			INSERT INTO ruvector_gnn_model_params VALUES
				(m, li, 'lin.weight', ARRAY[out_d, in_d], ruvector_gnn_glorot(out_d, in_d, base)),
				(m, li, 'bias', ARRAY[out_d], array_fill(0::real, ARRAY[out_d]));
		ELSIF t = 'sage' THEN
			IF jsonb_typeof(opts -> 'aggr') = 'array' THEN
				RAISE EXCEPTION '%: ruvector_gnn_model_create does not build MultiAggregation layers (a list in "aggr")', ctx
					USING ERRCODE = 'invalid_parameter_value', HINT = 'Import one with ruvector_gnn_model_import().';
			END IF;
			INSERT INTO ruvector_gnn_model_params VALUES
				(m, li, 'lin_l.weight', ARRAY[out_d, in_d], ruvector_gnn_glorot(out_d, in_d, base)),
				(m, li, 'lin_l.bias', ARRAY[out_d], array_fill(0::real, ARRAY[out_d]));
			IF (opts ->> 'root_weight')::boolean THEN
				INSERT INTO ruvector_gnn_model_params VALUES
					(m, li, 'lin_r.weight', ARRAY[out_d, in_d], ruvector_gnn_glorot(out_d, in_d, base + 1));
			END IF;
			IF (opts ->> 'project')::boolean THEN
				INSERT INTO ruvector_gnn_model_params VALUES
					(m, li, 'lin.weight', ARRAY[in_d, in_d], ruvector_gnn_glorot(in_d, in_d, base + 2)),
					(m, li, 'lin.bias', ARRAY[in_d], array_fill(0::real, ARRAY[in_d]));
			END IF;
			IF opts ->> 'aggr' = 'lstm' THEN
				INSERT INTO ruvector_gnn_model_params VALUES
					(m, li, 'aggr_module.lstm.weight_ih_l0', ARRAY[4 * in_d, in_d], ruvector_gnn_glorot(4 * in_d, in_d, base + 3)),
					(m, li, 'aggr_module.lstm.weight_hh_l0', ARRAY[4 * in_d, in_d], ruvector_gnn_glorot(4 * in_d, in_d, base + 4)),
					(m, li, 'aggr_module.lstm.bias_ih_l0', ARRAY[4 * in_d], array_fill(0::real, ARRAY[4 * in_d])),
					(m, li, 'aggr_module.lstm.bias_hh_l0', ARRAY[4 * in_d], array_fill(0::real, ARRAY[4 * in_d]));
			END IF;
		ELSIF t = 'gin' THEN
			INSERT INTO ruvector_gnn_model_params VALUES
				(m, li, 'nn.0.weight', ARRAY[out_d, in_d], ruvector_gnn_glorot(out_d, in_d, base)),
				(m, li, 'nn.0.bias', ARRAY[out_d], array_fill(0::real, ARRAY[out_d])),
				(m, li, 'nn.2.weight', ARRAY[out_d, out_d], ruvector_gnn_glorot(out_d, out_d, base + 1)),
				(m, li, 'nn.2.bias', ARRAY[out_d], array_fill(0::real, ARRAY[out_d]));
		ELSE  -- gat
			heads := (opts ->> 'heads')::integer;
			IF (opts ->> 'concat')::boolean THEN
				IF out_d % heads <> 0 THEN
					RAISE EXCEPTION '%: layer width % is not divisible by heads %', ctx, out_d, heads
						USING ERRCODE = 'invalid_parameter_value',
						HINT = 'With concat = true a layer is heads * C wide.';
				END IF;
				ch := out_d / heads;
			ELSE
				ch := out_d;
			END IF;
			INSERT INTO ruvector_gnn_model_params VALUES
				(m, li, 'lin.weight', ARRAY[heads * ch, in_d], ruvector_gnn_glorot(heads * ch, in_d, base)),
				(m, li, 'att_src', ARRAY[1, heads, ch], ruvector_gnn_glorot(heads, ch, base + 1)),
				(m, li, 'att_dst', ARRAY[1, heads, ch], ruvector_gnn_glorot(heads, ch, base + 2)),
				(m, li, 'bias', ARRAY[out_d], array_fill(0::real, ARRAY[out_d]));
		END IF;
	END LOOP;
END $$;
COMMENT ON FUNCTION ruvector_gnn_model_create(text, text, integer[], jsonb, integer) IS
	'a GNN model of one layer type with Glorot weights (deterministic in seed) and zero biases; dims = [in, hidden..., out]';

CREATE FUNCTION ruvector_gnn_model_drop(name text) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
	m text := $1;
BEGIN
	DELETE FROM ruvector_gnn_model_catalog c WHERE c.name = m;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'gnn model "%" does not exist', m USING ERRCODE = 'undefined_object';
	END IF;
END $$;
COMMENT ON FUNCTION ruvector_gnn_model_drop(text) IS 'delete a GNN model with its layers and parameters';

-- Graph classification by a graph id column of the node table (docs/gnn-models.md); the two-argument
-- ruvector_gnn_classify(graph, model) in graph.sql classifies every node, or the whole graph when
-- the model ends with a readout. graph_column is text, not name: with name, a call with three
-- literals would be ambiguous against ruvector_gnn_classify(node_id bigint, graph text, model text).
CREATE FUNCTION ruvector_gnn_classify(graph text, model text, graph_column text)
	RETURNS TABLE (graph_id bigint, class integer, score double precision, logits vector)
	AS 'MODULE_PATHNAME', 'ruvector_gnn_classify_graphs' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION ruvector_gnn_classify(text, text, text) IS
	'run a GNN model that ends with a readout over a named graph, one row per value of graph_column: argmax class, its softmax probability, the outputs';

-- end of model catalog
