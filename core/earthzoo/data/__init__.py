"""Data for earthzoo: embedded synthetic sources, readers of real archives,
normalisation statistics, splits, climatology and a framework-free windowed
dataset. NumPy/xarray only; torch/MindSpore adapters live in
``earthzoo.frameworks.torch_data`` / ``earthzoo.frameworks.mindspore_data``.

Grids by size (lat x lon; lat north -> south):

- ``synthetic-atmosphere``: tiny 33 x 64, small 65 x 128, both poles, 6-hourly.
  Models at 32 x 64 / 64 x 128 (FourCastNet) drop the last (south pole) row,
  as the original drops the 721st: ``ds.isel(lat=slice(0, -1))``.
- ``synthetic-ocean``: tiny 32 x 64, small 64 x 128, cell centres (no pole
  rows), daily, 4 / 5 depth levels.
- Readers keep the file's grid (ERA5 0.25 deg: 721 x 1440 with poles).

See ``earthzoo.data.form`` for the internal dataset form."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the plugin manager imports earthzoo.data.sources at
# start-up, and that must not pull in xarray (``earthzoo --help`` stays fast).
_LAZY = {
    "channel_list": "form",
    "check_dataset": "form",
    "make_dataset": "form",
    "regular_lat": "form",
    "regular_lon": "form",
    "NormStats": "stats",
    "climatology": "stats",
    "climatology_at": "stats",
    "time_splits": "stats",
    "Windows": "windows",
    "cache_dir": "cache",
    "read_dataset": "cache",
    "write_dataset": "cache",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_source(name: str, path: str | None = None, **options: Any):
    """Open a registered data source (``earthzoo data list``) in the internal form."""
    from ..registry import get_registry

    return get_registry().datasource(name).open(path, **options)


def list_sources():
    from ..registry import get_registry

    reg = get_registry()
    return [reg.datasources[n] for n in sorted(reg.datasources)]


__all__ = [
    "NormStats",
    "Windows",
    "cache_dir",
    "channel_list",
    "check_dataset",
    "climatology",
    "climatology_at",
    "list_sources",
    "make_dataset",
    "open_source",
    "read_dataset",
    "time_splits",
    "write_dataset",
]
