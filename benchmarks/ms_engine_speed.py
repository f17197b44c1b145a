"""MindSpore against torch through the training engines (issue 19's table): forward
(each framework's ``inference_function``), the engine's whole training step (forward +
loss + backward + clip + AdamW; MindSpore compiled) and the optimizer update alone
(clip + AdamW on gradients already there), for each model at one preset, batch 1, one
thread, from the same weights. Rounds interleave the two frameworks so both see the
same machine load; medians and minimums, their ratios, the load average, and how
bimodal each series is (share of calls over 1.5x that series' minimum). Writes JSON;
nothing is asserted.

    nice python benchmarks/ms_engine_speed.py --out benchmarks/results/ms_engine_speed_after.json
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

from _timing import pin, times_ms, write_result  # noqa: E402

MODELS = ("fourcastnet", "ai_goms", "graphcast")


def _graphcast_config(card, preset):
    # the golden ``tiny`` config has forcings and two input times; the engines' plain
    # rollout needs the same variables in and out, which ``tiny-synthetic`` has
    return card.make_config("tiny-synthetic" if preset == "tiny" else preset)


def runners(name: str, preset: str, batch: int, seed: int) -> dict:
    """The six timed callables for one model, both frameworks from one set of weights."""
    import mindspore as ms
    import numpy as np
    import torch
    from earthzoo.api import build_model, model_card, setup_device
    from earthzoo.cards import resolve
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.frameworks import torch as tfw
    from earthzoo.ops import apply_custom_ops
    from earthzoo.training import TrainConfig
    from earthzoo.training.trainer import make_engine

    card = model_card(name)
    config = _graphcast_config(card, preset) if name == "graphcast" else card.make_config(preset)
    x = np.asarray(resolve(card.example_input)(config, batch, seed), np.float32)

    def build(framework):
        tfw.seed_everything(seed)
        m = build_model(name, framework, config=config)
        if hasattr(m, "ensure_graphs"):
            m.ensure_graphs()
        apply_custom_ops(m, framework, "cpu")  # as a run does (EARTHZOO_CPU_KERNELS=0: MindSpore's own ops)
        return m

    t_inf, t_train = build("torch"), build("torch")
    weights = tfw.state_to_numpy(t_inf)
    t_train.load_state_dict(t_inf.state_dict())
    m_inf, m_train = build("mindspore"), build("mindspore")
    mfw.load_numpy_state(m_inf, weights)
    mfw.load_numpy_state(m_train, weights)

    t_forward, m_forward = tfw.inference_function(t_inf), mfw.inference_function(m_inf)
    y = t_forward(x)[:, None]  # (B, 1, out, H, W): a target of the right shape
    y = (y + 0.1 * np.random.default_rng(seed).standard_normal(y.shape)).astype(np.float32)
    cfg = TrainConfig(batch_size=batch, grad_clip=1.0)
    t_engine = make_engine("torch", t_train, cfg, setup_device("cpu", "torch"), card, config)
    m_engine = make_engine("mindspore", m_train, cfg, setup_device("cpu", "mindspore"), card, config)
    batch_ = [(x, y)]

    def t_opt():
        torch.nn.utils.clip_grad_norm_(t_engine.params, cfg.grad_clip, foreach=False)
        t_engine.opt.step()

    one = ms.Tensor(np.float32(1.0))

    def m_opt():
        m_engine._apply(one, one * 1e-4, one).asnumpy()

    return {
        "torch_forward": lambda: t_forward(x),
        "mindspore_forward": lambda: m_forward(x),
        "torch_train_step": lambda: t_engine.step(batch_, 1e-4),
        "mindspore_train_step": lambda: m_engine.step(batch_, 1e-4),
        "torch_optimizer": t_opt,
        "mindspore_optimizer": m_opt,
        "_meta": {"input_shape": list(x.shape), "parameters": int(sum(v.size for v in weights.values())), "tensors": len(weights)},
    }


def bimodal_share(v: list[float]) -> float:
    """Share of calls slower than 1.5x the series' minimum."""
    lo = min(v)
    return sum(t > 1.5 * lo for t in v) / len(v)


def settle(ms: float) -> None:
    """Busy-wait ``ms`` milliseconds in Python: long enough for the other framework's
    threads to stop spinning (torch's libgomp workers spin on for about 20 ms after
    each parallel region, which on two cores leaves the next MindSpore call one)."""
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


