"""Converting a paper-size FourCastNet checkpoint (NVlabs layout, about 299 MB of
random weights at the ``paper`` preset) to canonical safetensors, against a plain
``cp`` of the same bytes: whole processes, run alternately in one session, medians
compared, per pair and overall, with each process's CPU time (user + system)
beside its wall time. Writes JSON (with the load average); nothing is asserted.

    nice python benchmarks/convert_speed.py --out benchmarks/results/convert_speed.json
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
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", default=None, help="Folder for the files (default: a temporary one beside --out).")
    ap.add_argument("--out", default="convert_speed.json")
    args = ap.parse_args(argv)

    from earthzoo.files import atomic_write_text

    folder = Path(args.dir or tempfile.mkdtemp(prefix="convert_speed.", dir=Path(args.out).resolve().parent))
    src = folder / "backbone.ckpt"
    params = make_checkpoint(src)
    # bytecode cached as in an installed package (outside the tree), whatever the shell says
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(OMP_NUM_THREADS="1", GLOG_v="3", PYTHONPYCACHEPREFIX=str(folder / "pycache"))
    copy = ["cp", str(src), str(folder / "copy.ckpt")]
    conv = [sys.executable, "-m", "earthzoo", "convert", str(src), str(folder / "out.safetensors"), "--model", "fourcastnet", "--preset", "paper"]
    load_before = os.getloadavg()
    wall(copy, env), wall(conv, env)  # warm the page cache and the imports alike
    cp_s, convert_s = [], []
    for _ in range(args.repeats):  # alternate, so both see the same machine; both write new files
        (folder / "copy.ckpt").unlink()
        (folder / "out.safetensors").unlink()
        cp_s.append(wall(copy, env, "cp"))
        convert_s.append(wall(conv, env, "convert"))
    load_after = os.getloadavg()
    import numpy as np
    from earthzoo.torchfile import load_training_checkpoint
    from earthzoo.weights import load_canonical

    a, b = load_training_checkpoint(src, "FourCastNet", "")[0], load_canonical(folder / "out.safetensors").tensors
    exact = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    result = {
        "benchmark": "convert NVlabs FourCastNet checkpoint (paper preset, random weights) -> canonical safetensors, whole process, vs cp",
        "bytes": src.stat().st_size, "parameters": int(params), "repeats": args.repeats,
        "cp_s": cp_s, "convert_s": convert_s, "cp_median_s": statistics.median(cp_s), "convert_median_s": statistics.median(convert_s),
        "ratio_convert_over_cp": statistics.median(convert_s) / statistics.median(cp_s),
        "ratio_per_pair": [c / p for c, p in zip(convert_s, cp_s)], "ratio_per_pair_median": statistics.median(c / p for c, p in zip(convert_s, cp_s)),
        "cp_cpu_s": CPU["cp"], "convert_cpu_s": CPU["convert"],
        "ratio_cpu_median": statistics.median(CPU["convert"]) / statistics.median(CPU["cp"]),
        "converted_bit_exact": exact, "convert_command": " ".join(conv[1:]), "bytecode": "cached (PYTHONPYCACHEPREFIX), as installed",
        "loadavg_before": load_before, "loadavg_after": load_after, "cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
    }
    for f in (src, folder / "copy.ckpt", folder / "out.safetensors"):
        f.unlink(missing_ok=True)
    shutil.rmtree(folder / "pycache", ignore_errors=True)
    if not args.dir:
        folder.rmdir()
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_s") and k != "ratio_per_pair" or "median" in k}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
