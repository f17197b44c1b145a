"""Framework-free training data for the engines: normalised windows in memory
and a deterministic batch plan.

A model whose card names a :class:`~earthzoo.cards.DataSpec` gets
:class:`SpecData`: channels chosen by name, input = prognostic history +
forcings at the input time + static, targets = the prognostic channels at
t+1..t+rollout, and the data's forcings at t+1..t+rollout so that each rollout
step's input takes the forcings of its own time. Other models get
:class:`ArrayData` (input channels == output channels). Statistics, splits and
windows come from :mod:`earthzoo.data` (``NormStats``, ``time_splits``, ``Windows``).

The batch plan is a pure function of (seed, step): the samples of optimizer
step ``s``, micro-batch ``a`` are read from a per-epoch permutation, so the data
position of a run is just its step count and ``--resume`` needs no iterator
state. Process ``rank`` of ``world`` takes its contiguous share of each global
micro-batch, which makes K processes see exactly the global batch that one
process would."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from einops import rearrange

from ..errors import EarthzooError


class DataDoesNotFit(EarthzooError):
    """The data's channels or grid do not fit the model at this config (another preset may fit)."""


@dataclass
class ArrayData:
    """Normalised samples: ``x`` (N, C_in, H, W) and ``y`` (N, R, C_out, H, W),
    with the per-channel statistics used (stored as weight extras for forecasts)."""

    x: np.ndarray
    y: np.ndarray
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    description: str = "arrays"

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 5 or len(self.x) != len(self.y):
            raise EarthzooError(f"training arrays have shapes x{self.x.shape} y{self.y.shape}", "give x as (N, C, H, W) and y as (N, rollout, C, H, W)")
        if len(self.x) == 0:
            raise EarthzooError("the training data has no samples", "use a longer data set or fewer rollout steps")

    def __len__(self) -> int:
        return len(self.x)

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.ascontiguousarray(self.x[indices], np.float32), np.ascontiguousarray(self.y[indices], np.float32)


