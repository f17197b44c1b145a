"""Accuracy of trained forecasts: held-out initial times, forecasts in each
framework from the same states scored against persistence and climatology, the
torch-vs-MindSpore comparison of those forecasts, and the verdict against
persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError


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


def forecast_and_score(model: str, weights: str, frameworks: tuple[str, ...], data: str, out: Path, leads: int, n_init: int = 4, backend: str = "auto", show_progress: bool = True) -> dict[str, Any]:
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
        result["accuracy"][fwk] = evaluate(fc, truth.sel(lat=rows), clim.sel(lat=rows))
    if "torch" in arrays and "mindspore" in arrays:
        a, b = arrays["torch"], arrays["mindspore"]
        per_lead = [compare(a[:, k], b[:, k]) for k in range(a.shape[1])]
        result["parity"] = {**compare(a, b), "per_lead": per_lead, "what": "torch vs MindSpore forecasts (physical units) from the same weights and initial states"}
    return result


def persistence_verdict(acc: dict[str, Any], short_leads: int = 1) -> dict[str, Any]:
    """Does the forecast beat persistence at the first ``short_leads`` leads? Ratio of
    RMSEs forecast/persistence per channel (below 1 = better), and a one-line verdict."""
    m = acc["metrics"]
    ratios = {}
    for ch in acc["channels"]:
        f, p = m["forecast"][ch]["rmse"][:short_leads], m["persistence"][ch]["rmse"][:short_leads]
        vals = [fi / pi for fi, pi in zip(f, p) if fi is not None and pi]
        ratios[ch] = float(np.mean(vals)) if vals else None
    known = [r for r in ratios.values() if r is not None]
    worse = [ch for ch, r in ratios.items() if r is not None and r >= 1]
    beats = bool(known) and not worse
    hours = acc["lead_time_hours"][:short_leads]
    lead_txt = f"{hours[-1]:g} h" if hours else "the first lead"
    if beats:
        verdict = f"beats persistence on every channel up to {lead_txt} (mean RMSE ratio {np.mean(known):.3f})"
    else:
        verdict = f"does NOT beat persistence up to {lead_txt} on {', '.join(worse) or 'any channel'} (mean RMSE ratio {np.mean(known) if known else float('nan'):.3f})"
    return {"beats_persistence": beats, "rmse_ratio_vs_persistence": ratios, "mean_ratio": float(np.mean(known)) if known else None, "lead_hours": hours, "verdict": verdict}
