#!/usr/bin/env python3
"""Property test: random vectors, with the extremes every finite float32 allows (±3.4e38, 2e38,
subnormals, zero and -0 vectors, mixed signs), through every function that takes or returns vectors;
and halfvecs with the half extremes (±65504, subnormal halves, -0), plus the casts that must refuse
values beyond the half range.

sparsevec (each row cast to it) and bit (each row quantized) get the same checks.

Checked for every function: the server never crashes; a vector it returns is finite and its text
reads back to the same bits; an error is a clean one with the SQLSTATE the operation may raise
(22003 for an overflow, ...), never XX000; and the result is right (exact for the element-wise
operations, close to a double-precision reference for the others, index order = seq-scan order).
One TAP line per function or property. Python 3 standard library and psql only.

Usage: property.py [--store] (connection from the PG* environment; RUVECTOR_PROPERTY_SEED replays a
run). --store instead runs the store-and-read-back test (077_store_readback.sh).
"""
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time

SEED = int(os.environ.get('RUVECTOR_PROPERTY_SEED', '15'))
DB = os.environ.get('RUVECTOR_PROPERTY_DB', 'ruvector_property_test')
DIM = 4
FMAX = struct.unpack('f', struct.pack('I', 0x7f7fffff))[0]  # 3.4028234663852886e38

TAP_N = 0
TAP_FAILED = 0


def tap(good, what, diag=()):
    global TAP_N, TAP_FAILED
    TAP_N += 1
    print(('ok' if good else 'not ok') + f' {TAP_N} - {what}', flush=True)
    if not good:
        TAP_FAILED += 1
        diag = [line for d in diag for line in str(d).splitlines()]
        for d in diag[:8]:
            print(f'#   {d}', flush=True)
        if len(diag) > 8:
            print(f'#   ... and {len(diag) - 8} more', flush=True)


def f32(x):
    """x rounded to float32, or None when that overflows."""
    try:
        return struct.unpack('f', struct.pack('f', x))[0]
    except OverflowError:
        return None


def bits(x):
    return struct.pack('>f', x)


def lit(v):
    return '[' + ','.join(repr(x) for x in v) + ']'


def finite(x):
    return not (math.isnan(x) or math.isinf(x))


# ---------------------------------------------------------------------------------------------- psql

class Crash(Exception):
    pass


CRASH_MARKERS = ('server closed the connection unexpectedly', 'connection to server was lost',
                 'terminating connection because of crash', 'the database system is in recovery mode',
                 'the database system is not yet accepting connections')


def psql(sql, db=None, check=False, timeout=120):
    """(ok, rows as lists of fields, sqlstate, message). Raises Crash when the backend died."""
    env = dict(os.environ, PGOPTIONS='-c statement_timeout=60s -c client_min_messages=warning')
    try:
        r = subprocess.run(['psql', '-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
                            '-d', db or DB, '-f', '-'], input=sql, capture_output=True, text=True, timeout=timeout,
                           env=env)
    except subprocess.TimeoutExpired:
        return False, [], 'timeout', f'psql did not return within {timeout} s'
    if any(m in r.stderr for m in CRASH_MARKERS):
        raise Crash(r.stderr.strip())
    if r.returncode != 0:
        m = re.search(r'ERROR:  ([0-9A-Z]{5}): (.*)', r.stderr)
        state, msg = (m.group(1), m.group(2)) if m else ('psql', r.stderr.strip())
        if check:
            raise RuntimeError(f'{state}: {msg}')
        return False, [], state, msg
    rows = [line.split('\t') for line in r.stdout.split('\n') if line != '']
    return True, rows, None, None


def cluster_id():
    """Changes when the server restarts after a crash (all its processes start again)."""
    for _ in range(2):
        try:
            ok, rows, _, _ = psql("SELECT backend_start FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
                                  db='postgres')
            return rows[0][0] if ok and rows else None
        except Crash:
            wait_for_server()
    return None


def wait_for_server(seconds=180):
    for _ in range(seconds * 2):
        try:
            ok, rows, _, _ = psql('SELECT 1', db='postgres', timeout=10)
            if ok:
                return True
        except Crash:
            pass
        time.sleep(0.5)
    return False


START = None
CRASHES = []


def check(what, fn):
    """Run one property; a crash of the server is reported as this property's failure."""
    global START
    t0 = time.time()
    try:
        good, diag = fn()
    except Crash as e:
        good, diag = False, ['the server crashed (backend died): ' + str(e).splitlines()[0]]
        CRASHES.append(what)
        if not wait_for_server():
            tap(False, what, diag + ['the server did not come back'])
            print('Bail out! the server did not recover from a crash')
            sys.exit(1)
        START = cluster_id()
    except RuntimeError as e:
        good, diag = False, ['set-up failed: ' + str(e)]
    tap(good, what, diag)
    if time.time() - t0 > 1.5:
        print(f'# ({time.time() - t0:.1f} s)', flush=True)


# ------------------------------------------------------------------------------------------ the data

rng = random.Random(SEED)
SPECIALS = [FMAX, -FMAX, f32(3e38), f32(-3e38), f32(2e38), f32(-2e38), f32(1e-45), f32(-1e-45), f32(1e-40),
            f32(-1e-40), f32(1.17549435e-38), 0.0, -0.0, 1.0, -1.0]


def component():
    if rng.random() < 0.35:
        return rng.choice(SPECIALS)
    return f32(rng.choice((-1, 1)) * rng.uniform(1, 10) * 10.0 ** rng.randint(-6, 6))


FIXED = [
    [0.0] * DIM, [-0.0] * DIM, [FMAX] * DIM, [-FMAX] * DIM, [FMAX, -FMAX, FMAX, -FMAX],
    [f32(1e-45), f32(1e-40), f32(-1e-45), f32(1e-40)], [f32(3e38), 0.0, 0.0, 0.0],
    [f32(-3e38), f32(3e38), f32(-3e38), 0.0], [1.0, 2.0, 3.0, 4.0], [f32(1e-40), FMAX, -1.0, -0.0],
    [f32(1e20), 1.0, 1.0, 0.0], [f32(2e38), f32(2e38), f32(-2e38), f32(1e-45)],
]
VECS = FIXED + [[component() for _ in range(DIM)] for _ in range(20)]
IDS = list(range(1, len(VECS) + 1))
V = dict(zip(IDS, VECS))
N = len(VECS)


def parse_vector(text):
    """The floats of a vector's text output, or None when it is not a vector literal of finite numbers."""
    m = re.fullmatch(r'\[(.*)\]', text.strip())
    if not m:
        return None
    try:
        xs = [float(t) for t in m.group(1).split(',')] if m.group(1) else []
    except ValueError:
        return None
    if any(not finite(x) for x in xs):
        return None
    return xs


def vec_outcome(v_text):
    """A problem with a returned vector (as prop_show gives it), or None."""
    if v_text.startswith('NONFINITE'):
        return 'non-finite vector ' + v_text[len('NONFINITE'):]
    if v_text.startswith('ROUNDTRIP'):
        return 'text output does not read back to the same vector: ' + v_text[len('ROUNDTRIP'):]
    if parse_vector(v_text) is None:
        return 'unparsable vector text ' + v_text
    return None


# The text of a returned value of a vector-like type, as SQL (used for vector and halfvec).
SHOW_FUNCTION = r"""
-- The text of a returned vector; never prints a non-finite one (that would be the bug under test,
-- and printing it may crash), and says when the text does not read back to the same bits.
CREATE OR REPLACE FUNCTION {name}(v {type}) RETURNS text LANGUAGE plpgsql AS $$
DECLARE a real[]; x real;
BEGIN
	IF v IS NULL THEN RETURN 'NULL'; END IF;
	a := v::real[];
	FOREACH x IN ARRAY a LOOP
		IF x IN ('NaN'::real, 'Infinity'::real, '-Infinity'::real) THEN
			RETURN 'NONFINITE' || array_to_string(a, ',');
		END IF;
	END LOOP;
	IF {type}_send(v::text::{type}) <> {type}_send(v) THEN RETURN 'ROUNDTRIP' || v::text; END IF;
	RETURN v::text;
END $$;
"""

SETUP = r"""
DROP TABLE IF EXISTS pv CASCADE;
CREATE TABLE pv (id bigint PRIMARY KEY, v vector(4));
""" + SHOW_FUNCTION.format(name='prop_show', type='vector') + r"""CREATE OR REPLACE FUNCTION prop_show_real(a real[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE x real;
BEGIN
	IF a IS NULL THEN RETURN 'NULL'; END IF;
	FOREACH x IN ARRAY a LOOP
		IF x IN ('NaN'::real, 'Infinity'::real, '-Infinity'::real) THEN RETURN 'NONFINITE' || a::text; END IF;
	END LOOP;
	RETURN '[' || array_to_string(a, ',') || ']';
END $$;
-- expr over $1 (and $2) for every row (or pair of rows) of pv: the SQLSTATE and message of an
-- error, else the result's text (through prop_show for vectors).
CREATE OR REPLACE FUNCTION prop_eval(expr text, pairs boolean, tbl text DEFAULT 'pv', typ text DEFAULT 'vector')
RETURNS TABLE (a bigint, b bigint, state text, result text) LANGUAGE plpgsql AS $$
DECLARE r record; msg text; ia bigint[]; ib bigint[]; res text[];
BEGIN
	-- All rows in one query when none fails; else one at a time, each in its own subtransaction.
	BEGIN
		EXECUTE format('SELECT array_agg(x.id ORDER BY x.id, y.id), array_agg(y.id ORDER BY x.id, y.id), '
		               'array_agg((%s)::text ORDER BY x.id, y.id) FROM %I x, %s',
		               regexp_replace(regexp_replace(expr, '\$1(?![0-9])', 'x.v', 'g'), '\$2(?![0-9])', 'y.v', 'g'), tbl,
		               CASE WHEN pairs THEN format('%I y', tbl) ELSE format('(SELECT NULL::bigint AS id, NULL::%s AS v) y', typ) END)
			INTO ia, ib, res;
		RETURN QUERY SELECT u.a, u.b, '', u.r FROM unnest(ia, ib, res) u(a, b, r);
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
	FOR r IN EXECUTE CASE WHEN pairs THEN format('SELECT x.id AS ia, x.v AS va, y.id AS ib, y.v AS vb FROM %I x, %I y ORDER BY 1, 3', tbl, tbl)
	                      ELSE format('SELECT id AS ia, v AS va, NULL::bigint AS ib, NULL::%s AS vb FROM %I ORDER BY 1', typ, tbl) END LOOP
		a := r.ia; b := r.ib; state := ''; result := NULL;
		BEGIN
			EXECUTE 'SELECT (' || expr || ')::text' USING r.va, r.vb INTO result;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			result := msg;
		END;
		RETURN NEXT;
	END LOOP;
END $$;
"""


