"""WeatherBench2-style verification: latitude-weighted RMSE, ACC and bias per
channel and lead time, with persistence and climatology baselines.

Definitions (Rasp et al. 2024, WeatherBench 2):

- weights: the cell area of each latitude row, ``sin(upper edge) - sin(lower
  edge)`` with edges half-way between rows and clipped at the poles, normalised
  to mean 1 over latitude. Latitude order is read from the coordinate values,
  never assumed. With a mask (ocean points), the weights are zero off the mask
  and every spatial mean is ``sum(w x) / sum(w)``.
- RMSE = sqrt(mean over init times of the weighted spatial mean of (f - t)^2).
- ACC: per init time, sum(w f' t') / sqrt(sum(w f'^2) sum(w t'^2)) with
  anomalies f' = f - c, t' = t - c against the climatology c at the valid
  time; then averaged over init times.
- bias: mean over init times of the weighted spatial mean of (f - t).

NumPy/xarray only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from .errors import EarthzooError

INIT_DIMS = ("init_time", "time")


class NonFiniteError(EarthzooError):
    """NaN or inf where a score is computed (the CLI names its --skipna in the fix)."""


def cell_area_weights(lat: Any) -> np.ndarray:
    """Unnormalised cell areas on the unit sphere per unit longitude fraction
    (they sum to 2 for a global grid), in the order ``lat`` is given."""
    lat = np.asarray(lat, dtype=np.float64)
    if lat.ndim != 1 or lat.size == 0:
        raise EarthzooError("latitude must be a non-empty 1-D coordinate", "pass the 'lat' coordinate values")
    if lat.size == 1:
        return np.ones(1)
    order = np.argsort(lat)
    a = lat[order]
    if np.any(np.diff(a) == 0):
        raise EarthzooError("latitude coordinate has repeated values", "drop duplicate latitude rows")
    edges = np.empty(a.size + 1)
    edges[1:-1] = 0.5 * (a[1:] + a[:-1])
    edges[0] = a[0] - 0.5 * (a[1] - a[0])
    edges[-1] = a[-1] + 0.5 * (a[-1] - a[-2])
    edges = np.clip(edges, -90.0, 90.0)
    area = np.diff(np.sin(np.deg2rad(edges)))
    out = np.empty_like(area)
    out[order] = area
    return out


def lat_weights(lat: Any) -> np.ndarray:
    """Cell-area latitude weights normalised to mean 1 (WeatherBench2)."""
    w = cell_area_weights(lat)
    return w / w.mean()


def spatial_weights(lat: Any, lon: Any, mask: Any = None) -> xr.DataArray:
    """(lat, lon) weights: latitude weights times the mask (True = counted)."""
    lat = np.asarray(lat)
    lon = np.asarray(lon)
    w = np.repeat(lat_weights(lat)[:, None], lon.size, axis=1)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != w.shape:
            raise EarthzooError(f"mask has shape {m.shape}, the grid is {w.shape}", "pass a (lat, lon) mask on the forecast's grid")
        if not m.any():
            raise EarthzooError("the mask selects no grid points", "pass a mask with True over the points to score (ocean)")
        w = w * m
    return xr.DataArray(w, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})


def _wmean(x: xr.DataArray, w: xr.DataArray) -> xr.DataArray:
    return (x * w).sum(("lat", "lon")) / w.sum(("lat", "lon"))


def _init_dim(f: xr.DataArray) -> str:
    for d in INIT_DIMS:
        if d in f.dims:
            return d
    raise EarthzooError(
        f"forecast has dims {f.dims}, with no init_time (or time) dim", "give the forecast dims (init_time, lead_time, channel, lat, lon)"
    )


def _fields(obj: Any, what: str) -> xr.DataArray:
    if isinstance(obj, xr.Dataset):
        if "fields" not in obj:  # one variable per field, as earthzoo writes files and Forecaster returns
            from .data.readers import from_variables

            obj = from_variables(obj, what=what)
        return obj["fields"]
    if isinstance(obj, xr.DataArray):
        return obj
    raise EarthzooError(f"{what} is a {type(obj).__name__}", "pass an xarray Dataset or DataArray")


def _lead_as_timedelta(f: xr.DataArray) -> xr.DataArray:
    lead = f["lead_time"].values
    if not np.issubdtype(lead.dtype, np.timedelta64):  # numbers are hours
        f = f.assign_coords(lead_time=(np.asarray(lead, dtype=np.float64) * 3600e9).astype("timedelta64[ns]"))
    return f


def scores(
    forecast: xr.DataArray, truth: xr.DataArray, clim: xr.DataArray, weights: xr.DataArray, init_dim: str = "init_time", skipna: bool = False
) -> xr.Dataset:
    """rmse, acc, bias of ``forecast`` against ``truth`` (same dims), anomalies
    against ``clim`` (broadcastable); results have dims (lead_time, channel), and
    ``mse_by_init`` (init, lead_time, channel) is what the RMSE averages.
    Points of zero weight are left out; with ``skipna`` an init time with no
    point left is left out of the means over init times."""
    finite = weights > 0  # non-scored points may hold NaN (land): never let them into a sum
    forecast, truth, clim = forecast.where(finite, 0.0), truth.where(finite, 0.0), clim.where(finite, 0.0)
    err = forecast - truth
    mse = _wmean(err**2, weights)
    bias = _wmean(err, weights)
    fa = forecast - clim
    ta = truth - clim
    num = (weights * fa * ta).sum(("lat", "lon"))
    den = np.sqrt((weights * fa**2).sum(("lat", "lon")) * (weights * ta**2).sum(("lat", "lon")))
    acc_i = (num / den).where(den > 0)
    means = {"rmse": np.sqrt(mse.mean(init_dim, skipna=skipna)), "acc": acc_i.mean(init_dim, skipna=skipna), "bias": bias.mean(init_dim, skipna=skipna)}
    return xr.Dataset({**means, "mse_by_init": mse})


def _ordered(a: xr.DataArray, what: str, dims: tuple[str, ...], sort: bool = True) -> xr.DataArray:
    """``a`` sorted along each of ``dims`` that is out of order (lookups by label
    need it; the forecast, never looked up, keeps its order with ``sort=False``);
    repeated or non-finite coordinate values are refused (a lookup would be ambiguous)."""
    for d in dims:
        if d not in a.coords or a[d].ndim != 1 or d not in a.dims:
            continue
        v = a[d].values
        if np.issubdtype(v.dtype, np.number) and not np.all(np.isfinite(v)):
            raise EarthzooError(f"{what} coordinate {d!r} has NaN or inf values", f"give every {d} a finite value")
        index = a.get_index(d)
        if index.has_duplicates:
            raise EarthzooError(f"{what} coordinate {d!r} has repeated values", f"drop the duplicates: ds.drop_duplicates({d!r})")
        if sort and not (index.is_monotonic_increasing or index.is_monotonic_decreasing):
            a = a.sortby(d)
    return a


def _check_finite(arrays: dict[str, xr.DataArray], counted: xr.DataArray) -> None:
    """Refuse NaN/inf at scored points (where the weights are > 0): xarray's sums
    skip NaN, so an all-NaN field would otherwise score a perfect RMSE of 0."""
    for what, a in arrays.items():
        scored = counted.isel(init_time=0, lead_time=0, drop=True) if "init_time" not in a.dims else counted
        bad = (~np.isfinite(a) & scored).sum(tuple(d for d in a.dims if d != "channel"))
        if int(bad.sum()):
            listing = ", ".join(f"{str(c)!r} ({int(n)})" for c, n in zip(bad["channel"].values, bad.values) if n)
            raise NonFiniteError(f"{what} has NaN or inf values at scored points: channel {listing}", "fill them, or pass skipna=True to score the finite points only")


def _check_grid(f: xr.DataArray, t: xr.DataArray) -> xr.DataArray:
    """The truth on the forecast's grid: every forecast lat/lon must be one of the
    truth's (a model that drops the pole row is scored on the rows it keeps)."""
    for c in ("lat", "lon"):
        if c not in f.coords or c not in t.coords:
            raise EarthzooError(f"forecast or truth has no coordinate {c!r}", f"assign the {c} coordinate")
        fv, tv = np.asarray(f[c].values, float), np.asarray(t[c].values, float)
        absent = ~np.isclose(fv[:, None], tv[None, :], rtol=0, atol=1e-6).any(axis=1)
        if absent.any():
            raise EarthzooError(
                f"grid mismatch on {c!r}: the forecast's {c} {fv[absent][0]:g} is not on the truth's grid (forecast has {fv.size} values, truth {tv.size})",
                "evaluate against truth on the forecast's grid (or regrid the truth)",
            )
    return t.sel(lat=f["lat"].values, lon=f["lon"].values, method="nearest").assign_coords(lat=f["lat"].values, lon=f["lon"].values)


