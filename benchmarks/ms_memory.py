"""MindSpore training memory with and without recompute (issue 19, item 2): for each
model at one preset and batch, a fresh process per setting runs the common engine's
training step and reports the resident memory (sampled every ms) after the engine is
built and the peak over the first steps (graph compile + run) and over the steady
steps; the step's own memory is peak minus the built state. Resident memory mostly
shows the allocators' high-water marks and MindSpore's compiled graphs, so two
figures say what the step's tensors take: MindSpore's runtime memory pool (the
resident part of its blocks, which keep every page they touch: the pool's peak, where
parameters, gradients, optimizer state and activations live, what a device would
hold) and, for torch, the peak of live allocations counted by ``_heap_counter.c``
(compiled here and preloaded; the CPU counterpart of ``max_memory_allocated``).
Settings: recompute
(``Cell.recompute`` on each block, the memory schedule) off/on, crossed with
MindSpore's memory optimize level (``ms.runtime.set_memory(optimize_level=)``: O0,
the default, or O1, memory reuse). Torch (eager, checkpointing off/on) for reference.
Writes JSON; nothing is asserted.

    nice python benchmarks/ms_memory.py --preset small --batch 4 --out benchmarks/results/ms_memory_small_b4.json
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import MemoryGuard, write_result

os.environ.setdefault("GLOG_v", "3")

MODELS = ("fourcastnet", "ai_goms", "graphcast")
LIMIT_GIB = 10.0
POOL_BLOCK_MIN = 256 * 2**20  # MindSpore's CPU pool reserves 1 GiB blocks; nothing else in a step maps this much


def anonymous_mappings() -> dict[int, dict]:
    """This process's anonymous mappings of at least ``POOL_BLOCK_MIN`` bytes: start -> size, resident bytes."""
    found, current = {}, None
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts[0].endswith(":"):
                start, end = (int(v, 16) for v in parts[0].split("-"))
                current = {"size": end - start, "rss": 0} if len(parts) == 5 and end - start >= POOL_BLOCK_MIN else None
                if current:
                    found[start] = current
            elif current is not None and parts[0] == "Rss:":
                current["rss"] = int(parts[1]) * 1024
    return found


def heap_counter():
    """The preloaded ``_heap_counter.c`` (live, peak, reset_peak), or None when it is not loaded."""
    lib = ctypes.CDLL(None)
    if not hasattr(lib, "heap_counter_peak"):
        return None
    lib.heap_counter_live.restype = lib.heap_counter_peak.restype = ctypes.c_long
    return lib


def build_heap_counter(folder: str) -> tuple[str | None, str]:
    """Compiles ``_heap_counter.c`` into ``folder``: (library path or None, why not)."""
    out = Path(folder) / "libheap_counter.so"
    cmd = [os.environ.get("CC", "cc"), "-O2", "-shared", "-fPIC", "-o", str(out), str(Path(__file__).with_name("_heap_counter.c"))]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        return None, f"no C compiler ({exc})"
    return (str(out), "") if res.returncode == 0 else (None, res.stderr.strip()[-300:])