def load():
    rows = ',\n'.join(f"({i}, '{lit(V[i])}')" for i in IDS)
    psql(SETUP + f'INSERT INTO pv VALUES\n{rows};\n', check=True)


def show(i, vals=None):
    return f'#{i} {lit((vals or V)[i])}'


def eval_rows(expr, pairs, tbl='pv', typ='vector'):
    ok, rows, st, msg = psql(f'SELECT a, coalesce(b::text, \'\'), state, result FROM prop_eval($q${expr}$q$, {str(pairs).lower()}, '
                             f"'{tbl}', '{typ}')")
    if not ok:
        raise RuntimeError(f'{st}: {msg}')
    return [(int(a), int(b) if b else None, s, r) for a, b, s, r in rows]


def per_row(expr, pairs, judge, tbl='pv', typ='vector', vals=None):
    """Evaluate expr for every row (pair) of tbl (whose values are vals, default V); judge(a, b, state,
    result) returns a problem or None."""
    def run():
        problems = []
        n = len(vals or V)
        rows = eval_rows(expr, pairs, tbl, typ)
        if len(rows) != (n * n if pairs else n):
            return False, [f'{len(rows)} results for {n * n if pairs else n} inputs']
        for a, b, s, r in rows:
            p = judge(a, b, s, r)
            if p:
                problems.append(f'{show(a, vals)}' + (f' and {show(b, vals)}' if b else '') + f': {p}')
        return not problems, problems
    return run


def error_problem(state, msg, allowed):
    if state in allowed:
        return None
    return f'error {state}: {msg}' + ('' if allowed else ' (no error is allowed: the inputs are valid)')


# ------------------------------------------------------------------------------------------ judges

def elementwise(op):
    """+, -, *: exactly float32(a op b) per element, or 22003 when an element overflows (or, for *,
    underflows to zero from non-zero operands), as pgvector does."""
    def judge(a, b, s, r):
        want, overflow = [], False
        for x, y in zip(V[a], V[b]):
            z = f32(x + y if op == '+' else x - y if op == '-' else x * y)
            if z is None or math.isinf(z) or (op == '*' and z == 0 and x != 0 and y != 0):
                overflow = True
            want.append(z)
        if s:
            if overflow and s == '22003':
                return None
            return f'error {s}: {r}' + (' (expected 22003)' if overflow else ' (expected a result)')
        if overflow:
            return f'returned {r}, expected 22003 (value out of range)'
        p = vec_outcome(r)
        if p:
            return p
        got = parse_vector(r)
        if [bits(f32(x)) for x in got] != [bits(x) for x in want]:
            return f'returned {r}, expected {lit(want)}'
        return None
    return judge


def exact_vector(fn, allowed=(), vals=None):
    """A vector result equal to fn(a[, b]) bit for bit."""
    def judge(a, b, s, r):
        W = vals or V
        if s:
            return error_problem(s, r, allowed)
        p = vec_outcome(r)
        if p:
            return p
        want = fn(W[a]) if b is None else fn(W[a], W[b])
        got = parse_vector(r)
        if [bits(f32(x)) for x in got] != [bits(x) for x in want]:
            return f'returned {r}, expected {lit(want)}'
        return None
    return judge


def close_vector(fn, tol):
    """A finite vector within tol (absolute, per element, relative to scale(a)) of fn(a)."""
    def judge(a, b, s, r):
        if s:
            return error_problem(s, r, ())
        p = vec_outcome(r)
        if p:
            return p
        want = fn(V[a])
        got = parse_vector(r)
        if len(got) != len(want) or any(abs(g - w) > tol * max(abs(w), 1e-300) + tol * 1e-38 for g, w in zip(got, want)):
            return f'returned {r}, expected about {lit(want)}'
        return None
    return judge


def ordering(op, vals=None):
    def judge(a, b, s, r):
        if s:
            return error_problem(s, r, ())
        x, y = (vals or V)[a], (vals or V)[b]
        c = (x > y) - (x < y)  # element-wise, -0 = 0, as float comparison does
        if op == 'cmp':
            return None if r == str(c) else f'returned {r}, expected {c}'
        want = {'<': c < 0, '<=': c <= 0, '=': c == 0, '<>': c != 0, '>=': c >= 0, '>': c > 0}[op]
        return None if r == ('true' if want else 'false') else f'returned {r}, expected {want}'
    return judge


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def exact_distance(kind, x, y):
    if kind == 'l2':
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(x, y)))
    if kind == 'l2sq':
        return sum((a - b) ** 2 for a, b in zip(x, y))
    if kind == 'ip':
        return sum(a * b for a, b in zip(x, y))
    if kind == 'l1':
        return sum(abs(a - b) for a, b in zip(x, y))
    nx, ny = norm(x), norm(y)
    if nx == 0 or ny == 0:
        return math.nan
    return 1 - max(-1.0, min(1.0, sum(a * b for a, b in zip(x, y)) / (nx * ny)))


def ordinary(v):
    """Components whose float arithmetic (squares, products, sums of four) stays in the normal range."""
    return all(x == 0 or 1e-15 <= abs(x) <= 1e15 for x in v)


def distance(kind, negate=False, vals=None):
    """A float8 distance: never an error; close to the double-precision value when the inputs are
    ordinary (float accumulation, as pgvector's, may overflow or underflow on extreme ones); NaN only
    where the exact value is NaN or float accumulation overflows (cosine)."""
    def judge(a, b, s, r):
        V = vals or globals()['V']
        if s:
            return error_problem(s, r, ())
        got = float(r)
        want = exact_distance(kind, V[a], V[b])
        if negate:
            want = -want
        if math.isnan(got) and not math.isnan(want) and ordinary(V[a]) and ordinary(V[b]):
            return f'returned NaN, expected {want!r}'
        if math.isnan(want):
            return None if math.isnan(got) else f'returned {got!r}, expected NaN (zero vector)'
        if ordinary(V[a]) and ordinary(V[b]):
            scale = max(abs(want), sum(abs(p * q) for p, q in zip(V[a], V[b])) if kind in ('ip', 'cosine') else 0,
                        1e-30)
            tol = 1e-5 if kind != 'cosine' else 1e-5 / max(1e-3, min(1.0, abs(want)))
            if not abs(got - want) <= tol * scale + (1e-6 if kind == 'cosine' else 0):
                return f'returned {got!r}, expected about {want!r}'
        return None
    return judge


# ------------------------------------------------------------------------------------------- checks

def check_load():
    ok, rows, st, msg = psql('SELECT id, prop_show(v) FROM pv ORDER BY id')
    if not ok:
        return False, [f'{st}: {msg}']
    problems = []
    for i, t in rows:
        i = int(i)
        p = vec_outcome(t)
        if p:
            problems.append(f'{show(i)}: {p}')
        elif [bits(f32(x)) for x in parse_vector(t)] != [bits(x) for x in V[i]]:
            problems.append(f'{show(i)}: stored as {t}')
    return not problems, problems


def check_array_casts():
    problems = []
    for typ in ('real[]', 'double precision[]', 'numeric[]'):
        vals = ', '.join(f"({i}, '{{{','.join(repr(x) for x in V[i])}}}'::{typ})" for i in IDS)
        ok, rows, st, msg = psql(f'SELECT id, prop_show(a::vector) FROM (VALUES {vals}) t(id, a) ORDER BY id')
        if not ok:
            problems.append(f'{typ} -> vector: error {st}: {msg}')
            continue
        for i, t in rows:
            i = int(i)
            got = parse_vector(t)
            want = [0.0 if x == 0 and typ == 'numeric[]' else x for x in V[i]]  # numeric has no -0
            if got is None or [bits(f32(x)) for x in got] != [bits(x) for x in want]:
                problems.append(f'{typ} -> vector of {show(i)}: {t}')
    ints = [[rng.choice((0, 1, -1, 2147483647, -2147483648, rng.randint(-2**31, 2**31 - 1))) for _ in range(DIM)]
            for _ in range(20)]
    vals = ', '.join(f"({k}, ARRAY[{','.join(map(str, v))}]::integer[])" for k, v in enumerate(ints))
    ok, rows, st, msg = psql(f'SELECT id, prop_show(a::vector) FROM (VALUES {vals}) t(id, a) ORDER BY id')
    if not ok:
        problems.append(f'integer[] -> vector: error {st}: {msg}')
    else:
        for k, t in rows:
            want = [f32(float(x)) for x in ints[int(k)]]
            got = parse_vector(t)
            if got is None or [bits(f32(x)) for x in got] != [bits(x) for x in want]:
                problems.append(f'integer[] {ints[int(k)]} -> {t}, expected {lit(want)}')
    return not problems, problems


def check_to_real():
    def judge(a, b, s, r):
        if s:
            return error_problem(s, r, ())
        want = '{' + ','.join(repr(x) for x in V[a]) + '}'
        got = [float(t) for t in r.strip('{}').split(',')]
        return None if [bits(f32(x)) for x in got] == [bits(x) for x in V[a]] else f'returned {r}, expected {want}'
    return per_row('$1::real[]', False, judge)()


