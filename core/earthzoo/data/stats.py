"""Normalisation statistics, time-based splits and climatologies.

Statistics are computed on the training split only (no leak from the test
period); ocean channels use ocean points only, so land zeros do not shrink
the spread."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..errors import EarthzooError
from ..files import atomic_write_text
from .form import channel_list

SPLITS = ("train", "valid", "test")


def time_splits(
    times: Any, valid: float = 0.15, test: float = 0.15, *, valid_start: Any = None, test_start: Any = None
) -> dict[str, slice]:
    """Contiguous index ranges {train, valid, test} in time order: by fractions, or
    by the first time of the valid / test periods (datetime-like)."""
    t = np.asarray(times, dtype="datetime64[ns]")
    n = t.size
    if valid_start is not None or test_start is not None:
        if valid_start is None or test_start is None:
            raise EarthzooError("give both valid_start and test_start, or neither", "pass both dates (or use the fractions)")
        i_valid = int(np.searchsorted(t, np.datetime64(valid_start, "ns")))
        i_test = int(np.searchsorted(t, np.datetime64(test_start, "ns")))
        if not 0 < i_valid <= i_test <= n:
            raise EarthzooError(
                f"split dates give train/valid/test sizes {i_valid}/{i_test - i_valid}/{n - i_test}",
                "choose dates inside the data's time span, valid before test",
            )
    else:
        if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
            raise EarthzooError(
                f"split fractions valid={valid}, test={test} leave no training data", "use fractions that sum to less than 1"
            )
        i_test = n - int(round(n * test))
        i_valid = i_test - int(round(n * valid))
    return {"train": slice(0, i_valid), "valid": slice(i_valid, i_test), "test": slice(i_test, n)}


@dataclass
class NormStats:
    """Per-channel mean and std of the fields, and std of one-step differences
    (``residual_std``, for models that predict the change). Saved as JSON."""

    channels: list[str]
    mean: list[float]
    std: list[float]
    residual_std: list[float]
    source: str = ""

    def __post_init__(self):
        n = len(self.channels)
        if not (len(self.mean) == len(self.std) == len(self.residual_std) == n):
            raise EarthzooError("normalisation statistics have lists of different lengths", "recompute them with NormStats.from_dataset")

    @classmethod
    def from_dataset(
        cls, ds: xr.Dataset, split: slice | None = None, channels: Sequence[str] | None = None, block: int = 64
    ) -> "NormStats":
        """Accumulate in float64, ``block`` time steps at a time (the data may be lazy)."""
        names = [str(c) for c in ds["channel"].values]
        channels = list(channels) if channels is not None else names
        idx = [names.index(c) for c in channels]
        f = ds["fields"]
        sl = split or slice(0, f.sizes["time"])
        start, stop = sl.start or 0, sl.stop if sl.stop is not None else f.sizes["time"]
        if stop - start < 2:
            raise EarthzooError(
                f"only {stop - start} time steps to compute statistics from", "use a longer dataset or a larger training split"
            )
        ocean_ch = set(channel_list(ds, "prognostic")) if "ocean_mask" in ds else set()
        mask = np.asarray(ds["ocean_mask"].values, bool) if "ocean_mask" in ds else None
        wmask = np.array(
            [mask if (mask is not None and channels[k] in ocean_ch) else np.ones(f.shape[2:], bool) for k in range(len(channels))],
            dtype=np.float64,
        )
        count = wmask.sum(axis=(1, 2))
        s1 = np.zeros(len(idx))
        s2 = np.zeros(len(idx))
        d2 = np.zeros(len(idx))
        n = 0
        nd = 0
        prev = None
        for b in range(start, stop, block):
            x = np.asarray(f[b : min(b + block, stop)].values, dtype=np.float64)[:, idx]
            s1 += (x * wmask).sum(axis=(0, 2, 3))
            s2 += (x * x * wmask).sum(axis=(0, 2, 3))
            n += x.shape[0]
            seq = x if prev is None else np.concatenate([prev, x])
            dx = np.diff(seq, axis=0)
            d2 += (dx * dx * wmask).sum(axis=(0, 2, 3))
            nd += dx.shape[0]
            prev = x[-1:]
        mean = s1 / (n * count)
        var = np.maximum(s2 / (n * count) - mean**2, 0.0)
        std = np.sqrt(var)
        rstd = np.sqrt(d2 / (nd * count))
        std = np.where(std > 0, std, 1.0)  # constant channels (orography) are only shifted
        rstd = np.where(rstd > 0, rstd, 1.0)
        return cls(channels, mean.tolist(), std.tolist(), rstd.tolist(), source=str(ds.attrs.get("title", "")))

    def select(self, channels: Sequence[str]) -> "NormStats":
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise EarthzooError(f"normalisation statistics have no channel(s) {missing}", "recompute them on data that has these channels")
        i = [self.channels.index(c) for c in channels]
        return NormStats(
            list(channels), [self.mean[k] for k in i], [self.std[k] for k in i], [self.residual_std[k] for k in i], self.source
        )

    def arrays(self, channels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) as float32 arrays shaped (C, 1, 1), for broadcasting over (C, lat, lon)."""
        s = self.select(channels) if channels is not None else self
        return np.asarray(s.mean, np.float32)[:, None, None], np.asarray(s.std, np.float32)[:, None, None]

    def normalise(self, x: np.ndarray, channels: Sequence[str] | None = None) -> np.ndarray:
        m, s = self.arrays(channels)
        return ((x - m) / s).astype(np.float32)

    def denormalise(self, x: np.ndarray, channels: Sequence[str] | None = None) -> np.ndarray:
        m, s = self.arrays(channels)
        return (x * s + m).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NormStats":
        try:
            data = json.loads(open(path).read())
            return cls(**data)
        except FileNotFoundError as exc:
            raise EarthzooError(
                f"normalisation statistics {str(path)!r} not found", "compute them with NormStats.from_dataset(ds).save(path)"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise EarthzooError(
                f"{str(path)!r} is not an earthzoo statistics file: {exc}", "recompute it with NormStats.from_dataset(ds).save(path)"
            ) from exc


def climatology(ds: xr.Dataset, split: slice | None = None, by: str = "mean", window_days: int = 15) -> xr.Dataset:
    """A climatology for ACC in the internal form without time: ``by="mean"`` gives
    (channel, lat, lon) (for spans under a year); ``by="dayofyear"`` gives
    (dayofyear, channel, lat, lon) smoothed by a +-``window_days`` circular running mean."""
    f = ds["fields"].isel(time=split) if split is not None else ds["fields"]
    if by == "mean":
        clim = f.mean("time", dtype=np.float64).astype(np.float32)
    elif by == "dayofyear":
        clim = f.groupby("time.dayofyear").mean("time").astype(np.float32)
        if clim.sizes["dayofyear"] < 366:  # days the data never saw take the nearest day that it did
            clim = clim.reindex(dayofyear=np.arange(1, 367), method="nearest")
        if window_days:
            w = 2 * window_days + 1
            pad = xr.concat([clim.isel(dayofyear=slice(-window_days, None)), clim, clim.isel(dayofyear=slice(0, window_days))], "dayofyear")
            clim = (
                pad.rolling(dayofyear=w, center=True)
                .mean()
                .isel(dayofyear=slice(window_days, -window_days))
                .assign_coords(dayofyear=clim["dayofyear"])
            )
    else:
        raise EarthzooError(f"unknown climatology kind {by!r}", "use by='mean' or by='dayofyear'")
    out = xr.Dataset({"fields": clim}, attrs={"climatology": by})
    if "ocean_mask" in ds:
        out["ocean_mask"] = ds["ocean_mask"]
    return out


def climatology_at(clim: xr.Dataset | xr.DataArray, times: Any) -> xr.DataArray:
    """The climatology at each valid time: (time, channel, lat, lon) or (channel, lat, lon) if constant."""
    c = clim["fields"] if isinstance(clim, xr.Dataset) else clim
    if "dayofyear" in c.dims:
        t = xr.DataArray(np.asarray(times, "datetime64[ns]"), dims="time")
        return c.sel(dayofyear=t.dt.dayofyear).drop_vars("dayofyear", errors="ignore")
    if "time" in c.dims:
        raise EarthzooError("climatology has a time dim", "build it with earthzoo.data.climatology (by='mean' or 'dayofyear')")
    return c
