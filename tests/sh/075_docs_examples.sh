#!/usr/bin/env bash
# Every ```sql example in README.md and docs/*.md runs as written (see docs_examples.py). Prints TAP.
set -u
exec python3 "$(dirname "$0")/docs_examples.py" "$(cd "$(dirname "$0")/../.." && pwd)"