def check_binary():
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        f = os.path.join(d, 'pv.bin')
        ok, rows, st, msg = psql(f"""
DROP TABLE IF EXISTS pv_bin; CREATE TABLE pv_bin (id bigint, v vector(4));
\\copy pv TO '{f}' WITH (FORMAT binary)
\\copy pv_bin FROM '{f}' WITH (FORMAT binary)
SELECT count(*), count(*) FILTER (WHERE vector_send(b.v) = vector_send(p.v)) FROM pv p JOIN pv_bin b USING (id);
""")
    if not ok:
        return False, [f'COPY BINARY round trip: error {st}: {msg}']
    total, same = map(int, rows[-1])
    return total == N and same == N, [f'{same} of {N} rows come back from COPY BINARY with the same bits ({total} read)']


BAD_INPUTS = [('NaN', math.nan), ('Infinity', math.inf), ('-Infinity', -math.inf)]


def check_bad_input():
    """NaN and ±Infinity never get in: text, arrays and binary input refuse them with a 22xxx error,
    and a finite decimal beyond float32 is 22003."""
    problems = []
    literals = [f"'[1,{t},0,0]'::vector" for t, _ in BAD_INPUTS] + ["'[1,1e39,0,0]'::vector", "'[1,-1e39,0,0]'::vector"]
    literals += [f"ARRAY[1,'{t}',0,0]::{a}::vector" for t, _ in BAD_INPUTS for a in ('real[]', 'double precision[]')]
    literals += [f"ARRAY[1,1e39,0,0]::{a}::vector" for a in ('double precision[]', 'numeric[]')]
    for expr in literals:
        ok, rows, st, msg = psql(f'SELECT prop_show({expr})')
        if ok or not st.startswith('22'):
            problems.append(f'{expr}: ' + (f'accepted as {rows[0][0]}' if ok else f'error {st}: {msg}'))
    with tempfile.TemporaryDirectory() as d:
        for t, x in BAD_INPUTS + [('2 (the control: a valid file)', 2.0)]:
            f = os.path.join(d, 'bad.bin')
            value = struct.pack('>hh4f', DIM, 0, 1.0, x, 0.0, 0.0)
            with open(f, 'wb') as out:  # COPY BINARY: signature, flags, header extension, one tuple, trailer
                out.write(b'PGCOPY\n\xff\r\n\0' + struct.pack('>ii', 0, 0) + struct.pack('>hi', 1, len(value)) +
                          value + struct.pack('>h', -1))
            ok, rows, st, msg = psql(f"CREATE TEMP TABLE bin (v vector);\n\\copy bin FROM '{f}' WITH (FORMAT binary)\n"
                                     "SELECT prop_show(v) FROM bin")
            if finite(x):
                if not ok or rows != [['[1,2,0,0]']]:
                    problems.append(f'binary input with {t}: ' + (f'read as {rows}' if ok else f'error {st}: {msg}'))
            elif ok or not st.startswith('22'):
                problems.append(f'binary input with {t}: ' + (f'accepted as {rows}' if ok else f'error {st}: {msg}'))
    return not problems, problems


def check_sparse_binary():
    """sparsevec binary input (COPY BINARY) refuses what its text input refuses: NaN, ±Infinity, zero
    values, unsorted, duplicate and out-of-range indices, bad counts; a valid file is the control."""
    problems = []
    def payload(dim, nnz, unused, idx, vals):
        return struct.pack(f'>iii{len(idx)}i{len(vals)}f', dim, nnz, unused, *idx, *vals)
    cases = [('a valid value (the control)', payload(4, 2, 0, [0, 3], [1.5, -2.0]), '{1:1.5,4:-2}/4')]
    cases += [(f'value {t}', payload(4, 1, 0, [1], [x]), None) for t, x in BAD_INPUTS]
    cases += [('a zero value', payload(4, 1, 0, [1], [0.0]), None),
              ('unsorted indices', payload(4, 2, 0, [2, 1], [1.0, 1.0]), None),
              ('duplicate indices', payload(4, 2, 0, [1, 1], [1.0, 1.0]), None),
              ('index -1', payload(4, 1, 0, [-1], [1.0]), None),
              ('index = dim', payload(4, 1, 0, [4], [1.0]), None),
              ('nnz > dim', payload(1, 2, 0, [0, 1], [1.0, 1.0]), None),
              ('nnz < 0', payload(4, -1, 0, [], []), None),
              ('unused != 0', payload(4, 0, 7, [], []), None),
              ('dim 0', payload(0, 0, 0, [], []), None)]
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        for what, value, want in cases:
            f = os.path.join(d, 'bad.bin')
            with open(f, 'wb') as out:
                out.write(b'PGCOPY\n\xff\r\n\0' + struct.pack('>ii', 0, 0) + struct.pack('>hi', 1, len(value)) +
                          value + struct.pack('>h', -1))
            os.chmod(f, 0o644)
            ok, rows, st, msg = psql(f"CREATE TEMP TABLE bin (v sparsevec);\n\\copy bin FROM '{f}' WITH (FORMAT binary)\n"
                                     "SELECT v::text FROM bin")
            if want is not None:
                if not ok or rows != [[want]]:
                    problems.append(f'binary sparsevec with {what}: ' + (f'read as {rows}' if ok else f'error {st}: {msg}'))
            elif ok or not (st.startswith('22') or st == '54000'):
                problems.append(f'binary sparsevec with {what}: ' + (f'accepted as {rows}' if ok else f'error {st}: {msg}'))
    return not problems, problems


def check_aggregates(kind):
    """avg: the double-precision mean (never an error); sum: close to the double-precision sum, or
    22003 exactly when that sum overflows float32."""
    def run():
        groups = {}
        for i in IDS:
            groups.setdefault(i % 5, []).append(i)
        groups['all'] = IDS
        problems = []
        for g, members in groups.items():
            where = '' if g == 'all' else f'WHERE id % 5 = {g}'
            ok, rows, st, msg = psql(f'SELECT prop_show({kind}(v)) FROM pv {where}')
            exact = [sum(V[i][k] for i in members) for k in range(DIM)]
            if kind == 'avg':
                exact = [x / len(members) for x in exact]
            scale = [sum(abs(V[i][k]) for i in members) / (len(members) if kind == 'avg' else 1) for k in range(DIM)]
            overflow = any(f32(x) is None or math.isinf(f32(x)) for x in exact)
            if not ok:
                if not (kind == 'sum' and st == '22003'):
                    problems.append(f'rows {members}: error {st}: {msg}')
                continue
            if overflow:
                problems.append(f'rows {members}: returned {rows[0][0]}, expected 22003 (the sum overflows)')
                continue
            p = vec_outcome(rows[0][0])
            if p:
                problems.append(f'rows {members}: {p}')
                continue
            got = parse_vector(rows[0][0])
            if any(abs(x - w) > 1e-6 * s + 1e-44 for x, w, s in zip(got, exact, scale)):
                problems.append(f'rows {members}: returned {rows[0][0]}, expected about {lit(exact)}')
        return not problems, problems
    return run


OPS = {'l2': ('<->', 'vector_l2_ops'), 'ip': ('<#>', 'vector_ip_ops'), 'cosine': ('<=>', 'vector_cosine_ops'),
       'l1': ('<+>', 'vector_l1_ops')}
QUERIES = IDS[:12] + IDS[-4:]


def same_order(got, want):
    """Same ids in the same order, rows with equal distances in any order among themselves."""
    if len(got) != len(want):
        return f'{len(got)} rows, expected {len(want)}'
    gd = [d for _, d in got]
    wd = [d for _, d in want]
    if gd != wd:
        for k, (x, y) in enumerate(zip(gd, wd)):
            if x != y:
                return f'row {k + 1}: distance {x} (id {got[k][0]}), expected {y} (id {want[k][0]})'
    groups = {}
    for (gi, d), (wi, _) in zip(got, want):
        groups.setdefault(d, [set(), set()])
        groups[d][0].add(gi)
        groups[d][1].add(wi)
    for d, (g, w) in groups.items():
        if g != w:
            return f'at distance {d}: ids {sorted(g)}, expected {sorted(w)}'
    return None


