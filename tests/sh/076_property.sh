#!/usr/bin/env bash
# Property test: random and extreme vectors through every function that takes or returns vectors
# (see property.py). RUVECTOR_PROPERTY_SEED replays a run. Prints TAP.
set -u
exec python3 "$(dirname "$0")/property.py"
