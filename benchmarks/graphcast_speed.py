"""GraphCast speed and memory: torch eager vs MindSpore graph mode, forward and
forward+backward ms/step at one preset (default ``small``), rounds interleaved so
both see the same load; and memory with and without activation checkpointing of
the processor steps (torch: bytes autograd saves for backward, plus the device
allocator's peak on CUDA). Writes JSON; nothing is asserted.

    python benchmarks/graphcast_speed.py --out graphcast_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys

os.environ.setdefault("GLOG_v", "3")

from _timing import first_call_s, median_ms  # noqa: E402


def torch_runner(config, x, seed: int, checkpointing: bool = False, device: str = "cpu"):
    import torch
    from earthzoo.api import build_model
    from earthzoo.frameworks import torch as tfw

    tfw.seed_everything(seed)
    model = build_model("graphcast", "torch", config=config)
    model.ensure_graphs()
    model = model.to(device).train()
    if checkpointing:
        tfw.enable_activation_checkpointing(model)
    xt = torch.from_numpy(x).to(device)

    def sync():
        tfw.synchronize(device)

    def forward():
        with torch.no_grad():
            model(xt)
        sync()

    def train_step():
        model.zero_grad(set_to_none=True)
        (model(xt) ** 2).mean().backward()
        sync()

    return model, forward, train_step


def mindspore_runner(config, x, tensors, recompute: bool = False):
    import mindspore as ms
    from earthzoo.api import build_model
    from earthzoo.frameworks import mindspore as mfw

    net = build_model("graphcast", "mindspore", config=config)
    net.ensure_graphs()
    mfw.load_numpy_state(net, tensors)
    if recompute:
        mfw.enable_activation_checkpointing(net)
    xm = ms.Tensor(x)
    fwd = ms.jit(net.construct)
    params = net.trainable_params()

    def loss_fn(inp):
        y = net(inp)
        return (y * y).mean()

    step = ms.jit(ms.value_and_grad(loss_fn, None, params))

    def forward():
        fwd(xm).asnumpy()

    def train_step():
        loss, _ = step(xm)
        loss.asnumpy()

    return net, forward, train_step


def memory(config, x, checkpointing: bool, device: str) -> dict:
    """Activation bytes saved for backward (any device) and the allocator peak (CUDA only)."""
    import torch

    model, _, _ = torch_runner(config, x, 0, checkpointing, device)
    seen: dict[int, int] = {}

    def pack(t):
        seen[id(t)] = 0 if isinstance(t, torch.nn.Parameter) else t.numel() * t.element_size()
        return t

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = (model(torch.from_numpy(x).to(device)) ** 2).mean()
    loss.backward()
    out = {"saved_for_backward_bytes": int(sum(seen.values()))}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        out["cuda_peak_bytes_above_model"] = int(torch.cuda.max_memory_allocated() - base)
    del model, loss
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved torch/MindSpore rounds")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per round (median)")
    ap.add_argument("--memory-preset", default=None, help="preset for the memory part (default: --preset)")
    ap.add_argument("--device", default="cpu", help="torch device for the memory part (cuda gives the allocator peak)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--out", default="graphcast_speed.json")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from earthzoo.api import model_card
    from earthzoo.cards import resolve
    from earthzoo.files import atomic_path
    from earthzoo.frameworks import torch as tfw

    card = model_card("graphcast")
    config = card.make_config(args.preset)
    x = np.asarray(resolve(card.example_input)(config, args.batch, 0), np.float32)
    result: dict = {"benchmark": "graphcast_speed", "preset": args.preset, "batch": args.batch, "input_shape": list(x.shape),
                    "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.__dict__.items()}}
    if not args.skip_speed:
        import mindspore as ms

        t_model, t_fwd, t_step = torch_runner(config, x, 0)
        m_net, m_fwd, m_step = mindspore_runner(config, x, tfw.state_to_numpy(t_model))
        compile_fwd, compile_step = first_call_s(m_fwd), first_call_s(m_step)
        t_fwd(), t_step()  # warm-up
        rows = {k: [] for k in ("torch_fwd", "ms_fwd", "torch_fwdbwd", "ms_fwdbwd")}
        for _ in range(args.rounds):
            rows["torch_fwd"].append(median_ms(t_fwd, args.reps))
            rows["ms_fwd"].append(median_ms(m_fwd, args.reps))
            rows["torch_fwdbwd"].append(median_ms(t_step, args.reps))
            rows["ms_fwdbwd"].append(median_ms(m_step, args.reps))
        med = {k: statistics.median(v) for k, v in rows.items()}
        result["ms_per_step"] = {
            "torch_eager": {"forward": med["torch_fwd"], "forward_backward": med["torch_fwdbwd"]},
            "mindspore_graph": {"forward": med["ms_fwd"], "forward_backward": med["ms_fwdbwd"]},
        }
        result["ratio_mindspore_over_torch"] = {
            "forward": statistics.median(m / t for m, t in zip(rows["ms_fwd"], rows["torch_fwd"])),
            "forward_backward": statistics.median(m / t for m, t in zip(rows["ms_fwdbwd"], rows["torch_fwdbwd"])),
        }
        result["mindspore_compile_s"] = {"forward": compile_fwd, "forward_backward": compile_step}
        result["raw_rounds_ms"] = rows
        result["versions"] = {"torch": torch.__version__, "mindspore": ms.__version__}
    mcfg = card.make_config(args.memory_preset or args.preset)
    mx = np.asarray(resolve(card.example_input)(mcfg, args.batch, 0), np.float32)
    mem = {str(ck): memory(mcfg, mx, ck, args.device) for ck in (False, True)}
    result["activation_memory_torch"] = {
        "preset": args.memory_preset or args.preset, "device": args.device,
        "without_checkpointing": mem["False"], "with_checkpointing": mem["True"],
        "saved_bytes_reduction": 1 - mem["True"]["saved_for_backward_bytes"] / mem["False"]["saved_for_backward_bytes"],
        "note": "checkpointing wraps each processor step (checkpoint_modules = ('processor',)); CPU has no peak allocator, so saved-for-backward bytes are reported there",
    }
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_1_5_15": list(os.getloadavg()),
                         "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0],
                         "cuda_device": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("ms_per_step", "ratio_mindspore_over_torch", "mindspore_compile_s", "activation_memory_torch") if k in result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
