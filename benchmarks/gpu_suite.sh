#!/usr/bin/env bash
# The GPU suite: one prepared run that fits in 8 minutes on one NVIDIA H100/H200.
#   benchmarks/gpu_suite.sh [OUT_DIR]             paper size on cuda (the default OUT_DIR is benchmarks/results/gpu_suite)
#   benchmarks/gpu_suite.sh --dry-run [OUT_DIR]   the same stages on CPU at tiny (checks the script without a GPU)
# Stages, each a fresh process under its own timeout (total 455 s + merge):
#   parity at tiny, GPU against CPU (60 s); FourCastNet (110 s), AI-GOMS (110 s) and GraphCast 0.25 deg (175 s)
#   at paper size, batch 1: forward and training step (MSE + backward + clip + fused AdamW) in fp32 (TF32 off)
#   and bf16 autocast, NVML energy per step, peak device memory. Every stage writes its JSON as it goes, so a
#   stage cut by its timeout keeps its figures; the merge writes OUT_DIR/gpu_suite.json with the goals
#   (15 / 25 / 150 ms per step; the study's A100: 353 / 675 / 1035 ms). Needs torch with CUDA, and
#   nvidia-ml-py for energy (without it the energy entries say why they are missing).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
P=$ROOT/plugins
export PYTHONPATH=$ROOT/core:$P/fourcastnet:$P/graphcast:$P/ai_goms:$P/backends/cuda:${PYTHONPATH:-}
export GLOG_v=3
PY=${PYTHON:-python}
DEVICE=cuda PRESET=paper
if [ "${1:-}" = "--dry-run" ]; then
  DEVICE=cpu PRESET=tiny
  shift
fi
OUT=${1:-$ROOT/benchmarks/results/gpu_suite}
mkdir -p "$OUT"
T0=$(date +%s)
if [ "$DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_suite: torch sees no CUDA device; run on the GPU machine, or pass --dry-run" >&2
  exit 2
fi
# models come through the earthzoo entry points: the distributions must be installed
if ! "$PY" -c "import sys; from earthzoo.api import list_models; sys.exit(0 if {'fourcastnet', 'ai_goms', 'graphcast'} <= set(list_models()) else 1)" 2>/dev/null; then
  echo "gpu_suite: earthzoo or its model plugins are not installed for $PY; run: pip install --no-deps -e $ROOT/core -e $P/fourcastnet -e $P/graphcast -e $P/ai_goms -e $P/backends/cuda" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv > "$OUT/nvidia_smi.csv" 2>/dev/null || true

stage() {  # stage SECONDS ARGS...: the worker under a timeout (its budget leaves 15 s for import and exit)
  local limit=$1
  shift
  timeout --kill-after=5 "$limit" "$PY" "$HERE/gpu_suite.py" --device "$DEVICE" --budget-s $((limit - 15)) "$@"
  local rc=$?
  [ $rc -eq 0 ] || echo "gpu_suite: stage '$*' ended with exit code $rc (124: timeout; its JSON keeps what it measured)" >&2
}

stage 60 --parity --out "$OUT/parity.json"
stage 110 --model fourcastnet --preset "$PRESET" --out "$OUT/fourcastnet.json"
stage 110 --model ai_goms --preset "$PRESET" --out "$OUT/ai_goms.json"
stage 175 --model graphcast --preset "$PRESET" --out "$OUT/graphcast.json"
"$PY" "$HERE/gpu_suite.py" --merge "$OUT" --out "$OUT/gpu_suite.json"
echo "gpu_suite: $(( $(date +%s) - T0 )) s in all; $OUT/gpu_suite.json"
