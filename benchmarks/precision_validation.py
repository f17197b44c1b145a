"""Mixed precision validated against full precision, as the study did: for each model
(at ``--preset``-sized data) and each precision this machine runs, in both frameworks,

- the loss curve over ``--steps`` updates from the same initial weights and batches,
  and the final-loss ratio (mean of the last 5 losses, low precision / fp32 of the
  same framework) against a stated tolerance;
- the ``--leads``-step forecast from the fp32-trained weights in each precision
  against the fp32 forecast of the same framework (RMS difference over the
  channel's fp32 standard deviation, mean over channels, at lead 1 and the last lead;
  ``rollout_change_scale`` is the same measure between the fp32 forecast's last and
  first leads, the size of what the model changes);
- torch-vs-MindSpore parity in the same precision (largest relative loss difference
  over the curve, and the same forecast measure between the frameworks).

Writes ``precision_validation_<preset>.json`` and a loss-curve figure into ``--out``.
Nothing is asserted here (tests/test_mixed_precision.py holds the checks).

    nice python benchmarks/precision_validation.py --preset tiny --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")

import numpy as np  # noqa: E402

# model -> (preset for this data size, data source); GraphCast's tiny is the golden fixture's config
MODELS = {
    "tiny": {"fourcastnet": ("tiny", "synthetic-atmosphere:tiny"), "graphcast": ("tiny-synthetic", "synthetic-atmosphere:tiny"), "ai_goms": ("tiny", "synthetic-ocean:tiny")},
    "small": {"fourcastnet": ("small", "synthetic-atmosphere:small"), "graphcast": ("small", "synthetic-atmosphere:small"), "ai_goms": ("small", "synthetic-ocean:small")},
}
PRECISIONS = {"torch": ("fp32", "bf16", "fp16"), "mindspore": ("fp32", "fp16")}  # MindSpore has no bf16 CPU kernels
LOSS_TOLERANCE = 0.10  # |final-loss ratio - 1| within 10%


def initial_weights(model: str, config, path: Path) -> str:
    from earthzoo.api import build_model
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    tfw.seed_everything(0)
    save_canonical(path, Weights(tfw.state_to_numpy(build_model(model, "torch", config=config)), model, config_to_dict(config)))
    return str(path)


def forecast_fields(model: str, weights: str, framework: str, precision: str, init: str, inits: list[int], leads: int, out: Path) -> np.ndarray:
    from earthzoo.data import read_dataset
    from earthzoo.training.forecast import forecast

    path = out / f"{model}-{framework}-{precision}.nc"
    forecast(model, weights=weights, framework=framework, init=init, steps=leads, out=str(path), init_indices=inits, show_progress=False, precision=precision)
    ds = read_dataset(path, load=True)  # the per-variable file, stacked
    return ds["fields"].values.astype(np.float64)  # (init, lead, channel, lat, lon); NaN on land


def forecast_difference(a: np.ndarray, ref: np.ndarray) -> list[float]:
    """Per lead: RMS of a - ref over the channel's std of ref, mean over channels."""
    std = np.nanstd(ref, axis=(0, 1, 3, 4))
    std = np.where(std > 0, std, 1.0)
    rms = np.sqrt(np.nanmean((a - ref) ** 2, axis=(0, 3, 4)))  # (lead, channel)
    return [float(v) for v in (rms / std[None]).mean(axis=1)]


