"""Core's data sources and their registration hook. Imports nothing heavy at
module level: this module is loaded with the plugin manager."""

from __future__ import annotations

from typing import Any

from ..cards import DataSourceCard
from ..hookspecs import hookimpl
from .variables import FOURCASTNET_V0

SOURCES = (
    DataSourceCard(
        name="synthetic-atmosphere",
        summary="Spherical shallow-water equations (torch-harmonics), random balanced start; sizes tiny 33x64, small 65x128 with poles",
        opener="earthzoo.data.sources:open_synthetic_atmosphere",
        kind="atmosphere",
        embedded=True,
        variables=("z", "u", "v", "vort", "div"),
        time_step="6h",
    ),
    DataSourceCard(
        name="synthetic-ocean",
        summary="Wind-driven reduced-gravity ocean with advected T/S, AI-GOMS channel layout, land mask; tiny 32x64, small 64x128",
        opener="earthzoo.data.sources:open_synthetic_ocean",
        kind="ocean",
        embedded=True,
        variables=("t_*", "s_*", "u_*", "v_*", "ssh", "u10", "v10", "t2m", "msl", "sp", "orography"),
        time_step="1d",
    ),
    DataSourceCard(
        name="era5-wb2",
        summary="ERA5 in the WeatherBench2 Zarr layout (long names, time/level/latitude/longitude)",
        opener="earthzoo.data.readers:open_era5_wb2",
        kind="atmosphere",
        time_step="6h",
    ),
    DataSourceCard(
        name="era5-fourcastnet",
        summary="ERA5 as FourCastNet's yearly HDF5 files (dataset 'fields', (T, C, 721, 1440))",
        opener="earthzoo.data.readers:open_era5_fourcastnet",
        kind="atmosphere",
        variables=FOURCASTNET_V0,
        time_step="6h",
    ),
    DataSourceCard(
        name="hycom",
        summary="HYCOM NetCDF (water_u, water_v, water_temp, salinity, surf_el; packed int16)",
        opener="earthzoo.data.readers:open_hycom",
        kind="ocean",
        time_step="1d",
    ),
)


@hookimpl
def earthzoo_register_datasources(register):
    """Core's embedded synthetic sources and readers of real archives."""
    for card in SOURCES:
        register(card)


def _embedded(name: str, module, path, size, refresh, progress, options) -> Any:
    from .cache import cached, read_dataset

    if path is not None:
        return read_dataset(path)
    p = module.params(size, **options)
    return cached(name, p, lambda: module.generate(p, progress=progress), refresh=refresh)


def open_synthetic_atmosphere(path: str | None = None, size: str = "tiny", refresh: bool = False, progress=None, **options: Any):
    """The cached shallow-water dataset (generated on first use); ``path`` reads one written by `earthzoo data make`.
    Options: steps, seed, spinup_days, havg, jet_speed, eddy_speed."""
    from . import atmosphere

    return _embedded("synthetic-atmosphere", atmosphere, path, size, refresh, progress, options)


def open_synthetic_ocean(path: str | None = None, size: str = "tiny", refresh: bool = False, progress=None, **options: Any):
    """The cached synthetic ocean (generated on first use). Options: days, seed, spinup_days, gprime, layer_depth."""
    from . import ocean

    return _embedded("synthetic-ocean", ocean, path, size, refresh, progress, options)
