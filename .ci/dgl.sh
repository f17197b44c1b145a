#!/usr/bin/env bash
# CI for the DGL engine (docs/dgl.md): DGL's wheels stop at torch 2.2, so it gets its own
# virtual environment (.venv-dgl, torch 2.2.1 + dgl 2.1.0, no MindSpore) with core, the
# GraphCast plugin and earthzoo-dgl installed from this repository, then its tests.
# Wheels are kept in a wheelhouse ($EARTHZOO_DGL_WHEELS, default ~/.cache/earthzoo/dgl-wheels):
# a run whose wheels are all there installs offline; otherwise they are downloaded into it first
# (PyPI's torch 2.2.1 brings about 2.5 GB of CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
WHEELS=${EARTHZOO_DGL_WHEELS:-$HOME/.cache/earthzoo/dgl-wheels}
REQS=(./core ./plugins/graphcast "./plugins/dgl[dgl]" "pytest>=8" "setuptools>=77")
rm -rf .venv-dgl
python3 -m venv .venv-dgl
. .venv-dgl/bin/activate
mkdir -p "$WHEELS"
pip_() {  # quiet, less the warnings about this machine's configured local index folders
    python -m pip -q --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
# --no-compile: Python byte-compiles what it imports, so the install skips compiling all of torch
if ! pip_ install --no-compile --no-index --find-links "$WHEELS" "${REQS[@]}" >/dev/null; then
    echo "dgl.sh: filling the wheelhouse $WHEELS"
    pip_ download -d "$WHEELS" "${REQS[@]}"
    pip_ install --no-compile --no-index --find-links "$WHEELS" "${REQS[@]}"
fi
pip list 2>/dev/null | grep -E '^(torch|torchdata|dgl|numpy|earthzoo.*) '
python -c "from earthzoo_dgl import unavailable_reason as r; import sys; sys.exit(r())"  # the engine tests must run, not skip
echo "dgl.sh: environment ready in $((SECONDS - start)) s"
DGLBACKEND=pytorch OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} python -m pytest -q -p no:cacheprovider plugins/dgl/tests
echo "dgl.sh: done in $((SECONDS - start)) s"