def child(args) -> dict:
    import numpy as np
    from earthzoo.api import build_model, model_card, setup_device
    from earthzoo.cards import resolve
    from earthzoo.ops import apply_custom_ops
    from earthzoo.training import TrainConfig
    from earthzoo.training.trainer import make_engine

    sampler = MemoryGuard(LIMIT_GIB, json.dumps({"error": f"exceeded {LIMIT_GIB:g} GiB RSS"}), interval=0.001)
    card = model_card(args.model)
    config = card.make_config("tiny-synthetic" if args.model == "graphcast" and args.preset == "tiny" else args.preset)
    if args.framework == "mindspore":
        import mindspore as ms
        from earthzoo.frameworks import mindspore as mfw

        mfw.set_device("CPU")
        ms.device_context.cpu.op_tuning.threads_num(1)
        ms.runtime.set_memory(optimize_level=args.level)
    else:
        import torch

        torch.set_num_threads(1)
    x = np.asarray(resolve(card.example_input)(config, args.batch, 0), np.float32)
    model = build_model(args.model, args.framework, config=config)
    if hasattr(model, "ensure_graphs"):
        model.ensure_graphs()
    apply_custom_ops(model, args.framework, "cpu")  # as a run does (EARTHZOO_CPU_KERNELS=0: MindSpore's own ops)
    cfg = TrainConfig(batch_size=args.batch, checkpointing=args.recompute)
    engine = make_engine(args.framework, model, cfg, setup_device("cpu", args.framework), card, config)
    out_ch = getattr(config, "out_chans", None) or getattr(config, "out_channels", None)
    y = np.zeros((args.batch, 1, out_ch) + x.shape[2:], np.float32)
    counter = heap_counter()
    pool_before = anonymous_mappings()
    built = sampler.take()
    live_built = counter.heap_counter_live() if counter else 0
    if counter:
        counter.heap_counter_reset_peak()
    t0 = time.perf_counter()
    engine.step([(x, y)], 1e-4)
    first_s = time.perf_counter() - t0
    first = sampler.take()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        engine.step([(x, y)], 1e-4)
    steady_s = (time.perf_counter() - t0) / args.steps
    steady = sampler.take()
    out = {"rss_built_mib": built, "peak_first_step_mib": first, "peak_steady_mib": steady, "step_growth_mib": max(first, steady) - built,
           "first_step_s": first_s, "steady_step_s": steady_s, "memory_applied": engine.memory_applied}
    if args.framework == "mindspore":
        out["pool_peak_mib"] = sum(m["rss"] for start, m in anonymous_mappings().items() if start not in pool_before) / 2**20
    elif counter:
        out["live_peak_mib"] = (counter.heap_counter_peak() - live_built) / 2**20
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--levels", default="O0,O1")
    ap.add_argument("--minus-batch", type=int, default=0,
                    help="also run each setting at this batch: the growth difference between the two batches is the batch-dependent (activation) memory, without the graph compiler's share")
    ap.add_argument("--out", default="ms_memory.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--framework", help=argparse.SUPPRESS)
    ap.add_argument("--recompute", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--level", default="O0", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    from earthzoo.files import atomic_path

    result = {"benchmark": "ms_memory", "preset": args.preset, "batch": args.batch, "target": "recompute lowers MindSpore's peak training memory by >= 30 % (issue 19)",
              "measure": {"step_growth_mib": "peak RSS over the training steps - RSS once the engine is built",
                          "pool_peak_mib": "MindSpore: resident size of the memory pool's blocks after the steps, its high-water mark (MindSpore reports no CPU allocator statistics)",
                          "live_peak_mib": "torch: peak of live malloc-family bytes over the steps - live bytes once the engine is built (_heap_counter.c)"},
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg())}, "models": {}}
    scratch = tempfile.TemporaryDirectory()
    counter, why = build_heap_counter(scratch.name)
    result["heap_counter"] = "preloaded into the torch runs" if counter else f"not built, no live_peak_mib: {why}"
    for name in args.models.split(","):
        runs = {}
        settings = [("torch", False, "-"), ("torch", True, "-")] + [("mindspore", rc, lv) for lv in args.levels.split(",") for rc in (False, True)]
        for fw, rc, lv in settings:
            key = f"{fw}{'_' + lv if fw == 'mindspore' else ''}_{'recompute' if rc else 'plain'}"
            cmd = [sys.executable, __file__, "--child", "--model", name, "--framework", fw, "--preset", args.preset, "--batch", str(args.batch), "--steps", str(args.steps), "--level", lv if lv != "-" else "O0"] + (["--recompute"] if rc else [])
            for b, suffix in [(args.batch, "")] + ([(args.minus_batch, f"_b{args.minus_batch}")] if args.minus_batch else []):
                cmd[cmd.index("--batch") + 1] = str(b)
                env = dict(os.environ, LD_PRELOAD=counter) if counter and fw == "torch" else None
                res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                lines = [ln for ln in res.stdout.strip().splitlines() if ln.startswith("{")]
                runs[key + suffix] = json.loads(lines[-1]) if lines else {"error": (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1][:300]}
                print(name, key + suffix, json.dumps(runs[key + suffix]), flush=True)
        red = {}
        for fw in ["torch"] + [f"mindspore_{lv}" for lv in args.levels.split(",")]:
            a, b = runs.get(f"{fw}_plain", {}), runs.get(f"{fw}_recompute", {})
            if "step_growth_mib" in a and "step_growth_mib" in b:
                red[fw] = {"step_growth": 1 - b["step_growth_mib"] / a["step_growth_mib"], "peak_rss": 1 - max(b["peak_first_step_mib"], b["peak_steady_mib"]) / max(a["peak_first_step_mib"], a["peak_steady_mib"])}
                for figure in ("pool_peak_mib", "live_peak_mib"):
                    if a.get(figure) and figure in b:
                        red[fw][figure.removesuffix("_mib")] = 1 - b[figure] / a[figure]
                a1, b1 = runs.get(f"{fw}_plain_b{args.minus_batch}", {}), runs.get(f"{fw}_recompute_b{args.minus_batch}", {})
                if "step_growth_mib" in a1 and "step_growth_mib" in b1:
                    da, db = a["step_growth_mib"] - a1["step_growth_mib"], b["step_growth_mib"] - b1["step_growth_mib"]
                    red[fw]["batch_dependent_growth_mib"] = {"plain": da, "recompute": db}
                    red[fw]["batch_dependent_growth"] = 1 - db / da if da > 0 else None
        result["models"][name] = {"runs": runs, "reduction_by_recompute": red}
        with atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