def index_scan_order(metric, am='ruivfflat', opts='lists = 4', probes=4, split=True, ids=None, name='',
                     src='pv', vals=None, typ='vector'):
    """Build the index over part of the rows (ids, default all) of table src (pv, or ph with
    typ = 'halfvec' and vals = H), insert the rest, compare every query's index-scan order with the
    seq-scan order; REINDEX, compare again."""
    op, opclass = OPS[metric]
    opclass = opclass.replace('vector', typ)
    tbl = f'pidx_{metric}_{am}{name}'
    vals = vals or V
    ids = ids or list(vals)
    queries = ([q for q in QUERIES if q in ids] if vals is V else ids) or ids[:8]

    def query(q):
        return f"SELECT {q}, id, (v {op} '{lit(vals[q])}')::text FROM {tbl} ORDER BY v {op} '{lit(vals[q])}' LIMIT 1000;\n"

    def compare(stage):
        problems = []
        ok1, idx, st1, m1 = psql(f'SET enable_seqscan = off; SET ivfflat.probes = {probes};\n'
                                 f'EXPLAIN (COSTS OFF) {query(queries[0])}' + ''.join(query(q) for q in queries))
        ok2, seq, st2, m2 = psql('SET enable_indexscan = off; SET enable_bitmapscan = off;\n' +
                                 ''.join(query(q) for q in queries))
        if not ok1 or not ok2:
            return [f'{stage}: error {st1 or st2}: {m1 or m2}']
        plan = [r[0] for r in idx if len(r) == 1]
        if am == 'ruivfflat' and not any('Index Scan' in p for p in plan):
            return [f'{stage}: the index is not used: {" / ".join(plan)}']
        for q in queries:
            rows = [(int(r[1]), r[2]) for r in idx if len(r) == 3 and int(r[0]) == q]
            want = [(int(r[1]), r[2]) for r in seq if int(r[0]) == q]
            if metric == 'cosine':  # zero vectors are not indexed (documented for ruivfflat, as pgvector)
                rows = [(i, d) for i, d in rows if any(x != 0 for x in vals[i])]
                want = [(i, d) for i, d in want if any(x != 0 for x in vals[i])]
            p = same_order(rows, want)
            if p:
                problems.append(f'{stage}, query {show(q)}: {p}')
        return problems

    def run():
        half = ids[:len(ids) // 2] if split else ids
        rest = [i for i in ids if i not in half]
        ok, _, st, msg = psql(f'DROP TABLE IF EXISTS {tbl};\n'
                              f'CREATE TABLE {tbl} AS SELECT * FROM {src} WHERE id IN ({",".join(map(str, half))});\n'
                              f'CREATE INDEX {tbl}_idx ON {tbl} USING {am} (v {opclass}) WITH ({opts});')
        if not ok:
            return False, [f'CREATE INDEX over {len(half)} of the vectors: error {st}: {msg}']
        if split:
            ok, _, st, msg = psql(f'INSERT INTO {tbl} SELECT * FROM {src} WHERE id IN ({",".join(map(str, rest))})')
            if not ok:
                return False, [f'INSERT after the build: error {st}: {msg}']
        problems = compare('after build + inserts' if split else 'after build')
        ok, _, st, msg = psql(f'REINDEX INDEX {tbl}_idx')
        if not ok:
            problems.append(f'REINDEX: error {st}: {msg}')
        else:
            problems += compare('after REINDEX')
        return not problems, problems
    return run


def check_kmeans(metric):
    def run():
        ok, rows, st, msg = psql(f"SELECT cluster, size, prop_show(centroid) FROM ruvector_kmeans('pv', 'v', 3, 10, 42, '{metric}') ORDER BY 1")
        if not ok:
            return False, [f'error {st}: {msg}']
        problems = [f'cluster {c}: {vec_outcome(t)}' for c, _, t in rows if vec_outcome(t)]
        total = sum(int(s) for _, s, _ in rows)
        zero = sum(1 for v in VECS if all(x == 0 for x in v))
        if len(rows) != 3:
            problems.append(f'{len(rows)} clusters, expected 3')
        if not (total == N or (metric != 'l2' and total == N - zero)):
            problems.append(f'the sizes add up to {total}, expected {N}' + (f' (or {N - zero} without zero vectors)' if metric != 'l2' else ''))
        return not problems, problems
    return run


def graph_tolerance(d, x, y):
    # blocked matrix products compute |x|^2 + |y|^2 - 2<x,y>: absolute error about sqrt(eps) |x| |y|
    return 1e-4 * abs(d) + 1e-3 * (norm(x) + norm(y)) if finite(d) else 0


def dist_matches(w, d, x, y):
    if math.isnan(d):
        return math.isnan(w)
    if math.isinf(d) or math.isinf(w):
        return w == d or (math.isinf(w) and d > FMAX) or (math.isinf(d) and w > FMAX)
    return abs(w - d) <= graph_tolerance(d, x, y)


def graph_distances(metric):
    """The operator's distance for every ordered pair, as PostgreSQL computes it."""
    op = OPS[metric][0]
    ok, rows, st, msg = psql(f'SELECT x.id, y.id, (x.v {op} y.v)::text FROM pv x, pv y WHERE x.id <> y.id', check=True)
    return {(int(a), int(b)): float(d) for a, b, d in rows}


def check_knn(metric, k=3):
    def run():
        ok, rows, st, msg = psql(f"DROP TABLE IF EXISTS pknn_{metric};\n"
                                 f"SELECT ruvector_build_knn_graph('pv', 'v', 'pknn_{metric}', {k}, '{metric}');\n"
                                 f"SELECT src_id, dst_id, weight::float8::text FROM pknn_{metric}")
        if not ok:
            return False, [f'error {st}: {msg}']
        dist = graph_distances(metric)
        edges = {}
        problems = []
        for s, t, w in rows[1:]:
            s, t, w = int(s), int(t), float(w)
            edges.setdefault(t, []).append((w, s))
            if not dist_matches(w, dist[(t, s)], V[t], V[s]):
                problems.append(f'edge {s} -> {t} has weight {w!r}, the operator says {dist[(t, s)]!r} '
                                f'({show(s)}, {show(t)})')
        for t in IDS:
            cand = sorted((d, s) for (a, s), d in dist.items() if a == t and not math.isnan(d))
            want = [d for d, _ in cand[:k]]
            got = sorted(w for w, _ in edges.get(t, []))
            if len(got) != len(want) or not all(dist_matches(g, w, V[t], V[t]) or abs(g - w) <= 1e-4 * abs(w)
                                                for g, w in zip(got, want)):
                problems.append(f'node {show(t)}: neighbour distances {got}, expected the {k} smallest {want}')
        return not problems, problems
    return run


def check_eps(metric):
    def run():
        dist = graph_distances(metric)
        finite_d = sorted(d for d in dist.values() if finite(d))
        eps = f32(finite_d[len(finite_d) // 4])  # about a quarter of the pairs
        ok, rows, st, msg = psql(f"DROP TABLE IF EXISTS peps_{metric};\n"
                                 f"SELECT ruvector_build_eps_graph('pv', 'v', 'peps_{metric}', {eps!r}, '{metric}');\n"
                                 f"SELECT src_id, dst_id, weight::float8::text FROM peps_{metric}")
        if not ok:
            return False, [f'epsilon {eps!r}: error {st}: {msg}']
        got = {}
        problems = []
        for s, t, w in rows[1:]:
            got[(int(s), int(t))] = float(w)
        for (a, b), d in dist.items():
            x, y = V[a], V[b]
            tol = graph_tolerance(d, x, y)
            inside = finite(d) and d + tol < eps
            outside = math.isnan(d) or d - tol > eps
            e = got.get((b, a))
            if inside and e is None:
                problems.append(f'missing edge {b} -> {a} at distance {d!r} < {eps!r} ({show(a)}, {show(b)})')
            if outside and e is not None:
                problems.append(f'edge {b} -> {a} with weight {e!r}, but the distance is {d!r} > {eps!r} ({show(a)}, {show(b)})')
            if e is not None and not dist_matches(e, d, x, y):
                problems.append(f'edge {b} -> {a} has weight {e!r}, the operator says {d!r}')
        return not problems, problems
    return run


ORDINARY = [i for i in IDS if ordinary(V[i]) and any(x != 0 for x in V[i])]
GNN_SETUP = """
DROP TABLE IF EXISTS pvn; CREATE TABLE pvn AS SELECT id, v AS embedding FROM pv;
DROP TABLE IF EXISTS pe, pe_ordinary; CREATE TABLE pe (src_id bigint, dst_id bigint, weight real);
INSERT INTO pe VALUES {edges};
CREATE TABLE pe_ordinary AS SELECT * FROM pe WHERE src_id IN ({ordinary}) AND dst_id IN ({ordinary});
SELECT ruvector_gnn_model_drop(name) FROM ruvector_gnn_models WHERE name LIKE 'prop\\_%';
SELECT ruvector_gnn_model_create('prop_gcn', 'gcn', ARRAY[4, 4, 3]);
SELECT ruvector_gnn_model_create('prop_sage', 'sage', ARRAY[4, 4, 3]);
SELECT ruvector_gnn_model_create('prop_gin', 'gin', ARRAY[4, 4, 3]);
SELECT ruvector_gnn_model_create('prop_gat', 'gat', ARRAY[4, 4, 3]);
SELECT ruvector_gnn_model_create('prop_sage_lstm', 'sage', ARRAY[4, 4, 3], '{{"aggr": "lstm", "project": true}}');
SELECT ruvector_graph_drop(name) FROM ruvector_graphs() WHERE name IN ('prop_g', 'prop_gg');
SELECT ruvector_graph_create('prop_g', 'pv', 'pe', 'v', weight_column => 'weight');
DROP TABLE IF EXISTS pvg; CREATE TABLE pvg AS SELECT id, v, (id % 3)::int AS grp FROM pv;
SELECT ruvector_graph_create('prop_gg', 'pvg', 'pe', 'v');
"""
EDGES = sorted({(rng.choice(IDS), rng.choice(IDS)) for _ in range(3 * N)})
LAYERS = ('gcn', 'sage', 'gin', 'gat')
MODELS = LAYERS + ('sage_lstm',)  # catalog models: the layer types, and SAGE with project and an LSTM


# Graph-level models (issue 23): an attention readout with a linear head, and Set2Set.
EYE4 = [[1.0 if r == c else 0.0 for c in range(4)] for r in range(4)]
READOUT_MODELS = {
    'prop_readout': [{"type": "gcn", "state_dict": {"lin.weight": EYE4}},
                     {"type": "attentional_aggregation", "state_dict": {"gate_nn.0.weight": [[0.5, -0.5, 1, 0]]}},
                     {"type": "linear", "state_dict": {"weight": [[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, -1]]}}],
    'prop_set2set': [{"type": "gin", "state_dict": {"nn.0.weight": EYE4}},
                     {"type": "set2set", "options": {"processing_steps": 2},
                      "state_dict": {"lstm.weight_ih_l0": [[0.1, 0, 0.2, 0, 0.1, 0, 0, 0.1]] * 16,
                                     "lstm.weight_hh_l0": [[0, 0.1, 0, 0.1]] * 16}}],
}


def gnn_setup():
    edges = ', '.join(f'({s}, {t}, {f32(rng.uniform(0.1, 1.0))!r})' for s, t in EDGES)
    psql(GNN_SETUP.format(edges=edges, ordinary=','.join(map(str, ORDINARY))), check=True)
    for name, layers in READOUT_MODELS.items():
        psql("SELECT ruvector_gnn_model_import('%s', $j$%s$j$::jsonb)" % (name, json.dumps({"layers": layers})), check=True)


def vector_rows(sql, allowed=('22003',), col=1):
    """Every returned vector is finite and reads back, or the query fails with an allowed SQLSTATE."""
    def run():
        ok, rows, st, msg = psql(sql)
        if not ok:
            return st in allowed, [f'error {st}: {msg}' + (f' (allowed: {", ".join(allowed)})' if allowed else '')]
        problems = [f'row {r[0]}: {vec_outcome(r[col])}' for r in rows if vec_outcome(r[col])]
        if not rows:
            problems.append('no rows')
        return not problems, problems
    return run


def array_forward(fn):
    emb = 'ARRAY[' + ','.join('ARRAY[' + ','.join(repr(x) for x in V[i]) + ']' for i in IDS) + ']::real[]'
    src = 'ARRAY[' + ','.join(str(IDS.index(s)) for s, _ in EDGES) + ']::bigint[]'
    dst = 'ARRAY[' + ','.join(str(IDS.index(t)) for _, t in EDGES) + ']::bigint[]'
    w = 'ARRAY[' + ','.join('0.5' for _ in EDGES) + ']::real[]'
    return vector_rows(f'SELECT g, prop_show_real(ARRAY(SELECT unnest(r[g:g][1:array_length(r, 2)]))) '
                       f'FROM {fn}({emb}, {src}, {dst}, {w}) r, generate_series(1, array_length(r, 1)) g')


def check_classify(model, rows=N):
    expected = rows

    def run():
        ok, rows, st, msg = psql(f"SELECT node_id, class, score::text FROM ruvector_gnn_classify('prop_g', 'prop_{model}')")
        if not ok:
            return st == '22003', [f'error {st}: {msg} (allowed: 22003)']
        problems = [f'node {n}: class {c}, score {s}' for n, c, s in rows
                    if not (0 <= int(c) < 3) or not finite(float(s)) or not (0 <= float(s) <= 1)]
        if len(rows) != expected:
            problems.append(f'{len(rows)} rows, expected {expected}')
        return not problems, problems
    return run


def scalar_rows(sql, allowed=('22003',), nan_ok=False):
    def run():
        ok, rows, st, msg = psql(sql)
        if not ok:
            return st in allowed, [f'error {st}: {msg}' + (f' (allowed: {", ".join(allowed)})' if allowed else '')]
        problems = [f'row {"|".join(r)}: NaN' for r in rows if r[-1] == 'NaN' and not nan_ok]
        return not problems, problems
    return run


def differentiable_index(metric):
    psql(f'DROP TABLE IF EXISTS pds_{metric}; CREATE TABLE pds_{metric} AS SELECT * FROM pv;\n'
         f'CREATE INDEX pds_{metric}_idx ON pds_{metric} USING ruivfflat (v {OPS[metric][1]}) WITH (lists = 2);', check=True)


def check_differentiable(metric):
    def run():
        differentiable_index(metric)

        def judge(a, b, s, r):
            if s:
                return error_problem(s, r, ('22003',))
            if not r:
                return 'no rows'
            for row in r.split(';'):
                i, score, e = row.split('|')
                p = vec_outcome(e)
                if p or score == 'NaN':
                    return f'row {i}: score {score}; {p or ""}'
            return None
        return per_row(f"(SELECT coalesce(string_agg(id || '|' || score || '|' || prop_show(enhanced_embedding), ';'), '') "
                       f"FROM ruvector_differentiable_search($1, 'pds_{metric}_idx', 1, 5))", False, judge)()
    return run


# ------------------------------------------------------------------------------------------ halfvec

HMAX = 65504.0
HSUB = 2.0 ** -24  # the smallest subnormal half


def h16(x):
    """x rounded to the nearest half (ties to even), or None when that overflows (|x| >= 65520)."""
    try:
        return struct.unpack('e', struct.pack('e', x))[0]
    except OverflowError:
        return None


HSPECIALS = [HMAX, -HMAX, HSUB, -HSUB, 1023 * HSUB, 2.0 ** -14, 0.0, -0.0, 1.0, -1.0, 32768.0, h16(0.1)]


hrng = random.Random(SEED + 1)  # its own stream, so the vector checks see the same data as before


def hcomponent():
    if hrng.random() < 0.35:
        return hrng.choice(HSPECIALS)
    return h16(hrng.choice((-1, 1)) * hrng.uniform(1, 10) * 10.0 ** hrng.randint(-7, 3))


HFIXED = [[0.0] * DIM, [-0.0] * DIM, [HMAX] * DIM, [-HMAX] * DIM, [HMAX, -HMAX, HMAX, -HMAX],
          [HSUB, 1023 * HSUB, -HSUB, 2.0 ** -14], [1.0, 2.0, 3.0, 4.0], [HSUB, HMAX, -1.0, -0.0]]
HVECS = HFIXED + [[hcomponent() for _ in range(DIM)] for _ in range(16)]
H = dict(zip(range(1, len(HVECS) + 1), HVECS))

HSETUP = r"""
DROP TABLE IF EXISTS ph CASCADE;
CREATE TABLE ph (id bigint PRIMARY KEY, v halfvec(4));
""" + SHOW_FUNCTION.format(name='prop_hshow', type='halfvec') + r""""""


def hload():
    rows = ',\n'.join(f"({i}, '{lit(v)}')" for i, v in H.items())
    psql(HSETUP + f'INSERT INTO ph VALUES\n{rows};\n', check=True)


def hrow(expr, pairs, judge):
    return per_row(expr, pairs, judge, tbl='ph', typ='halfvec', vals=H)


def same_bits(got, want):
    return got is not None and len(got) == len(want) and [bits(f32(x)) for x in got] == [bits(f32(x)) for x in want]


def to_half(conv):
    """A halfvec result: each element conv(x) rounded to half, or 22003 when one is beyond the half
    range (pgvector's "is out of range for type halfvec")."""
    def judge(a, b, s, r):
        want = [h16(conv(x)) for x in V[a]]
        if s:
            return None if s == '22003' and None in want else f'error {s}: {r}'
        if None in want:
            return f'returned {r}, expected 22003 (beyond ±65504)'
        p = vec_outcome(r)
        return p or (None if same_bits(parse_vector(r), want) else f'returned {r}, expected {lit(want)}')
    return judge


def helementwise(op):
    """+, -, *: exactly the half nearest to the exact a op b, or 22003 on overflow (and, for *,
    underflow to zero from non-zero operands)."""
    def judge(a, b, s, r):
        want, bad = [], False
        for x, y in zip(H[a], H[b]):
            z = h16(x + y if op == '+' else x - y if op == '-' else x * y)
            if z is None or (op == '*' and z == 0 and x != 0 and y != 0):
                bad = True
            want.append(z)
        if s:
            return None if bad and s == '22003' else f'error {s}: {r}' + (' (expected 22003)' if bad else '')
        if bad:
            return f'returned {r}, expected 22003'
        p = vec_outcome(r)
        return p or (None if same_bits(parse_vector(r), want) else f'returned {r}, expected {lit(want)}')
    return judge


def check_half_load():
    ok, rows, st, msg = psql('SELECT id, prop_hshow(v) FROM ph ORDER BY id')
    if not ok:
        return False, [f'{st}: {msg}']
    problems = [f'{show(int(i), H)}: {vec_outcome(t) or "stored as " + t}' for i, t in rows
                if vec_outcome(t) or not same_bits(parse_vector(t), H[int(i)])]
    return not problems and len(rows) == len(H), problems


def check_half_arrays():
    problems = []
    for typ, conv in (('real[]', lambda x: x), ('double precision[]', lambda x: x),
                      # float4 -> numeric keeps 6 significant digits (FLT_DIG); numeric has no -0
                      ('numeric[]', lambda x: 0.0 if x == 0 else f32(float('%.6g' % x)))):
        judge = to_half(conv)
        for a, _, st, r in eval_rows(f'prop_hshow($1::real[]::{typ}::halfvec)', False):
            p = judge(a, None, st, r)
            if p:
                problems.append(f'{typ} of {show(a)}: {p}')
    ints = [[hrng.choice((0, 1, -1, 65504, -65504, 65519, 65520, -65520, 2147483647, hrng.randint(-70000, 70000)))
             for _ in range(DIM)] for _ in range(24)]
    for k, v in enumerate(ints):
        want = [h16(f32(float(x))) for x in v]
        ok, rows, st, msg = psql(f'SELECT prop_hshow(ARRAY[{",".join(map(str, v))}]::integer[]::halfvec)')
        if None in want:
            if ok or st != '22003':
                problems.append(f'integer[] {v}: ' + (f'returned {rows}' if ok else f'error {st}: {msg}') + ', expected 22003')
        elif not ok or not same_bits(parse_vector(rows[0][0]), want):
            problems.append(f'integer[] {v}: ' + (f'returned {rows[0][0]}' if ok else f'error {st}: {msg}') + f', expected {lit(want)}')
    return not problems, problems


def check_half_bad_input():
    """NaN, ±Infinity and values beyond the half range never get in: text, arrays and binary input."""
    problems = []
    literals = [f"'[1,{t},0,0]'::halfvec" for t in ('NaN', 'Infinity', '-Infinity', '65520', '-1e5', '1e39')]
    literals += [f"ARRAY[1,'{t}',0,0]::{a}::halfvec" for t in ('NaN', 'Infinity', '-Infinity', '65520', '-3e38')
                 for a in ('real[]', 'double precision[]')]
    for expr in literals:
        ok, rows, st, msg = psql(f'SELECT prop_hshow({expr})')
        if ok or not st.startswith('22'):
            problems.append(f'{expr}: ' + (f'accepted as {rows[0][0]}' if ok else f'error {st}: {msg}'))
    with tempfile.TemporaryDirectory() as d:
        for t, h in (('NaN', 0x7E00), ('Infinity', 0x7C00), ('-Infinity', 0xFC00), ('2 (the control)', 0x4000)):
            f = os.path.join(d, 'bad.bin')
            value = struct.pack('>hh4H', DIM, 0, 0x3C00, h, 0, 0)
            with open(f, 'wb') as out:
                out.write(b'PGCOPY\n\xff\r\n\0' + struct.pack('>ii', 0, 0) + struct.pack('>hi', 1, len(value)) +
                          value + struct.pack('>h', -1))
            ok, rows, st, msg = psql(f"CREATE TEMP TABLE bin (v halfvec);\n\\copy bin FROM '{f}' WITH (FORMAT binary)\n"
                                     "SELECT prop_hshow(v) FROM bin")
            if h == 0x4000:
                if not ok or rows != [['[1,2,0,0]']]:
                    problems.append(f'binary input with {t}: ' + (f'read as {rows}' if ok else f'error {st}: {msg}'))
            elif ok or not st.startswith('22'):
                problems.append(f'binary input with {t}: ' + (f'accepted as {rows}' if ok else f'error {st}: {msg}'))
    return not problems, problems


def check_half_aggregates():
    """avg: the double-precision mean rounded to float, then to half; sum: the halves added in scan
    order, each partial sum rounded to half, or 22003 when one overflows."""
    ok, rows, st, msg = psql('SELECT prop_hshow(avg(v)) FROM ph')
    problems = []
    n = len(H)
    want = [h16(f32(sum(H[i][k] for i in H) / n)) for k in range(DIM)]
    if not ok or not same_bits(parse_vector(rows[0][0]), want):
        problems.append('avg: ' + (f'returned {rows[0][0]}' if ok else f'error {st}: {msg}') + f', expected {lit(want)}')
    ok, rows, st, msg = psql('SELECT prop_hshow(sum(v ORDER BY id)) FROM ph')
    acc, overflow = list(H[1]), False
    for i in sorted(H)[1:]:
        acc = [h16(x + y) if x is not None else None for x, y in zip(acc, H[i])]
        overflow = overflow or None in acc
        if overflow:
            break
    if overflow:
        if ok or st != '22003':
            problems.append('sum: ' + (f'returned {rows[0][0]}' if ok else f'error {st}: {msg}') + ', expected 22003')
    elif not ok or not same_bits(parse_vector(rows[0][0]), acc):
        problems.append('sum: ' + (f'returned {rows[0][0]}' if ok else f'error {st}: {msg}') + f', expected {lit(acc)}')
    return not problems, problems


def halfvec_checks():
    hload()
    check('halfvec: text input stores every half with its exact bits and prints it back', check_half_load)
    check('vector -> halfvec (the implicit cast) of every extreme vector: the nearest half, or 22003 beyond ±65504',
          per_row('prop_hshow($1::halfvec)', False, to_half(lambda x: x)))
    check('real[], double precision[], numeric[], integer[] -> halfvec: the nearest half, or 22003', check_half_arrays)
    check('halfvec: text, array and binary input refuse NaN, ±Infinity and values beyond ±65504 (22xxx)', check_half_bad_input)
    # through sparsevec a -0 is dropped, so it comes back as +0
    check('vector -> sparsevec -> halfvec of every extreme vector: the nearest half, or 22003 beyond ±65504',
          per_row('prop_hshow($1::sparsevec::halfvec)', False, to_half(lambda x: x if x != 0 else 0.0)))
    check('halfvec -> sparsevec -> halfvec keeps every value (-0 becomes 0)',
          hrow('prop_hshow($1::sparsevec::halfvec)', False, exact_vector(lambda a: [x if x != 0 else 0.0 for x in a], vals=H)))
    check('halfvec -> vector and -> real[] keep every value',
          hrow('prop_show($1::vector) || (CASE WHEN $1::real[] = $1::vector::real[] THEN \'\' ELSE \'x\' END)', False,
               exact_vector(lambda a: a, vals=H)))
    check('halfvec send/recv: text and binary agree',
          hrow('halfvec_send($1) = halfvec_send($1::text::halfvec) AND halfvec_send($1) = halfvec_send($1::vector::halfvec)', False,
               lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == 'true' else 'differ')))
    check('halfvec typmod cast halfvec(3) fails with 22000',
          hrow('$1::halfvec(3)', False, lambda a, b, s, r: None if s == '22000' else f'{s or "no error"}: {r}'))
    for op in ('+', '-', '*'):
        check(f'halfvec operator {op}: the nearest half of the exact result, or 22003',
              hrow(f'prop_hshow($1 {op} $2)', True, helementwise(op)))
    check('halfvec operator ||', hrow('prop_hshow($1 || $2)', True, exact_vector(lambda a, b: a + b, vals=H)))
    for op in ('<', '<=', '=', '<>', '>=', '>'):
        check(f'halfvec operator {op} compares element-wise', hrow(f'$1 {op} $2', True, ordering(op, vals=H)))
    check('halfvec_cmp', hrow('halfvec_cmp($1, $2)', True, ordering('cmp', vals=H)))
    check('halfvec_hash, halfvec_hash_extended: equal values (0 = -0) hash alike',
          hrow('$1 <> $2 OR (halfvec_hash($1) = halfvec_hash($2) AND halfvec_hash_extended($1, 7) = halfvec_hash_extended($2, 7))',
               True, lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == 'true' else 'different hashes')))
    for fn, kind, neg in (('l2_distance', 'l2', False), ('inner_product', 'ip', False),
                          ('cosine_distance', 'cosine', False), ('l1_distance', 'l1', False),
                          ('halfvec_negative_inner_product', 'ip', True), ('halfvec_l2_squared_distance', 'l2sq', False)):
        check(f'{fn}(halfvec, halfvec)', hrow(f'{fn}($1, $2)', True, distance(kind, neg, vals=H)))
    for op, kind, neg in (('<->', 'l2', False), ('<#>', 'ip', True), ('<=>', 'cosine', False), ('<+>', 'l1', False)):
        check(f'halfvec operator {op}', hrow(f'$1 {op} $2', True, distance(kind, neg, vals=H)))
    check('halfvec_spherical_distance: no error, in [0, 1] or NaN',
          hrow('halfvec_spherical_distance($1, $2)', True,
               lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == 'NaN' or 0 <= float(r) <= 1 else f'returned {r}')))
    check('vector_dims(halfvec)', hrow('vector_dims($1)', False,
                                       lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == '4' else r)))

    def norm_judge(a, b, s, r):
        if s:
            return error_problem(s, r, ())
        want, got = norm(H[a]), float(r)
        return None if finite(got) and abs(got - want) <= 1e-9 * want else f'returned {r}, expected {want!r}'
    check('l2_norm(halfvec): the double-precision norm', hrow('l2_norm($1)', False, norm_judge))

    def normalize_judge(a, b, s, r):
        if s:
            return error_problem(s, r, ())
        p = vec_outcome(r)
        if p:
            return p
        n = norm(H[a])
        want = [h16(f32(x / n)) if n else 0.0 for x in H[a]]
        return None if same_bits(parse_vector(r), want) else f'returned {r}, expected {lit(want)}'
    check('l2_normalize(halfvec): each element x / norm, rounded to float then half (zero stays zero)',
          hrow('prop_hshow(l2_normalize($1))', False, normalize_judge))
    check('subvector(halfvec)', hrow('prop_hshow(subvector($1, 2, 2))', False, exact_vector(lambda a: a[1:3], vals=H)))
    check('binary_quantize(halfvec)', hrow('binary_quantize($1)', False,
          lambda a, b, s, r: error_problem(s, r, ()) if s else
          (None if r == ''.join('1' if x > 0 else '0' for x in H[a]) else f'returned {r}')))
    check('avg(halfvec) and sum(halfvec)', check_half_aggregates)
    for metric in ('l2', 'ip', 'cosine'):
        check(f'ruivfflat halfvec_{metric}_ops over the half extremes: build, insert, REINDEX, and index order = '
              'seq-scan order (probes = lists)',
              index_scan_order(metric, name='_half', src='ph', vals=H, typ='halfvec'))


