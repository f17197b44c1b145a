"""Skill of a model trained through the common engine (``earthzoo.training.train``)
for a wall-time budget, against persistence, on held-out initial times of the
data's test split (``earthzoo.data.time_splits``). RMSE is cell-area weighted
(``earthzoo.metrics.evaluate``), over ocean points for masked data, per lead.
Works for any model the engine serves; writes JSON, asserts nothing.

    python benchmarks/engine_skill.py --model ai_goms --preset small \\
        --data synthetic-ocean:small --minutes 4 --leads 10 --channels t_0m,ssh --out ai_goms_engine_skill.json
    python benchmarks/engine_skill.py --model fourcastnet --preset tiny \\
        --data synthetic-atmosphere --minutes 4 --leads 8 --channels z,u,v,vort,div --out fcn_engine_skill.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_v", "3")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ai_goms")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--data", default="synthetic-ocean:small")
    ap.add_argument("--framework", default="torch")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (one is steadiest on a shared CPU)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rollout", type=int, default=1)
    ap.add_argument("--leads", type=int, default=10)
    ap.add_argument("--init-stride", type=int, default=2)
    ap.add_argument("--channels", default="", help="comma-separated channels to report (default: all)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", default="engine_skill.json")
    ap.add_argument("--train-inits", action="store_true", help="also score initial times of the training split (in-sample: fit vs generalisation)")
    ap.add_argument("--note", default="", help="free text stored in the JSON (what this run varies)")
    ap.add_argument("--weights", default=None, help="start from these canonical weights (e.g. a finished run, to fine-tune it with --rollout K)")
    ap.add_argument("--pretrain-minutes", type=float, default=0.0, help="first masked pre-training (--stage masked) for this long, then forecast training from its weights")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    from earthzoo.data import read_dataset, time_splits
    from earthzoo.files import atomic_write_text
    from earthzoo.metrics import evaluate
    from earthzoo.training import TrainConfig, forecast, train
    from earthzoo.training.data import open_source
    from earthzoo.training.trainer import read_log

    work = Path(args.workdir or tempfile.mkdtemp(prefix="engine_skill."))

    def run(name: str, minutes: float, stage: str, rollout: int, weights: str | None):
        """Train for about ``minutes`` (step count from a 4-step probe); returns (summary, log, seconds)."""
        common = dict(framework=args.framework, preset=args.preset, data=args.data, weights=weights, show_progress=False)
        probe = TrainConfig(steps=4, batch_size=args.batch, lr=args.lr, rollout_steps=rollout, checkpoint_every=0, stage=stage)
        train(args.model, out=work / f"{name}_probe", cfg=probe, **common)
        per_step = float(np.median([r["step_time_s"] for r in read_log(work / f"{name}_probe" / "train_log.jsonl")[1:]]))
        steps = min(args.max_steps, max(10, int(minutes * 60 / per_step)))
        cfg = TrainConfig(steps=steps, batch_size=args.batch, lr=args.lr, warmup_steps=min(50, steps // 10), rollout_steps=rollout, checkpoint_every=0, stage=stage)
        t0 = time.perf_counter()
        summary = train(args.model, out=work / name, cfg=cfg, **common)
        return summary, read_log(work / name / "train_log.jsonl"), time.perf_counter() - t0

    start = args.weights
    pretrain = None
    if args.pretrain_minutes > 0:
        s, plog, secs = run("pretrain", args.pretrain_minutes, "masked", 1, start)
        start = s["weights"]
        pretrain = {"steps": len(plog), "seconds": round(secs, 1), "loss_first_last": [plog[0]["loss"], plog[-1]["loss"]]}
    summary, log, train_s = run("run", args.minutes, "forecast", args.rollout, start)
    steps = len(log)

    ds = open_source(args.data)
    splits = time_splits(ds["time"].values)

    def score(inits, name):
        s = forecast(args.model, weights=summary["weights"], framework=args.framework, init=args.data, steps=args.leads, out=str(work / f"forecast_{name}.nc"), init_indices=inits, show_progress=False)
        fc = read_dataset(s["out"], load=True)  # the per-variable file, stacked
        fields = fc["fields"].fillna(0.0)  # land is NaN in ocean forecasts; the mask gives it zero weight
        res = evaluate(fields, ds.isel(lat=slice(0, fc.sizes["lat"])))
        chans = [c for c in args.channels.split(",") if c] or res["channels"]
        return res, {c: {"model": res["metrics"]["forecast"][c]["rmse"], "persistence": res["metrics"]["persistence"][c]["rmse"]} for c in chans}

    sp = splits["test"]
    result, table = score(list(range(sp.start, ds.sizes["time"] - args.leads, args.init_stride)), "test")
    report = {
        "model": args.model,
        "preset": args.preset,
        "framework": args.framework,
        "data": args.data,
        "train_steps": steps,
        "train_seconds": round(train_s, 1),
        "batch": args.batch,
        "loss_first_last": [log[0]["loss"], log[-1]["loss"]],
        "rollout": args.rollout,
        "started_from": args.weights,
        "masked_pretraining": pretrain,
        "n_init": result["n_init"],
        "masked": result["masked"],
        "lead_time_hours": result["lead_time_hours"],
        "rmse": table,
        "beats_persistence_at_every_lead": {c: all(m < p for m, p in zip(v["model"], v["persistence"])) for c, v in table.items()},
    }
    if args.train_inits:
        tr = splits["train"]
        inits = list(range(tr.start or 0, tr.stop - args.leads, max(1, (tr.stop - args.leads) // result["n_init"])))[: result["n_init"]]
        _, train_table = score(inits, "train")
        report["rmse_train_inits"] = train_table
        report["beats_persistence_at_every_lead_train_inits"] = {c: all(m < p for m, p in zip(v["model"], v["persistence"])) for c, v in train_table.items()}
    if args.note:
        report["note"] = args.note
    atomic_write_text(args.out, json.dumps(report, indent=1))
    for c, v in table.items():
        print(c, "model", " ".join(f"{x:.4g}" for x in v["model"]))
        print(c, "pers ", " ".join(f"{x:.4g}" for x in v["persistence"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