def validate(model: str, preset: str, source: str, steps: int, leads: int, work: Path, say) -> dict:
    from earthzoo.api import model_card
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.data import open_source, training_data
    from earthzoo.training.trainer import read_log

    card = model_card(model)
    config = card.make_config(preset)
    data = training_data(source, card, config, 1)
    init = initial_weights(model, config, work / f"{model}-init.safetensors")
    T = open_source(source).sizes["time"]
    history = card.spec(config).history if card.spec(config) is not None else 1
    inits = [max(history - 1, T - leads - 9), T - leads - 1]  # held-out times at the end of the data
    rec: dict = {"model": model, "preset": preset, "data": source, "steps": steps, "leads": leads, "init_indices": inits, "curves": {}, "seconds": {}}
    weights = {}
    for fw, precs in PRECISIONS.items():
        for prec in precs:
            key = f"{fw}/{prec}"
            cfg = TrainConfig(steps=steps, batch_size=2, lr=1e-3, warmup_steps=5, checkpoint_every=0, precision=prec, seed=0)
            out = work / f"{model}-{fw}-{prec}"
            t0 = time.perf_counter()
            train(model, framework=fw, preset=preset, data=data, out=out, cfg=cfg, weights=init, show_progress=False)
            rec["seconds"][key] = round(time.perf_counter() - t0, 1)
            rec["curves"][key] = [r["loss"] for r in read_log(out / "train_log.jsonl")]
            weights[key] = str(out / "weights.safetensors")
            say(f"{model} {key}: final loss {rec['curves'][key][-1]:.4g} ({rec['seconds'][key]} s)")

    def final(key):
        return float(np.mean(rec["curves"][key][-5:]))

    rec["final_loss"] = {k: final(k) for k in rec["curves"]}
    rec["final_loss_ratio"] = {k: final(k) / final(f"{k.split('/')[0]}/fp32") for k in rec["curves"] if not k.endswith("fp32")}
    rec["within_tolerance"] = {k: abs(v - 1.0) <= LOSS_TOLERANCE for k, v in rec["final_loss_ratio"].items()}
    rec["curve_parity_max_rel"] = {}
    for prec in PRECISIONS["mindspore"]:
        t, m = np.array(rec["curves"][f"torch/{prec}"]), np.array(rec["curves"][f"mindspore/{prec}"])
        rec["curve_parity_max_rel"][prec] = float(np.max(np.abs(m - t) / np.abs(t)))

    # forecasts from the torch fp32-trained weights, in every framework and precision
    fields = {}
    for fw, precs in PRECISIONS.items():
        for prec in precs:
            fields[f"{fw}/{prec}"] = forecast_fields(model, weights["torch/fp32"], fw, prec, source, inits, leads, work)
    # the scale of what the model changes over the forecast (lead 1 -> last lead), in the same units
    rec["rollout_change_scale"] = forecast_difference(fields["torch/fp32"][:, -1:], fields["torch/fp32"][:, :1])[0]
    rec["rollout_vs_fp32"] = {}
    for k, f in fields.items():
        if not k.endswith("fp32"):
            d = forecast_difference(f, fields[f"{k.split('/')[0]}/fp32"])
            rec["rollout_vs_fp32"][k] = {"lead1": d[0], f"lead{leads}": d[-1], "per_lead": d}
    rec["rollout_parity"] = {}
    for prec in PRECISIONS["mindspore"]:
        d = forecast_difference(fields[f"mindspore/{prec}"], fields[f"torch/{prec}"])
        rec["rollout_parity"][prec] = {"lead1": d[0], f"lead{leads}": d[-1], "per_lead": d}
    return rec


def figure(records: list[dict], path: Path) -> None:
    from earthzoo.plotting import pyplot

    plt = pyplot()

    fig, axes = plt.subplots(1, len(records), figsize=(4.5 * len(records), 3.4), squeeze=False)
    styles = {"fp32": "-", "bf16": "--", "fp16": ":"}
    for ax, rec in zip(axes[0], records):
        for key, curve in rec["curves"].items():
            fw, prec = key.split("/")
            ax.plot(range(1, len(curve) + 1), curve, styles[prec], color="C0" if fw == "torch" else "C3", lw=1.2, label=key)
        ax.set_yscale("log")
        ax.set_title(f"{rec['model']} ({rec['preset']})")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training loss (MSE, normalised)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(MODELS), default="tiny")
    ap.add_argument("--models", default="fourcastnet,graphcast,ai_goms")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--leads", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"precision_validation_{args.preset}.json"
    import mindspore
    import torch

    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__, "mindspore": mindspore.__version__, "loadavg_start": open("/proc/loadavg").read().split()[:3]},
        "settings": {"preset": args.preset, "steps": args.steps, "leads": args.leads, "batch_size": 2, "lr": 1e-3, "warmup": 5, "loss_tolerance": LOSS_TOLERANCE, "precisions": PRECISIONS},
        "records": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            preset, source = MODELS[args.preset][model]
            work = Path(tmp) / model
            work.mkdir()
            result["records"].append(validate(model, preset, source, args.steps, args.leads, work, lambda s: print(s, flush=True)))
            result["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
            target.write_text(json.dumps(result, indent=1))  # after each model: a partial run keeps what it measured
    figure(result["records"], out / f"precision_validation_{args.preset}.png")
    print(f"wrote {target}")
    for rec in result["records"]:
        for k, r in rec["final_loss_ratio"].items():
            print(f"{rec['model']:12s} {k:15s} final-loss ratio {r:.4f}  rollout vs fp32 lead1 {rec['rollout_vs_fp32'][k]['lead1']:.2e} lead{args.leads} {rec['rollout_vs_fp32'][k][f'lead{args.leads}']:.2e}")
        for p, r in rec["rollout_parity"].items():
            print(f"{rec['model']:12s} torch~ms {p:5s}  curve max rel {rec['curve_parity_max_rel'][p]:.2e}  rollout lead1 {r['lead1']:.2e} lead{args.leads} {r[f'lead{args.leads}']:.2e}")


if __name__ == "__main__":
    main()
