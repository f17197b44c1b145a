"""FourCastNet speed: torch eager vs MindSpore graph mode, forward and forward+backward
ms/step at one preset (default ``small``), the MindSpore/torch ratio from one run
(rounds interleaved so both see the same machine load), and activation memory with
and without activation checkpointing. Writes JSON; nothing is asserted.

    python benchmarks/fourcastnet_speed.py --out fourcastnet_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys

os.environ.setdefault("GLOG_v", "3")

from _timing import first_call_s, times_ms  # noqa: E402


def set_threads(n: int) -> None:
    """The same number of CPU threads for both frameworks."""
    import mindspore as ms
    import torch
    from earthzoo.frameworks import mindspore as mfw

    torch.set_num_threads(n)
    mfw.set_device("CPU")
    ms.device_context.cpu.op_tuning.threads_num(n)


def torch_runner(config, x, seed: int, checkpointing: bool = False):
    import torch
    from earthzoo.api import build_model
    from earthzoo.frameworks import torch as tfw

    tfw.seed_everything(seed)
    model = build_model("fourcastnet", "torch", config=config).train()
    if checkpointing:
        tfw.enable_activation_checkpointing(model)
    xt = torch.from_numpy(x)

    def forward():
        with torch.no_grad():
            model(xt)

    def train_step():
        model.zero_grad(set_to_none=True)
        (model(xt) ** 2).mean().backward()

    return model, forward, train_step


def mindspore_runner(config, x, tensors, recompute: bool = False):
    import mindspore as ms
    from earthzoo.api import build_model
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo_fourcastnet.mindspore_model import compiled

    net = build_model("fourcastnet", "mindspore", config=config)
    mfw.load_numpy_state(net, tensors)
    if recompute:
        mfw.enable_activation_checkpointing(net)
    xm = ms.Tensor(x)
    fwd = compiled(net)
    params = net.trainable_params()

    def loss_fn(inp):
        y = net(inp)
        return (y * y).mean()

    grad_fn = ms.value_and_grad(loss_fn, None, params)
    step = ms.jit(grad_fn)

    def forward():
        fwd(xm).asnumpy()

    def train_step():
        loss, grads = step(xm)
        loss.asnumpy()

    return net, forward, train_step


def saved_activation_bytes(config, x, seed: int, checkpointing: bool) -> int:
    """Bytes of tensors autograd keeps for backward (what checkpointing saves), torch."""
    import torch

    model, _, _ = torch_runner(config, x, seed, checkpointing)
    seen: dict[int, int] = {}

    def pack(t):
        seen[id(t)] = t.numel() * t.element_size() if not isinstance(t, torch.nn.Parameter) else 0
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = (model(torch.from_numpy(x)) ** 2).mean()
    loss.backward()
    return int(sum(seen.values()))


def memory_child(checkpointing: bool, preset: str, batch: int, threads: int) -> dict:
    """In a fresh torch-only process: resident memory after a no-grad forward, and its
    peak during the first training step (what forward+backward holds beyond inference)."""
    import numpy as np
    import torch
    from earthzoo.api import model_card
    from earthzoo.cards import resolve
    from earthzoo.machine import RssPeak, rss_mb

    torch.set_num_threads(threads)
    card = model_card("fourcastnet")
    config = card.make_config(preset)
    x = np.asarray(resolve(card.example_input)(config, batch, 0), np.float32)
    _, fwd, step = torch_runner(config, x, 0, checkpointing)
    fwd()
    before = rss_mb()
    with RssPeak(interval=0.001) as sampler:
        step()
    return {"rss_before_step_mb": before, "peak_rss_during_step_mb": sampler.peak, "step_growth_mb": sampler.peak - before}


def memory_table(preset: str, batch: int, threads: int) -> dict:
    import subprocess

    out = {}
    for ck in (False, True):
        cmd = [sys.executable, __file__, "--memory-child", "--preset", preset, "--batch", str(batch), "--threads", str(threads)] + (["--checkpointing"] if ck else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        key = "checkpointed" if ck else "plain"
        try:
            out[key] = json.loads(res.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            out[key] = {"error": (res.stderr.strip().splitlines() or ["no output"])[-1]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved torch/MindSpore rounds")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per round (median)")
    ap.add_argument("--spectral", default="fft", choices=("fft", "dft"))
    ap.add_argument("--out", default="fourcastnet_speed.json")
    # One thread by default: on a small CPU shared with other work, multi-threaded torch
    # ops stall at their OpenMP barriers whenever a core is taken (measured here: the
    # same forward at 2 threads took 14 ms quiet and 600-1200 ms under load), which
    # makes the ratio meaningless. MindSpore's own default is 25 CPU kernel threads.
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for both frameworks (default 1, see the comment above)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.checkpointing, args.preset, args.batch, args.threads)))
        return 0

    import mindspore as ms
    import numpy as np
    import torch
    from earthzoo.api import model_card
    from earthzoo.cards import resolve
    from earthzoo.files import atomic_path
    from earthzoo.frameworks import torch as tfw

    set_threads(args.threads)
    card = model_card("fourcastnet")
    config = card.make_config(args.preset, spectral=args.spectral)
    x = np.asarray(resolve(card.example_input)(config, args.batch, 0), np.float32)
    t_model, t_fwd, t_step = torch_runner(config, x, 0)
    m_net, m_fwd, m_step = mindspore_runner(config, x, tfw.state_to_numpy(t_model))

    compile_fwd, compile_step = first_call_s(m_fwd), first_call_s(m_step)
    t_fwd(), t_step()  # warm-up

    rows = {k: [] for k in ("torch_fwd", "ms_fwd", "torch_fwdbwd", "ms_fwdbwd")}
    for _ in range(args.rounds):
        rows["torch_fwd"] += times_ms(t_fwd, args.reps)
        rows["ms_fwd"] += times_ms(m_fwd, args.reps)
        rows["torch_fwdbwd"] += times_ms(t_step, args.reps)
        rows["ms_fwdbwd"] += times_ms(m_step, args.reps)
    # other processes share this CPU: the minimum is the least disturbed time of each
    # side, the median shows the typical one; the ratio is taken both ways
    med = {k: statistics.median(v) for k, v in rows.items()}
    best = {k: min(v) for k, v in rows.items()}

    act = {ck: saved_activation_bytes(config, x, 0, ck) for ck in (False, True)}
    rss = {} if args.no_memory else memory_table(args.preset, args.batch, args.threads)
    # the cost of recomputation: fwd+bwd time with checkpointing on, both frameworks
    _, _, t_step_ck = torch_runner(config, x, 0, checkpointing=True)
    _, _, m_step_ck = mindspore_runner(config, x, tfw.state_to_numpy(t_model), recompute=True)
    t_step_ck(), m_step_ck()
    ck_ms = {"torch_eager": min(times_ms(t_step_ck, args.reps * 2)), "mindspore_graph": min(times_ms(m_step_ck, args.reps * 2))}
    result = {
        "benchmark": "fourcastnet_speed",
        "preset": args.preset,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.__dict__.items()},
        "batch": args.batch,
        "input_shape": list(x.shape),
        "spectral": args.spectral,
        "ms_per_step": {
            "torch_eager": {"forward": best["torch_fwd"], "forward_backward": best["torch_fwdbwd"]},
            "mindspore_graph": {"forward": best["ms_fwd"], "forward_backward": best["ms_fwdbwd"]},
            "statistic": "minimum over all timed calls",
        },
        "ms_per_step_median": {
            "torch_eager": {"forward": med["torch_fwd"], "forward_backward": med["torch_fwdbwd"]},
            "mindspore_graph": {"forward": med["ms_fwd"], "forward_backward": med["ms_fwdbwd"]},
        },
        "ratio_mindspore_over_torch": {
            "forward": best["ms_fwd"] / best["torch_fwd"],
            "forward_backward": best["ms_fwdbwd"] / best["torch_fwdbwd"],
            "forward_of_medians": med["ms_fwd"] / med["torch_fwd"],
            "forward_backward_of_medians": med["ms_fwdbwd"] / med["torch_fwdbwd"],
        },
        "targets": {"forward": 2.0, "forward_backward": 3.0},
        "mindspore_compile_s": {"forward": compile_fwd, "forward_backward": compile_step},
        "activation_memory_torch": {
            "saved_for_backward_bytes": act[False],
            "saved_for_backward_bytes_checkpointed": act[True],
            "reduction": 1 - act[True] / act[False],
            "note": "bytes of tensors autograd keeps between forward and backward (no CPU peak allocator exists); on CUDA use torch.cuda.max_memory_allocated",
        },
        "peak_rss_mb_torch": rss,
        "peak_rss_note": "process RSS growth during the first training step; glibc/allocator dependent and noisy (the recomputation's own buffers show up too), so activation_memory_torch is the clean measure",
        "forward_backward_ms_with_checkpointing": ck_ms,
        "mindspore_memory_note": "MindSpore 2.10 on CPU reports 0 from ms.runtime.max_memory_allocated and its RSS is dominated by graph compilation, so only the time cost of Cell.recompute is measured here",
        "raw_rounds_ms": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_1_5_15": list(os.getloadavg()), "threads_both_frameworks": args.threads, "python": sys.version.split()[0], "torch": torch.__version__, "mindspore": ms.__version__},
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("ms_per_step", "ms_per_step_median", "ratio_mindspore_over_torch", "activation_memory_torch", "peak_rss_mb_torch", "forward_backward_ms_with_checkpointing")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