def measure(name: str, preset: str, batch: int, rounds: int, reps: int, seed: int, settle_ms: float = 0.0) -> dict:
    fns = runners(name, preset, batch, seed)
    meta = fns.pop("_meta")
    for fn in fns.values():  # compile and warm up
        fn(), fn()
    raw = {k: [] for k in fns}
    loads = []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        for part in ("forward", "train_step", "optimizer"):
            for fw in ("torch", "mindspore"):
                settle(settle_ms)
                raw[f"{fw}_{part}"] += times_ms(fns[f"{fw}_{part}"], reps)
    med = {k: statistics.median(v) for k, v in raw.items()}
    low = {k: min(v) for k, v in raw.items()}
    ratio = {}
    for part in ("forward", "train_step", "optimizer"):
        ratio[part] = {"of_medians": med[f"mindspore_{part}"] / med[f"torch_{part}"], "of_minimums": low[f"mindspore_{part}"] / low[f"torch_{part}"]}
    return {
        **meta,
        "ms_median": med,
        "ms_minimum": low,
        "ratio_mindspore_over_torch": ratio,
        "share_over_1p5x_minimum": {k: bimodal_share(v) for k, v in raw.items()},
        "median_by_call_in_block": {k: [statistics.median(v[i::reps]) for i in range(reps)] for k, v in raw.items()},
        "load_average_1min_per_round": loads,
        "raw_ms": raw,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8, help="interleaved rounds")
    ap.add_argument("--reps", type=int, default=3, help="calls per framework and part in a round")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settle-ms", type=float, default=0.0, help="busy-wait before each framework's calls, so the other's spinning threads have stopped (see settle)")
    ap.add_argument("--jit-level", default="", help="MindSpore graph option for every ms.jit (O0 default, O1: graph kernel fusion)")
    ap.add_argument("--dispatch-threads", type=int, default=0, help="ms.runtime.dispatch_threads_num (0: MindSpore's default)")
    ap.add_argument("--mindspore-threads", type=int, default=0, help="MindSpore's own operator threads instead of earthzoo's split (0: split_threads: 1 where the kernels take --threads)")
    ap.add_argument("--pin", action="store_true", help="run the process on --threads cores only (_timing.pin)")
    ap.add_argument("--label", default="", help="free text kept in the JSON (e.g. before/after)")
    ap.add_argument("--out", default="ms_engine_speed.json")
    args = ap.parse_args(argv)

    import mindspore as ms
    import torch
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.frameworks.mindspore_cpu_kernels import split_threads

    if args.jit_level:  # the engine and inference_function call ms.jit: give each the level
        plain_jit = ms.jit

        def jit(fn=None, **kw):
            kw.setdefault("jit_level", args.jit_level)
            return plain_jit(fn, **kw) if fn is not None else (lambda f: plain_jit(f, **kw))

        ms.jit = jit
    if args.pin:
        pin(args.threads)
    torch.set_num_threads(args.threads)
    mfw.set_device("CPU")
    if args.dispatch_threads:
        ms.runtime.dispatch_threads_num(args.dispatch_threads)
    if args.mindspore_threads:
        ms.device_context.cpu.op_tuning.threads_num(args.mindspore_threads)
    split_threads(args.threads)  # after an explicit threads_num, the kernels' pool only
    result = {
        "benchmark": "ms_engine_speed",
        "label": args.label,
        "mindspore_options": {"jit_level": args.jit_level or "default (O0)", "dispatch_threads_num": args.dispatch_threads or "default", "operator_threads": args.mindspore_threads or "earthzoo's split (split_threads)"},
        "preset": args.preset,
        "batch": args.batch,
        "settle_ms": args.settle_ms,
        "targets": {"train_step": 1.5, "forward": 1.2},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads_both_frameworks": args.threads, "cores_allowed": sorted(os.sched_getaffinity(0)), "load_average_at_start": list(os.getloadavg()), "python": sys.version.split()[0], "torch": torch.__version__, "mindspore": ms.__version__},
        "models": {},
    }
    for name in args.models.split(","):
        result["models"][name] = measure(name, args.preset, args.batch, args.rounds, args.reps, args.seed, args.settle_ms)
        print(name, json.dumps(result["models"][name]["ratio_mindspore_over_torch"]), json.dumps(result["models"][name]["ms_median"]), flush=True)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
