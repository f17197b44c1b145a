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
from .files import atomic_path, atomic_write_text, json_text, writable_dir

FW_LABEL = {"torch": "PyTorch", "mindspore": "MindSpore"}
FW_COLOR = {"torch": "tab:red", "mindspore": "tab:blue"}
UNAVAILABLE = "unavailable"


PLOT_INSTALL = "pip install 'earthzoo[plot]'"


def pyplot():
    """matplotlib's pyplot (Agg), or the one-line error naming the extra that adds it:
    plotting is optional, so a finished job skips its figures instead of failing."""
    try:
        import matplotlib
    except ImportError:
        raise EarthzooError("matplotlib is not installed, so no figure is drawn", f"for figures: {PLOT_INSTALL}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_skipped(exc: EarthzooError) -> str:
    """The one-line note a job prints when it skips its figures."""
    return f"note: plot skipped ({exc})"


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    pyplot().close(fig)
    return path


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


def summarise(result: dict) -> dict[str, Any]:
    """Per model: parity rel_rmse, RMSE/ACC by lead with baselines, time per step in
    each framework, energy (or why not), the persistence verdict and any problems."""
    out = {}
    for model, m in result["models"].items():
        recs = _recs(result, model)
        acc = m.get("accuracy")
        out[model] = {
            "preset": m["preset"],
            "parity_rel_rmse": (m.get("parity") or {}).get("rel_rmse"),
            "parity_max_abs_err": (m.get("parity") or {}).get("max_abs_err"),
            "accuracy": {"lead_time_hours": acc["lead_time_hours"], "channels": acc["channels"], "n_init": acc["n_init"], **acc["metrics"]} if acc else None,
            "time_per_step_s": {fw: (r.get("inference") or {}).get("step_time_s_median") for fw, r in recs.items()},
            "inference_weights": {fw: (r.get("inference") or {}).get("weights") for fw, r in recs.items()},
            "train_step_s": {fw: (r.get("training") or {}).get("step_time_s_median") for fw, r in recs.items()},
            "energy": {fw: energy_field(r) for fw, r in recs.items()},
            "beats_persistence": (m.get("persistence") or {}).get("beats_persistence"),
            "persistence_verdict": (m.get("persistence") or {}).get("verdict") or "not evaluated: the model produced no trained forecast (see problems)",
            "weights_round_trip_equal": (m.get("conversion") or {}).get("equal"),
            "problems": m.get("problems", []),
        }
    return out


# --------------------------------------------------------------------------- tables


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def tables(result: dict) -> dict[str, str]:
    train_rows, infer_rows, energy_rows, acc_rows, parity_rows = [], [], [], [], []
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
            met = acc["metrics"]
            for ch in acc["channels"][:6]:
                for k in sorted({0, len(acc["lead_time_hours"]) - 1}):
                    acc_rows.append([model, ch, f"{acc['lead_time_hours'][k]:g}", _f(met["forecast"][ch]["rmse"][k], ".4g"), _f(met["persistence"][ch]["rmse"][k], ".4g"), _f(met["climatology"][ch]["rmse"][k], ".4g"), _f(met["forecast"][ch]["acc"][k], ".3f"), _f(met["persistence"][ch]["acc"][k], ".3f")])
        p = m.get("parity")
        parity_rows.append([model, _f((p or {}).get("rel_rmse")), _f((p or {}).get("max_abs_err")), _f(((p or {}).get("per_lead") or [{}])[0].get("rel_rmse")), {True: "yes", False: "NO", None: "not done"}[(m.get("conversion") or {}).get("equal")]])
    return {
        "training": _md_table(["model", "framework", "backend", "preset", "steps", "batch", "s/step (median)", "wall s/step (with data)", "s/epoch", "samples/epoch", "samples/s", "peak RSS (MiB)", "final loss"], train_rows),
        "inference": _md_table(["model", "preset", "backend", "PyTorch s/step", "MindSpore s/step", "MindSpore/PyTorch", "batch", "weights"], infer_rows),
        "energy": _md_table(["model", "framework", "backend", "phase", "energy (J)", "mean power (W)", "efficiency ratio", "unit / reason"], energy_rows),
        "accuracy": _md_table(["model", "channel", "lead (h)", "RMSE model", "RMSE persistence", "RMSE climatology", "ACC model", "ACC persistence"], acc_rows),
        "parity": _md_table(["model", "forecast rel. RMSE (worst lead)", "max abs err", "rel. RMSE lead 1", "weights canonical->MindSpore->canonical equal"], parity_rows),
    }


# --------------------------------------------------------------------------- figures


def fig_loss(result: dict, model: str, folder: Path) -> Path | None:
    """Fig. S1: training loss per optimizer step in each framework (same seed and data)."""
    recs = _recs(result, model)
    curves = {fw: r["training"]["loss"] for fw, r in recs.items() if r.get("training") and r["training"].get("loss")}
    if not curves:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for fw, loss in curves.items():
        ax.plot(np.arange(1, len(loss) + 1), loss, color=FW_COLOR.get(fw), lw=1.3, label=f"{FW_LABEL.get(fw, fw)} ({len(loss)} steps)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (MSE of normalised fields, 1)")
    if all(min(v) > 0 for v in curves.values()):
        ax.set_yscale("log")
    ax.set_title(f"Fig. S1 - {model} ({result['models'][model]['preset']}): training loss per framework")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, folder / f"fig_s1_loss_{model}.png")


