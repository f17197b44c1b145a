"""Converting a paper-size FourCastNet checkpoint (NVlabs layout, about 299 MB of
random weights at the ``paper`` preset) to canonical safetensors and to a MindSpore
checkpoint (``--to mindspore``), against a plain ``cp`` of the same bytes: whole
processes, run in turn in each round (cp, convert to safetensors, convert to
MindSpore, a bare ``python -c pass`` for the interpreter's own start), ratios per
round and of the medians, with each process's CPU time (user + system) beside its
wall time. Neither cp nor earthzoo calls fsync (earthzoo writes a temporary file and
renames it). Writes JSON (with the load average before and after); nothing is asserted.

    nice python benchmarks/convert_speed.py --repeats 15 --out benchmarks/results/convert_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_checkpoint(path: Path, seed: int = 0) -> int:
    """Random weights of every parameter at the paper preset, in the NVlabs layout; returns the parameter count."""
    import numpy as np
    from earthzoo.api import model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo_fourcastnet.config import parameter_shapes

    rng = np.random.default_rng(seed)
    shapes = parameter_shapes(model_card("fourcastnet").make_config("paper"))
    tensors = {k: rng.standard_normal(s, dtype=np.float32) * 0.02 for k, s in shapes.items()}
    tfw.save_training_checkpoint(path, tensors)
    return sum(v.size for v in tensors.values())


CPU: dict[str, list[float]] = {}


def wall(cmd: list[str], env: dict, record: str | None = None) -> float:
    """Wall seconds of one process; its CPU seconds (user + system) go to CPU[record]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if record:
        CPU.setdefault(record, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--dir", default=None, help="Folder for the files (default: a temporary one beside --out).")
    ap.add_argument("--out", default="convert_speed.json")
    ap.add_argument("--before", default=None, metavar="PYTHONPATH", help="Also run the conversions with this PYTHONPATH (an earlier tree's core and plugins), in the same rounds.")
    ap.add_argument("--before-label", default="", help="What the --before tree is (a commit), for the JSON.")
    args = ap.parse_args(argv)

    from earthzoo.files import atomic_write_text

    folder = Path(args.dir or tempfile.mkdtemp(prefix="convert_speed.", dir=Path(args.out).resolve().parent))
    src = folder / "backbone.ckpt"
    params = make_checkpoint(src)
    # bytecode cached as in an installed package (outside the tree), whatever the shell says
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(OMP_NUM_THREADS="1", GLOG_v="3", PYTHONPYCACHEPREFIX=str(folder / "pycache"))
    outs = {"cp": folder / "copy.ckpt", "safetensors": folder / "out.safetensors", "mindspore": folder / "out.ckpt"}
    convert = [sys.executable, "-m", "earthzoo", "convert", str(src)]
    commands = {
        "cp": ["cp", str(src), str(outs["cp"])],
        "safetensors": [*convert, str(outs["safetensors"]), "--model", "fourcastnet", "--preset", "paper"],
        "mindspore": [*convert, str(outs["mindspore"]), "--model", "fourcastnet", "--preset", "paper", "--to", "mindspore"],
        "python": [sys.executable, "-c", "pass"],
    }
    envs = {name: env for name in commands}
    if args.before:
        for target in ("safetensors", "mindspore"):
            outs[f"{target}_before"] = outs[target].with_stem("before")
            commands[f"{target}_before"] = [*commands[target][:5], str(outs[f"{target}_before"]), *commands[target][6:]]
            envs[f"{target}_before"] = {**env, "PYTHONPATH": args.before}

    def clear() -> None:
        for f in outs.values():
            f.unlink(missing_ok=True)
            Path(f"{f}.extras.npz").unlink(missing_ok=True)

    load_before = os.getloadavg()
    for name, cmd in commands.items():  # warm the page cache and the imports alike
        wall(cmd, envs[name])
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):  # in turn, so all see the same machine; all write new files
        clear()
        for name, cmd in commands.items():
            times[name].append(wall(cmd, envs[name], name))
    load_after = os.getloadavg()
    import numpy as np
    from earthzoo import msckpt
    from earthzoo.torchfile import load_training_checkpoint
    from earthzoo.weights import load_canonical

    a = load_training_checkpoint(src, "FourCastNet", "")[0]
    exact = {}
    for target, b in (("safetensors", load_canonical(outs["safetensors"]).tensors), ("mindspore", msckpt.read(outs["mindspore"]))):
        exact[target] = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    med = {name: statistics.median(v) for name, v in times.items()}
    targets = {}
    for target in ("safetensors", "mindspore"):
        per_round = [c / p for c, p in zip(times[target], times["cp"])]
        targets[target] = {
            "convert_command": " ".join(commands[target][1:]), "convert_s": times[target], "convert_median_s": med[target],
            "ratio_convert_over_cp": med[target] / med["cp"], "ratio_per_round": per_round,
            "ratio_per_round_median": statistics.median(per_round), "ratio_per_round_min": min(per_round),
            "convert_cpu_s": CPU[target], "ratio_cpu_median": statistics.median(CPU[target]) / statistics.median(CPU["cp"]),
            "converted_bit_exact": exact[target],
        }
        if args.before:
            before = times[f"{target}_before"]
            targets[target]["before"] = {
                "label": args.before_label, "pythonpath": args.before, "convert_s": before, "convert_median_s": statistics.median(before),
                "ratio_convert_over_cp": statistics.median(before) / med["cp"], "ratio_per_round_median": statistics.median(b / p for b, p in zip(before, times["cp"])),
                "ratio_cpu_median": statistics.median(CPU[f"{target}_before"]) / statistics.median(CPU["cp"]),
            }
    result = {
        "benchmark": "convert NVlabs FourCastNet checkpoint (paper preset, random weights) -> canonical safetensors / MindSpore .ckpt, whole process, vs cp",
        "bytes": src.stat().st_size, "parameters": int(params), "repeats": args.repeats, "targets": targets,
        "cp_s": times["cp"], "cp_median_s": med["cp"], "cp_cpu_s": CPU["cp"],
        "python_start_s": times["python"], "python_start_median_s": med["python"], "ratio_python_start_over_cp": med["python"] / med["cp"],
        "fsync": "none by cp or earthzoo (earthzoo: temporary file, then rename)", "bytecode": "cached (PYTHONPYCACHEPREFIX), as installed",
        "loadavg_before": load_before, "loadavg_after": load_after, "cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
    }
    clear()
    src.unlink(missing_ok=True)
    shutil.rmtree(folder / "pycache", ignore_errors=True)
    if not args.dir:
        folder.rmdir()
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    summary = {t: {k: v for k, v in r.items() if k.startswith("ratio") and k != "ratio_per_round" or k in ("convert_median_s", "converted_bit_exact")} for t, r in targets.items()}
    print(json.dumps({"cp_median_s": med["cp"], "python_start_median_s": med["python"], **summary, "loadavg_before": load_before, "loadavg_after": load_after}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