def evaluate(forecast: Any, truth: Any, climatology: Any = None, mask: Any = None, skipna: bool = False, per_init: bool = False) -> dict[str, Any]:
    """Score a forecast and the persistence and climatology baselines.

    ``forecast``: dims (init_time or time, lead_time, channel, lat, lon); lead_time
    timedelta64 or hours. ``truth``: the internal form (time, channel, lat, lon),
    holding every init and valid time. ``climatology``: (channel, lat, lon) or
    (dayofyear, channel, lat, lon) as built by ``earthzoo.data.climatology``;
    default: the truth's time mean. ``mask``: (lat, lon) bool, True where scored;
    default: the truth's ``ocean_mask`` if it has one. NaN or inf at a scored
    point is an error; with ``skipna=True`` such points are left out of every
    score (forecast and baselines alike) and counted in ``skipped_points``.
    Coordinates may come in any order; repeated coordinate values are refused.

    Returns (the JSON of ``earthzoo evaluate --json``)::

        {"lead_time_hours": [6.0, 12.0, ...], "channels": ["z", ...],
         "units": {"z": "m2 s-2", ...}, "n_init": 10, "masked": false,
         "metrics": {"forecast" | "persistence" | "climatology":
                     {channel: {"rmse": [by lead], "acc": [...], "bias": [...]}}},
         "scored_points": n, "skipped_points": 0}

    NaN (the climatology's ACC is undefined: its anomaly is zero) becomes null.
    With ``per_init`` each channel also holds ``mse_by_init`` ([by lead] per init
    time): the squared errors a bootstrap over initial times resamples."""
    f = _fields(forecast, "forecast")
    init_dim = _init_dim(f)
    if init_dim != "init_time":
        f = f.rename({init_dim: "init_time"})
    need = ("init_time", "lead_time", "channel", "lat", "lon")
    _check_form(f, "forecast", need, "reshape the forecast to (init_time, lead_time, channel, lat, lon)")
    lead = f["lead_time"].values
    if not (np.issubdtype(lead.dtype, np.timedelta64) or np.issubdtype(lead.dtype, np.number)):
        raise EarthzooError(f"forecast lead_time has dtype {lead.dtype}", "give lead_time as timedelta64 or as numbers of hours")
    f = _lead_as_timedelta(f)
    f = _ordered(f.transpose(*need), "forecast", need, sort=False).astype(np.float64)
    tds = truth
    t = _fields(truth, "truth")
    _check_form(t, "truth", ("time", "channel", "lat", "lon"), "pass the truth in the earthzoo form (time, channel, lat, lon)")
    t = t.transpose("time", "channel", "lat", "lon")
    chans = [str(c) for c in f["channel"].values]
    have = [str(c) for c in t["channel"].values]
    missing = [c for c in chans if c not in have]
    if missing:
        raise EarthzooError(f"truth is missing variable(s) {missing}", "evaluate against data that has every forecast channel")
    t = _check_grid(f, _ordered(t, "truth", ("time", "lat", "lon", "channel")).sel(channel=chans))
    if mask is None and isinstance(tds, xr.Dataset) and "ocean_mask" in tds:
        mask = _check_grid(f, _ordered(tds["ocean_mask"].astype(float), "truth", ("lat", "lon"))).values > 0.5
    w = spatial_weights(f["lat"].values, f["lon"].values, mask)

    inits = f["init_time"].values.astype("datetime64[ns]")
    leads = f["lead_time"].values.astype("timedelta64[ns]")
    valid = inits[:, None] + leads[None, :]
    tt = t["time"].values.astype("datetime64[ns]")
    pos = np.searchsorted(tt, valid)
    ok = (pos < tt.size) & (tt[np.minimum(pos, tt.size - 1)] == valid)
    if not ok.all():
        first = valid[~ok][0]
        raise EarthzooError(
            f"truth has no time {np.datetime_as_string(first, unit='h')} (init + lead)",
            "pass truth covering every init time plus the longest lead",
        )
    pos0 = np.searchsorted(tt, inits)
    if not ((pos0 < tt.size) & (tt[np.minimum(pos0, tt.size - 1)] == inits)).all():
        raise EarthzooError(
            "truth does not hold every init time (needed for persistence)", "pass truth that starts at or before the first init time"
        )
    tv = np.asarray(t.values, dtype=np.float64)
    dims = ("init_time", "lead_time", "channel", "lat", "lon")
    coords = {"init_time": inits, "lead_time": leads, "channel": chans, "lat": f["lat"].values, "lon": f["lon"].values}
    truth_v = xr.DataArray(tv[pos], dims=dims, coords=coords)
    persist = xr.DataArray(np.broadcast_to(tv[pos0][:, None], truth_v.shape), dims=dims, coords=coords)

    if climatology is None:  # the truth's time mean: NaN at any of its times reaches every score
        c = xr.DataArray(
            (_nanmean0(tv) if skipna else tv.mean(axis=0)), dims=("channel", "lat", "lon"), coords={"channel": chans, "lat": f["lat"].values, "lon": f["lon"].values}
        )
        clim_v = c
    else:
        from .data.stats import climatology_at

        ca = _fields(climatology, "climatology")
        cmiss = [ch for ch in chans if ch not in [str(x) for x in ca["channel"].values]]
        if cmiss:
            raise EarthzooError(
                f"climatology is missing variable(s) {cmiss}", "compute the climatology from data with every forecast channel"
            )
        _check_numeric(ca, "climatology")
        ca = _check_grid(f, _ordered(ca, "climatology", ("lat", "lon", "channel")).sel(channel=chans)).astype(np.float64)
        if "dayofyear" in ca.dims:
            vals = np.stack([np.asarray(climatology_at(ca, valid[:, j]).values) for j in range(len(leads))], axis=1)
            clim_v = xr.DataArray(vals, dims=dims, coords=coords)
        else:
            clim_v = ca.transpose("channel", "lat", "lon")
    clim_full = clim_v if "init_time" in clim_v.dims else xr.broadcast(clim_v, truth_v)[0]
    arrays = {"forecast": f, "truth": truth_v, "truth at the init times (persistence)": persist}
    if climatology is None:
        all_times = xr.DataArray(tv, dims=("time", "channel", "lat", "lon"), coords={"channel": chans})
        arrays["truth (its time mean is the climatology)"] = all_times
    else:
        arrays["climatology"] = clim_full
    counted = xr.broadcast(w > 0, truth_v)[0]
    skipped = 0
    if skipna:
        finite = counted & np.isfinite(f) & np.isfinite(truth_v) & np.isfinite(persist) & np.isfinite(clim_full)
        skipped = int((counted & ~finite).sum())
        w = w * finite  # one set of points for the forecast and both baselines
    else:
        _check_finite(arrays, counted)

    out: dict[str, Any] = {
        "lead_time_hours": [float(x / np.timedelta64(1, "h")) for x in leads],
        "channels": chans,
        "units": _channel_units(forecast, tds, chans),
        "n_init": int(len(inits)),
        "masked": mask is not None,
        "metrics": {},
        "scored_points": int(counted.sum()) - skipped,
        "skipped_points": skipped,
    }
    for name, fc in (("forecast", f), ("persistence", persist), ("climatology", clim_full)):
        s = scores(fc, truth_v, clim_v, w, skipna=skipna)
        out["metrics"][name] = {ch: {k: [_num(v) for v in s[k].sel(channel=ch).values] for k in ("rmse", "acc", "bias")} for ch in chans}
        if per_init:
            for ch in chans:
                out["metrics"][name][ch]["mse_by_init"] = [[_num(v) for v in row] for row in s["mse_by_init"].sel(channel=ch).transpose("init_time", "lead_time").values]
    return out


