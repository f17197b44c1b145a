"""A framework-free windowed view of a dataset: (input history, target leads) pairs.

``Windows(ds, history=2, lead=3, split="train")[i]`` returns
``x`` of shape (history * C_in, lat, lon) - the history frames oldest first,
each frame's channels in ``in_channels`` order - and ``y`` of shape
(lead, C_out, lat, lon), both normalised with ``stats``. Nothing is copied up
front: each item reads its history + lead time steps from the (possibly
lazy, on-disk) dataset. The torch and MindSpore adapters wrap this class."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr
from einops import rearrange

from ..errors import EarthzooError
from .form import channel_list, check_dataset
from .stats import SPLITS, NormStats, time_splits


class Windows:
    """Index ``i`` -> (x, y) for the i-th initial time of the split whose history
    and leads both lie inside the split."""

    def __init__(
        self,
        ds: xr.Dataset,
        history: int = 1,
        lead: int = 1,
        split: str | slice | None = "train",
        stats: NormStats | None = None,
        in_channels: Sequence[str] | None = None,
        out_channels: Sequence[str] | None = None,
        splits: dict[str, slice] | None = None,
        stride: int = 1,
        load: bool = False,
    ):
        if history < 1 or lead < 1 or stride < 1:
            raise EarthzooError(f"history={history}, lead={lead}, stride={stride}: each must be at least 1", "pass positive values")
        check_dataset(ds, check_nans=False)
        self.names = [str(c) for c in ds["channel"].values]
        self.in_channels = list(in_channels) if in_channels is not None else list(self.names)
        default_out = channel_list(ds, "prognostic") or list(self.names)
        self.out_channels = list(out_channels) if out_channels is not None else default_out
        check_dataset(ds, channels=[*self.in_channels, *self.out_channels], check_nans=False)
        self.history, self.lead, self.stride = history, lead, stride
        splits = splits or time_splits(ds["time"].values)
        if isinstance(split, str):
            if split not in splits:
                raise EarthzooError(f"unknown split {split!r}", f"use one of: {', '.join(SPLITS)}")
            sl = splits[split]
        else:
            sl = split if split is not None else slice(0, ds.sizes["time"])
        self.start = sl.start or 0
        self.stop = sl.stop if sl.stop is not None else ds.sizes["time"]
        self.fields = ds["fields"].load() if load else ds["fields"]
        self.stats = stats or NormStats.from_dataset(ds, splits["train"] if isinstance(split, str) or split is None else sl)
        self.in_idx = [self.names.index(c) for c in self.in_channels]
        self.out_idx = [self.names.index(c) for c in self.out_channels]
        self.in_mean, self.in_std = self.stats.arrays(self.in_channels)
        self.out_mean, self.out_std = self.stats.arrays(self.out_channels)
        self.times = ds["time"].values
        n = (self.stop - self.start - history - lead + 1 + stride - 1) // stride
        self.n = max(0, n)
        self.mask = np.asarray(ds["ocean_mask"].values, bool) if "ocean_mask" in ds else None

    def __len__(self) -> int:
        return self.n

    def init_index(self, i: int) -> int:
        """Time index of the last history frame (the forecast's initial time)."""
        if not -self.n <= i < self.n:
            raise IndexError(f"window {i} out of range for {self.n} windows")
        i = i % self.n
        return self.start + i * self.stride + self.history - 1

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        t0 = self.init_index(int(i))
        block = np.asarray(self.fields[t0 - self.history + 1 : t0 + self.lead + 1].values, dtype=np.float32)
        past, future = block[: self.history], block[self.history :]
        x = (past[:, self.in_idx] - self.in_mean) / self.in_std
        y = (future[:, self.out_idx] - self.out_mean) / self.out_std
        return rearrange(x, "t c h w -> (t c) h w").astype(np.float32), y.astype(np.float32)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w = self.fields.shape[2:]
        return (self.history * len(self.in_channels), h, w)

    @property
    def target_shape(self) -> tuple[int, int, int, int]:
        h, w = self.fields.shape[2:]
        return (self.lead, len(self.out_channels), h, w)