def _units(ds: Any) -> dict[str, str]:
    from .data.lexicon import lookup

    if "channel_units" in ds.coords:
        return {str(c): str(u) for c, u in zip(ds["channel"].values, ds["channel_units"].values)}
    return {str(c): lookup(str(c)).units for c in ds["channel"].values} if "channel" in ds.coords else {}


def key_channels(channels: list[str], n: int = 2) -> list[str]:
    """The variables shown in maps: geopotential/temperature and a wind (or SSH) first."""
    prefs = ("z", "z500", "t_0m", "ssh", "u", "u500", "t2m", "vort")
    picked = [c for c in prefs if c in channels][:n]
    return picked + [c for c in channels if c not in picked][: n - len(picked)]


def fig_maps(result: dict, model: str, folder: Path) -> Path | None:
    """Fig. 2: truth, the PyTorch and MindSpore forecasts and their difference for key
    variables, at the longest lead of the first held-out initial time."""
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
    cols = [("truth", None), ("torch", None)] + ([("mindspore", None), ("diff", None)] if "mindspore" in fc else [])
    plt = pyplot()
    fig, axes = plt.subplots(len(chans), len(cols), figsize=(3.6 * len(cols), 2.5 * len(chans) + 0.6), squeeze=False)
    lon, lat = t["lon"].values, t["lat"].values
    for i, ch in enumerate(chans):
        truth_f = tv.sel(channel=ch).values.astype(np.float64)
        fields = {"truth": truth_f, "torch": fc["torch"]["fields"].sel(channel=ch).values[0, lead]}
        if "mindspore" in fc:
            fields["mindspore"] = fc["mindspore"]["fields"].sel(channel=ch).values[0, lead]
            fields["diff"] = fields["torch"] - fields["mindspore"]
        if mask is not None:
            fields = {k: np.where(mask, v, np.nan) for k, v in fields.items()}
        vmin = np.nanmin([np.nanmin(fields[k]) for k in ("truth", "torch")])
        vmax = np.nanmax([np.nanmax(fields[k]) for k in ("truth", "torch")])
        u = units.get(ch, "")
        for j, (key, _) in enumerate(cols):
            ax = axes[i, j]
            if key == "diff":
                lim = float(np.nanmax(np.abs(fields[key]))) or 1e-12
                im = ax.pcolormesh(lon, lat, fields[key], cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
                title = f"{ch}: PyTorch - MindSpore"
            else:
                im = ax.pcolormesh(lon, lat, fields[key], cmap="viridis", vmin=vmin, vmax=vmax, shading="auto")
                title = {"truth": f"{ch}: truth", "torch": f"{ch}: PyTorch forecast", "mindspore": f"{ch}: MindSpore forecast"}[key]
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("longitude (°E)", fontsize=8)
            ax.set_ylabel("latitude (°N)", fontsize=8)
            ax.tick_params(labelsize=7)
            cb = fig.colorbar(im, ax=ax, shrink=0.85)
            cb.set_label(u or "1", fontsize=8)
            cb.ax.tick_params(labelsize=7)
    fig.suptitle(f"Fig. 2 - {model}: forecast vs truth at lead {hours:g} h (valid {np.datetime_as_string(valid, unit='h')})", fontsize=11)
    fig.tight_layout()
    return _save(fig, folder / f"fig_2_maps_{model}.png")


def fig_skill(result: dict, model: str, folder: Path) -> Path | None:
    """RMSE and ACC against lead time for key variables, with persistence and climatology."""
    m = result["models"][model]
    acc = m.get("accuracy")
    if not acc:
        return None
    units = {}
    if m.get("forecast_files", {}).get("torch"):
        from .data import read_dataset

        units = _units(read_dataset(m["forecast_files"]["torch"], load=True))
    chans = key_channels(acc["channels"])
    leads = acc["lead_time_hours"]
    plt = pyplot()
    fig, axes = plt.subplots(2, len(chans), figsize=(4.6 * len(chans), 6.2), squeeze=False)
    styles = {"forecast": dict(color="tab:red", marker="o", label=f"{model} (PyTorch)"), "persistence": dict(color="gray", ls="--", marker="s", label="persistence"), "climatology": dict(color="black", ls=":", label="climatology")}
    ms_acc = (_recs(result, model).get("mindspore") or {}).get("accuracy")
    for j, ch in enumerate(chans):
        for row, metric in enumerate(("rmse", "acc")):
            ax = axes[row, j]
            for name, st in styles.items():
                vals = acc["metrics"][name][ch][metric]
                if metric == "acc" and name == "climatology":
                    continue  # undefined: the climatology's anomaly is zero
                ax.plot(leads, [np.nan if v is None else v for v in vals], ms=4, **st)
            if ms_acc:
                ax.plot(leads, [np.nan if v is None else v for v in ms_acc["metrics"]["forecast"][ch][metric]], color="tab:blue", ls="-.", lw=1, label=f"{model} (MindSpore)")
            ax.set_xlabel("lead time (h)")
            ax.set_ylabel(f"RMSE ({units.get(ch, '1')})" if metric == "rmse" else "ACC (1)")
            ax.set_title(f"{ch}: {'latitude-weighted RMSE' if metric == 'rmse' else 'anomaly correlation'}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(f"{model} ({m['preset']}): skill against lead time, {acc['n_init']} held-out initial times", fontsize=11)
    fig.tight_layout()
    return _save(fig, folder / f"fig_skill_{model}.png")


def fig_speed(result: dict, folder: Path) -> Path | None:
    """Table 4 as bars: inference time per forecast step, per model and framework."""
    models = list(result["models"])
    fws = result["settings"]["frameworks"]
    vals = {fw: [((_recs(result, mo).get(fw) or {}).get("inference") or {}).get("step_time_s_median") for mo in models] for fw in fws}
    if not any(v for vs in vals.values() for v in vs):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    x = np.arange(len(models))
    width = 0.8 / max(1, len(fws))
    for k, fw in enumerate(fws):
        ys = [np.nan if v is None else v for v in vals[fw]]
        ax.bar(x + (k - (len(fws) - 1) / 2) * width, ys, width, color=FW_COLOR.get(fw), label=FW_LABEL.get(fw, fw))
    ax.set_xticks(x, [f"{mo}\n({result['models'][mo]['preset']})" for mo in models])
    ax.set_ylabel("time per forecast step (s, median)")
    ax.set_title(f"Table 4 - inference time per step on {result['machine'].get('cpu_model', '?')[:40]}", fontsize=10)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, folder / "fig_table4_inference.png")


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
    """Write report.md, report.json and the figures to ``folder``; returns their paths
    and the per-model summary."""
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
    mach = result["machine"]
    v = mach.get("versions", {})
    lines = [
        "# earthzoo report",
        "",
        f"Machine: {mach.get('cpu_model')} ({mach.get('cpu_cores')} cores, {mach.get('memory_gib')} GiB), {mach.get('platform')}; "
        f"earthzoo {v.get('earthzoo')}, torch {v.get('torch')}, MindSpore {v.get('mindspore')}, NumPy {v.get('numpy')}; load average at start {mach.get('load_average_1_5_15')}.",
        f"Created {result.get('created', '')}. Settings: {json.dumps(result.get('settings', {}))}.",
        "",
        "## Verdicts",
        "",
    ]
    for model, s in summary.items():
        lines.append(f"- **{model}** ({s['preset']}): {s['persistence_verdict']}; torch vs MindSpore forecast rel. RMSE {_f(s['parity_rel_rmse'])}.")
        for p in s["problems"]:
            lines.append(f"  - problem: {p.splitlines()[0][:300]}")
    lines += budget_section(result.get("budget"))
    lines += [
        "",
        "## Training efficiency (study Tables 2/3)",
        "",
        "Time per optimizer step is the median over the run after the first step (which compiles MindSpore's graph); an epoch is one pass over the embedded data's training split.",
        "",
        tab["training"],
        "",
        "## Inference time per forecast step (study Table 4)",
        "",
        "Median of several synchronised calls after warm-up, batch 1.",
        "",
        tab["inference"],
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
    doc = {"schema": "earthzoo-report/1", "models": summary, "figures": figures, "figure_errors": fig_errors, "bench": result}
    atomic_write_text(folder / "report.json", json_text(doc))
    atomic_write_text(folder / "report.md", "\n".join(lines))
    return {"report_md": str(folder / "report.md"), "report_json": str(folder / "report.json"), "figures": [str(folder / f) for f in figures], "figure_errors": fig_errors, "models": summary}