def _channel_units(forecast: Any, truth: Any, chans: list[str]) -> dict[str, str]:
    """Units of each channel: the forecast's or the truth's ``channel_units``, else the lexicon's."""
    from .data.form import channel_units

    given: dict[str, str] = {}
    for ds in (truth, forecast):  # the forecast's own units win
        if isinstance(ds, (xr.Dataset, xr.DataArray)) and "channel_units" in ds.coords and "channel" in ds.coords:
            given.update({str(c): str(u) for c, u in zip(ds["channel"].values, ds["channel_units"].values)})
    return {ch: given.get(ch) or channel_units(ch)[0] for ch in chans}


def _check_form(a: xr.DataArray, what: str, dims: tuple[str, ...], fix: str) -> None:
    """Exactly ``dims``, each with a coordinate and at least one value, and numbers."""
    if set(a.dims) != set(dims):
        raise EarthzooError(f"{what} has dims {tuple(a.dims)}, expected {dims}", fix)
    for d in dims:
        if d not in a.coords:
            raise EarthzooError(f"{what} has no coordinate {d!r}", f"assign the {d} coordinate")
        if a.sizes[d] == 0:
            raise EarthzooError(f"{what} has no {d} values (size 0)", f"give the {what} at least one {d}")
    _check_numeric(a, what)


def _check_numeric(a: xr.DataArray, what: str) -> None:
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise EarthzooError(f"{what} values have dtype {a.dtype}, not numbers", f"write the {what} as float32 or float64")


def _nanmean0(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite values (NaN where there is none, without a warning)."""
    finite = np.isfinite(a)
    n = finite.sum(axis=0)
    total = np.where(finite, a, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _num(v: Any) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v
