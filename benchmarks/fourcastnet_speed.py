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
import time

os.environ.setdefault("GLOG_v", "3")


def _median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved torch/MindSpore rounds")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per round (median)")
    ap.add_argument("--spectral", default="fft", choices=("fft", "dft"))
    ap.add_argument("--out", default="fourcastnet_speed.json")
    args = ap.parse_args(argv)

    import numpy as np
    import mindspore as ms
    import torch
    from earthzoo.api import model_card
    from earthzoo.cards import resolve
    from earthzoo.files import atomic_path
    from earthzoo.frameworks import torch as tfw

    card = model_card("fourcastnet")
    config = card.make_config(args.preset, spectral=args.spectral)
    x = np.asarray(resolve(card.example_input)(config, args.batch, 0), np.float32)
    t_model, t_fwd, t_step = torch_runner(config, x, 0)
    m_net, m_fwd, m_step = mindspore_runner(config, x, tfw.state_to_numpy(t_model))

    t0 = time.perf_counter()
    m_fwd()
    compile_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    m_step()
    compile_step = time.perf_counter() - t0
    t_fwd(), t_step()  # warm-up

    rows = {k: [] for k in ("torch_fwd", "ms_fwd", "torch_fwdbwd", "ms_fwdbwd")}
    for _ in range(args.rounds):
        rows["torch_fwd"].append(_median_ms(t_fwd, args.reps))
        rows["ms_fwd"].append(_median_ms(m_fwd, args.reps))
        rows["torch_fwdbwd"].append(_median_ms(t_step, args.reps))
        rows["ms_fwdbwd"].append(_median_ms(m_step, args.reps))
    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio_fwd = [m / t for m, t in zip(rows["ms_fwd"], rows["torch_fwd"])]
    ratio_bwd = [m / t for m, t in zip(rows["ms_fwdbwd"], rows["torch_fwdbwd"])]

    act = {ck: saved_activation_bytes(config, x, 0, ck) for ck in (False, True)}
    result = {
        "benchmark": "fourcastnet_speed",
        "preset": args.preset,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.__dict__.items()},
        "batch": args.batch,
        "input_shape": list(x.shape),
        "spectral": args.spectral,
        "ms_per_step": {
            "torch_eager": {"forward": med["torch_fwd"], "forward_backward": med["torch_fwdbwd"]},
            "mindspore_graph": {"forward": med["ms_fwd"], "forward_backward": med["ms_fwdbwd"]},
        },
        "ratio_mindspore_over_torch": {
            "forward": statistics.median(ratio_fwd),
            "forward_backward": statistics.median(ratio_bwd),
            "per_round_forward": ratio_fwd,
            "per_round_forward_backward": ratio_bwd,
        },
        "targets": {"forward": 2.0, "forward_backward": 3.0},
        "mindspore_compile_s": {"forward": compile_fwd, "forward_backward": compile_step},
        "activation_memory_torch": {
            "saved_for_backward_bytes": act[False],
            "saved_for_backward_bytes_checkpointed": act[True],
            "reduction": 1 - act[True] / act[False],
            "note": "bytes of tensors autograd keeps between forward and backward (no CPU peak allocator exists); on CUDA use torch.cuda.max_memory_allocated",
        },
        "raw_rounds_ms": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_1_5_15": list(os.getloadavg()), "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0], "torch": torch.__version__, "mindspore": ms.__version__},
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("ms_per_step", "ratio_mindspore_over_torch", "activation_memory_torch")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