# ------------------------------------------------------------------------------------------ store test

STORE = [  # (name, SQL giving (key text, v vector) rows)
    ('text input', 'SELECT id::text, v FROM pv'),
    ('+', 'SELECT x.id || \',\' || y.id, x.v + y.v FROM pv x, pv y'),
    ('-', 'SELECT x.id || \',\' || y.id, x.v - y.v FROM pv x, pv y'),
    ('*', 'SELECT x.id || \',\' || y.id, x.v * y.v FROM pv x, pv y'),
    ('||', 'SELECT x.id || \',\' || y.id, x.v || y.v FROM pv x, pv y'),
    ('l2_normalize', 'SELECT id::text, l2_normalize(v) FROM pv'),
    ('subvector', 'SELECT id::text, subvector(v, 2, 2) FROM pv'),
    ('real[] cast', 'SELECT id::text, v::real[]::vector FROM pv'),
    ('avg', 'SELECT (id % 5)::text, avg(v) FROM pv GROUP BY id % 5'),
    ('sum', 'SELECT (id % 5)::text, sum(v) FROM pv GROUP BY id % 5'),
    ('ruvector_kmeans l2', "SELECT cluster::text, centroid FROM ruvector_kmeans('pv', 'v', 3, 10, 42, 'l2')"),
    ('ruvector_kmeans cosine', "SELECT cluster::text, centroid FROM ruvector_kmeans('pv', 'v', 3, 10, 42, 'cosine')"),
    ('ruvector_kmeans ip', "SELECT cluster::text, centroid FROM ruvector_kmeans('pv', 'v', 3, 10, 42, 'ip')"),
] + [(f'ruvector_gnn_forward {m}', f"SELECT node_id::text, embedding FROM ruvector_gnn_forward('prop_{m}', 'prop_g')")
     for m in MODELS] + [
    (f'ruvector_gnn_forward gcn (tables)', "SELECT node_id::text, embedding FROM ruvector_gnn_forward('prop_gcn', 'pv', 'pe', 'v', weight_column => 'weight')"),
] + [(f'ruvector_message_pass {m}', f"SELECT node_id::text, updated_embedding FROM ruvector_message_pass('pv', 'pe', 'v', 2, '{m}')")
     for m in LAYERS] + [
] + [(f'ruvector_differentiable_search {m}', "SELECT q.id || ',' || d.id, d.enhanced_embedding FROM pv q, "
                                             f"LATERAL ruvector_differentiable_search(q.v, 'pds_{m}_idx', 1, 5) d")
     for m in ('l2', 'ip')]


