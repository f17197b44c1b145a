"""Where the MindSpore training step's (or ``--part forward``) time goes against
torch's (issue 19): the engine's whole step (forward + loss + backward + clip + AdamW, the same weights and
batch as ``ms_engine_speed``) profiled per operator type in each framework
(MindSpore's Profiler, torch.profiler), summed over ``--steps`` steps, on the cores
the process is pinned to (``--pin``: as many as ``--threads``). Writes JSON (per framework: milliseconds per step and
calls per step for each operator type, and the step's wall time); nothing is asserted.

    nice python benchmarks/ms_op_profile.py --pin --out benchmarks/results/ms_op_profile.json
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import platform
import tempfile
import time

os.environ.setdefault("GLOG_v", "3")

from _timing import pin, write_result  # noqa: E402
from ms_engine_speed import runners  # noqa: E402


def mindspore_ops(step, steps: int) -> dict[str, dict[str, float]]:
    from mindspore import Profiler

    with tempfile.TemporaryDirectory() as out:
        prof = Profiler(output_path=out)
        for _ in range(steps):
            step()
        prof.stop()
        prof.analyse()
        (table,) = glob.glob(f"{out}/**/cpu_op_type_info_*.csv", recursive=True)
        with open(table) as f:
            rows = list(csv.DictReader(f))
    return {r["op_type"]: {"ms_per_step": float(r["total_compute_time"]) / steps, "calls_per_step": int(r["type_occurrences"]) / steps} for r in rows}


def torch_ops(step, steps: int) -> dict[str, dict[str, float]]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    # self time, so nested ops are not counted twice
    return {e.key: {"ms_per_step": e.self_cpu_time_total / 1e3 / steps, "calls_per_step": e.count / steps} for e in prof.key_averages() if e.self_cpu_time_total > 0}


def wall_ms(step, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="fourcastnet,ai_goms,graphcast")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--top", type=int, default=20, help="operator types kept per framework")
    ap.add_argument("--part", choices=("train_step", "forward"), default="train_step")
    ap.add_argument("--threads", type=int, default=1, help="threads of both frameworks (MindSpore: earthzoo's split, bench.set_threads)")
    ap.add_argument("--pin", action="store_true", help="run on --threads cores (see ms_engine_speed --pin)")
    ap.add_argument("--out", default="ms_op_profile.json")
    args = ap.parse_args(argv)

    import mindspore as ms
    import torch
    from earthzoo.bench import set_threads

    if args.pin:
        pin(args.threads)
    set_threads(args.threads, ("torch", "mindspore"))
    result = {
        "benchmark": "ms_op_profile",
        "part": args.part,
        "threads": args.threads,
        "preset": args.preset,
        "steps": args.steps,
        "machine": {"platform": platform.platform(), "cores_allowed": sorted(os.sched_getaffinity(0)), "load_average_at_start": list(os.getloadavg()), "torch": torch.__version__, "mindspore": ms.__version__},
        "models": {},
    }
    for name in args.models.split(","):
        fns = runners(name, args.preset, 1, 0)
        rec = {}
        for fw, profiler in (("torch", torch_ops), ("mindspore", mindspore_ops)):
            step = fns[f"{fw}_{args.part}"]
            for _ in range(3):  # compile and warm up
                step()
            ops_ = profiler(step, args.steps)
            top = dict(sorted(ops_.items(), key=lambda kv: -kv[1]["ms_per_step"])[: args.top])
            rec[fw] = {"wall_ms_per_step": wall_ms(step, args.steps), "op_ms_per_step": sum(v["ms_per_step"] for v in ops_.values()), "top_ops": top}
        result["models"][name] = rec
        print(name, {fw: round(r["wall_ms_per_step"], 1) for fw, r in rec.items()}, flush=True)
        for fw, r in rec.items():
            print(f"  {fw}: " + ", ".join(f"{k} {v['ms_per_step']:.1f}" for k, v in list(r["top_ops"].items())[:8]), flush=True)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
