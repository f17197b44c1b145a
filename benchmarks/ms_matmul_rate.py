"""Where MindSpore's CPU training step goes (issue 19): its per-op profile puts 74 % of
FourCastNet's ``small`` step in MatMul/BatchMatMul, so this times the step's matmul
shapes alone (forward ``x @ W^T``, the two backward products ``dy @ W`` and
``dy^T @ x``, and the AFNO filter's batched product) in MindSpore graph mode against
torch, interleaved, one thread. Writes JSON; nothing is asserted.

    nice python benchmarks/ms_matmul_rate.py --out benchmarks/results/ms_matmul_rate.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics

os.environ.setdefault("GLOG_v", "3")

from _timing import times_ms  # noqa: E402

# (name, a shape, b shape, transpose_a, transpose_b): FourCastNet small, batch 1
# (512 tokens, width 128, MLP 512; AFNO: 8 blocks, 2*16 real pairs over 264 kept modes)
CASES = [
    ("fc1 forward x@W^T", (512, 128), (512, 128), False, True),
    ("fc1 backward dy@W", (512, 512), (512, 128), False, False),
    ("fc1 backward dy^T@x", (512, 512), (512, 128), True, False),
    ("fc2 backward dy^T@x", (512, 128), (512, 512), True, False),
]
BMM = ("afno bmm", (8, 264, 32), (8, 32, 32))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--inner", type=int, default=20, help="products per timed call (one graph launch)")
    ap.add_argument("--out", default="ms_matmul_rate.json")
    args = ap.parse_args(argv)

    import mindspore as ms
    import numpy as np
    import torch
    from earthzoo.files import atomic_path
    from earthzoo.frameworks import mindspore as mfw
    from mindspore import ops

    torch.set_num_threads(1)
    mfw.set_device("CPU")
    ms.device_context.cpu.op_tuning.threads_num(1)
    rng = np.random.default_rng(0)
    k = args.inner
    fns, flops = {}, {}
    for name, sa, sb, ta, tb in CASES + [BMM + (False, False)]:
        a, b = rng.standard_normal((k,) + sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
        if name.startswith("afno"):
            mm = ops.BatchMatMul()
            m_, n_, kk = sa[1], sb[2], sa[2]
            flops[name] = 2 * sa[0] * m_ * n_ * kk * k
        else:
            mm = ops.MatMul(transpose_a=ta, transpose_b=tb)
            m_ = sa[1] if ta else sa[0]
            kk = sa[0] if ta else sa[1]
            n_ = sb[0] if tb else sb[1]
            flops[name] = 2 * m_ * n_ * kk * k

        def ms_fn(x, y, mm=mm):  # k different left operands: no common subexpression to fold
            out = mm(x[0], y)
            for i in range(1, k):
                out = out + mm(x[i], y)
            return out

        jitted = ms.jit(ms_fn)
        xa, xb = ms.Tensor(a), ms.Tensor(b)
        ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
        tb_ = tb_.transpose(-1, -2) if tb else tb_

        def t_fn(x=ta_, y=tb_, ta=ta):
            out = torch.matmul(x[0].transpose(-1, -2) if ta else x[0], y)
            for i in range(1, k):
                out = out + torch.matmul(x[i].transpose(-1, -2) if ta else x[i], y)
            return out

        fns[name] = {"mindspore": lambda j=jitted, x=xa, y=xb: j(x, y).asnumpy(), "torch": t_fn}
        fns[name]["mindspore"]()
    raw = {n: {"mindspore": [], "torch": []} for n in fns}
    for _ in range(args.rounds):
        for n, pair in fns.items():
            for fw in ("torch", "mindspore"):
                raw[n][fw] += times_ms(pair[fw], args.reps)
    result = {"benchmark": "ms_matmul_rate", "inner_products_per_call": k, "cases": {}, "machine": {"platform": platform.platform(), "load_average_1_5_15": list(os.getloadavg()), "threads": 1, "torch": torch.__version__, "mindspore": ms.__version__}}
    for n, r in raw.items():
        med = {fw: statistics.median(v) for fw, v in r.items()}
        low = {fw: min(v) for fw, v in r.items()}
        result["cases"][n] = {
            "ms_median": med, "ms_min": low,
            "gflops_best": {fw: flops[n] / (low[fw] * 1e-3) / 1e9 for fw in low},
            "mindspore_over_torch_median": med["mindspore"] / med["torch"], "mindspore_over_torch_min": low["mindspore"] / low["torch"],
        }
        print(n, json.dumps({k2: result["cases"][n][k2] for k2 in ("gflops_best", "mindspore_over_torch_median", "mindspore_over_torch_min")}))
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