@dataclass(frozen=True)
class BatchPlan:
    n: int
    batch_size: int
    accum_steps: int
    seed: int
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.batch_size % self.world:
            raise EarthzooError(f"batch size {self.batch_size} does not split over {self.world} processes", f"use a batch size that is a multiple of {self.world}")

    def _perm(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def indices(self, step: int, micro: int) -> np.ndarray:
        """Sample indices of this process for update ``step``, micro-batch ``micro``."""
        start = (step * self.accum_steps + micro) * self.batch_size
        flat = np.arange(start, start + self.batch_size)
        epochs, pos = np.divmod(flat, self.n)
        glob = np.array([self._perm(int(e))[p] for e, p in zip(epochs, pos)])
        share = self.batch_size // self.world
        return glob[self.rank * share : (self.rank + 1) * share]


@dataclass(frozen=True)
class Layout:
    """How an input of a DataSpec model is assembled, for the engines' rollouts:
    ``history`` frames of ``prognostic`` channels, then ``forcing``, then ``static``
    channels; ``mask`` (H, W) float32, 1 over ocean and 0 over land, or None;
    ``loss_weight`` (prognostic,) float32 per-channel weights of the squared
    error (see :func:`residual_loss_weights`), or None for the plain MSE."""

    prognostic: int
    history: int = 1
    forcing: int = 0
    static: int = 0
    mask: np.ndarray | None = None
    loss_weight: np.ndarray | None = None

    def next_input(self, xp: Any, x: Any, y: Any, forcing: Any) -> Any:
        """Input of the next step from the last input ``x`` (B, C_in, H, W), the
        prediction ``y`` (B, P, H, W; already land-masked) and the data's forcings
        ``forcing`` (B, F, H, W) at the next input time. ``xp`` concatenates."""
        hp = self.history * self.prognostic
        parts = [x[:, self.prognostic : hp], y] if self.history > 1 else [y]
        if self.forcing:
            parts.append(forcing)
        if self.static:
            parts.append(x[:, hp + self.forcing :])
        return xp(parts)


class SpecData:
    """Windows of a DataSpec model over a normalised field block ``z`` (T, C, H, W)
    whose channels are prognostic, forcing, static in that order (prognostic land
    points set to 0 when the layout has a mask). ``get`` returns (x, y, f):
    x (B, C_in, H, W), y (B, R, P, H, W), f (B, R, F, H, W) - the forcings at
    t+1..t+R (F = 1 zero channel when the model has no forcings, so shapes never vanish)."""

    def __init__(self, z: np.ndarray, layout: Layout, rollout: int, stats: dict[str, np.ndarray], description: str = "data"):
        self.z, self.layout, self.rollout, self.stats, self.description = z, layout, rollout, stats, description
        n = len(z) - (layout.history - 1) - rollout
        if n < 1:
            raise EarthzooError(f"{description} has {len(z)} training times, too few for history {layout.history} + rollout {rollout}", "use a longer data set or fewer rollout steps")
        self.n = n

    @property
    def input_shape(self) -> tuple[int, int, int]:
        L = self.layout
        return (L.history * L.prognostic + L.forcing + L.static, *self.z.shape[2:])

    def __len__(self) -> int:
        return self.n

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        L, R, z = self.layout, self.rollout, self.z
        P, F = L.prognostic, L.forcing
        xs, ys, fs = [], [], []
        for i in np.asarray(indices):
            t = int(i) + L.history - 1  # the input (initial) time
            hist = rearrange(z[t - L.history + 1 : t + 1, :P], "t c h w -> (t c) h w")
            xs.append(np.concatenate([hist, z[t, P:]], axis=0))
            ys.append(z[t + 1 : t + 1 + R, :P])
            fs.append(z[t + 1 : t + 1 + R, P : P + F] if F else np.zeros((R, 1, 1, 1), np.float32))
        return np.ascontiguousarray(np.stack(xs), np.float32), np.ascontiguousarray(np.stack(ys), np.float32), np.ascontiguousarray(np.stack(fs), np.float32)


# --------------------------------------------------------------------------- sources


def open_source(spec: str, check: bool = True) -> Any:
    """An internal-form dataset from a NetCDF/Zarr path, a registered data source
    name, or ``name:size`` (``synthetic-ocean:small``) for an embedded source's size.
    ``check=False`` leaves the checks to the caller (evaluate sorts coordinates and
    scores NaN-aware with --skipna, which check_dataset would refuse)."""
    from ..data.form import check_dataset

    path = Path(spec)
    if path.exists():
        from ..data.cache import read_dataset

        try:
            ds = read_dataset(path)
        except EarthzooError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise EarthzooError(f"cannot read data {spec!r} ({type(exc).__name__}: {str(exc)[:120]})", "give a NetCDF/Zarr file in earthzoo's internal form or a data source name (earthzoo data list)") from exc
        if "channel" in ds.coords:
            ds = ds.assign_coords(channel=[str(c) for c in ds["channel"].values])
    else:
        from ..registry import get_registry

        reg = get_registry()
        name, _, size = spec.partition(":")
        if name not in reg.datasources:
            known = ", ".join(sorted(reg.datasources)) or "none registered"
            raise EarthzooError(f"data {spec!r} is neither a file nor a data source (sources: {known})", "give a NetCDF/Zarr path or a registered data source name (name:size for an embedded size, e.g. synthetic-ocean:small)")
        ds = reg.datasource(name).open(None, size=size) if size else reg.datasource(name).open(None)
    return check_dataset(ds, what=f"data {spec!r}") if check else ds


def fields_for_model(ds: Any, channels: int, grid: tuple[int, int], what: str = "data") -> tuple[np.ndarray, list[str]]:
    """(time, channels, H, W) float32 fields the model takes: the first ``channels``
    channels, and the first H rows (a grid with both poles loses its southern row,
    as FourCastNet drops ERA5's 721st)."""
    ds, names = _fit_grid(ds, channels, grid, what)
    return np.asarray(ds["fields"].values[:, :channels], dtype=np.float32), names[:channels]


def _fit_grid(ds: Any, channels: int, grid: tuple[int, int], what: str) -> tuple[Any, list[str]]:
    names = [str(c) for c in ds["channel"].values]
    nlat, nlon = ds.sizes["lat"], ds.sizes["lon"]
    h, w = grid
    if len(names) < channels:
        raise DataDoesNotFit(f"{what} has {len(names)} channels ({', '.join(names)}), the model takes {channels}", "use a data source with enough variables or a preset with fewer channels (--preset)")
    if nlon != w or not (nlat == h or nlat == h + 1):
        raise DataDoesNotFit(f"{what} grid {nlat}x{nlon} does not fit the model's {h}x{w}", "pick the data size made for this preset (e.g. synthetic-ocean:small) or another --preset, or regrid the data")
    return (ds.isel(lat=slice(0, h)) if nlat != h else ds), names


def normalisation(fields: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics of an in-memory block (the fallback when weights carry none)."""
    mean = fields.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
    std = fields.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    return {"in_mean": mean, "in_std": std, "out_mean": mean.copy(), "out_std": std.copy()}


def _extras(stats: Any, spec: Any) -> dict[str, np.ndarray]:
    """Weight extras (per model input / output channel) from earthzoo.data.NormStats."""
    m = np.asarray(stats.mean, np.float32)
    s = np.asarray(stats.std, np.float32)
    if spec is None:
        return {"in_mean": m, "in_std": s, "out_mean": m.copy(), "out_std": s.copy()}
    P = len(spec.prognostic)
    tile = lambda a: np.concatenate([np.tile(a[:P], spec.history), a[P:]]).astype(np.float32)  # noqa: E731
    return {"in_mean": tile(m), "in_std": tile(s), "out_mean": m[:P].copy(), "out_std": s[:P].copy()}


def model_io(card: Any, model_config: Any) -> tuple[int, tuple[int, int]]:
    """Input channels and grid of a model, from its card's example input."""
    from ..cards import resolve

    if not card.example_input:
        raise EarthzooError(f"model {card.name!r} names no example_input on its card", "add example_input to the model card")
    ex = resolve(card.example_input)(model_config, 1, 0)
    return int(ex.shape[1]), (int(ex.shape[2]), int(ex.shape[3]))


def spec_channels(ds: Any, spec: Any, what: str) -> list[str]:
    """prognostic + forcing + static names of ``spec``, checked against the data."""
    names = [str(c) for c in ds["channel"].values]
    want = [*spec.prognostic, *spec.forcing, *spec.static]
    missing = [c for c in want if c not in names]
    if missing:
        raise DataDoesNotFit(f"{what} lacks the channel(s) {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''} the model reads (it has {', '.join(names[:8])}{' ...' if len(names) > 8 else ''})", "use data with these channels (e.g. synthetic-ocean for ai_goms; name:size picks a size) or a preset that matches the data")
    if spec.masked and "ocean_mask" not in ds:
        raise EarthzooError(f"{what} has no ocean_mask and the model trains over ocean points only", "use an ocean data set in earthzoo's form (with ocean_mask)")
    return want


def change_std(dataset: ArrayData | SpecData) -> np.ndarray | None:
    """Per output channel, the std of the one-step change of the normalised state
    over the training samples (ocean points only for masked data), i.e. the data's
    ``residual_std / std``: the natural output scale of a model that predicts the
    change. None when inputs and outputs are not the same channels."""
    if isinstance(dataset, SpecData):
        P = dataset.layout.prognostic
        d = np.diff(dataset.z[:, :P], axis=0)
        mask = dataset.layout.mask
        d = d[:, :, mask > 0] if mask is not None else d.reshape(*d.shape[:2], -1)
        return d.transpose(1, 0, 2).reshape(P, -1).std(axis=1).astype(np.float32)
    if dataset.x.shape[1] != dataset.y.shape[2]:
        return None
    d = dataset.y[:, 0] - dataset.x
    return d.transpose(1, 0, 2, 3).reshape(d.shape[1], -1).std(axis=1).astype(np.float32)


def residual_loss_weights(std: Any, residual_std: Any) -> np.ndarray:
    """Per-channel weights ``w_c = (std_c / residual_std_c)^2`` that turn the MSE
    of std-normalised states into the MSE of one-step changes normalised by
    ``residual_std`` (GraphCast's loss), so slowly changing channels (ocean T)
    are not drowned by fast ones (u, v). Scaled to mean 1 so learning rates keep
    their meaning; a channel with no recorded change (residual_std <= 0) gets the
    plain weight."""
    std = np.asarray(std, np.float64)
    res = np.asarray(residual_std, np.float64)
    if std.shape != res.shape or std.ndim != 1 or not len(std):
        raise EarthzooError(f"loss weights need per-channel std and residual_std of one length (got {std.shape} and {res.shape})", "recompute the statistics with earthzoo.data.NormStats.from_dataset")
    if not (np.all(np.isfinite(std)) and np.all(np.isfinite(res))):
        raise EarthzooError("the residual statistics for the loss weights are not finite", "check the training data for NaN/inf values")
    w = np.where((res > 0) & (std > 0), (std / np.where(res > 0, res, 1.0)) ** 2, 1.0)
    return (w / w.mean()).astype(np.float32)


def spec_block(ds: Any, spec: Any, extras: dict[str, np.ndarray], grid: tuple[int, int], what: str) -> tuple[np.ndarray, Layout]:
    """The normalised (T, C, H, W) block of a DataSpec model (channels by name,
    prognostic land points 0) and its :class:`Layout`."""
    want = spec_channels(ds, spec, what)
    ds, _ = _fit_grid(ds, len(want), grid, what)
    names = [str(c) for c in ds["channel"].values]
    idx = [names.index(c) for c in want]
    f = np.asarray(ds["fields"].values, dtype=np.float32)[:, idx]
    P, F = len(spec.prognostic), len(spec.forcing)
    hp = spec.history * P
    mean = np.concatenate([extras["out_mean"], extras["in_mean"][hp:]])[None, :, None, None]
    std = np.concatenate([extras["out_std"], extras["in_std"][hp:]])[None, :, None, None]
    z = ((f - mean) / std).astype(np.float32)
    mask = None
    if spec.masked:
        mask = np.asarray(ds["ocean_mask"].values, bool).astype(np.float32)
        z[:, :P] *= mask  # land never reaches the model, the loss or the gradients
    return z, Layout(P, spec.history, F, len(spec.static), mask)


def training_data(spec: str, card: Any, model_config: Any, rollout: int, train_fraction: float | None = None) -> ArrayData | SpecData:
    """Normalised training windows of data ``spec`` for a model, from its training
    split (``earthzoo.data.time_splits``: the first 70%; or ``train_fraction``),
    normalised with ``earthzoo.data.NormStats`` of that split (ocean points only
    for the prognostic channels of masked data)."""
    ds = open_source(spec)
    what = f"data {spec!r}"
    dspec = card.spec(model_config)
    channels, grid = model_io(card, model_config)
    try:
        return _training_data(ds, what, card, dspec, channels, grid, rollout, train_fraction)
    except DataDoesNotFit as exc:
        if len(card.presets) > 1:  # name the other sizes the model comes in
            raise DataDoesNotFit(exc.problem, f"{exc.fix} (model {card.name!r} has presets: {', '.join(card.presets)})") from None
        raise


def _training_data(ds: Any, what: str, card: Any, dspec: Any, channels: int, grid: tuple[int, int], rollout: int, train_fraction: float | None) -> ArrayData | SpecData:
    from ..data import NormStats, Windows, time_splits

    n = ds.sizes["time"]
    split = slice(0, max(2, int(round(n * train_fraction)))) if train_fraction else time_splits(ds["time"].values)["train"]
    if dspec is not None:
        if dspec.in_channels != channels:
            raise EarthzooError(f"model {card.name!r} takes {channels} input channels but its data spec names {dspec.in_channels}", "fix the card's data_spec or example_input")
        want = spec_channels(ds, dspec, what)
        ds, _ = _fit_grid(ds, len(want), grid, what)
        ds = ds.isel(time=split)
        norm = NormStats.from_dataset(ds, channels=want)
        extras = _extras(norm, dspec)
        z, layout = spec_block(ds, dspec, extras, grid, what)
        if dspec.residual_loss:  # from the data's statistics, so a resumed run gets the same weights
            P = len(dspec.prognostic)
            layout = replace(layout, loss_weight=residual_loss_weights(norm.std[:P], norm.residual_std[:P]))
        return SpecData(z, layout, rollout, extras, f"{what} ({len(dspec.prognostic)} prognostic, {len(dspec.forcing)} forcing, {len(dspec.static)} static{', ocean only' if dspec.masked else ''})")
    ds, names = _fit_grid(ds, channels, grid, what)
    names = names[:channels]
    stats = NormStats.from_dataset(ds, split, channels=names)
    win = Windows(ds.isel(time=split), history=1, lead=rollout, split=None, stats=stats, in_channels=names, out_channels=names, load=True)
    if len(win) < 1:
        raise EarthzooError(f"{what} has {split.stop} training times, too few for a rollout of {rollout}", "use a longer data set or fewer rollout steps")
    items = [win[i] for i in range(len(win))]
    x = np.stack([a for a, _ in items])
    y = np.stack([b for _, b in items])
    return ArrayData(x, y, _extras(stats, None), f"{what} ({', '.join(names)})")
