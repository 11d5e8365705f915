#!/usr/bin/env bash
# pgvector 0.8's README, statement by statement, in a fresh database (see pgvector_readme.py).
# Prints TAP: statements ruvector cannot run yet are SKIPs with the reason; the last comment line
# says how many of the README's statements run.
set -u
. "$(dirname "$0")/lib.sh"
export PGDATABASE=rv_pgvector_readme
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE" >/dev/null
exec python3 "$(dirname "$0")/pgvector_readme.py" "$(dirname "$0")/pgvector_readme.sql"
