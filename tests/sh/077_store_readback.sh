#!/usr/bin/env bash
# What each vector-returning function returns is stored in a table, which then reads back with
# SELECT *, pg_dump and a restore of that dump (see property.py --store). Prints TAP.
set -u
exec python3 "$(dirname "$0")/property.py" --store
