"""Readers of real archives into the internal form (see ``earthzoo.data.form``).

- ``era5-wb2``: ERA5 in the WeatherBench2 Zarr layout: long variable names
  (``geopotential``, ``2m_temperature``...), dims time/level/latitude/longitude,
  latitude in either order. Level variables become ``z500``-style channels.
- ``era5-fourcastnet``: FourCastNet's yearly HDF5 files: dataset ``fields`` of
  shape (T, C, 721, 1440), 6-hourly from 1 January of the year in the file
  name, channels in the v0 (20) or v1 (26) order unless named.
- ``hycom``: HYCOM NetCDF (water_u, water_v, water_temp, salinity on depth
  levels; surf_el), int16 packed with scale_factor/add_offset/_FillValue;
  land (fill) points become 0, and ``ocean_mask`` is where the surface
  temperature of the first time is valid.

All readers stay lazy: values are read when a window asks for them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..errors import EarthzooError
from .form import make_dataset, regular_lat, regular_lon, to_internal_order
from .lexicon import LEVEL_DIMS, OCEAN, at_level, canonical, lookup, rank
from .variables import FOURCASTNET_V0, FOURCASTNET_V1


def _require(path: str | None, source: str) -> Path:
    if path is None:
        raise EarthzooError(
            f"data source {source!r} reads files and needs a path",
            f"convert them first: earthzoo data make {source} --path PATH --out data.nc, then use data.nc (in Python: open_source({source!r}, path=PATH))",
        )
    p = Path(path)
    if not p.exists():
        raise EarthzooError(f"{source} path {str(p)!r} does not exist", "check the path")
    return p


class _Stacked(xr.backends.BackendArray):
    """Lazily stacks (time, lat, lon) arrays into (time, channel, lat, lon) float32;
    only the channels and times asked for are read. ``fill`` replaces NaN."""

    def __init__(self, arrays: list[xr.DataArray], fill: float | None = None):
        self.arrays = [a.transpose("time", "lat", "lon").variable for a in arrays]
        nt, nlat, nlon = self.arrays[0].shape
        self.shape = (nt, len(arrays), nlat, nlon)
        self.dtype = np.dtype(np.float32)
        self.fill = fill

    def __getitem__(self, key):
        return xr.core.indexing.explicit_indexing_adapter(key, self.shape, xr.core.indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key):
        t, c, la, lo = key
        chans = range(self.shape[1])[c] if isinstance(c, slice) else [c]
        out = np.stack(
            [np.asarray(self.arrays[i][t, la, lo].values, dtype=np.float32) for i in chans],
            axis=1 if not isinstance(t, (int, np.integer)) else 0,
        )
        if not isinstance(c, slice):
            out = np.take(out, 0, axis=1 if not isinstance(t, (int, np.integer)) else 0)
        if self.fill is not None:
            out = np.where(np.isnan(out), np.float32(self.fill), out)
        return out


def _lazy(arrays: list[xr.DataArray], fill: float | None = None) -> xr.Variable:
    return xr.Variable(("time", "channel", "lat", "lon"), xr.core.indexing.LazilyIndexedArray(_Stacked(arrays, fill)))


def open_era5_wb2(
    path: str | None = None,
    variables: Sequence[str] | None = None,
    levels: Sequence[int] | None = None,
    time: slice | None = None,
    **_: Any,
) -> xr.Dataset:
    """ERA5 from a WeatherBench2-layout Zarr store. ``variables``: channel names to
    keep (``z500``, ``t2m``...; default all); ``levels``: pressure levels to keep."""
    p = _require(path, "era5-wb2")
    try:
        raw = xr.open_zarr(p, chunks=None)
    except Exception as exc:  # noqa: BLE001 - zarr raises many types for a bad store
        raise EarthzooError(f"cannot open {str(p)!r} as a Zarr store: {exc}", "pass a WeatherBench2 ERA5 .zarr folder") from exc
    if "latitude" not in raw.dims or "longitude" not in raw.dims:
        raise EarthzooError(
            f"{str(p)!r} has no latitude/longitude dims (dims: {', '.join(map(str, raw.dims))})",
            "pass a WeatherBench2-layout store (dims time, level, latitude, longitude)",
        )
    if time is not None:
        raw = raw.sel(time=time)
    ds = from_variables(raw, variables=variables, levels=levels, what=f"era5-wb2 store {str(p)!r}")
    ds.attrs["source"] = f"ERA5 (WeatherBench2 Zarr) {p}"
    return ds


_NOT_FIELDS = ("ocean_mask",)


def from_variables(raw: xr.Dataset, variables: Sequence[str] | None = None, levels: Sequence[int] | None = None, what: str = "dataset") -> xr.Dataset:
    """The stacked form of a Dataset with one variable per field, as ERA5 /
    WeatherBench2 files, earthzoo's own files and earth2studio outputs have: names
    in any of the lexicon's spellings (``2m_temperature``, ``2t``, ``t2m``),
    variables on a ``level`` dim split into ``z500``-style channels,
    latitude/longitude in either order or name. Files with ``time`` stay lazy;
    other fields (a forecast's ``init_time``, ``lead_time``) come back with their dims, in memory.
    ``variables`` picks and orders channels by (any) name; ``levels`` pressure levels."""
    if "fields" in raw.data_vars:
        return raw
    if "channel" in raw.dims:  # the stacked form under another name
        raise EarthzooError(f"{what} has a channel dim but no variable 'fields' (it has: {', '.join(map(str, raw.data_vars)) or 'none'})", "name the stacked variable 'fields', or give one variable per field")
    lat = next((n for n in ("lat", "latitude") if n in raw.dims), None)
    lon = next((n for n in ("lon", "longitude") if n in raw.dims), None)
    if lat is None or lon is None:
        raise EarthzooError(f"{what} has no lat/lon (or latitude/longitude) dims (dims: {', '.join(map(str, raw.dims))})", "give fields on a latitude-longitude grid, one variable per field")
    raw = to_internal_order(raw, lat, lon)
    order = [v for v in str(raw.attrs.get("channels", "")).split(",") if v]
    names_in = sorted(raw.data_vars, key=lambda v: (order.index(v), (0, 0)) if v in order else (len(order), rank(str(v))))
    first = next((raw[v] for v in names_in if v not in _NOT_FIELDS and {"lat", "lon"} <= set(raw[v].dims) and "time" in raw[v].dims), None)
    first = first if first is not None else next((raw[v] for v in names_in if v not in _NOT_FIELDS and {"lat", "lon"} <= set(raw[v].dims)), None)
    outer = tuple(d for d in first.dims if d not in ("lat", "lon", *LEVEL_DIMS)) if first is not None else ("time",)
    lead = outer != ("time",)  # a forecast (init_time, lead_time) or a climatology: stacked in memory
    arrays, names, depths, units = [], [], [], []
    keep = set(map(int, levels)) if levels is not None else None
    for var in names_in:
        da = raw[var]
        if var in _NOT_FIELDS or not {"lat", "lon"} <= set(da.dims):
            continue
        if str(var) == "geopotential_at_surface":
            da = da / 9.80665  # m2 s-2 -> m, the orography's units
        level_dim = next((d for d in LEVEL_DIMS if d in da.dims), None)
        parts = [(at_level(str(var), float(lev)), da.sel({level_dim: lev}, drop=True)) for lev in da[level_dim].values if keep is None or int(lev) in keep] if level_dim else [(canonical(str(var)), da)]
        for name, part in parts:
            if not set(outer) <= set(part.dims):
                if lead or "time" not in raw.dims:
                    continue
                part = part.expand_dims(time=raw["time"])  # a static field: the same at every time
            arrays.append(part.transpose(*outer, "lat", "lon"))
            names.append(name)
            depths.append(float(da.attrs["depth"]) if "depth" in da.attrs else np.nan)
            units.append(str(da.attrs.get("units", lookup(name).units)))
    if variables is not None:
        want = [canonical(v) for v in variables]
        missing = [v for v, c in zip(variables, want) if c not in names]
        if missing:
            raise EarthzooError(f"{what} is missing variable(s) {missing} (it has: {', '.join(names)})", "choose variables the data holds, or data that has them")
        pick = [names.index(c) for c in want]
        arrays, names, depths, units = ([seq[i] for i in pick] for seq in (arrays, names, depths, units))
    if not arrays:
        raise EarthzooError(f"{what} holds no field on (time, lat, lon) (variables: {', '.join(map(str, raw.data_vars)) or 'none'})", "give one variable per field, e.g. ERA5 / WeatherBench2 names such as 2m_temperature or t2m")
    attrs = {k: v for k, v in raw.attrs.items() if k != "channels"}
    depth = depths if any(np.isfinite(depths)) else None
    mask = np.asarray(raw["ocean_mask"].values).astype(bool) if "ocean_mask" in raw else None
    if lead:
        return _stacked(raw, outer, arrays, names, depth, units, mask, attrs)
    if "prognostic" not in attrs and "static" not in attrs and "orography" in names:
        attrs["static"] = ["orography"]
    lists = {k: attrs.pop(k) for k in ("prognostic", "forcing", "static") if k in attrs}
    lists = {k: [x for x in v.split(",") if x] if isinstance(v, str) else list(v) for k, v in lists.items()}
    return make_dataset(_lazy(arrays), raw["time"].values, names, raw["lat"].values, raw["lon"].values, depth=depth, ocean_mask=mask, attrs=attrs, **lists)


def _stacked(raw: xr.Dataset, outer: tuple[str, ...], arrays: list, names: list[str], depth: Any, units: list[str], mask: Any, attrs: dict) -> xr.Dataset:
    """Per-variable fields with other dims than time (a forecast's init_time,
    lead_time; a climatology's) as ``fields`` (*outer, channel, lat, lon) in memory."""
    f = np.stack([np.asarray(a.values, np.float32) for a in arrays], axis=len(outer))
    coords = {k: raw.coords[k] for k in raw.coords if set(raw.coords[k].dims) <= {*outer, "lat", "lon"}}
    coords["channel"] = ("channel", np.array(names, dtype=object))
    coords["channel_units"] = ("channel", np.array(units, dtype=object))
    if depth is not None:
        coords["depth"] = ("channel", np.asarray(depth, np.float32), {"units": "m", "positive": "down", "standard_name": "depth"})
    out = xr.Dataset({"fields": ((*outer, "channel", "lat", "lon"), f)}, coords=coords, attrs=attrs)
    if mask is not None:
        out["ocean_mask"] = (("lat", "lon"), mask)
    return out


class _H5Array(xr.backends.BackendArray):
    """A lazily indexed view of one HDF5 dataset (opened per access, fork-safe)."""

    def __init__(self, path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.name, self.shape, self.dtype = path, name, shape, np.dtype(np.float32)

    def __getitem__(self, key):
        return xr.core.indexing.explicit_indexing_adapter(key, self.shape, xr.core.indexing.IndexingSupport.OUTER_1VECTOR, self._raw)

    def _raw(self, key):
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][key], dtype=np.float32)


def open_era5_fourcastnet(
    path: str | None = None, channels: Sequence[str] | None = None, year: int | None = None, step_hours: int = 6, **_: Any
) -> xr.Dataset:
    """One FourCastNet yearly HDF5 file (``2018.h5``): dataset ``fields`` (T, C, lat, lon),
    north -> south with both poles. ``channels`` names the C channels (default v0/v1 by C)."""
    import h5py

    p = _require(path, "era5-fourcastnet")
    if p.is_dir():
        raise EarthzooError(f"{str(p)!r} is a folder", "pass one yearly file such as 2018.h5 (open several and xarray.concat them)")
    try:
        with h5py.File(p, "r") as f:
            if "fields" not in f:
                raise EarthzooError(
                    f"{str(p)!r} has no dataset 'fields' (it has: {', '.join(f.keys())})", "pass a FourCastNet-layout HDF5 file"
                )
            shape, dtype = f["fields"].shape, f["fields"].dtype
    except OSError as exc:
        raise EarthzooError(f"cannot open {str(p)!r} as HDF5: {exc}", "pass a FourCastNet-layout .h5 file") from exc
    if len(shape) != 4:
        raise EarthzooError(
            f"{str(p)!r} dataset 'fields' has shape {shape}, expected (time, channel, lat, lon)", "pass a FourCastNet-layout HDF5 file"
        )
    t, c, nlat, nlon = shape
    if channels is None:
        channels = {20: FOURCASTNET_V0, 21: FOURCASTNET_V0 + ("tp",), 26: FOURCASTNET_V1}.get(c)
        if channels is None:
            raise EarthzooError(f"{str(p)!r} has {c} channels, not FourCastNet's 20 or 26", "name them: channels=[...]")
    if len(channels) != c:
        raise EarthzooError(f"{len(channels)} channel names given for {c} channels in {str(p)!r}", "pass one name per channel")
    if year is None:
        m = re.search(r"(\d{4})", p.stem)
        year = int(m.group(1)) if m else 2000
    times = np.datetime64(f"{year:04d}-01-01T00:00", "ns") + np.arange(t) * np.timedelta64(step_hours, "h")
    lazy = xr.Variable(("time", "channel", "lat", "lon"), xr.core.indexing.LazilyIndexedArray(_H5Array(p, "fields", shape, dtype)))
    return make_dataset(
        lazy, times, channels, regular_lat(nlat, poles=True), regular_lon(nlon), attrs={"source": f"ERA5 (FourCastNet HDF5) {p}"}
    )


HYCOM_VARS = tuple((row[3], base) for base, row in OCEAN.items())  # (HYCOM name, channel prefix) from the lexicon


def open_hycom(path: str | None = None, depths: Sequence[float] | None = None, time: slice | None = None, **_: Any) -> xr.Dataset:
    """HYCOM NetCDF (one file, or a folder of files joined along time) to the ocean form.
    ``depths`` picks depth levels (m; default all). Packed int16 values are
    unpacked by xarray's CF decoding; fill values become NaN, then 0 with the mask."""
    p = _require(path, "hycom")
    files = sorted(p.glob("*.nc")) if p.is_dir() else [p]
    if not files:
        raise EarthzooError(f"no .nc files in {str(p)!r}", "pass a HYCOM NetCDF file or a folder of them")
    try:
        parts = [xr.open_dataset(f, engine="netcdf4", mask_and_scale=True) for f in files]
    except (OSError, ValueError) as exc:
        raise EarthzooError(f"cannot read HYCOM NetCDF {str(p)!r}: {exc}", "pass HYCOM NetCDF files") from exc
    raw = parts[0] if len(parts) == 1 else xr.concat(parts, dim="time")
    missing = [v for v, _ in HYCOM_VARS if v not in raw] + ([] if "surf_el" in raw else ["surf_el"])
    if missing:
        raise EarthzooError(
            f"HYCOM file {str(p)!r} is missing variable(s) {missing}",
            "download water_u, water_v, water_temp, salinity and surf_el together",
        )
    lat_name = "lat" if "lat" in raw.dims else "latitude"
    lon_name = "lon" if "lon" in raw.dims else "longitude"
    raw = to_internal_order(raw, lat_name, lon_name)
    if time is not None:
        raw = raw.sel(time=time)
    levels = raw["depth"].values.astype(float)
    if depths is not None:
        unknown = [d for d in depths if not np.any(np.isclose(levels, d))]
        if unknown:
            raise EarthzooError(
                f"HYCOM file has no depth level(s) {unknown} (levels: {levels.tolist()})", "choose depths from the file's levels"
            )
        levels = np.asarray(depths, dtype=float)
    arrays, names, depth_coord = [], [], []
    for var, short in HYCOM_VARS:
        for d in levels:
            arrays.append(raw[var].sel(depth=d, method="nearest", drop=True))
            names.append(f"{short}_{d:g}m")
            depth_coord.append(float(d))
    arrays.append(raw["surf_el"])
    names.append("ssh")
    depth_coord.append(np.nan)
    ocean = np.isfinite(np.asarray(arrays[0].isel(time=0).transpose("lat", "lon").values))
    return make_dataset(
        _lazy(arrays, fill=0.0),
        raw["time"].values,
        names,
        raw["lat"].values,
        raw["lon"].values,
        depth=depth_coord,
        ocean_mask=ocean,
        prognostic=names,
        attrs={"source": f"HYCOM NetCDF {p}"},
    )