def store_readback():
    """Store what each vector-returning function returns, then read the table back with SELECT *, with
    pg_dump, and load the dump into a fresh database. A clean error while storing is that function's
    business (076 judges it); what is stored must be finite, and everything stored must read back."""
    psql('DROP TABLE IF EXISTS stored; CREATE TABLE stored (source text, key text, v vector);', check=True)
    for name, sql in STORE:
        def run(name=name, sql=sql):
            ok, rows, st, msg = psql(f"INSERT INTO stored SELECT $s${name}$s$, * FROM ({sql}) r;\n"
                                     f"SELECT count(*), count(*) FILTER (WHERE prop_show(v) LIKE 'NONFINITE%') "
                                     f"FROM stored WHERE source = $s${name}$s$;")
            if not ok:
                clean = not st.startswith('XX') and st not in ('psql', 'timeout')
                if clean:
                    print(f'# nothing stored from {name}: error {st}: {msg}', flush=True)
                return clean, [f'storing failed with {st}: {msg}']
            n, bad = map(int, rows[-1])
            return bad == 0, [f'{bad} of the {n} vectors stored are not finite (reading them back would fail)']
        check(f'store the result of {name}: every stored vector is finite', run)
    ok, rows, _, _ = psql('SELECT count(*), md5(string_agg(source || key || vector_send(v)::text, \',\' '
                          'ORDER BY source, key)) FROM stored')
    total, digest = (int(rows[0][0]), rows[0][1]) if ok else (-1, None)
    print(f'# {total} vectors stored', flush=True)

    def read_all():
        ok, rows, st, msg = psql('SELECT * FROM stored')
        if not ok:
            return False, [f'SELECT * FROM stored: error {st}: {msg}']
        problems = [f'{r[0]} {r[1]}: unparsable vector text {r[2]}' for r in rows if parse_vector(r[2]) is None]
        if len(rows) != total:
            problems.append(f'{len(rows)} rows read, {total} stored')
        return not problems, problems
    check('SELECT * FROM the table reads every stored vector back', read_all)

    def dump():
        restore_db = DB + '_restore'
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            out = os.path.join(d, 'dump.sql')
            pg_dump = os.path.join(os.environ.get('RUVECTOR_PG_BIN', ''), 'pg_dump')
            r = subprocess.run([pg_dump if os.path.exists(pg_dump) else 'pg_dump', '-d', DB, '-t', 'stored', '-f', out], capture_output=True, text=True,
                               timeout=120)
            if any(m in r.stderr for m in CRASH_MARKERS):
                raise Crash(r.stderr.strip())
            if r.returncode != 0:
                return False, [f'pg_dump failed: {r.stderr.strip()}']
            text = open(out).read()
            m = re.search(r'^COPY public\.stored .* FROM stdin;\n(.*?)^\\\.$', text, re.S | re.M)
            if not m:
                return False, ['no COPY data for table stored in the dump']
            lines = m.group(1).splitlines()
            problems = [f'dumped row with an unparsable vector: {l}' for l in lines if parse_vector(l.split('\t')[2]) is None]
            if len(lines) != total:
                problems.append(f'{len(lines)} rows dumped, the table has {total}')
            psql(f'DROP DATABASE IF EXISTS {restore_db} WITH (FORCE); CREATE DATABASE {restore_db}', db='postgres', check=True)
            ok, _, st, msg = psql('CREATE EXTENSION ruvector;\n' + text, db=restore_db)
            if not ok:
                problems.append(f'loading the dump into a fresh database: error {st}: {msg}')
            else:
                ok, rows, st, msg = psql('SELECT md5(string_agg(source || key || vector_send(v)::text, \',\' '
                                         'ORDER BY source, key)) FROM stored', db=restore_db)
                if not ok or rows[0][0] != digest:
                    problems.append('the restored table differs from the original (bits of the vectors)')
            psql(f'DROP DATABASE IF EXISTS {restore_db} WITH (FORCE)', db='postgres')
        return not problems, problems
    check('pg_dump (plain) of the table succeeds, and loading it gives back the same vectors', dump)

    # The same values as halfvec (those within its range) and sparsevec go through pg_dump too.
    typed_digest = ('SELECT count(*), md5(string_agg(source || key || coalesce(halfvec_send(h)::text, \'-\') || '
                    'sparsevec_send(s)::text, \',\' ORDER BY source, key)) FROM stored_typed')

    def dump_typed():
        ok, _, st, msg = psql('DROP TABLE IF EXISTS stored_typed; CREATE TABLE stored_typed AS SELECT source, key, '
                              'CASE WHEN (SELECT bool_and(abs(x) < 65520) FROM unnest(v::real[]) x) THEN v::halfvec END AS h, '
                              'v::sparsevec AS s FROM stored')
        if not ok:
            return False, [f'making the halfvec and sparsevec copies: error {st}: {msg}']
        ok, rows, st, msg = psql(typed_digest)
        if not ok:
            return False, [f'reading the copies: error {st}: {msg}']
        want = rows[0]
        restore_db = DB + '_restore'
        problems = []
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o777)
            out = os.path.join(d, 'dump.sql')
            pg_dump = os.path.join(os.environ.get('RUVECTOR_PG_BIN', ''), 'pg_dump')
            r = subprocess.run([pg_dump if os.path.exists(pg_dump) else 'pg_dump', '-d', DB, '-t', 'stored_typed', '-f', out],
                               capture_output=True, text=True, timeout=120)
            if any(m in r.stderr for m in CRASH_MARKERS):
                raise Crash(r.stderr.strip())
            if r.returncode != 0:
                return False, [f'pg_dump failed: {r.stderr.strip()}']
            psql(f'DROP DATABASE IF EXISTS {restore_db} WITH (FORCE); CREATE DATABASE {restore_db}', db='postgres', check=True)
            ok, _, st, msg = psql('CREATE EXTENSION ruvector;\n' + open(out).read(), db=restore_db)
            if not ok:
                problems.append(f'loading the dump into a fresh database: error {st}: {msg}')
            else:
                ok, rows, st, msg = psql(typed_digest, db=restore_db)
                if not ok or rows[0] != want:
                    problems.append(f'the restored halfvec/sparsevec table differs: {rows[0] if ok else st} vs {want}')
            psql(f'DROP DATABASE IF EXISTS {restore_db} WITH (FORCE)', db='postgres')
        return not problems, problems
    check('halfvec and sparsevec copies of the stored vectors: pg_dump, restore, same bits', dump_typed)


