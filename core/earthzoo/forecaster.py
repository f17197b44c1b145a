"""Forecasting from Python: a model with its weights' normalisation, rolled out
from initial states picked by datetime in an xarray Dataset.

``Forecaster`` is what ``earthzoo forecast`` runs (the CLI only opens the data
and writes the file), so Python and the command give the same numbers. The
step-to-step input comes from the card's ``next_input``; a model whose card
names a ``data_spec`` takes each next input's forcings from the data at that
step's time and its static channels from the initial input; masked (ocean)
models get land set to NaN. Statistics come from the weights' extras
(``earthzoo train`` stores them); without them the data's own statistics are
used and the result says so in its ``normalisation`` attribute."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
from einops import rearrange

from .api import check_weights_model, load_model, model_card, precision_plan
from .cards import resolve
from .errors import EarthzooError
from .frameworks import framework_module

STATS_KEYS = ("in_mean", "in_std", "out_mean", "out_std")


class Forecaster:
    """``model`` loaded in ``framework`` on ``backend`` from canonical ``weights``.

    ``forecast(data, init, steps)`` returns every lead time as one Dataset;
    ``iterate(data, init, steps)`` yields one Dataset per lead time as it is computed.
    ``data`` is an xarray Dataset (earthzoo's stacked ``fields`` form, or one
    variable per field as ERA5 / WeatherBench2 files have) or a file / data source
    name; ``init`` one or several initial times (datetimes, or integer positions).
    ``batch``: the most initial times one model call takes; more are run in turn,
    which bounds memory and on CPU is no slower (GraphCast small in torch: 0.42 s a
    sample one at a time, 0.51 s in fours, 0.74 s sixteen at once). ``compile``: a torch
    model runs through torch.compile (the first call compiles; paper-size FourCastNet
    then takes about 0.9x the eager time on CPU)."""

    def __init__(self, model: str, weights: str, framework: str = "torch", backend: str = "auto", precision: str = "fp32", config: dict[str, Any] | None = None, batch: int = 4,
                 compile: bool = False):
        if int(batch) < 1:
            raise EarthzooError(f"batch={batch} runs no initial time", "use batch=1 or more")
        if compile and framework != "torch":
            raise EarthzooError(f"compile is torch.compile, and {framework}'s forward is already a compiled graph", "leave compile off with this framework")
        self.compile = bool(compile)
        from .training.data import model_io
        from .weights import load_canonical

        self.name, self.framework, self.precision, self.weights, self.backend, self.batch = model, framework, precision, str(weights), backend, int(batch)
        self.card = card = model_card(model)
        self._plan = precision_plan(backend, framework, precision) if precision != "fp32" else None
        w = load_canonical(weights)
        check_weights_model(w, model, weights)
        self._overrides = config
        self.config = card.config_from_dict({**(w.config if w.model == model else {}), **(config or {})})
        self.spec = card.spec(self.config)
        self.channels, self.grid = model_io(card, self.config)
        self.stats = {k: np.asarray(w.extras[k], np.float32) for k in STATS_KEYS} if set(STATS_KEYS) <= set(w.extras) else None
        self.next_input = resolve(card.next_input) if card.next_input else None
        self._model = self._step = None  # built on first use: bad data is refused before the model is built

    @property
    def model(self) -> Any:
        """The framework model (nn.Module / Cell), in inference mode on the backend."""
        if self._model is None:
            self._model = load_model(self.name, self.framework, weights=self.weights, backend=self.backend, config=self._overrides)
            options = {"compile": True} if self.compile else {}
            self._step = framework_module(self.framework).inference_function(self._model, self._plan, **options)
        return self._model

    def step(self, x: np.ndarray) -> np.ndarray:
        """The model on a normalised NumPy input (B, C_in, H, W) -> (B, C_out, H, W), in calls of at most ``batch``."""
        if self._step is None:
            self.model  # noqa: B018 - builds the model and its inference function
        if len(x) <= self.batch:
            return self._step(x)
        return np.concatenate([self._step(x[i : i + self.batch]) for i in range(0, len(x), self.batch)])

    # ------------------------------------------------------------------ public

    def forecast(self, data: Any, init: Any = 0, steps: int = 1, progress: Any = None) -> Any:
        """All ``steps`` lead times from each initial time, denormalised, as one Dataset."""
        run = self._start(data, init, steps)
        outs = []
        for y in run["steps"]:
            outs.append(y)
            if progress:
                progress(1)
        return self._dataset(run, np.stack(outs, axis=1), 0)

    def iterate(self, data: Any, init: Any = 0, steps: int = 1) -> Iterator[Any]:
        """One Dataset per lead time (lead_time of length 1), computed as it is asked for."""
        run = self._start(data, init, steps)
        for k, y in enumerate(run["steps"]):
            yield self._dataset(run, y[:, None], k)

    # ------------------------------------------------------------------ internals

    def _start(self, data: Any, init: Any, steps: int) -> dict[str, Any]:
        """Normalised initial inputs and the generator of denormalised outputs (B, C_out, H, W)."""
        from .data.form import check_dataset
        from .data.readers import from_variables
        from .training.data import _extras, fields_for_model, normalisation, open_source, spec_block, spec_channels

        if int(steps) < 1:
            raise EarthzooError(f"steps={steps} asks for no forecast", "use steps=1 or more")
        steps = int(steps)
        what = f"initial data {data!r}" if isinstance(data, str) else "the initial data"
        if isinstance(data, str):
            ds = open_source(data)
        else:
            ds = check_dataset(from_variables(data, what=what), what=what)
            ds = ds.assign_coords(channel=[str(c) for c in ds["channel"].values])
        idx = init_indices(ds, init, what)
        times = ds["time"].values
        dt = (times[1] - times[0]) if len(times) > 1 else np.timedelta64(6, "h")
        init_times = times[idx]
        stats, note = self.stats, "normalisation from the weights"
        mask = None
        if self.spec is not None:
            from .data import NormStats

            spec = self.spec
            if stats is None:
                stats = _extras(NormStats.from_dataset(ds, channels=spec_channels(ds, spec, what)), spec)
                note = "normalisation from the initial data (the weights carry none)"
            T = ds.sizes["time"]
            lo, hi = spec.history - 1, T - steps if spec.forcing else T - 1
            bad = [i for i in idx if not lo <= i <= hi]
            if bad:
                raise EarthzooError(f"initial time index {bad[0]} of {what} ({T} times) leaves no history or no forcings for {steps} steps", f"use an index from {lo} to {hi} (forcings are read from the data at each step), or fewer steps")
            first = min(idx) - lo  # only the times the forecast reads are loaded
            ds, idx = ds.isel(time=slice(first, max(idx) + (steps if spec.forcing else 1))), [i - first for i in idx]
            z, layout = spec_block(ds, spec, stats, self.grid, what)
            P, F = layout.prognostic, layout.forcing
            x = np.stack([np.concatenate([rearrange(z[i - spec.history + 1 : i + 1, :P], "t c h w -> (t c) h w"), z[i, P:]]) for i in idx]).astype(np.float32)
            names = list(spec.prognostic)
            mask = layout.mask

            def nxt(x, y, k):
                return layout.next_input(lambda parts: np.concatenate(parts, axis=1), x, y, z[[i + k + 1 for i in idx], P : P + F])
        else:
            if stats is None:
                fields, names = fields_for_model(ds, self.channels, self.grid, what)
                stats, note = normalisation(fields), "normalisation from the initial data (the weights carry none)"
                fields = fields[idx]
            else:  # only the initial times are loaded
                fields, names = fields_for_model(ds.isel(time=idx), self.channels, self.grid, what)
            x = ((fields - stats["in_mean"][None, :, None, None]) / stats["in_std"][None, :, None, None]).astype(np.float32)
            cfg, ni = self.config, self.next_input

            def nxt(x, y, k):
                return ni(x, y, k, cfg) if ni else y

        from .training.memory import check_forecast

        c_out = len(self.spec.prognostic) if self.spec is not None else len(stats["out_mean"])
        check_forecast(self.model, self.framework, _device(self.model, self.framework), x, steps, c_out * x[0, 0].nbytes)

        def outputs():
            xk = x
            for k in range(steps):
                y = self.step(xk)
                if mask is not None:
                    y = y * mask
                if k + 1 < steps:
                    xk = nxt(xk, y, k)
                c = y.shape[1]
                out = y * stats["out_std"][None, :c, None, None] + stats["out_mean"][None, :c, None, None]
                if mask is not None:
                    out = np.where(mask[None, None] > 0, out, np.nan)  # land is not part of an ocean forecast
                yield out.astype(np.float32)

        return {"ds": ds, "init_times": init_times, "dt": dt, "names": names, "mask": mask, "note": note, "steps": outputs()}

    def _dataset(self, run: dict[str, Any], y: np.ndarray, first: int) -> Any:
        """The forecast Dataset of outputs ``y`` (B, S, C, H, W) at leads first+1 .. first+S,
        one variable per field (dims init_time, lead_time, lat, lon) with CF attributes."""
        import xarray as xr

        from .data.form import to_variables

        ds, names = run["ds"], list(run["names"])
        c_out = y.shape[2]
        if c_out != len(names):
            names = names[:c_out] if c_out <= len(names) else [f"out{i}" for i in range(c_out)]
        init_times = run["init_times"]
        leads = np.array([(first + k + 1) * run["dt"] for k in range(y.shape[1])], dtype="timedelta64[ns]")
        result = xr.Dataset(
            {"fields": (("init_time", "lead_time", "channel", "lat", "lon"), y.astype(np.float32), {"long_name": f"{self.name} forecast"})},
            coords={
                "init_time": ("init_time", init_times, {"standard_name": "forecast_reference_time", "long_name": "initial time"}),
                "lead_time": ("lead_time", leads, {"standard_name": "forecast_period", "long_name": "lead time"}),
                "valid_time": (("init_time", "lead_time"), init_times[:, None] + leads[None, :], {"standard_name": "time", "long_name": "valid time"}),
                "channel": ("channel", np.array(names, dtype=object), {"long_name": "variable"}),
                "lat": ("lat", ds["lat"].values[: y.shape[3]], {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", ds["lon"].values, {"units": "degrees_east", "standard_name": "longitude"}),
            },
            attrs={"Conventions": "CF-1.8", "title": f"{self.name} forecast (earthzoo)", "model": self.name, "framework": self.framework, "precision": self.precision, "weights": self.weights, "normalisation": run["note"]},
        )
        if "depth" in ds.coords and "channel" in ds["depth"].dims:
            depth = {str(c): float(d) for c, d in zip(ds["channel"].values, ds["depth"].values)}
            result = result.assign_coords(depth=("channel", np.array([depth.get(c, np.nan) for c in names], np.float32), {"units": "m", "positive": "down", "standard_name": "depth"}))
        if run["mask"] is not None:
            result["ocean_mask"] = (("lat", "lon"), np.asarray(run["mask"] > 0), {"long_name": "ocean points (land is NaN in the fields)"})
        if "channel_units" in ds.coords:
            units = {str(c): str(u) for c, u in zip(ds["channel"].values, ds["channel_units"].values)}
            result = result.assign_coords(channel_units=("channel", np.array([units.get(c, "1") for c in names], dtype=object)))
        return to_variables(result)


def _device(model: Any, framework: str) -> str:
    """Where the model's parameters live (the forecast's batch goes there too)."""
    if framework == "torch":
        return str(next(iter(model.parameters())).device)
    import mindspore as ms

    return ms.get_context("device_target")


def init_indices(ds: Any, init: Any, what: str = "the data") -> list[int]:
    """Positions in ``ds.time`` of ``init``: one or several datetimes (anything
    numpy.datetime64 takes) or integer positions (negative from the end)."""
    items: Sequence[Any] = list(init) if isinstance(init, (list, tuple, np.ndarray)) else [init]
    times = ds["time"].values
    n = len(times)
    out = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -n <= int(item) < n:
                raise EarthzooError(f"initial time index {int(item)} of {what} ({n} times) is outside it", f"use an index from 0 to {n - 1} (or from -{n}: -1 is the last)")
            out.append(int(item) % n)
            continue
        try:
            t = np.datetime64(item, "ns")
        except (ValueError, TypeError) as exc:
            raise EarthzooError(f"initial time {item!r} is neither a datetime nor an index", "give e.g. '2020-01-01T06:00' or an integer position") from exc
        hit = np.nonzero(times == t)[0]
        if not len(hit):
            span = f"{np.datetime_as_string(times[0], 'm')} .. {np.datetime_as_string(times[-1], 'm')}" if n else "no times"
            raise EarthzooError(f"initial time {np.datetime_as_string(t, 'm')} is not a time of {what} ({span})", "pick one of the data's times (ds.time)")
        out.append(int(hit[0]))
    return out
