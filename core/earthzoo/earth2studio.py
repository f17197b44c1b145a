"""Any earthzoo model as an NVIDIA earth2studio prognostic model, in either framework.

``PrognosticModel(Forecaster(...))`` has earth2studio's prognostic interface:
``input_coords()``, ``output_coords(input_coords)``, ``__call__(x, coords)`` (one
step), ``create_iterator(x, coords)`` (the initial state, then one step per
``next()``) and ``to(device)``, so earth2studio's workflows (``run.deterministic``)
and IO backends take it like one of their own. Tensors are torch (earth2studio's
currency) in physical units with earth2studio's variable names (``u10m``, ``z500``:
the lexicon translates); the model itself runs in the Forecaster's framework and
on its backend, so a MindSpore model on an Ascend or DCU chip is usable from
earth2studio too. earth2studio itself is not imported here: the interface is its
protocol (``pip install earthzoo[earth2studio]`` brings the package whose workflows
were tested with it).

Models read their forcings from data at every step (AI-GOMS) are not adapted:
an earth2studio prognostic model gets only its state."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

import numpy as np
from einops import rearrange

from .cards import resolve
from .data.lexicon import e2s_name
from .errors import EarthzooError


class PrognosticModel:
    """An earthzoo :class:`~earthzoo.forecaster.Forecaster` on earth2studio's terms.

    ``lat``/``lon``: the model's grid (default: equiangular with both poles of which
    the model keeps the first ``H`` rows, as FourCastNet keeps 720 of ERA5's 721;
    ``lon`` from 0 east); ``dt``: the model's step (default the card's time step)."""

    def __init__(self, forecaster: Any, lat: Any = None, lon: Any = None, dt: Any = None):
        from .data.form import regular_lat, regular_lon

        fc = self.forecaster = forecaster
        if fc.stats is None:
            raise EarthzooError(f"weights {fc.weights!r} carry no normalisation statistics", "use weights written by `earthzoo train` (they store in_mean/in_std/out_mean/out_std)")
        spec = fc.spec
        if spec is not None and spec.forcing:
            raise EarthzooError(f"model {fc.name!r} reads forcings ({', '.join(spec.forcing[:3])}...) from data at every step, which an earth2studio prognostic model does not get", "forecast it with earthzoo.Forecaster, which takes them from the data")
        H, W = fc.grid
        if spec is not None:
            self.history, self.prognostic, self.static = spec.history, list(spec.prognostic), list(spec.static)
        else:
            names = list(getattr(fc.config, "variables", ()) or fc.card.variables)
            if len(names) < fc.channels:
                raise EarthzooError(f"model {fc.name!r} names {len(names)} variables for {fc.channels} input channels", "give the config's variables (--config variables=...)")
            self.history, self.prognostic, self.static = 1, names[: fc.channels], []
        self.lat = np.asarray(lat, np.float64) if lat is not None else regular_lat(H + 1)[:H]
        self.lon = np.asarray(lon, np.float64) if lon is not None else regular_lon(W)
        if self.lat.shape != (H,) or self.lon.shape != (W,):
            raise EarthzooError(f"grid {self.lat.size}x{self.lon.size} given for a model of {H}x{W}", f"give {H} latitudes and {W} longitudes")
        step = str(fc.card.time_step or "6h")
        self.dt = np.timedelta64(dt) if dt is not None else np.timedelta64(int(step[:-1]), {"h": "h", "d": "D"}[step[-1]])
        self.in_vars = np.array([e2s_name(c) for c in self.prognostic + self.static])
        self.out_vars = np.array([e2s_name(c) for c in self.prognostic])
        s = fc.stats
        P, S = len(self.prognostic), len(self.static)
        # the statistics of one time's channels (the weights tile the prognostic ones over the history)
        self._mean_in = np.concatenate([s["in_mean"][:P], s["in_mean"][len(s["in_mean"]) - S :]]) if S else s["in_mean"][:P]
        self._std_in = np.concatenate([s["in_std"][:P], s["in_std"][len(s["in_std"]) - S :]]) if S else s["in_std"][:P]
        self.device = "cpu"

    # ------------------------------------------------------------------ earth2studio's interface

    def __str__(self) -> str:
        return f"earthzoo:{self.forecaster.name}:{self.forecaster.framework}"

    def input_coords(self) -> OrderedDict:
        lead = np.array([-self.dt * i for i in reversed(range(self.history))], dtype="timedelta64[ns]")
        return OrderedDict(batch=np.empty(0), lead_time=lead, variable=self.in_vars.copy(), lat=self.lat.copy(), lon=self.lon.copy())

    def output_coords(self, input_coords: OrderedDict) -> OrderedDict:
        """The coordinates of one step's output from ``input_coords`` (checked)."""
        self._check(input_coords)
        out = OrderedDict((k, np.asarray(v)) for k, v in input_coords.items())
        out["lead_time"] = np.asarray(input_coords["lead_time"])[-1:] + self.dt
        out["variable"] = self.out_vars.copy()
        return out

    def to(self, device: Any) -> "PrognosticModel":
        """Where the returned tensors live (the model runs on the Forecaster's backend)."""
        self.device = device
        return self

    def __call__(self, x: Any, coords: OrderedDict) -> tuple[Any, OrderedDict]:
        """One step: ``x`` (..., lead_time, variable, lat, lon) -> (..., 1, prognostic variables, lat, lon)."""
        out_coords = self.output_coords(coords)
        state = self._normalise(x)
        y = self.forecaster.step(state)
        return self._tensor(self._denormalise(y), x), out_coords

    def create_iterator(self, x: Any, coords: OrderedDict) -> Iterator[tuple[Any, OrderedDict]]:
        """The initial state (its prognostic variables at lead 0), then one step per item."""
        from .training.data import Layout

        self._check(coords)
        first = OrderedDict((k, np.asarray(v)) for k, v in coords.items())
        first["lead_time"] = first["lead_time"][-1:]
        first["variable"] = self.out_vars.copy()
        P = len(self.prognostic)
        yield x[..., -1:, :P, :, :], first
        fc = self.forecaster
        state = self._normalise(x)
        layout = Layout(P, self.history, 0, len(self.static))
        ni = resolve(fc.card.next_input) if fc.card.next_input and fc.spec is None else None
        c = self.output_coords(coords)
        k = 0
        while True:
            y = fc.step(state)
            yield self._tensor(self._denormalise(y), x), c
            state = ni(state, y, k, fc.config) if ni else layout.next_input(lambda parts: np.concatenate(parts, axis=1), state, y, None) if fc.spec is not None else y
            c = OrderedDict(c)
            c["lead_time"] = c["lead_time"] + self.dt
            k += 1

    # ------------------------------------------------------------------ internals

    def _check(self, coords: OrderedDict) -> None:
        keys = list(coords)[-4:]
        if keys != ["lead_time", "variable", "lat", "lon"]:
            raise EarthzooError(f"earth2studio coordinates end in {keys}, expected lead_time, variable, lat, lon", "map the data to model.input_coords() first (earth2studio.utils.coords.map_coords)")
        if [str(v) for v in coords["variable"]] != list(self.in_vars):
            raise EarthzooError(f"variables {list(coords['variable'])} given, the model takes {list(self.in_vars)}", "fetch the variables in model.input_coords()['variable']")
        if len(coords["lead_time"]) != self.history:
            raise EarthzooError(f"{len(coords['lead_time'])} lead times given, the model takes {self.history}", "give the lead times of model.input_coords()")

    def _normalise(self, x: Any) -> np.ndarray:
        """(..., L, V, H, W) physical torch -> (B, L*P + S, H, W) normalised float32 numpy."""
        a = x.detach().to("cpu").numpy().astype(np.float32) if hasattr(x, "detach") else np.asarray(x, np.float32)
        a = rearrange(a, "... t v h w -> (...) t v h w")
        a = (a - self._mean_in[None, None, :, None, None]) / self._std_in[None, None, :, None, None]
        P = len(self.prognostic)
        return np.concatenate([rearrange(a[:, :, :P], "b t c h w -> b (t c) h w"), a[:, -1, P:]], axis=1).astype(np.float32)

    def _denormalise(self, y: np.ndarray) -> np.ndarray:
        s = self.forecaster.stats
        c = y.shape[1]
        return (y * s["out_std"][None, :c, None, None] + s["out_mean"][None, :c, None, None]).astype(np.float32)

    def _tensor(self, y: np.ndarray, like: Any) -> Any:
        """(B, P, H, W) numpy -> torch (..., 1, P, H, W) with ``like``'s leading dims, on ``self.device``."""
        import torch

        lead = tuple(like.shape[:-4])
        return torch.from_numpy(y.reshape(*lead, 1, *y.shape[1:])).to(self.device)
