#!/usr/bin/env bash
# The install matrix: every distribution built as a wheel (pip wheel --no-deps) and
# installed, without the others, into its own fresh virtual environment, then used:
#   torch      earthzoo[torch,synthetic] + earthzoo-fourcastnet: data make, train, forecast,
#              evaluate, convert (MindSpore checkpoints too, without MindSpore); parity refused in one line
#   mindspore  earthzoo[mindspore,plot] + earthzoo-ai-goms + earthzoo-fourcastnet, no torch
#              importable: train, forecast, evaluate, convert safetensors <-> MindSpore ckpt
#   graphcast  earthzoo[torch] + earthzoo-graphcast
#   cuda, ascend, dcu  core + that backend, no framework: `earthzoo backends` lists it
# Prints each environment's framework/plotting packages and every command; exits
# non-zero on the first failure. pip's cache is reused (nothing passes --no-cache-dir).
# Usage: bash .ci/install_matrix.sh [WORKDIR]   (default: a new temporary folder)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/earthzoo-matrix.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
PY=${PYTHON:-python3}
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
for v in $(env | grep -o '^EARTHZOO_[A-Z_]*' || true); do unset "$v"; done
export GLOG_v=3 PIP_DISABLE_PIP_VERSION_CHECK=1
T0=$SECONDS

x() { printf '$ %s\n' "$*" >&2; "$@"; }  # the command to stderr, so that its stdout may be redirected

refused() {  # refused WORD CMD...: the command must exit 2 with one line on stderr that names WORD
    local word=$1 err rc=0
    shift
    printf '$ %s   # must be refused naming %s\n' "$*" "$word"
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    printf '%s\n' "$err"
    if [ "$rc" != 2 ] || [ "$(printf '%s\n' "$err" | wc -l)" != 1 ] || [[ "$err" != *"$word"* ]]; then
        echo "FAIL: expected exit 2 and one line naming $word, got exit $rc" >&2
        exit 1
    fi
}

absent() {  # absent MODULE...: none of them importable here
    for m in "$@"; do
        printf '$ python -c "import %s"   # must fail\n' "$m"
        if python -c "import $m" 2>/dev/null; then
            echo "FAIL: $m is importable in this environment" >&2
            exit 1
        fi
        echo "ModuleNotFoundError: No module named '$m' (as it should be)"
    done
}

doctor() {  # doctor [FEATURE=PIP]...: print what `earthzoo doctor` finds usable here; each FEATURE must be missing with exactly that PIP command
    printf '$ earthzoo doctor --json\n' >&2
    earthzoo doctor --json | python -c '
import json, sys
feats = {c["feature"]: c for c in json.load(sys.stdin) if "feature" in c}
for c in feats.values():
    print("  %s: %s: %s" % (c["distribution"], c["feature"], "usable" if c["usable"] else c["pip"]))
for want in sys.argv[1:]:
    feature, pip = want.split("=", 1)
    assert feats[feature]["pip"] == pip, (feature, feats[feature]["pip"], pip)
' "$@"
}

newenv() {  # newenv NAME REQUIREMENT...: a fresh venv holding exactly these wheels and their dependencies
    local name=$1
    shift
    echo
    echo "=== environment $name ($(( SECONDS - T0 )) s)"
    rm -rf "$WORK/$name"
    "$PY" -m venv "$WORK/$name"
    printf '$ pip install %s\n' "${*//$WHEELS\//}"
    "$WORK/$name/bin/pip" install -qq --no-compile "$@"  # no .pyc for all of torch/MindSpore up front: imports compile what they use
    "$WORK/$name/bin/pip" list 2>/dev/null | grep -E 'torch|mindspore|matplotlib' | sed 's/^/  pip list: /' || echo "  pip list: (no torch, mindspore or matplotlib)"
}

echo "=== wheels"
WHEELS=$WORK/wheels SRC=$WORK/src
rm -rf "$WHEELS" "$SRC"
mkdir -p "$SRC"
# a clean copy of the sources: a stale build/ from an earlier build would leak into the wheels
tar -C "$REPO" --exclude=build --exclude='*.egg-info' --exclude=__pycache__ -cf - core plugins | tar -C "$SRC" -xf -
# the build backend from this interpreter when it has one new enough (CI's venv does), else an isolated build
ISOLATION=$("$PY" -c 'import setuptools; assert int(setuptools.__version__.split(".")[0]) >= 77; print("--no-build-isolation")' 2>/dev/null || true)
x "$PY" -m pip wheel -q --no-deps $ISOLATION -w "$WHEELS" "$SRC/core" "$SRC"/plugins/fourcastnet "$SRC"/plugins/graphcast "$SRC"/plugins/ai_goms \
    "$SRC"/plugins/backends/cuda "$SRC"/plugins/backends/ascend "$SRC"/plugins/backends/rocm_dcu
whl() { ls "$WHEELS"/"$1"-*.whl; }
CORE=$(whl earthzoo)
ls "$WHEELS"

