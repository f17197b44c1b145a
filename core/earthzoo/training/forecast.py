"""Autoregressive forecasts in either framework, denormalised and written as
CF NetCDF or Zarr with coordinates init_time, lead_time, channel, lat, lon.

The step-to-step input comes from the card's ``next_input`` (NumPy), so a
model that feeds back only part of its state (or holds forcings) is rolled
out the same way everywhere. A model whose card names a ``data_spec`` is
rolled out from the data instead: each next input is the predicted
prognostic state + the data's forcings at that step's time + the static
channels; masked (ocean) models get land set to NaN in the file and a
``depth`` coordinate when the data has one. Normalisation statistics come from the weights'
extras (``earthzoo train`` stores them); without them the initial data's own
statistics are used and the file says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EarthzooError


def rollout(step_fn, x0: np.ndarray, steps: int, next_input, config: Any, advance=None) -> np.ndarray:
    """(B, steps, C_out, H, W) outputs of ``steps`` autoregressive calls from ``x0`` (normalised)."""
    outs, x = [], x0
    for k in range(steps):
        y = step_fn(x)
        outs.append(y)
        x = next_input(x, y, k, config)
        if advance:
            advance(1)
    return np.stack(outs, axis=1)


def forecast(model_name: str, *, weights: str, framework: str = "torch", init: str, steps: int, out: str, init_indices: list[int] | None = None, backend: str = "auto", show_progress: bool = True,
             config: dict[str, Any] | None = None, overwrite: bool = False, precision: str = "fp32") -> dict[str, Any]:
    """Roll ``model_name`` forward ``steps`` steps from ``init`` and write the forecast.
    ``config`` sets model config fields over the weights' (the CLI's --config); an
    existing ``out`` is replaced only with ``overwrite``; ``precision`` bf16/fp16 runs
    the model under the backend's precision plan (the spectral filters and norms stay
    float32), the output is float32 either way."""
    import xarray as xr

    from ..api import check_weights_model, load_model, model_card, precision_plan
    from ..cards import resolve
    from ..data.cache import write_dataset
    from ..files import claim_output
    from ..frameworks import framework_module
    from ..weights import load_canonical
    from .data import _extras, fields_for_model, model_io, normalisation, open_source, spec_block, spec_channels
    from .memory import check_forecast
    from .trainer import _identity_next, _progress

    if steps < 1:
        raise EarthzooError(f"--steps {steps} asks for no forecast", "use --steps 1 or more")
    out_path = Path(out)
    if out_path.suffix not in (".nc", ".zarr"):
        raise EarthzooError(f"forecast output {out!r} is neither .nc nor .zarr", "name the output file with .nc (NetCDF) or .zarr (Zarr)")
    claim_output(out_path, overwrite)
    if not out_path.absolute().parent.is_dir():
        raise EarthzooError(f"output folder {str(out_path.parent)!r} does not exist", "create it first, or choose another --out")
    card = model_card(model_name)
    plan = precision_plan(backend, framework, precision) if precision != "fp32" else None
    w = load_canonical(weights)
    check_weights_model(w, model_name, weights)
    overrides = config
    config = card.config_from_dict({**(w.config if w.model == model_name else {}), **(overrides or {})})
    ds = open_source(init)
    channels, grid = model_io(card, config)
    spec = card.spec(config)
    stats_note = "normalisation from the weights"
    stats = dict(w.extras)
    has_stats = {"in_mean", "in_std", "out_mean", "out_std"} <= set(stats)
    idx = list(init_indices or [0])
    mask = None
    # Everything that needs only the arguments and the data is checked before the model is built.
    if spec is not None:
        from ..data import NormStats

        what = f"initial data {init!r}"
        if not has_stats:
            stats = _extras(NormStats.from_dataset(ds, channels=spec_channels(ds, spec, what)), spec)
            stats_note = "normalisation from the initial data (the weights carry none)"
        z, layout = spec_block(ds, spec, stats, grid, what)
        T = len(z)
        lo, hi = spec.history - 1, T - steps
        bad = [i for i in idx if not lo <= (i % T if -T <= i < T else -1) <= hi]
        if bad:
            raise EarthzooError(f"initial time index {bad[0]} of {init!r} ({T} times) leaves no history or no forcings for {steps} steps", f"use an index from {lo} to {hi} (forcings are read from the data at each step), or fewer --steps")
        idx = [i % T for i in idx]
        P, F = layout.prognostic, layout.forcing
        x = np.stack([np.concatenate([z[i - spec.history + 1 : i + 1, :P].reshape(-1, *z.shape[2:]), z[i, P:]]) for i in idx]).astype(np.float32)
        c_out = P
    else:
        fields, names = fields_for_model(ds, channels, grid, f"initial data {init!r}")
        bad = [i for i in idx if not -len(fields) <= i < len(fields)]
        if bad:
            raise EarthzooError(f"initial time index {bad[0]} is outside the {len(fields)} times of {init!r}", f"use an index from 0 to {len(fields) - 1} (or from -{len(fields)}: -1 is the last)")
        idx = [i % len(fields) for i in idx]
        if not has_stats:
            stats, stats_note = normalisation(fields), "normalisation from the initial data (the weights carry none)"
        x = ((fields[idx] - stats["in_mean"][None, :, None, None]) / stats["in_std"][None, :, None, None]).astype(np.float32)
        c_out = len(stats["out_mean"])
    model = load_model(model_name, framework, weights=weights, backend=backend, config=overrides)
    check_forecast(model, framework, _device(model, framework), x, steps, c_out * x[0, 0].nbytes)
    step_fn = framework_module(framework).inference_function(model, plan)
    bar = _progress(f"forecast {model_name} ({framework})", steps) if show_progress else _nullbar()
    if spec is not None:
        cat = lambda parts: np.concatenate(parts, axis=1)  # noqa: E731
        outs = []
        with bar as advance:
            for k in range(steps):
                y = step_fn(x)
                if layout.mask is not None:
                    y = y * layout.mask
                outs.append(y)
                if k + 1 < steps:  # the data's forcings at the next input's time
                    x = layout.next_input(cat, x, y, z[[i + k + 1 for i in idx], P : P + F])
                if advance:
                    advance(1)
        y = np.stack(outs, axis=1)
        out_names = list(spec.prognostic)
        if layout.mask is not None:
            mask = layout.mask
    else:
        next_input = resolve(card.next_input) if card.next_input else _identity_next
        with bar as advance:
            y = rollout(step_fn, x, steps, next_input, config, advance)
        out_names = None
    c_out = y.shape[2]
    y = y * stats["out_std"][None, None, :c_out, None, None] + stats["out_mean"][None, None, :c_out, None, None]
    if mask is not None:
        y = np.where(mask[None, None, None] > 0, y, np.nan)  # land is not part of an ocean forecast
    if out_names is None:
        out_names = names[:c_out] if c_out <= len(names) else [f"out{i}" for i in range(c_out)]

    times = ds["time"].values
    dt = (times[1] - times[0]) if len(times) > 1 else np.timedelta64(6, "h")
    init_times = times[idx]
    leads = np.array([(k + 1) * dt for k in range(steps)], dtype="timedelta64[ns]")
    lat = ds["lat"].values[: grid[0]]
    result = xr.Dataset(
        {"fields": (("init_time", "lead_time", "channel", "lat", "lon"), y.astype(np.float32), {"long_name": f"{model_name} forecast; units per channel in channel_units"})},
        coords={
            "init_time": ("init_time", init_times, {"standard_name": "forecast_reference_time", "long_name": "initial time"}),
            "lead_time": ("lead_time", leads, {"standard_name": "forecast_period", "long_name": "lead time"}),
            "valid_time": (("init_time", "lead_time"), init_times[:, None] + leads[None, :], {"standard_name": "time", "long_name": "valid time"}),
            "channel": ("channel", np.array(out_names, dtype=object), {"long_name": "variable"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", ds["lon"].values, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"Conventions": "CF-1.8", "model": model_name, "framework": framework, "precision": precision, "weights": str(weights), "source": f"earthzoo forecast from {init}", "normalisation": stats_note},
    )
    if "depth" in ds.coords and "channel" in ds["depth"].dims:
        depth = {str(c): float(d) for c, d in zip(ds["channel"].values, ds["depth"].values)}
        result = result.assign_coords(depth=("channel", np.array([depth.get(c, np.nan) for c in out_names], np.float32), {"units": "m", "positive": "down", "standard_name": "depth"}))
    if mask is not None:
        result["ocean_mask"] = (("lat", "lon"), np.asarray(mask > 0), {"long_name": "ocean points (land is NaN in fields)"})
    if "channel_units" in ds.coords:
        units = {str(c): str(u) for c, u in zip(ds["channel"].values, ds["channel_units"].values)}
        result = result.assign_coords(channel_units=("channel", np.array([units.get(c, "1") for c in out_names], dtype=object)))
    write_dataset(result, out_path)
    return {"model": model_name, "framework": framework, "precision": precision, "out": str(out_path), "inits": len(idx), "steps": steps, "channels": out_names, "normalisation": stats_note}


def _device(model: Any, framework: str) -> str:
    """Where the model's parameters live (the forecast's batch goes there too)."""
    if framework == "torch":
        return str(next(iter(model.parameters())).device)
    import mindspore as ms

    return ms.get_context("device_target")


class _nullbar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
