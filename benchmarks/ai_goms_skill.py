"""AI-GOMS skill on the embedded synthetic ocean (a stand-in until the common training
engine serves AI-GOMS): train a torch model on next-day prediction with the
land-masked loss, then roll out 10 days from held-out initial times, feeding the
data source's forcings at each step (next input = predicted ocean state, land reset
to 0, + that day's forcings + orography), and compare with persistence. RMSE is
cell-area (cos lat) weighted over ocean points, in physical units, per lead day,
for t_0m (SST) and ssh. Writes JSON; nothing is asserted.

    python benchmarks/ai_goms_skill.py --preset small --minutes 4 --out ai_goms_skill.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("GLOG_v", "3")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--size", default=None, help="synthetic ocean size (default: the preset's name)")
    ap.add_argument("--minutes", type=float, default=4.0, help="training wall-time budget")
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--leads", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="ai_goms_skill.json")
    args = ap.parse_args(argv)

    import torch
    from earthzoo.data.sources import open_synthetic_ocean
    from earthzoo.files import atomic_path
    from earthzoo_ai_goms import torch_model as tm
    from earthzoo_ai_goms.config import AIGOMSConfig

    torch.manual_seed(args.seed)
    config = AIGOMSConfig.preset(args.preset)
    ds = open_synthetic_ocean(size=args.size or args.preset)
    names = [str(c) for c in ds["channel"].values]
    want = list(config.input_variables)
    if names[: len(want)] != want:
        raise SystemExit(f"data channels {names[: len(want)]} do not match the model's {want}")
    f = np.asarray(ds["fields"].values[:, : len(want)], np.float32)
    ocean = np.asarray(ds["ocean_mask"].values, bool)
    lat = np.asarray(ds["lat"].values, np.float64)
    n_ocean = config.out_chans
    T = len(f)
    cut = int(T * 0.8)
    mean = np.array([f[:cut, c][:, ocean].mean() if c < n_ocean else f[:cut, c].mean() for c in range(len(want))], np.float32)
    std = np.array([f[:cut, c][:, ocean].std() if c < n_ocean else f[:cut, c].std() for c in range(len(want))], np.float32)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    z = (f - mean[None, :, None, None]) / std[None, :, None, None]
    z[:, :n_ocean, ~ocean] = 0.0  # land is 0 in the ocean channels, as in the data

    model = tm.build(config)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    zt = torch.from_numpy(z)
    t0, losses, step = time.perf_counter(), [], 0
    model.train()
    while step < args.max_steps and time.perf_counter() - t0 < args.minutes * 60:
        idx = rng.integers(0, cut - 1, args.batch)
        x, y = zt[idx], zt[idx + 1, :n_ocean]
        opt.zero_grad(set_to_none=True)
        loss = tm.ocean_mse(model(x), y, ocean)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
    train_s = time.perf_counter() - t0

    # held-out rollouts with the data source's forcings at each step
    model.eval()
    w = np.cos(np.deg2rad(lat))[:, None] * np.ones(ocean.shape)
    w = np.where(ocean, w, 0.0)
    w = w / w.sum()
    channels = {"t_0m": want.index("t_0m"), "ssh": want.index("ssh")}
    inits = list(range(cut, T - args.leads))
    sq_model = {k: np.zeros(args.leads) for k in channels}
    sq_pers = {k: np.zeros(args.leads) for k in channels}
    with torch.no_grad():
        for i in inits:
            x = zt[i : i + 1].clone()
            for lead in range(1, args.leads + 1):
                y = model(x)
                y[:, :, ~torch.from_numpy(ocean)] = 0.0
                truth = f[i + lead]
                for k, c in channels.items():
                    pred = y[0, c].numpy() * std[c] + mean[c]
                    sq_model[k][lead - 1] += float((w * (pred - truth[c]) ** 2).sum())
                    sq_pers[k][lead - 1] += float((w * (f[i, c] - truth[c]) ** 2).sum())
                x = torch.cat([y, zt[i + lead : i + lead + 1, n_ocean:]], 1)
    rmse = {
        k: {"model": np.sqrt(sq_model[k] / len(inits)).tolist(), "persistence": np.sqrt(sq_pers[k] / len(inits)).tolist()} for k in channels
    }
    result = {
        "benchmark": "ai_goms_skill",
        "preset": args.preset,
        "data": f"synthetic-ocean {args.size or args.preset}: {T} days, {ocean.mean():.2f} ocean fraction",
        "train_days": cut,
        "test_inits": len(inits),
        "train_steps": step,
        "batch": args.batch,
        "train_seconds": train_s,
        "loss_first_last": [float(np.mean(losses[:10])), float(np.mean(losses[-10:]))],
        "leads_days": list(range(1, args.leads + 1)),
        "rmse": rmse,
        "beats_persistence": {k: [m < p for m, p in zip(v["model"], v["persistence"])] for k, v in rmse.items()},
    }
    text = json.dumps(result, indent=2)
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
