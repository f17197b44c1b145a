"""Where a GPU step's time goes, next to the GPU suite (``benchmarks/gpu_suite.sh``):
per model at batch 1 in bf16 autocast, a forward and a training step under
``torch.profiler``: the device's busy time against the wall time (a step whose
kernels fill a small share of its wall time is bound by kernel launches, not by the
GPU), and the kernels that take the most device time. With ``--compile``, the same
two calls through ``torch.compile`` beside the eager ones, compile time recorded.

    python benchmarks/gpu_profile.py --model fourcastnet --device cuda --preset paper --out DIR/profile_fourcastnet.json
    python benchmarks/gpu_profile.py --model fourcastnet --device cuda --preset paper --compile --out DIR/compile_fourcastnet.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from types import SimpleNamespace

os.environ.setdefault("GLOG_v", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gpu_suite import MODELS, _adamw, _machine, _model_and_input, _sync, _write, step_calls  # noqa: E402


def _calls(model, x, device: str):
    """The suite's two calls in bf16: forward (no grad) and training step."""
    import torch

    with torch.no_grad():
        y = torch.randn_like(model(x).float())
    return step_calls(model, x, y, device, "bfloat16", [_adamw(model, device)])


def _wall_ms(fn, device: str, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def profile(fn, device: str, reps: int, top: int) -> dict:
    """Device busy time per call and the kernels with the most device time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn(), fn()
    _sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        wall = _wall_ms(fn, device, reps)
    # on CUDA the kernels (and copies) are the events of device type CUDA; on CPU (a dry
    # run) every op's self time is the "device" time
    events = [e for e in prof.key_averages() if device != "cuda" or "CUDA" in str(e.device_type)]
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    busy_ms = sum(getattr(e, attr) for e in events) / 1e3 / reps
    ranked = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    return {
        "wall_ms_median": statistics.median(wall),
        "device_busy_ms_per_call": busy_ms,
        "device_busy_share": busy_ms / statistics.median(wall),
        "kernel_launches_per_call": sum(e.count for e in events) / reps,
        "top": [{"name": e.key[:120], "ms_per_call": getattr(e, attr) / 1e3 / reps, "calls_per_step": e.count / reps} for e in ranked],
    }


def compiled(model, x, device: str, reps: int) -> dict:
    """The two calls eager and through ``torch.compile`` (default mode), side by side."""
    import torch

    out = {}
    eager = _calls(model, x, device)
    t0 = time.perf_counter()
    fast = _calls(torch.compile(model), x, device)
    for kind in ("forward", "train_step"):
        t1 = time.perf_counter()
        fast[kind]()
        _sync(device)
        first_ms = (time.perf_counter() - t1) * 1e3
        eager[kind](), fast[kind]()
        _sync(device)
        e, c = [], []
        for _ in range(reps):  # interleaved
            e += _wall_ms(eager[kind], device, 1)
            c += _wall_ms(fast[kind], device, 1)
        out[kind] = {"eager_ms_median": statistics.median(e), "compiled_ms_median": statistics.median(c), "compiled_over_eager": statistics.median(c) / statistics.median(e), "first_call_with_compile_ms": first_ms}
        print(kind, out[kind], flush=True)
    out["compile_and_measure_s"] = time.perf_counter() - t0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=MODELS, required=True)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--compile", action="store_true", help="time torch.compile against eager instead of profiling")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import torch
    from earthzoo.frameworks import torch as tfw

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"error: torch {torch.__version__} sees no CUDA device; use --device cpu to check the script", file=sys.stderr)
        return 2
    model, x = _model_and_input(args.model, args.preset, args.device)
    tfw.mixed_precision(model, SimpleNamespace(autocast_dtype="bfloat16"))
    result = {"benchmark": "gpu_compile" if args.compile else "gpu_profile", "model": args.model, "preset": args.preset, "batch": 1, "precision": "bf16 autocast", "machine": _machine(args.device)}
    if args.compile:
        result["calls"] = compiled(model, x, args.device, args.reps)
    else:
        calls = _calls(model, x, args.device)
        result["calls"] = {}
        for kind, fn in calls.items():
            try:
                result["calls"][kind] = profile(fn, args.device, args.reps, args.top)
            except torch.cuda.OutOfMemoryError as exc:  # GraphCast's 0.25 deg training step in a profiler's process
                result["calls"][kind] = {"error": f"out of memory: {str(exc).splitlines()[0][:200]}"}
            _write(args.out, result)
            r = result["calls"][kind]
            if "error" in r:
                print(args.model, kind, r["error"], flush=True)
                continue
            print(args.model, kind, f"wall {r['wall_ms_median']:.2f} ms, device busy {r['device_busy_ms_per_call']:.2f} ms ({r['device_busy_share']:.0%}), {r['kernel_launches_per_call']:.0f} kernels", flush=True)
            for t in r["top"][:8]:
                print(f"   {t['ms_per_call']:8.2f} ms  x{t['calls_per_step']:<5.0f} {t['name'][:90]}", flush=True)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    _write(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
