"""Peak memory of one paper-size forward (issue 19, item 2): ``--model`` (FourCastNet,
720x1440, 74.7 M parameters, by default; ``--model ai_goms`` the same grid), batch 1,
one thread, in a fresh process per framework, one after the other. Each child reports its resident memory after building the model and the
peak (sampled every 5 ms) over the first call (MindSpore: graph compile + run) and a
second call; the parent writes both and the MindSpore / torch ratios. A child above
``--limit-gib`` is ended and says so. Writes JSON; nothing is asserted.

    nice python benchmarks/paper_forward_memory.py --out benchmarks/results/paper_forward_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from _timing import MemoryGuard, write_result

os.environ.setdefault("GLOG_v", "3")


def child(framework: str, model: str, preset: str, limit_gib: float, level: str) -> dict:
    import numpy as np
    from earthzoo.api import build_model, model_card
    from earthzoo.bench import set_threads
    from earthzoo.cards import resolve
    from earthzoo.frameworks import framework_module
    from earthzoo.machine import RssPeak
    from earthzoo.ops import apply_custom_ops

    MemoryGuard(limit_gib, json.dumps({"framework": framework, "error": f"above {limit_gib:g} GiB RSS"}), interval=0.01)
    fw = framework_module(framework)
    set_threads(1, (framework,))
    if framework == "mindspore" and level:
        import mindspore as ms

        ms.runtime.set_memory(optimize_level=level)
    card = model_card(model)
    config = card.make_config(preset)
    fw.seed_everything(0)
    with RssPeak() as build:
        net = build_model(model, framework, config=config)
        apply_custom_ops(net, framework, "cpu")  # as a forecast does (EARTHZOO_CPU_KERNELS=0: MindSpore's own ops)
        forward = fw.inference_function(net)
    x = np.asarray(resolve(card.example_input)(config, 1, 0), np.float32)
    out = {"framework": framework, "rss_after_build_mib": build.peak}
    for call in ("first", "second"):
        t0 = time.perf_counter()
        with RssPeak() as peak:
            forward(x)
        out[f"{call}_call_s"] = time.perf_counter() - t0
        out[f"{call}_call_peak_rss_mib"] = peak.peak
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fourcastnet")
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--limit-gib", type=float, default=20.0)
    ap.add_argument("--ms-memory-level", default="", help="ms.runtime.set_memory(optimize_level=...) for MindSpore (O0 default, O1 memory reuse)")
    ap.add_argument("--out", default="paper_forward_memory.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model, args.preset, args.limit_gib, args.ms_memory_level)), flush=True)
        return 0

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = {"benchmark": "paper_forward_memory", "model": args.model, "preset": args.preset, "mindspore_memory_level": args.ms_memory_level or "default (O0)", "machine": {"platform": platform.platform(), "load_average_at_start": list(os.getloadavg())}, "frameworks": {}}
    for framework in ("torch", "mindspore"):
        proc = subprocess.run([sys.executable, __file__, "--child", framework, "--model", args.model, "--preset", args.preset, "--limit-gib", str(args.limit_gib), "--ms-memory-level", args.ms_memory_level], capture_output=True, text=True, env=env)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        result["frameworks"][framework] = json.loads(lines[-1]) if lines else {"error": f"rc {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''}"}
        print(framework, result["frameworks"][framework], flush=True)
    t, m = result["frameworks"]["torch"], result["frameworks"]["mindspore"]
    if "error" not in t and "error" not in m:
        result["mindspore_over_torch"] = {
            "peak_rss": max(m["first_call_peak_rss_mib"], m["second_call_peak_rss_mib"]) / max(t["first_call_peak_rss_mib"], t["second_call_peak_rss_mib"]),
            "forward_increment": (m["second_call_peak_rss_mib"] - m["rss_after_build_mib"]) / (t["second_call_peak_rss_mib"] - t["rss_after_build_mib"]),
        }
    write_result(result, args.out)
    print(json.dumps(result.get("mindspore_over_torch")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
