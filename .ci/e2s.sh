#!/usr/bin/env bash
# CI for the earth2studio adapter and the CF checker (tests/test_earth2studio.py,
# tests/test_cf_files.py). earth2studio 0.19.0 brings about 60 packages (dask, gcsfs,
# s3fs, pyarrow, grpcio, ...) and pins netCDF4 1.7.2 below the main environment's;
# compliance-checker brings shapely, pyproj, lxml. So they get an environment of their
# own, .venv-e2s, layered over the main one ($EARTHZOO_MAIN_VENV, default .venv, which
# .ci/run builds first): it sees that environment's pinned torch, MindSpore and editable
# earthzoo packages, and holds only what it adds. The main environment is not changed
# (pip never uninstalls outside its own environment). pyarrow < 22: 22+ needs NumPy 2.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
MAIN=${EARTHZOO_MAIN_VENV:-.venv}
[ -x "$MAIN/bin/python" ] || { echo "e2s.sh: no main environment at $MAIN (run .ci/run first, or set EARTHZOO_MAIN_VENV)"; exit 2; }
rm -rf .venv-e2s
python3 -m venv .venv-e2s
base=$("$MAIN/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
own=$(.venv-e2s/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$base')" > "$own/earthzoo_main_venv.pth"  # after .venv-e2s's own packages
. .venv-e2s/bin/activate
# earth2studio's and pyarrow's pins from core/earthzoo/constraints.txt (the one place they are written)
mapfile -t PINNED < <(grep -E '^(earth2studio|pyarrow)[=<>]' core/earthzoo/constraints.txt)
[ "${#PINNED[@]}" -eq 2 ] || { echo "e2s.sh: core/earthzoo/constraints.txt lacks the earth2studio or pyarrow pin"; exit 2; }
pip install -q --disable-pip-version-check "${PINNED[@]}" "compliance-checker==6.1.0"
pip list 2>/dev/null | grep -iE '^(torch|numpy|mindspore|earth2studio|netCDF4|compliance-checker|earthzoo) '
python -c "import torch, earth2studio, compliance_checker.runner; from earthzoo.pins import satisfied; assert satisfied('torch', torch.__version__), torch.__version__"  # the tests must run, not skip
echo "e2s.sh: environment ready in $((SECONDS - start)) s"
GLOG_v=3 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} python -m pytest -q -p no:cacheprovider tests/test_earth2studio.py tests/test_cf_files.py
echo "e2s.sh: done in $((SECONDS - start)) s"