# ------------------------------------------------------------------------------------------- main

def main():
    global START
    store = '--store' in sys.argv
    print(f'# seed {SEED} (RUVECTOR_PROPERTY_SEED={SEED} replays this run); {N} vectors of {DIM} dimensions',
          flush=True)
    psql(f'DROP DATABASE IF EXISTS {DB} WITH (FORCE)', db='postgres', check=True)
    psql(f'CREATE DATABASE {DB}', db='postgres', check=True)
    psql('CREATE EXTENSION ruvector', check=True)
    START = cluster_id()
    generation = psql('SELECT generation FROM ruvector_worker_status()', check=True)[1][0][0]
    load()
    gnn_setup()
    if store:
        for metric in ('l2', 'ip'):
            try:
                differentiable_index(metric)
            except RuntimeError as e:
                print(f'# no {metric} index for ruvector_differentiable_search: {e}'.splitlines()[0], flush=True)
        store_readback()
    else:
        t0 = time.time()
        check('text input stores every vector with its exact bits and prints it back', check_load)
        check('casts real[], double precision[], numeric[], integer[] -> vector keep every value', check_array_casts)
        check('cast vector -> real[] keeps every value', check_to_real)
        check('binary send/recv (COPY BINARY) round trip', check_binary)
        check('text, array and binary input refuse NaN, ±Infinity and values beyond float32 (22xxx)', check_bad_input)
        check('typmod cast vector(4)', per_row('$1::vector(4)', False, exact_vector(lambda a: a)))
        check('typmod cast vector(3) fails with 22000', per_row('$1::vector(3)', False,
              lambda a, b, s, r: None if s == '22000' else f'{s or "no error"}: {r}'))
        for op in ('+', '-', '*'):
            check(f'operator {op}: exact float32 result, or 22003 when an element overflows',
                  per_row(f'$1 {op} $2', True, elementwise(op)))
        check('operator ||', per_row('$1 || $2', True, exact_vector(lambda a, b: a + b)))
        for op in ('<', '<=', '=', '<>', '>=', '>'):
            check(f'operator {op} compares element-wise', per_row(f'$1 {op} $2', True, ordering(op)))
        check('vector_cmp', per_row('vector_cmp($1, $2)', True, ordering('cmp')))
        check('vector_hash, vector_hash_extended: equal vectors (0 = -0) hash alike',
              per_row('$1 <> $2 OR (vector_hash($1) = vector_hash($2) AND vector_hash_extended($1, 7) = vector_hash_extended($2, 7))',
                      True, lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == 'true' else 'different hashes')))
        for fn, kind, neg in (('l2_distance', 'l2', False), ('inner_product', 'ip', False),
                              ('cosine_distance', 'cosine', False), ('l1_distance', 'l1', False),
                              ('vector_negative_inner_product', 'ip', True), ('vector_l2_squared_distance', 'l2sq', False)):
            check(f'{fn}', per_row(f'{fn}($1, $2)', True, distance(kind, neg)))
        check('vector_spherical_distance (the opclass support function): no error, in [0, 1] or NaN',
              per_row('vector_spherical_distance($1, $2)', True,
                      lambda a, b, s, r: error_problem(s, r, ()) if s else
                      (None if r == 'NaN' or 0 <= float(r) <= 1 else f'returned {r}')))
        for op, kind, neg in (('<->', 'l2', False), ('<#>', 'ip', True), ('<=>', 'cosine', False),
                              ('<+>', 'l1', False)):
            check(f'operator {op}', per_row(f'$1 {op} $2', True, distance(kind, neg)))
        check('vector_dims', per_row('vector_dims($1)', False,
                                     lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == '4' else r)))
        for fn in ('vector_norm', 'l2_norm'):
            # l2_norm(halfvec) exists; a vector would reach it through the implicit cast to halfvec.
            exists = psql(f"SELECT to_regprocedure('{fn}(vector)') IS NOT NULL")[1] == [['t']]
            if not exists:
                continue

            def judge(a, b, s, r):
                if s:
                    return error_problem(s, r, ())
                want, got = norm(V[a]), float(r)
                return None if finite(got) and abs(got - want) <= 1e-6 * want else f'returned {r}, expected {want!r}'
            check(f'{fn}: finite, the double-precision norm', per_row(f'{fn}($1)', False, judge))
        check('l2_normalize: finite, the unit vector (zero stays zero)',
              per_row('l2_normalize($1)', False, close_vector(lambda a: [x / norm(a) if norm(a) else 0.0 for x in a], 1e-6)))
        check('subvector', per_row('subvector($1, 2, 2)', False, exact_vector(lambda a: a[1:3])))
        check('binary_quantize', per_row('binary_quantize($1)', False,
              lambda a, b, s, r: error_problem(s, r, ()) if s else
              (None if r == ''.join('1' if x > 0 else '0' for x in V[a]) else f'returned {r}')))
        # sparsevec: every row as a sparsevec (zeros dropped) through every function of the type.
        check('sparsevec: text output reads back to the same bits, and casts back to the same vector',
              per_row("sparsevec_send($1::sparsevec::text::sparsevec) = sparsevec_send($1::sparsevec) "
                      "AND vector_send($1::sparsevec::vector) = vector_send($1 + '[0,0,0,0]')", False,
                      lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == 'true' else 'differs')))
        check('sparsevec: real[] and double precision[] casts keep every value',
              per_row("vector_send($1::real[]::sparsevec::vector) = vector_send($1 + '[0,0,0,0]') AND "
                      "vector_send($1::real[]::float8[]::sparsevec::vector) = vector_send($1 + '[0,0,0,0]')", False,
                      lambda a, b, s, r: error_problem(s, r, ()) if s else (None if r == 'true' else 'differs')))
        check('sparsevec binary input refuses NaN, ±Infinity, zeros and bad indices (22xxx/54000)', check_sparse_binary)
        for op in ('<', '<=', '=', '<>', '>=', '>'):
            check(f'sparsevec operator {op} compares as the dense vectors', per_row(f'$1::sparsevec {op} $2::sparsevec', True, ordering(op)))
        check('sparsevec_cmp', per_row('sparsevec_cmp($1::sparsevec, $2::sparsevec)', True, ordering('cmp')))
        for fn, kind, neg in (('l2_distance', 'l2', False), ('inner_product', 'ip', False),
                              ('cosine_distance', 'cosine', False), ('l1_distance', 'l1', False),
                              ('sparsevec_negative_inner_product', 'ip', True),
                              ('sparsevec_l2_squared_distance', 'l2sq', False)):
            check(f'{fn}(sparsevec, sparsevec)', per_row(f'{fn}($1::sparsevec, $2::sparsevec)', True, distance(kind, neg)))
        for op, kind, neg in (('<->', 'l2', False), ('<#>', 'ip', True), ('<=>', 'cosine', False), ('<+>', 'l1', False)):
            check(f'sparsevec operator {op}', per_row(f'$1::sparsevec {op} $2::sparsevec', True, distance(kind, neg)))

        def norm_judge(a, b, s, r):
            if s:
                return error_problem(s, r, ())
            want, got = norm(V[a]), float(r)
            return None if finite(got) and abs(got - want) <= 1e-6 * want else f'returned {r}, expected {want!r}'
        check('l2_norm(sparsevec): finite, the double-precision norm', per_row('l2_norm($1::sparsevec)', False, norm_judge))
        check('l2_normalize(sparsevec): finite, the unit vector (zero stays zero)',
              per_row('l2_normalize($1::sparsevec)::vector', False,
                      close_vector(lambda a: [x / norm(a) if norm(a) else 0.0 for x in a], 1e-6)))
        # bit: Hamming and Jaccard of the quantized rows.
        def bitstr(v):
            return ''.join('1' if x > 0 else '0' for x in v)

        def ham(a, b, s, r):
            if s:
                return error_problem(s, r, ())
            want = sum(p != q for p, q in zip(bitstr(V[a]), bitstr(V[b])))
            return None if float(r) == want else f'returned {r}, expected {want}'

        def jac(a, b, s, r):
            if s:
                return error_problem(s, r, ())
            x, y = bitstr(V[a]), bitstr(V[b])
            both = sum(p == q == '1' for p, q in zip(x, y))
            either = sum(p == '1' or q == '1' for p, q in zip(x, y))
            want = 1.0 if both == 0 else 1 - both / either
            return None if abs(float(r) - want) <= 1e-15 else f'returned {r}, expected {want}'
        check('hamming_distance and <~> of binary_quantize', per_row(
            "CASE WHEN hamming_distance(binary_quantize($1), binary_quantize($2)) = (binary_quantize($1) <~> binary_quantize($2)) "
            "THEN hamming_distance(binary_quantize($1), binary_quantize($2)) END", True, ham))
        check('jaccard_distance and <%> of binary_quantize', per_row(
            "CASE WHEN jaccard_distance(binary_quantize($1), binary_quantize($2)) = (binary_quantize($1) <%> binary_quantize($2)) "
            "THEN jaccard_distance(binary_quantize($1), binary_quantize($2)) END", True, jac))
        for kind in ('avg', 'sum'):
            check(f'aggregate {kind}', check_aggregates(kind))
        halfvec_checks()
        for metric in ('l2', 'ip', 'cosine', 'l1'):
            check(f'ruivfflat {OPS[metric][1]}: build, insert, REINDEX, and index order = seq-scan order (probes = lists)',
                  index_scan_order(metric))
        for metric in ('cosine', 'l2'):
            check(f'ruvector_gnn index {OPS[metric][1]}: an ORDER BY v {OPS[metric][0]} q query returns the seq-scan order',
                  index_scan_order(metric, am='ruvector_gnn', split=False,
                                   opts="edge_table = 'pe', layer_type = 'gcn', num_layers = 1, lists = 4"))
            check(f'ruvector_gnn index {OPS[metric][1]}, ordinary vectors only: the seq-scan order',
                  index_scan_order(metric, am='ruvector_gnn', split=False, ids=ORDINARY, name='_ordinary',
                                   opts="edge_table = 'pe_ordinary', layer_type = 'gcn', num_layers = 1, lists = 4"))
        for metric in ('l2', 'cosine', 'ip'):
            check(f'ruvector_kmeans {metric}: no error, finite centroids, every row counted', check_kmeans(metric))
        for metric in ('l2', 'cosine', 'ip', 'l1'):
            check(f'ruvector_build_knn_graph {metric}: each node\'s edges are its nearest by the operator', check_knn(metric))
        for metric in ('l2', 'cosine', 'l1'):
            check(f'ruvector_build_eps_graph {metric}: the pairs within epsilon by the operator', check_eps(metric))
        for m in MODELS:
            check(f'ruvector_gnn_forward {m} (named graph): finite or 22003',
                  vector_rows(f"SELECT node_id, prop_show(embedding) FROM ruvector_gnn_forward('prop_{m}', 'prop_g')"))
        check('ruvector_gnn_forward gcn (tables, weights): finite or 22003',
              vector_rows("SELECT node_id, prop_show(embedding) FROM ruvector_gnn_forward('prop_gcn', 'pv', 'pe', 'v', weight_column => 'weight')"))
        for m in LAYERS:
            check(f'ruvector_message_pass {m}: finite or 22003',
                  vector_rows(f"SELECT node_id, prop_show(updated_embedding) FROM ruvector_message_pass('pv', 'pe', 'v', 2, '{m}')"))
        for fn in ('ruvector_gcn_forward', 'ruvector_graphsage_forward', 'ruvector_gat_forward', 'ruvector_gin_forward'):
            check(f'{fn} (arrays): finite or 22003', array_forward(fn))
        for m in MODELS:
            check(f'ruvector_gnn_classify {m}: a class and a probability, or 22003', check_classify(m))
        for m in ('readout', 'set2set'):
            check(f'ruvector_gnn_classify by graph column, {m} readout: finite logits or 22003',
                  vector_rows(f"SELECT graph_id, prop_show(logits) FROM ruvector_gnn_classify('prop_gg', 'prop_{m}', 'grp')",
                              col=1))
        check('ruvector_gnn_classify, readout over the whole graph: one row, a class and a probability, or 22003',
              check_classify('readout', rows=1))
        check('ruvector_gnn_score: no error but 22003',
              scalar_rows("SELECT id, q.qid, ruvector_gnn_score(id, q.v, 'prop_g')::text FROM pv, (SELECT id AS qid, v FROM pv WHERE id <= 4) q",
                          nan_ok=True))
        check('ruvector_subgraph_search: no error',
              scalar_rows("SELECT q.id, s.node_id, s.distance::text FROM pv q, LATERAL ruvector_subgraph_search(1, q.v, 'prop_g', 2, 5) s",
                          allowed=(), nan_ok=True))
        check('ruvector_graphsage_search: no error but 22003, scores not NaN',
              scalar_rows("SELECT q.id, s.id, s.score::text FROM pv q, LATERAL ruvector_graphsage_search('pvn', 'pe', q.v, k => 5) s"))
        for metric in ('l2', 'ip'):
            check(f'ruvector_differentiable_search ({OPS[metric][1]} index): finite enhanced embeddings, or 22003',
                  check_differentiable(metric))
        print(f'# {time.time() - t0:.1f} s', flush=True)

    # A crash in this test's session fails the check that caused it; one elsewhere shows here.
    now = cluster_id()
    tap(now == START and not CRASHES, 'the server never crashed',
        [f'crashed during: {w}' for w in CRASHES] + ([] if now == START else [f'the server restarted ({START} -> {now})']))
    ok, rows, st, msg = psql('SELECT generation FROM ruvector_worker_status()')
    now = rows[0][0] if ok else f'{st}: {msg}'
    tap(now == generation, 'the ruvector worker never restarted (its generation is unchanged)',
        [f'generation {generation} -> {now}'])
    psql(f'DROP DATABASE IF EXISTS {DB} WITH (FORCE)', db='postgres')
    print(f'1..{TAP_N}')
    return 1 if TAP_FAILED else 0


if __name__ == '__main__':
    sys.exit(main())
