"""The study's tables and figures from a benchmark result (:func:`earthzoo.bench.run`):
report.md, report.json and PNG figures (matplotlib, Agg).

Tables follow the study: training efficiency (Tables 2/3), inference time per
step (Table 4), energy (Table S1), plus accuracy against persistence and
climatology and torch-vs-MindSpore parity. Figures: loss curves per framework
(Fig. S1), forecast vs truth and torch-minus-MindSpore maps (Fig. 2), RMSE and
ACC against lead time with the baselines, and inference time per step."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError
from .files import atomic_write_text, json_text, writable_dir
from .plotting import FW_LABEL, colorbar, fw_style, loss_figure, plain_numbers, power_of_ten, pyplot, save, scale_label
from .scoring import MARGIN, fmt_ratio, persistence_verdict, verdicts

UNAVAILABLE = "unavailable"


def _recs(result: dict, model: str) -> dict[str, dict]:
    return {r["framework"]: r for r in result["records"] if r["model"] == model}


def _f(v: Any, fmt: str = ".3g") -> str:
    return "n/a" if v is None else format(v, fmt)


# --------------------------------------------------------------------------- summary (report.json)


def energy_field(rec: dict) -> dict[str, Any]:
    """The inference energy as a measurement, or {"status": "unavailable", "reason"}."""
    e = (rec.get("inference") or {}).get("energy")
    if not e:
        return {"status": UNAVAILABLE, "reason": "inference was not measured (see problems)"}
    if e.get("method") == UNAVAILABLE or e.get("joules") is None:
        return {"status": UNAVAILABLE, "reason": e.get("reason") or "the meter could not measure", "source": e.get("source", "")}
    return {"status": "measured", "joules": e["joules"], "seconds": e["seconds"], "mean_watts": e["mean_watts"], "method": e["method"], "source": e.get("source", ""), "efficiency_ratio": e.get("efficiency_ratio"), "efficiency_unit": e.get("efficiency_unit")}


def _verdicts(m: dict) -> dict[str, Any] | None:
    """The per-channel verdicts of a model's scores (computed again from the scores,
    so results written before verdicts existed get them too)."""
    return verdicts(m["accuracy"]) if m.get("accuracy") else None


def _persistence(m: dict) -> dict[str, Any]:
    """The persistence verdict, from the scores when there are any (as :func:`_verdicts`)."""
    return persistence_verdict(m["accuracy"]) if m.get("accuracy") else (m.get("persistence") or {})


def load_warnings(result: dict) -> list[str]:
    """One line per timed phase whose 1-minute load average, before or after,
    exceeded the core count: its timings shared the CPU with other work."""
    out = []
    cores = result.get("machine", {}).get("cpu_cores")
    start = (result.get("machine", {}).get("load_average_1_5_15") or [None])[0]
    if cores and start is not None and start > cores:
        out.append(f"at the start of the run the load average was {start:g} on {cores} cores")
    for r in result.get("records", []):
        for phase in ("training", "inference"):
            load = (r.get(phase) or {}).get("load")
            if not load:
                continue
            n = load.get("cpu_cores") or cores
            seen = [x[0] for x in (load.get("load_before_1_5_15"), load.get("load_after_1_5_15")) if x]
            if n and seen and max(seen) > n:
                out.append(f"{r['model']} {FW_LABEL.get(r['framework'], r['framework'])} {phase}: load average {' -> '.join(f'{x:g}' for x in seen)} on {n} cores")
    return out


def summarise(result: dict) -> dict[str, Any]:
    """Per model: parity rel_rmse, RMSE/ACC by lead with baselines, the verdicts
    against persistence and climatology per channel, time per step in each
    framework, energy (or why not), the persistence verdict and any problems."""
    out = {}
    for model, m in result["models"].items():
        recs = _recs(result, model)
        acc = m.get("accuracy")
        scores = {name: {ch: {k: v for k, v in d.items() if k != "mse_by_init"} for ch, d in by_ch.items()} for name, by_ch in acc["metrics"].items()} if acc else {}
        out[model] = {
            "preset": m["preset"],
            "parity_rel_rmse": (m.get("parity") or {}).get("rel_rmse"),
            "parity_max_abs_err": (m.get("parity") or {}).get("max_abs_err"),
            "accuracy": {"lead_time_hours": acc["lead_time_hours"], "channels": acc["channels"], "units": acc.get("units", {}), "n_init": acc["n_init"], **scores} if acc else None,
            "verdicts": _verdicts(m),
            "time_per_step_s": {fw: (r.get("inference") or {}).get("step_time_s_median") for fw, r in recs.items()},
            "inference_weights": {fw: (r.get("inference") or {}).get("weights") for fw, r in recs.items()},
            "train_step_s": {fw: (r.get("training") or {}).get("step_time_s_median") for fw, r in recs.items()},
            "energy": {fw: energy_field(r) for fw, r in recs.items()},
            "beats_persistence": _persistence(m).get("beats_persistence"),
            "persistence_verdict": _persistence(m).get("verdict") or "not evaluated: the model produced no trained forecast (see problems)",
            "weights_round_trip_equal": (m.get("conversion") or {}).get("equal"),
            "problems": m.get("problems", []),
        }
    return out


# --------------------------------------------------------------------------- tables


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _hours(hs: list[float]) -> str:
    """Leads as compact ranges: '6-24 h, 36 h' (runs of consecutive leads joined)."""
    if not hs:
        return "none"
    runs: list[list[float]] = [[hs[0]]]
    step = min((b - a for a, b in zip(hs, hs[1:])), default=0)
    for h in hs[1:]:
        if step and abs(h - runs[-1][-1] - step) < 1e-9:
            runs[-1].append(h)
        else:
            runs.append([h])
    return ", ".join(f"{r[0]:g}-{r[-1]:g} h" if len(r) > 1 else f"{r[0]:g} h" for r in runs)


def _ci(s: dict, k: int) -> str:
    r, lo, hi = s["ratio"][k], s["low"][k], s["high"][k]
    return "n/a" if r is None else (fmt_ratio(r) if lo is None else f"{fmt_ratio(r)} [{fmt_ratio(lo)}, {fmt_ratio(hi)}]") + (" marginal" if s["calls"][k] == "marginal" else "")


def _stops(s: dict, last: float) -> str:
    if s["stops_at_hours"] is not None:
        return f"{s['stops_at_hours']:g} h"
    return f"never (to {last:g} h)" if s["calls"] and s["calls"][0] == "beats" else "- (not at the first lead)"


def verdict_rows(model: str, v: dict[str, Any]) -> list[list[Any]]:
    """Per channel: the RMSE ratio to each baseline at the first and last lead with
    its interval, the leads at which the model beats each, and where it stops."""
    hours = v["lead_time_hours"]
    rows = []
    for ch, p in v["persistence"].items():
        c = v.get("climatology", {}).get(ch)
        row = [model, ch, v["units"].get(ch, "1"), _ci(p, 0), _ci(p, len(hours) - 1), _hours(p["beats_at_hours"]), _stops(p, hours[-1])]
        row += [_ci(c, 0), _ci(c, len(hours) - 1), _hours(c["beats_at_hours"]), _stops(c, hours[-1])] if c else ["n/a"] * 4
        rows.append(row)
    return rows


def _load(r: dict, phase: str) -> list[Any]:
    load = (r.get(phase) or {}).get("load") or {}
    b, a = load.get("load_before_1_5_15"), load.get("load_after_1_5_15")
    return [_f(b[0], ".2f") if b else "n/a", _f(a[0], ".2f") if a else "n/a", load.get("cpu_cores", "n/a")]


def tables(result: dict) -> dict[str, str]:
    train_rows, infer_rows, energy_rows, acc_rows, verdict_rows_, parity_rows, load_rows = [], [], [], [], [], [], []
    for model, m in result["models"].items():
        recs = _recs(result, model)
        for fw, r in recs.items():
            t = r.get("training")
            if t:
                train_rows.append([model, FW_LABEL.get(fw, fw), r["backend"], r["preset"], t["steps"], t["batch_size"], _f(t["step_time_s_median"]), _f(t.get("wall_per_step_s")), _f(t["epoch_time_s"]), t["samples_per_epoch"], _f(t["samples_per_s"]), _f(t["peak_rss_mb"], ".0f"), _f(t["final_loss"], ".4g")])
            else:
                why = next((p for p in r["problems"] if p.startswith(("training", "data"))), "not measured")
                train_rows.append([model, FW_LABEL.get(fw, fw), r["backend"], r["preset"], "-", "-", "-", "-", "-", "-", "-", "-", f"cannot train: {why[:160]}"])
            for phase in ("training", "inference"):
                e = (r.get(phase) or {}).get("energy")
                if r.get(phase):
                    inter = ", ".join(FW_LABEL.get(x, x) for x in r[phase].get("interleaved_with", [])) or "-"
                    load_rows.append([model, FW_LABEL.get(fw, fw), phase, *_load(r, phase), inter])
                if e is None:
                    continue
                if e.get("joules") is None:
                    energy_rows.append([model, FW_LABEL.get(fw, fw), r["backend"], phase, UNAVAILABLE, "-", "-", e.get("reason", "")])
                else:
                    energy_rows.append([model, FW_LABEL.get(fw, fw), r["backend"], phase, _f(e["joules"]), _f(e["mean_watts"]), _f(e.get("efficiency_ratio")), e.get("efficiency_unit", "")])
        t_inf = (recs.get("torch") or {}).get("inference") or {}
        m_inf = (recs.get("mindspore") or {}).get("inference") or {}
        ts, ms_ = t_inf.get("step_time_s_median"), m_inf.get("step_time_s_median")
        backend = next(iter(recs.values()))["backend"] if recs else ""
        infer_rows.append([model, m["preset"], backend, _f(ts), _f(ms_), _f(ms_ / ts if ts and ms_ else None), t_inf.get("batch", "-"), t_inf.get("weights") or m_inf.get("weights") or "-"])
        acc = m.get("accuracy")
        if acc:
            met, units = acc["metrics"], acc.get("units", {})
            for ch in acc["channels"][:6]:
                for k in sorted({0, len(acc["lead_time_hours"]) - 1}):
                    acc_rows.append([model, ch, units.get(ch, "1"), f"{acc['lead_time_hours'][k]:g}", _f(met["forecast"][ch]["rmse"][k], ".4g"), _f(met["persistence"][ch]["rmse"][k], ".4g"), _f(met["climatology"][ch]["rmse"][k], ".4g"), _f(met["forecast"][ch]["acc"][k], ".3f"), _f(met["persistence"][ch]["acc"][k], ".3f")])
            verdict_rows_ += verdict_rows(model, _verdicts(m))
        p = m.get("parity")
        parity_rows.append([model, _f((p or {}).get("rel_rmse")), _f((p or {}).get("max_abs_err")), _f(((p or {}).get("per_lead") or [{}])[0].get("rel_rmse")), {True: "yes", False: "NO", None: "not done"}[(m.get("conversion") or {}).get("equal")]])
    return {
        "training": _md_table(["model", "framework", "backend", "preset", "steps", "batch (samples)", "time per step (s, median)", "wall time per step (s, with data)", "time per epoch (s)", "samples per epoch", "throughput (samples/s)", "peak RSS (MiB)", "final loss (MSE of normalised fields, 1)"], train_rows),
        "inference": _md_table(["model", "preset", "backend", "PyTorch (s/step)", "MindSpore (s/step)", "MindSpore/PyTorch (1)", "batch (samples)", "weights"], infer_rows),
        "load": _md_table(["model", "framework", "phase", "load average before (1 min)", "load average after (1 min)", "cores", "interleaved with"], load_rows),
        "energy": _md_table(["model", "framework", "backend", "phase", "energy (J)", "mean power (W)", "efficiency ratio", "unit / reason"], energy_rows),
        "accuracy": _md_table(["model", "channel", "unit", "lead (h)", "RMSE model (unit)", "RMSE persistence (unit)", "RMSE climatology (unit)", "ACC model (1)", "ACC persistence (1)"], acc_rows),
        "verdicts": _md_table(
            ["model", "channel", "unit", "RMSE / persistence, first lead (1)", "RMSE / persistence, last lead (1)", "beats persistence at", "stops at", "RMSE / climatology, first lead (1)", "RMSE / climatology, last lead (1)", "beats climatology at", "stops at"],
            verdict_rows_,
        ),
        "parity": _md_table(["model", "forecast rel. RMSE, worst lead (1)", "max abs err (channel units)", "rel. RMSE lead 1 (1)", "weights canonical->MindSpore->canonical equal"], parity_rows),
    }


# --------------------------------------------------------------------------- figures


def fig_loss(result: dict, model: str, folder: Path) -> Path | None:
    """Fig. S1: training loss per optimizer step in each framework (same seed and data)."""
    recs = _recs(result, model)
    curves = {fw: (list(range(1, len(r["training"]["loss"]) + 1)), r["training"]["loss"]) for fw, r in recs.items() if r.get("training") and r["training"].get("loss")}
    if not curves:
        return None
    return loss_figure(curves, f"Fig. S1 - {model} ({result['models'][model]['preset']}): training loss per framework", folder / f"fig_s1_loss_{model}.png")


def key_channels(channels: list[str], n: int = 2) -> list[str]:
    """The variables shown in maps: geopotential/temperature and a wind (or SSH) first."""
    prefs = ("z", "z500", "t_0m", "ssh", "u", "u500", "t2m", "vort")
    picked = [c for c in prefs if c in channels][:n]
    return picked + [c for c in channels if c not in picked][: n - len(picked)]


def _units(ds: Any) -> dict[str, str]:
    from .data.form import channel_units

    if "channel_units" in ds.coords:
        return {str(c): str(u) for c, u in zip(ds["channel"].values, ds["channel_units"].values)}
    return {str(c): channel_units(str(c))[0] for c in ds["channel"].values} if "channel" in ds.coords else {}


def fig_maps(result: dict, model: str, folder: Path) -> Path | None:
    """Fig. 2: truth, the PyTorch and MindSpore forecasts and their difference for key
    variables, at the longest lead of the first held-out initial time; maps at the
    grid's aspect ratio (degrees equal on both axes), colour-bar scales in the label."""
    from .data import read_dataset
    from .training.data import open_source

    m = result["models"][model]
    files = m.get("forecast_files") or {}
    if "torch" not in files:
        return None
    fc = {fw: read_dataset(p, load=True) for fw, p in files.items()}  # per-variable files, stacked
    t = fc["torch"]
    truth = open_source(m["truth"])
    chans = key_channels([str(c) for c in t["channel"].values])
    units = _units(t) or _units(truth)
    lead = t.sizes["lead_time"] - 1
    valid = t["valid_time"].values[0, lead]
    hours = float(t["lead_time"].values[lead] / np.timedelta64(1, "h"))
    tv = truth["fields"].sel(time=valid).sel(lat=t["lat"].values, method="nearest")
    mask = None
    if "ocean_mask" in truth:
        mask = truth["ocean_mask"].sel(lat=t["lat"].values, method="nearest").values > 0.5
    cols = ["truth", "torch"] + (["mindspore", "diff"] if "mindspore" in fc else [])
    lon, lat = t["lon"].values, t["lat"].values
    aspect = float(np.ptp(lat) + abs(lat[1] - lat[0])) / float(np.ptp(lon) + abs(lon[1] - lon[0]))  # height / width of the grid in degrees
    panel_w = 3.9
    plt = pyplot()
    fig, axes = plt.subplots(len(chans), len(cols), figsize=(panel_w * len(cols), (panel_w - 1.0) * aspect * len(chans) + 1.4), squeeze=False, layout="constrained")
    titles = {"truth": "truth", "torch": "PyTorch forecast", "mindspore": "MindSpore forecast", "diff": "PyTorch - MindSpore"}
    for i, ch in enumerate(chans):
        fields = {"truth": tv.sel(channel=ch).values.astype(np.float64), "torch": fc["torch"]["fields"].sel(channel=ch).values[0, lead]}
        if "mindspore" in fc:
            fields["mindspore"] = fc["mindspore"]["fields"].sel(channel=ch).values[0, lead]
            fields["diff"] = fields["torch"] - fields["mindspore"]
        if mask is not None:
            fields = {k: np.where(mask, v, np.nan) for k, v in fields.items()}
        e_val = power_of_ten([fields["truth"], fields["torch"]])
        vmin = np.nanmin([np.nanmin(fields[k]) for k in ("truth", "torch")]) / 10.0**e_val
        vmax = np.nanmax([np.nanmax(fields[k]) for k in ("truth", "torch")]) / 10.0**e_val
        u = units.get(ch, "1")
        for j, key in enumerate(cols):
            ax = axes[i, j]
            if key == "diff":
                e = power_of_ten(fields[key])
                lim = float(np.nanmax(np.abs(fields[key]))) / 10.0**e or 1e-12
                im = ax.pcolormesh(lon, lat, fields[key] / 10.0**e, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
            else:
                e = e_val
                im = ax.pcolormesh(lon, lat, fields[key] / 10.0**e, cmap="viridis", vmin=vmin, vmax=vmax, shading="auto")
            ax.set_aspect("equal")
            ax.set_title(f"{ch}: {titles[key]}", fontsize=9)
            ax.set_xlabel("longitude (°E)", fontsize=8)
            ax.set_ylabel("latitude (°N)", fontsize=8)
            ax.tick_params(labelsize=7)
            colorbar(fig, im, ax, f"{ch}{' difference' if key == 'diff' else ''} ({scale_label(u, e)})")
    fig.suptitle(f"Fig. 2 - {model}: forecast vs truth at lead {hours:g} h (valid {np.datetime_as_string(valid, unit='h')})", fontsize=11)
    return save(fig, folder / f"fig_2_maps_{model}.png")


def _line(v: list) -> list[float]:
    return [np.nan if x is None else x for x in v]


def fig_skill(result: dict, model: str, folder: Path) -> Path | None:
    """Skill against lead time for key variables and the channel worst against
    persistence: the RMSE ratio to persistence with its bootstrap interval (readable
    where the absolute curves overlap), the RMSE with both baselines, and the ACC;
    each framework in its own line style."""
    m = result["models"][model]
    acc = m.get("accuracy")
    if not acc:
        return None
    units = acc.get("units", {})
    leads = acc["lead_time_hours"]
    ms_acc = (_recs(result, model).get("mindspore") or {}).get("accuracy")
    fc = {"torch": acc, **({"mindspore": ms_acc} if ms_acc else {})}
    ver = {fw: verdicts(a) for fw, a in fc.items()}
    chans = key_channels(acc["channels"])
    first = {ch: s["ratio"][0] for ch, s in ver["torch"]["persistence"].items() if s["ratio"][0] is not None}
    worst = max(first, key=first.get) if first else None
    if worst and worst not in chans:  # the channel closest to (or worst against) persistence is shown too
        chans.append(worst)
    plt = pyplot()
    fig, axes = plt.subplots(3, len(chans), figsize=(4.8 * len(chans), 8.6), squeeze=False)
    base = {"persistence": {"color": "gray", "ls": ":", "marker": "s", "lw": 1.2}, "climatology": {"color": "black", "ls": "-.", "lw": 1.2}}
    for j, ch in enumerate(chans):
        ax = axes[0, j]
        ax.axhline(1.0, color="gray", ls=":", lw=1.2, label="persistence (ratio 1)")
        for fw, v in ver.items():
            s = v["persistence"][ch]
            ax.plot(leads, _line(s["ratio"]), ms=5, label=f"{FW_LABEL[fw]} / persistence", **fw_style(fw))
            if fw == "torch" and v["level"] and s["low"][0] is not None:
                ax.fill_between(leads, _line(s["low"]), _line(s["high"]), color="tab:red", alpha=0.15, label=f"{v['level']:.0%} bootstrap interval ({v['n_init']} inits)")
        clim = _line([c / p if c is not None and p else None for c, p in zip(acc["metrics"]["climatology"][ch]["rmse"], acc["metrics"]["persistence"][ch]["rmse"])])
        # the axis follows the model and 1; a climatology far off that scale is named, not drawn flat
        seen = [x for v in ver.values() for k in ("ratio", "low", "high") for x in v["persistence"][ch][k] if x is not None] + [1.0]
        lo, hi = min(seen), max(seen)
        pad = 0.15 * (hi - lo) or 0.05
        off = [c for c in clim if np.isfinite(c) and not lo - pad <= c <= hi + pad]
        span = f" ({min(off):.3g}-{max(off):.3g}, {'partly ' if len(off) < np.isfinite(clim).sum() else ''}off scale)" if off else ""
        ax.plot(leads, clim, label=f"climatology / persistence{span}", **base["climatology"])
        ax.set_ylim(lo - pad, hi + pad)
        plain_numbers(ax.yaxis)
        ax.set_ylabel("RMSE / RMSE of persistence (1)")
        ax.set_title(f"{ch}: RMSE relative to persistence (below 1: better)", fontsize=10)
        for row, metric in ((1, "rmse"), (2, "acc")):
            ax = axes[row, j]
            for name, st in base.items():
                if metric == "acc" and name == "climatology":
                    continue  # undefined: the climatology's anomaly is zero
                ax.plot(leads, _line(acc["metrics"][name][ch][metric]), ms=4, label=name, **st)
            for fw, a in fc.items():
                ax.plot(leads, _line(a["metrics"]["forecast"][ch][metric]), ms=5, label=f"{model} ({FW_LABEL[fw]})", **fw_style(fw))
            if metric == "rmse" and all(x > 0 for a in (acc, *fc.values()) for name in ("forecast", "persistence", "climatology") for x in _line(a["metrics"][name][ch]["rmse"]) if np.isfinite(x)):
                ax.set_yscale("log")  # climatology can sit orders of magnitude above model and persistence
            ax.set_ylabel(f"RMSE ({units.get(ch, '1')}{', log scale' if ax.get_yscale() == 'log' else ''})" if metric == "rmse" else "ACC (1)")
            if ax.get_yscale() != "log":
                plain_numbers(ax.yaxis)
            ax.set_title(f"{ch}: {'latitude-weighted RMSE' if metric == 'rmse' else 'anomaly correlation'}", fontsize=10)
        for row in range(3):
            axes[row, j].set_xlabel("lead time (h)")
            axes[row, j].set_xticks(leads if len(leads) <= 12 else leads[:: max(1, len(leads) // 8)])
            axes[row, j].grid(alpha=0.3)
            axes[row, j].legend(fontsize=7)
    fig.suptitle(f"{model} ({m['preset']}): skill against lead time, {acc['n_init']} held-out initial times", fontsize=11)
    fig.tight_layout()
    return save(fig, folder / f"fig_skill_{model}.png")


def fig_speed(result: dict, folder: Path) -> Path | None:
    """Table 4 as bars: inference time per forecast step, per model and framework, on
    a log axis (models differ by orders of magnitude) with each value printed."""
    models = list(result["models"])
    fws = result["settings"]["frameworks"]
    vals = {fw: [((_recs(result, mo).get(fw) or {}).get("inference") or {}).get("step_time_s_median") for mo in models] for fw in fws}
    if not any(v for vs in vals.values() for v in vs):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    x = np.arange(len(models))
    width = 0.8 / max(1, len(fws))
    hatch = {"torch": "", "mindspore": "//"}
    for k, fw in enumerate(fws):
        ys = [np.nan if v is None else v for v in vals[fw]]
        bars = ax.bar(x + (k - (len(fws) - 1) / 2) * width, ys, width, color=fw_style(fw).get("color"), hatch=hatch.get(fw, ""), edgecolor="white", label=FW_LABEL.get(fw, fw))
        ax.bar_label(bars, labels=["" if v is None else (f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s") for v in vals[fw]], fontsize=8, padding=2)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{mo}\n({result['models'][mo]['preset']})" for mo in models])
    ax.set_ylabel("time per forecast step (s, median, log scale)")
    ax.margins(y=0.15)
    title = f"Table 4 - inference time per step on {result['machine'].get('cpu_model', '?')[:40]}"
    warn = load_warnings(result)
    ax.set_title(title + ("\nload average exceeded the cores: timings unreliable" if warn else ""), fontsize=10, color="black")
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    return save(fig, folder / "fig_table4_inference.png")


# --------------------------------------------------------------------------- the report


def budget_section(budget: dict | None) -> list[str]:
    """The demo's wall-clock plan: time used, slowness, each phase, and what was cut."""
    if not budget:
        return []
    plan = budget.get("plan") or {}
    lines = ["", "## Time budget", "", f"{budget['elapsed_s']:.0f} s of a {budget['budget_s']:.0f} s budget when the measurements ended (the report follows). "
             f"Slowness against the plan's quiet 2-core CPU: {plan.get('initial_slowness', 'n/a')}x expected from the load average at the start, {plan.get('slowness', 'n/a')}x measured.", ""]
    lines += [_md_table(["phase", "start (s)", "wall time (s)"], [[e["phase"], f"{e['start_s']:.0f}", f"{e['seconds']:.1f}"] for e in budget.get("timeline", [])]), ""]
    lines += [f"- cut: {c}" for c in budget.get("cuts", [])] or ["- nothing was cut: every training ran its planned steps"]
    return lines


def write(result: dict, folder: str | os.PathLike) -> dict[str, Any]:
    """Write report.md, report.json and the figures to ``folder``; returns their paths,
    the per-model summary and the timing warnings (load above the core count)."""
    folder = writable_dir(folder)
    figures: list[str] = []
    fig_errors: list[str] = []
    try:
        pyplot()
        drawers = [(fn, model) for model in result["models"] for fn in (fig_loss, fig_maps, fig_skill)]
    except EarthzooError as exc:  # no matplotlib: the tables are still written, the figures skipped
        fig_errors.append(str(exc))
        drawers = []
    for fn, model in drawers:
        try:
            p = fn(result, model, folder)
        except Exception as exc:  # noqa: BLE001 - a figure that fails is reported, the rest still written
            fig_errors.append(f"{fn.__name__}({model}): {type(exc).__name__}: {exc}")
            p = None
        if p:
            figures.append(p.name)
    try:
        p = fig_speed(result, folder) if drawers else None
        if p:
            figures.append(p.name)
    except Exception as exc:  # noqa: BLE001
        fig_errors.append(f"fig_speed: {type(exc).__name__}: {exc}")
    summary = summarise(result)
    tab = tables(result)
    warnings = load_warnings(result)
    mach = result["machine"]
    v = mach.get("versions", {})
    lines = [
        "# earthzoo report",
        "",
        f"Machine: {mach.get('cpu_model')} ({mach.get('cpu_cores')} cores, {mach.get('memory_gib')} GiB), {mach.get('platform')}; "
        f"earthzoo {v.get('earthzoo')}, torch {v.get('torch')}, MindSpore {v.get('mindspore')}, NumPy {v.get('numpy')}; load average at start {mach.get('load_average_1_5_15')}.",
        f"Created {result.get('created', '')}. Settings: {json.dumps(result.get('settings', {}))}.",
        "",
    ]
    if warnings:
        lines += [f"**Warning: the timings below are unreliable**: the load average exceeded the {mach.get('cpu_cores')} cores while timing ({len(warnings)} phase(s)):", ""]
        lines += [f"- {w}" for w in warnings] + [""]
    lines += ["## Verdicts", ""]
    for model, s in summary.items():
        lines.append(f"- **{model}** ({s['preset']}): {s['persistence_verdict']}; torch vs MindSpore forecast rel. RMSE {_f(s['parity_rel_rmse'])}.")
        for p in s["problems"]:
            lines.append(f"  - problem: {p.splitlines()[0][:300]}")
    lines += budget_section(result.get("budget"))
    lines += [
        "",
        "Per channel (PyTorch forecasts): RMSE of the model over RMSE of each baseline, with the percentile bootstrap interval over initial times in brackets "
        "(the same resample of initial times for model and baseline). The model beats a baseline at a lead when the whole interval is below 1 "
        f"and the ratio at most {1 - MARGIN:g} (below 1 by less: 'marginal', not a win); 'stops at' is the first lead at which it no longer beats it.",
        "",
        tab["verdicts"],
        "",
        "## Training efficiency (study Tables 2/3)",
        "",
        "Time per optimizer step is the median over the run after the first step (which compiles MindSpore's graph); an epoch is one pass over the embedded data's training split.",
        "",
        tab["training"],
        "",
        "## Inference time per forecast step (study Table 4)",
        "",
        "Median of several synchronised calls after warm-up, batch 1; the frameworks are timed interleaved (one call each per round), so a change of load falls on both.",
        "",
        tab["inference"],
        "",
        "## Timing conditions",
        "",
        f"1-minute load average before and after each timed phase; above the core count the timings shared the CPU with other work{' (see the warning above)' if warnings else ''}.",
        "",
        tab["load"],
        "",
        "## Energy (study Table S1)",
        "",
        "Measured by the backend's meter; 'unavailable' gives the reason (never a guessed number). Efficiency ratio = throughput / mean power.",
        "",
        tab["energy"],
        "",
        "## Accuracy against persistence and climatology",
        "",
        "WeatherBench2 latitude-weighted RMSE and ACC (ocean points only for ocean models) on held-out initial times; climatology from the training split.",
        "",
        tab["accuracy"],
        "",
        "## Torch vs MindSpore parity",
        "",
        tab["parity"],
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{f}]({f})" for f in figures]
    if fig_errors:
        lines += ["", "Figures that could not be drawn:", ""] + [f"- {e}" for e in fig_errors]
    lines.append("")
    doc = {"schema": "earthzoo-report/1", "models": summary, "timing_warnings": warnings, "figures": figures, "figure_errors": fig_errors, "bench": result}
    atomic_write_text(folder / "report.json", json_text(doc))
    atomic_write_text(folder / "report.md", "\n".join(lines))
    return {"report_md": str(folder / "report.md"), "report_json": str(folder / "report.json"), "figures": [str(folder / f) for f in figures], "figure_errors": fig_errors, "timing_warnings": warnings, "models": summary}
