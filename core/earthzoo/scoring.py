"""Accuracy of trained forecasts: held-out initial times, forecasts in each
framework from the same states scored against persistence and climatology, the
torch-vs-MindSpore comparison of those forecasts, and the verdicts: per channel,
the RMSE ratio to each baseline by lead with a bootstrap interval over initial
times, the leads at which the model beats the baseline and the first at which it
stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError

LEVEL = 0.9  # the bootstrap interval's coverage
N_BOOT = 2000  # bootstrap resamples of the initial times
MARGIN = 0.01  # a gain in RMSE under 1 % of the baseline's is 'marginal', not a win

def splits(ds: Any) -> dict[str, slice]:
    """The engine's train/valid/test split of a data set (earthzoo.data.time_splits)."""
    from .data import time_splits

    return time_splits(ds["time"].values)


def test_inits(held_out_start: int, n_times: int, leads: int, count: int) -> list[int]:
    """Initial-time indices from the held-out part (from ``held_out_start``) whose
    forecasts stay inside the data, evenly spaced."""
    first, last = held_out_start, n_times - 1 - leads
    if last < first:
        raise EarthzooError(f"the held-out data ({n_times - held_out_start} times) is too short for {leads} forecast steps", "use fewer --leads")
    idx = np.unique(np.linspace(first, last, num=min(count, last - first + 1)).round().astype(int))
    return [int(i) for i in idx]


def forecast_and_score(model: str, weights: str, frameworks: tuple[str, ...], data: str, out: Path, leads: int, n_init: int = 16, backend: str = "auto", show_progress: bool = True) -> dict[str, Any]:
    """Forecast from the same held-out initial states in each framework, score each
    against the truth with persistence and climatology baselines (climatology of the
    training part), and compare the frameworks' forecasts lead by lead."""
    from .data import climatology, read_dataset
    from .metrics import evaluate
    from .parity import compare
    from .training.data import open_source
    from .training.forecast import forecast

    truth = open_source(data)
    sp = splits(truth)
    inits = test_inits(sp["valid"].start, truth.sizes["time"], leads, n_init)
    clim = climatology(truth, split=sp["train"])
    result: dict[str, Any] = {"inits": inits, "leads": leads, "forecast_files": {}, "accuracy": {}}
    arrays = {}
    for fwk in frameworks:
        path = out / f"forecast_{fwk}.nc"
        forecast(model, weights=weights, framework=fwk, init=data, steps=leads, out=str(path), init_indices=inits, backend=backend, show_progress=show_progress)
        fc = read_dataset(path, load=True)  # the per-variable file, stacked
        arrays[fwk] = fc["fields"].values
        result["forecast_files"][fwk] = str(path)
        # score on the forecast's rows (a model may drop the data's southern pole row)
        rows = fc["lat"].values
        result["accuracy"][fwk] = evaluate(fc, truth.sel(lat=rows), clim.sel(lat=rows), per_init=True)
    if "torch" in arrays and "mindspore" in arrays:
        a, b = arrays["torch"], arrays["mindspore"]
        per_lead = [compare(a[:, k], b[:, k]) for k in range(a.shape[1])]
        result["parity"] = {**compare(a, b), "per_lead": per_lead, "what": "torch vs MindSpore forecasts (physical units) from the same weights and initial states"}
    return result


def rmse_ratio(mse_model: Any, mse_ref: Any, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, list[float | None]]:
    """RMSE of the model over RMSE of a reference, per lead, from squared errors
    (init time, lead), with a percentile bootstrap interval over initial times: one
    resample of the init times serves both (the errors are paired). No interval
    from a single initial time."""
    a, b = np.asarray(mse_model, np.float64), np.asarray(mse_ref, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(a.mean(0) / b.mean(0))
        if a.shape[0] < 2:
            lo = hi = np.full_like(ratio, np.nan)
        else:
            idx = np.random.default_rng(seed).integers(0, a.shape[0], size=(n_boot, a.shape[0]))
            boot = np.sqrt(a[idx].mean(1) / b[idx].mean(1))  # (n_boot, lead)
            tail = 50.0 * (1.0 - level)
            lo, hi = np.nanpercentile(boot, [tail, 100.0 - tail], axis=0)
    return {k: [float(x) if np.isfinite(x) else None for x in v] for k, v in (("ratio", ratio), ("low", lo), ("high", hi))}


def _call(ratio: float | None, low: float | None, high: float | None) -> str:
    """'beats' when the whole interval is below 1 and the gain is at least MARGIN,
    'marginal' when below 1 by less (a model that is persistence to 0.01 % is not
    called better than it), 'worse' when the interval is above 1, else 'tie'
    (without an interval, the ratio alone decides)."""
    if ratio is None:
        return "unknown"
    lo, hi = (ratio, ratio) if low is None or high is None else (low, high)
    if hi < 1:
        return "beats" if ratio <= 1 - MARGIN else "marginal"
    return "worse" if lo > 1 else "tie"


def fmt_ratio(x: float) -> str:
    """A ratio with the digits that tell it from 1."""
    return f"{x:.4g}" if abs(x - 1) >= 5e-4 else f"{x:.6f}"


def skill(acc: dict[str, Any], reference: str, level: float = LEVEL, n_boot: int = N_BOOT) -> dict[str, dict[str, Any]]:
    """Per channel: the RMSE ratio against ``reference`` (persistence or climatology)
    by lead with its interval, the call at each lead, the leads (hours) at which the
    model beats the reference, and the first lead at which it stops (None: never)."""
    m, hours = acc["metrics"], acc["lead_time_hours"]
    out = {}
    for ch in acc["channels"]:
        f, r = m["forecast"][ch], m[reference][ch]
        if f.get("mse_by_init") and r.get("mse_by_init"):
            ci = rmse_ratio(_nan(f["mse_by_init"]), _nan(r["mse_by_init"]), level, n_boot)
        else:  # scores without per-init errors: the ratio, no interval
            ci = {"ratio": [fi / ri if fi is not None and ri else None for fi, ri in zip(f["rmse"], r["rmse"])], "low": [None] * len(hours), "high": [None] * len(hours)}
        calls = [_call(*v) for v in zip(ci["ratio"], ci["low"], ci["high"])]
        beats = [h for h, c in zip(hours, calls) if c == "beats"]
        stops = next((h for h, c in zip(hours, calls) if c != "beats"), None) if calls and calls[0] == "beats" else None
        out[ch] = {**ci, "calls": calls, "beats_at_hours": beats, "stops_at_hours": stops}
    return out


def _nan(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], np.float64)


