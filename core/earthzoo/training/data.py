"""Framework-free training data for the engines: normalised (x, y) windows in
memory and a deterministic batch plan.

The batch plan is a pure function of (seed, step): the samples of optimizer
step ``s``, micro-batch ``a`` are read from a per-epoch permutation, so the data
position of a run is just its step count and ``--resume`` needs no iterator
state. Process ``rank`` of ``world`` takes its contiguous share of each global
micro-batch, which makes K processes see exactly the global batch that one
process would."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EarthzooError


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


# --------------------------------------------------------------------------- sources


def open_source(spec: str) -> Any:
    """An internal-form dataset from a registered data source name or a NetCDF/Zarr path."""
    from ..data.form import check_dataset

    path = Path(spec)
    if path.exists():
        import xarray as xr

        try:
            if path.is_dir() or path.suffix == ".zarr":
                ds = xr.open_zarr(str(path))
            else:
                ds = xr.open_dataset(str(path))
        except Exception as exc:  # noqa: BLE001
            raise EarthzooError(f"cannot read data {spec!r} ({type(exc).__name__}: {str(exc)[:120]})", "give a NetCDF/Zarr file in earthzoo's internal form or a data source name (earthzoo data list)") from exc
        if "channel" in ds.coords:
            ds = ds.assign_coords(channel=[str(c) for c in ds["channel"].values])
    else:
        from ..registry import get_registry

        reg = get_registry()
        if spec not in reg.datasources:
            known = ", ".join(sorted(reg.datasources)) or "none registered"
            raise EarthzooError(f"data {spec!r} is neither a file nor a data source (sources: {known})", "give a NetCDF/Zarr path or a registered data source name")
        ds = reg.datasource(spec).open(None)
    return check_dataset(ds, what=f"data {spec!r}")


def fields_for_model(ds: Any, channels: int, grid: tuple[int, int], what: str = "data") -> tuple[np.ndarray, list[str]]:
    """(time, channels, H, W) float32 fields the model takes: the first ``channels``
    channels, and the first H rows (a grid with both poles loses its southern row,
    as FourCastNet drops ERA5's 721st)."""
    names = [str(c) for c in ds["channel"].values]
    nlat, nlon = ds.sizes["lat"], ds.sizes["lon"]
    h, w = grid
    if len(names) < channels:
        raise EarthzooError(f"{what} has {len(names)} channels ({', '.join(names)}), the model takes {channels}", "use a data source with enough variables or a preset with fewer channels")
    if nlon != w or not (nlat == h or nlat == h + 1):
        raise EarthzooError(f"{what} grid {nlat}x{nlon} does not fit the model's {h}x{w}", "pick the data size made for this preset, or regrid the data")
    f = np.asarray(ds["fields"].values[:, :channels, :h, :], dtype=np.float32)
    return f, names[:channels]


def normalisation(fields: np.ndarray) -> dict[str, np.ndarray]:
    mean = fields.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
    std = fields.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    return {"in_mean": mean, "in_std": std, "out_mean": mean.copy(), "out_std": std.copy()}


def windows(fields: np.ndarray, rollout: int, stats: dict[str, np.ndarray], description: str = "data") -> ArrayData:
    """x = state at t, y = states at t+1..t+rollout, normalised."""
    t = len(fields)
    n = t - rollout
    if n < 1:
        raise EarthzooError(f"{description} has {t} times, too few for a rollout of {rollout}", "use a longer data set or fewer rollout steps")
    z = (fields - stats["in_mean"][None, :, None, None]) / stats["in_std"][None, :, None, None]
    x = z[:n]
    y = np.stack([z[1 + r : 1 + r + n] for r in range(rollout)], axis=1)
    return ArrayData(x.astype(np.float32), y.astype(np.float32), stats, description)


def model_io(card: Any, model_config: Any) -> tuple[int, tuple[int, int]]:
    """Input channels and grid of a model, from its card's example input."""
    from ..cards import resolve

    if not card.example_input:
        raise EarthzooError(f"model {card.name!r} names no example_input on its card", "add example_input to the model card")
    ex = resolve(card.example_input)(model_config, 1, 0)
    return int(ex.shape[1]), (int(ex.shape[2]), int(ex.shape[3]))


def split_times(n: int, train_fraction: float = 0.8) -> tuple[slice, slice]:
    cut = max(2, int(round(n * train_fraction)))
    return slice(0, cut), slice(cut, n)


def training_data(spec: str, card: Any, model_config: Any, rollout: int, train_fraction: float = 0.8) -> ArrayData:
    """Normalised training windows of data ``spec`` for a model (first part of the times)."""
    ds = open_source(spec)
    channels, grid = model_io(card, model_config)
    f, names = fields_for_model(ds, channels, grid, f"data {spec!r}")
    tr, _ = split_times(len(f), train_fraction)
    train = f[tr]
    stats = normalisation(train)
    return windows(train, rollout, stats, f"data {spec!r} ({', '.join(names)})")
