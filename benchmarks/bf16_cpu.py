"""bf16 inference on CPU and torch's share of the matmul roof (issue 19, items 4 and 5),
paper-size FourCastNet (720x1440, 74.7 M parameters), batch 1, one thread by default.

One run, interleaved: a 10-step rollout in fp32 and, from the same initial state, in
bf16 (torch CPU autocast through earthzoo's precision plan: matmuls in bf16, the
spectral filters and norms in fp32), each step timed in both precisions; the bf16
state's error against the fp32 state after every step (RMS difference / RMS of the
fp32 state, and per channel); and, between the steps, the fp32 and bf16 matmul rates
of this CPU (one GEMM of the model's MLP shape), so the model's achieved FLOP rate
(matmul FLOPs counted by torch's flop counter in the warm-up call, FFTs left out) is a share of the roof
measured under the same load. MindSpore has no bf16 CPU kernels (earthzoo's CPU plan
refuses it). A watchdog ends the process above 10 GiB RSS. Writes JSON; nothing is
asserted.

    nice python benchmarks/bf16_cpu.py --out benchmarks/results/bf16_cpu_paper.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from _timing import MemoryGuard, write_result

LIMIT_GIB = 10.0


def counted(fn, x) -> int:
    """FLOPs of the matmuls of one call (torch's flop counter; FFTs are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn(x)
    return int(counter.get_total_flops())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="both precisions through torch.compile (inference_function(compile=True))")
    ap.add_argument("--out", default="bf16_cpu.json")
    args = ap.parse_args(argv)
    memory = MemoryGuard(LIMIT_GIB, f"bf16_cpu: exceeded {LIMIT_GIB:g} GiB RSS", interval=0.01, file=sys.stderr)

    import numpy as np
    import torch
    from earthzoo.api import build_model, model_card, precision_plan
    from earthzoo.cards import resolve
    from earthzoo.frameworks import torch as tfw

    torch.set_num_threads(args.threads)
    card = model_card("fourcastnet")
    config = card.make_config(args.preset)
    tfw.seed_everything(0)
    model = build_model("fourcastnet", "torch", config=config).eval()
    x0 = np.asarray(resolve(card.example_input)(config, 1, 0), np.float32)
    next_input = resolve(card.next_input)
    fp32 = tfw.inference_function(model, compile=args.compile)
    bf16 = tfw.inference_function(model, precision_plan("cpu", "torch", "bf16"), compile=args.compile)
    # the MLP's first GEMM at a tenth of the tokens: the CPU's rate on the model's own shape
    tokens = (config.img_size[0] // config.patch_size) * (config.img_size[1] // config.patch_size)
    m, k, n = tokens // 10, config.embed_dim, int(config.embed_dim * config.mlp_ratio)
    a, b = torch.randn(m, k), torch.randn(k, n)
    a16, b16 = a.bfloat16(), b.bfloat16()
    gemm_flops = 2 * m * k * n

    def rate(x, y):
        torch.mm(x, y)
        t0 = time.perf_counter()
        for _ in range(3):
            torch.mm(x, y)
        return 3 * gemm_flops / (time.perf_counter() - t0)

    flops = counted(tfw.inference_function(model), x0)  # eager: the flop counter sees every matmul
    fp32(x0), bf16(x0)  # the warm-up calls (with --compile: compiling)
    s32, s16 = x0, x0
    rows = []
    result = {
        "benchmark": "bf16_cpu", "model": "fourcastnet", "preset": args.preset, "batch": 1, "threads": args.threads,
        "parameters": int(sum(p.numel() for p in model.parameters())), "input_shape": list(x0.shape), "torch_compile": args.compile,
        "bf16_path": "torch.autocast(cpu, bfloat16) via earthzoo's CPU precision plan; AFNO filters (FFT + block MLP) and LayerNorm in fp32",
        "forward_matmul_flops": flops, "gemm_shape_mkn": [m, k, n],
        "targets": {"bf16_speedup": 1.6, "torch_share_of_fp32_matmul_rate": 0.8},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__, "load_average_at_start": list(os.getloadavg()),
                    "cpu_flags_bf16": sorted({f for f in open("/proc/cpuinfo").read().split() if "bf16" in f or "amx" in f})},
    }
    for step in range(args.steps):
        r32, r16 = rate(a, b), rate(a16, b16)
        t0 = time.perf_counter()
        y32 = fp32(s32)
        t32 = time.perf_counter() - t0
        t0 = time.perf_counter()
        y16 = bf16(s16)
        t16 = time.perf_counter() - t0
        d = (y16 - y32).astype(np.float64)
        ref = y32.astype(np.float64)
        err = float(np.sqrt((d**2).mean() / (ref**2).mean()))
        per_ch = (np.sqrt((d**2).mean(axis=(0, 2, 3))) / ref.std(axis=(0, 2, 3))).tolist()
        rows.append({"step": step + 1, "fp32_s": t32, "bf16_s": t16, "speedup": t32 / t16, "fp32_gemm_gflops": r32 / 1e9, "bf16_gemm_gflops": r16 / 1e9,
                     "rel_rms_error": err, "rms_error_over_channel_std": per_ch, "load_1min": os.getloadavg()[0]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "rms_error_over_channel_std"}), flush=True)
        s32, s16 = next_input(s32, y32, step, config), next_input(s16, y16, step, config)
        t32s, t16s = [r["fp32_s"] for r in rows], [r["bf16_s"] for r in rows]
        roof = statistics.median(r["fp32_gemm_gflops"] for r in rows) * 1e9
        result.update({
            "steps": rows,
            "bf16_speedup": {"of_medians": statistics.median(t32s) / statistics.median(t16s), "of_minimums": min(t32s) / min(t16s), "per_step_median": statistics.median(r["speedup"] for r in rows)},
            "bf16_error_after_last_step": {"rel_rms": rows[-1]["rel_rms_error"], "max_channel_rms_over_std": max(rows[-1]["rms_error_over_channel_std"])},
            "torch_fp32_share_of_matmul_rate": {"model_matmul_gflops_at_median": flops / statistics.median(t32s) / 1e9, "gemm_fp32_gflops_median": roof / 1e9,
                                                 "share": flops / statistics.median(t32s) / roof, "share_best": flops / min(t32s) / max(r["fp32_gemm_gflops"] for r in rows) / 1e9},
            "peak_rss_gib": memory.peak / 1024,
        })
        write_result(result, args.out)
    print(json.dumps({k: result[k] for k in ("bf16_speedup", "bf16_error_after_last_step", "torch_fp32_share_of_matmul_rate", "peak_rss_gib")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
