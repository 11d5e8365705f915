#!/usr/bin/env bash
# SAGEConv's project / lstm options and the graph readouts (global pools, AttentionalAggregation,
# Set2Set, Linear heads, ruvector_gnn_classify) and the RuVector layer (ruvector_differentiable_search
# with a model, over a ruhnsw index) through SQL against the same modules written in
# PyTorch with PyG's definitions, when python3-torch is installed; skipped otherwise. Prints TAP.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
if ! $PY -c "import torch, numpy" 2>/dev/null; then
	echo "1..0 # SKIP python3-torch is not installed"
	exit 0
fi
fresh_db ruvector_torch_layers
$PY "$(dirname "$0")/../gnn_layers_torch_check.py"
rc=$?
# The RuVector layer over a ruhnsw index's graph (its own TAP numbering; the runner counts ok lines).
$PY "$(dirname "$0")/../ruvector_layer_torch_check.py" || rc=1
psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
exit $rc