# ---------------------------------------------------------------- torch only
newenv torch "$CORE[torch,synthetic]" "$(whl earthzoo_fourcastnet)"
(
    . "$WORK/torch/bin/activate" && cd "$WORK/torch" && export EARTHZOO_CACHE=$WORK/torch/cache
    absent mindspore matplotlib
    x earthzoo data make synthetic-atmosphere --size tiny --out atmos.nc
    x earthzoo train fourcastnet --framework torch --preset tiny --data atmos.nc --steps 3 --out run 2> train.err
    cat train.err
    grep -q "note: plot skipped" train.err && test -s run/weights.safetensors && test -s run/summary.json
    x earthzoo forecast fourcastnet --weights run/weights.safetensors --framework torch --init atmos.nc --steps 2 --out fc.nc
    x earthzoo evaluate fc.nc atmos.nc --json > scores.json
    x earthzoo evaluate fc.nc synthetic-atmosphere:tiny > /dev/null
    x earthzoo convert run/weights.safetensors w.pt --model fourcastnet --to torch --verify
    x earthzoo convert w.pt back.safetensors --model fourcastnet --verify
    refused mindspore earthzoo parity fourcastnet --preset tiny
    x earthzoo convert run/weights.safetensors w.ckpt --model fourcastnet --to mindspore --verify  # MindSpore checkpoints need no MindSpore
    doctor "fourcastnet in mindspore=pip install 'earthzoo-fourcastnet[mindspore]'" "figures (loss curves, report)=pip install 'earthzoo[plot]'"
)

# ---------------------------------------------------------------- MindSpore only, no torch
newenv mindspore "$CORE[mindspore,plot]" "$(whl earthzoo_ai_goms)" "$(whl earthzoo_fourcastnet)"
(
    . "$WORK/mindspore/bin/activate" && cd "$WORK/mindspore" && export EARTHZOO_CACHE=$WORK/mindspore/cache
    absent torch
    cp ../torch/atmos.nc .  # the synthetic atmosphere's solver is torch-harmonics; the file it wrote is framework-free
    refused "earthzoo[synthetic]" earthzoo data make synthetic-atmosphere --size tiny --out made-here.nc
    x earthzoo train fourcastnet --framework mindspore --preset tiny --data atmos.nc --steps 3 --out run
    test -s run/loss_curve.png
    x ls cache/kernels/mindspore_cpu_*.so  # the CPU kernels, built from the installed wheel's source
    x earthzoo forecast fourcastnet --weights run/weights.safetensors --framework mindspore --init atmos.nc --steps 2 --out fc.nc
    x earthzoo evaluate fc.nc atmos.nc --json > scores.json
    x earthzoo convert run/weights.safetensors fcn.ckpt --model fourcastnet --to mindspore --verify
    x earthzoo convert fcn.ckpt fcn.safetensors --model fourcastnet --verify
    x earthzoo data make synthetic-ocean --size tiny --out ocean.nc
    x earthzoo train ai_goms --framework mindspore --preset tiny --data ocean.nc --steps 3 --out run-ocean
    x earthzoo forecast ai_goms --weights run-ocean/weights.safetensors --framework mindspore --init ocean.nc --steps 2 --out fc-ocean.nc
    x earthzoo evaluate fc-ocean.nc synthetic-ocean:tiny --json > scores-ocean.json
    x earthzoo convert run-ocean/weights.safetensors goms.ckpt --model ai_goms --to mindspore --verify
    x earthzoo convert goms.ckpt goms.safetensors --model ai_goms --verify
    refused torch earthzoo parity ai_goms --preset tiny
    refused torch earthzoo convert run/weights.safetensors w.pt --model fourcastnet --to torch
    absent torch  # still: nothing above installed or imported it
    doctor "parity (torch vs MindSpore)=pip install 'earthzoo[torch,mindspore]'" "convert --to ai-goms=pip install 'earthzoo-ai-goms[torch]'"
)

# ---------------------------------------------------------------- GraphCast alone
newenv graphcast "$CORE[torch]" "$(whl earthzoo_graphcast)"
(
    . "$WORK/graphcast/bin/activate" && cd "$WORK/graphcast" && export EARTHZOO_CACHE=$WORK/graphcast/cache
    absent mindspore
    cp ../torch/atmos.nc .
    # tiny is the DeepMind fixture's config (10 channels); tiny-synthetic takes the 5-channel tiny atmosphere
    x earthzoo train graphcast --preset tiny-synthetic --data atmos.nc --steps 2 --out run
    x earthzoo forecast graphcast --weights run/weights.safetensors --init atmos.nc --steps 2 --out fc.nc
    x earthzoo evaluate fc.nc atmos.nc --json > scores.json
    W=run/weights.safetensors
    x earthzoo convert "$W" gc.pt --model graphcast --verify
    refused mindspore earthzoo parity graphcast --preset tiny
    doctor "graphcast in mindspore=pip install 'earthzoo-graphcast[mindspore]'"
)

# ---------------------------------------------------------------- each chip backend alone next to core, no framework
for b in cuda:earthzoo_cuda ascend:earthzoo_ascend dcu:earthzoo_dcu; do
    name=${b%%:*}
    newenv "backend-$name" "$CORE" "$(whl "${b#*:}")"
    (
        . "$WORK/backend-$name/bin/activate" && cd "$WORK/backend-$name"
        absent torch mindspore
        x earthzoo backends --json > backends.json
        python -c "import json, sys; names = [b['name'] for b in json.load(open('backends.json'))]; assert '$name' in names, names; print('listed:', names)"
        doctor "backend $name with torch=pip install 'earthzoo-$name[torch]'"
    )
done

echo
echo "install matrix passed in $(( SECONDS - T0 )) s ($WORK)"