def verdicts(acc: dict[str, Any], level: float = LEVEL, n_boot: int = N_BOOT) -> dict[str, Any]:
    """:func:`skill` against persistence and against climatology (when scored), per channel."""
    per_init = all(acc["metrics"]["forecast"][ch].get("mse_by_init") for ch in acc["channels"])
    return {
        "level": level if per_init and acc.get("n_init", 0) > 1 else None,
        "n_init": acc.get("n_init"),
        "lead_time_hours": acc["lead_time_hours"],
        "units": acc.get("units", {}),
        **{ref: skill(acc, ref, level, n_boot) for ref in ("persistence", "climatology") if ref in acc["metrics"]},
    }


def _interval(s: dict[str, Any], k: int, level: float | None) -> str:
    r, lo, hi = s["ratio"][k], s["low"][k], s["high"][k]
    if r is None:
        return "n/a"
    notes = ([] if lo is None or level is None else [f"{level:.0%} interval {fmt_ratio(lo)}-{fmt_ratio(hi)}"]) + ([f"under {MARGIN:.0%} better: marginal"] if s["calls"][k] == "marginal" else [])
    return fmt_ratio(r) + (f" ({', '.join(notes)})" if notes else "")


def _stops_text(pers: dict[str, dict[str, Any]], hours: list[float]) -> str:
    """'; stops beating persistence at 18 h on z, at 30 h on u; still beats it at 48 h
    on v': the channels that beat it at the first lead, grouped by where they stop."""
    stops: dict[float, list[str]] = {}
    still = []
    for ch, s in pers.items():
        if s["stops_at_hours"] is not None:
            stops.setdefault(s["stops_at_hours"], []).append(ch)
        elif s["calls"] and s["calls"][0] == "beats":
            still.append(ch)
    parts = [f"at {h:g} h on {', '.join(chs)}" for h, chs in sorted(stops.items())]
    text = f"; stops beating persistence {'; '.join(parts)}" if parts else ""
    if still:
        text += f"; still beats it at the last lead ({hours[-1]:g} h) on {'every channel' if len(still) == len(pers) else ', '.join(still)}"
    return text


def persistence_verdict(acc: dict[str, Any], short_leads: int = 1) -> dict[str, Any]:
    """Does the forecast beat persistence at the first ``short_leads`` leads on every
    channel, the whole bootstrap interval of the RMSE ratio below 1? With the ratios,
    the per-channel verdicts (:func:`verdicts`) and a one-line verdict that also
    names the lead at which each channel stops beating persistence."""
    v = verdicts(acc)
    pers, level = v["persistence"], v["level"]
    ratios = {}
    for ch, s in pers.items():
        vals = [r for r in s["ratio"][:short_leads] if r is not None]
        ratios[ch] = float(np.mean(vals)) if vals else None
    known = [r for r in ratios.values() if r is not None]
    not_beating = [ch for ch, s in pers.items() if any(c != "beats" for c in s["calls"][:short_leads])]
    beats = bool(known) and not not_beating
    hours = acc["lead_time_hours"][:short_leads]
    lead_txt = f"{hours[-1]:g} h" if hours else "the first lead"
    over = f" over {v['n_init']} initial times" if v.get("n_init") else ""
    if beats:
        worst = max((ch for ch in pers if ratios[ch] is not None), key=lambda ch: ratios[ch])
        head = f"beats persistence on every channel up to {lead_txt}{over} (worst channel {worst}: RMSE ratio {_interval(pers[worst], 0, level)})"
    else:
        named = ", ".join(f"{ch} {_interval(pers[ch], 0, level)}" for ch in not_beating) or "any channel"
        head = f"does NOT beat persistence up to {lead_txt}{over} on {named}"
    return {
        "beats_persistence": beats,
        "rmse_ratio_vs_persistence": ratios,
        "mean_ratio": float(np.mean(known)) if known else None,
        "lead_hours": hours,
        "verdict": head + _stops_text(pers, acc["lead_time_hours"]),
        "channels": v,
    }
