"""AI-GOMS speed and memory: time per forecast day (one daily step, batch 1) in torch
eager vs MindSpore (PyNative and graph mode), the masked pre-training step of the
common engine (``stage="masked"``: forward_masked + reconstruction loss on the hidden
patches' ocean points + backward + clipped AdamW; MindSpore compiled),
and peak resident memory. Each framework runs in its own subprocess so its peak RSS
is its own (reported with the RSS after import and build, so the run's share is
the difference). Writes JSON; nothing is asserted.

    python benchmarks/ai_goms_speed.py --preset small --out ai_goms_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys

os.environ.setdefault("GLOG_v", "3")

from _timing import median_ms  # noqa: E402


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _inputs(config, seed: int):
    from earthzoo.training.masking import masked_batch
    from earthzoo_ai_goms.inputs import example_input, example_ocean_mask

    x = example_input(config, 1, seed)
    return x, masked_batch(x, x[:, : config.out_chans], config, example_ocean_mask(config), seed, 0, 0)


def _engine(framework: str, model, config):
    """The common engine's masked pre-training stage (AdamW, clipping; MindSpore compiled)."""
    from earthzoo.api import model_card, setup_device
    from earthzoo.training import TrainConfig
    from earthzoo.training.trainer import make_engine

    cfg = TrainConfig(batch_size=1, stage="masked")
    return make_engine(framework, model, cfg, setup_device("cpu", framework), model_card("ai_goms"), config)


def run_torch(preset: str, reps: int, seed: int) -> dict:
    import torch
    from earthzoo_ai_goms import torch_model as tm
    from earthzoo_ai_goms.config import AIGOMSConfig

    torch.manual_seed(seed)
    config = AIGOMSConfig.preset(preset)
    model = tm.build(config)
    x, batch = _inputs(config, seed)
    xt = torch.from_numpy(x)
    rss_built = _rss_mib()

    def forecast_day():
        with torch.no_grad():
            model(xt)

    model.eval()
    day = median_ms(forecast_day, reps, warmup=True)
    engine = _engine("torch", model, config)
    step = median_ms(lambda: engine.step([batch], 1e-4), reps, warmup=True)
    return {
        "framework": "torch",
        "mode": "eager",
        "threads": torch.get_num_threads(),
        "forecast_day_ms": day,
        "pretrain_step_ms": step,
        "rss_after_build_mib": rss_built,
        "peak_rss_mib": _rss_mib(),
    }


def run_mindspore(preset: str, reps: int, seed: int) -> dict:
    import mindspore as ms
    from earthzoo_ai_goms import mindspore_model as mm
    from earthzoo_ai_goms.config import AIGOMSConfig

    ms.set_device("CPU")
    config = AIGOMSConfig.preset(preset)
    net = mm.build(config)
    x, batch = _inputs(config, seed)
    xm = ms.Tensor(x)
    rss_built = _rss_mib()
    net.set_train(False)
    jitted = mm.compiled(net)

    out = {"framework": "mindspore", "version": ms.__version__}
    out["forecast_day_ms_pynative"] = median_ms(lambda: net(xm).asnumpy(), reps, warmup=True)
    out["forecast_day_ms_graph"] = median_ms(lambda: jitted(xm).asnumpy(), reps, warmup=True)
    engine = _engine("mindspore", net, config)
    out["pretrain_step_ms_graph"] = median_ms(lambda: engine.step([batch], 1e-4), reps, warmup=True)
    out.update(rss_after_build_mib=rss_built, peak_rss_mib=_rss_mib())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="ai_goms_speed.json")
    ap.add_argument("--part", choices=("torch", "mindspore"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.part:
        fn = run_torch if args.part == "torch" else run_mindspore
        print(json.dumps(fn(args.preset, args.reps, args.seed)))
        return 0
    from earthzoo_ai_goms.config import AIGOMSConfig

    config = AIGOMSConfig.preset(args.preset)
    results = {
        "benchmark": "ai_goms_speed",
        "preset": args.preset,
        "img_size": list(config.img_size),
        "in_chans": config.in_chans,
        "out_chans": config.out_chans,
        "mask_ratio": config.mask_ratio,
        "batch": 1,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "note": "one forecast day = one model step; peak RSS is per subprocess and includes the framework import",
    }
    for part in ("torch", "mindspore"):
        proc = subprocess.run(
            [sys.executable, __file__, "--part", part, "--preset", args.preset, "--reps", str(args.reps), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            results[part] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
        else:
            results[part] = json.loads(proc.stdout.strip().splitlines()[-1])
    t, m = results["torch"], results["mindspore"]
    if "forecast_day_ms" in t and "forecast_day_ms_graph" in m:
        results["mindspore_graph_over_torch_forecast"] = m["forecast_day_ms_graph"] / t["forecast_day_ms"]
    if "pretrain_step_ms" in t and "pretrain_step_ms_graph" in m:
        results["mindspore_graph_over_torch_pretrain"] = m["pretrain_step_ms_graph"] / t["pretrain_step_ms"]
    text = json.dumps(results, indent=2)
    from earthzoo.files import atomic_path

    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
