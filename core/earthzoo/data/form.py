"""The internal dataset form every data source produces, and its checks.

An ``xarray.Dataset`` with a data variable ``fields`` of dims
``(time, channel, lat, lon)``, float32; coordinate ``channel`` (names),
``lat`` descending north -> south in degrees, ``lon`` ascending in [0, 360),
``time`` datetime64. Ocean datasets add a non-dim ``depth`` coordinate on
``channel`` (NaN where not applicable), an ``ocean_mask`` (lat, lon) bool and
attrs ``prognostic`` / ``forcing`` / ``static`` (lists of channel names).
Keeping one form means readers, windows and metrics never guess orders."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import xarray as xr

from ..errors import EarthzooError
from .lexicon import lookup

FIELD_DIMS = ("time", "channel", "lat", "lon")
LIST_ATTRS = ("prognostic", "forcing", "static")

def channel_units(name: str) -> tuple[str, str]:
    """(units, long_name) of a channel name such as ``z500``, ``t_10m`` or ``t2m`` (from the lexicon)."""
    v = lookup(name)
    return v.units, v.long_name or name


def make_dataset(
    fields: np.ndarray,
    times: Any,
    channels: Sequence[str],
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    depth: Sequence[float] | None = None,
    ocean_mask: np.ndarray | None = None,
    prognostic: Sequence[str] | None = None,
    forcing: Sequence[str] = (),
    static: Sequence[str] = (),
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Assemble the internal form from arrays already north->south, lon ascending."""
    channels = [str(c) for c in channels]
    coords: dict[str, Any] = {
        "time": ("time", np.asarray(times, dtype="datetime64[ns]"), {"standard_name": "time", "long_name": "time"}),
        "channel": ("channel", np.array(channels, dtype=object)),
        "lat": ("lat", np.asarray(lat, dtype=np.float64), {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"}),
        "lon": (
            "lon",
            np.asarray(lon, dtype=np.float64),
            {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"},
        ),
    }
    if depth is not None:
        coords["depth"] = (
            "channel",
            np.asarray(depth, dtype=np.float64),
            {"units": "m", "positive": "down", "long_name": "depth of the channel (NaN: not a depth level)"},
        )
    units = [channel_units(c) for c in channels]
    coords["channel_units"] = ("channel", np.array([u for u, _ in units], dtype=object))
    coords["channel_long_name"] = ("channel", np.array([n for _, n in units], dtype=object))
    attrs_f = {"long_name": "stacked fields; units per channel in the `channel_units` coordinate"}
    if isinstance(fields, xr.Variable):  # a lazy array from a reader: keep it lazy
        fvar = xr.Variable(FIELD_DIMS, fields._data, attrs_f)
    else:
        fvar = xr.Variable(FIELD_DIMS, np.asarray(fields, dtype=np.float32), attrs_f)
    data_vars: dict[str, Any] = {"fields": fvar}
    if ocean_mask is not None:
        data_vars["ocean_mask"] = (("lat", "lon"), np.asarray(ocean_mask, dtype=bool), {"long_name": "True over ocean"})
    ds = xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))
    ds.attrs["prognostic"] = list(prognostic) if prognostic is not None else [c for c in channels if c not in set(forcing) | set(static)]
    ds.attrs["forcing"] = list(forcing)
    ds.attrs["static"] = list(static)
    ds.attrs.setdefault("Conventions", "CF-1.8")
    return ds


def to_variables(ds: xr.Dataset) -> xr.Dataset:
    """The stacked form as one variable per channel, each with the lexicon's CF
    attributes (units, long_name, standard_name); the channel order is kept in
    the ``channels`` attribute. What files hold (``earthzoo.data.readers.from_variables``
    reads it back)."""
    if "fields" not in ds.data_vars:
        return ds
    f = ds["fields"]
    names = [str(c) for c in ds["channel"].values]
    given = {str(c): str(u) for c, u in zip(names, ds["channel_units"].values)} if "channel_units" in ds.coords else {}
    depth = dict(zip(names, np.asarray(ds["depth"].values, float))) if "depth" in ds.coords and "channel" in ds["depth"].dims else {}
    dims = tuple(d for d in f.dims if d != "channel")
    out = ds.drop_vars(["fields", *[c for c in ("channel", "channel_units", "channel_long_name", "depth") if c in ds.coords]])
    for i, name in enumerate(names):
        v = lookup(name)
        attrs = v.attrs()
        if v.units == "1" and given.get(name, "1") != "1":
            attrs["units"] = given[name]
        if name in depth and np.isfinite(depth[name]):
            attrs["depth"] = float(depth[name])
        out[name] = (dims, f.isel(channel=i).data, attrs)
    out.attrs["channels"] = ",".join(names)
    out.attrs.setdefault("Conventions", "CF-1.8")
    return out


def channel_list(ds: xr.Dataset, kind: str) -> list[str]:
    """The channel names listed in attr ``kind`` (prognostic/forcing/static), as a list."""
    value = ds.attrs.get(kind, [])
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    elif isinstance(value, np.ndarray):
        value = [str(v) for v in value.tolist()]
    return [str(v) for v in value]


def check_dataset(
    ds: Any,
    *,
    channels: Iterable[str] | None = None,
    grid: tuple[int, int] | None = None,
    check_nans: bool = True,
    what: str = "dataset",
) -> xr.Dataset:
    """Check ``ds`` against the internal form; raise one-line EarthzooErrors that
    name the variable or coordinate at fault. ``channels`` must all be present;
    ``grid`` = (nlat, nlon) the model expects. Returns ``ds`` for chaining."""
    if not isinstance(ds, xr.Dataset):
        raise EarthzooError(
            f"{what} is a {type(ds).__name__}, not an xarray.Dataset", "open it with earthzoo.data.open_source or xarray.open_dataset"
        )
    if "fields" not in ds.data_vars:
        raise EarthzooError(
            f"{what} has no variable 'fields' (it has: {', '.join(map(str, ds.data_vars)) or 'none'})",
            "convert it to the internal form with an earthzoo reader (earthzoo data list)",
        )
    f = ds["fields"]
    if tuple(f.dims) != FIELD_DIMS:
        raise EarthzooError(
            f"{what} variable 'fields' has dims {tuple(f.dims)}, expected {FIELD_DIMS}",
            "transpose it: ds['fields'].transpose('time', 'channel', 'lat', 'lon')",
        )
    if not np.issubdtype(f.dtype, np.floating):
        raise EarthzooError(
            f"{what} variable 'fields' has dtype {f.dtype}, expected float32", "cast it with ds['fields'].astype('float32')"
        )
    for name in FIELD_DIMS:
        if name not in ds.coords:
            raise EarthzooError(f"{what} has no coordinate {name!r}", f"assign one: ds.assign_coords({name}=...)")
        if ds.sizes[name] == 0:
            raise EarthzooError(f"{what} has no {name} values (size 0)", f"give it at least one {name}")
    lat = np.asarray(ds["lat"].values, dtype=float)
    lon = np.asarray(ds["lon"].values, dtype=float)
    if lat.size > 1 and not np.all(np.diff(lat) < 0):
        raise EarthzooError(
            f"{what} coordinate 'lat' is not strictly descending (north to south)", "sort it: ds.sortby('lat', ascending=False)"
        )
    if np.any(np.abs(lat) > 90):
        raise EarthzooError(f"{what} coordinate 'lat' has values outside [-90, 90]", "check the latitude units (degrees expected)")
    if lon.size > 1 and not np.all(np.diff(lon) > 0):
        raise EarthzooError(f"{what} coordinate 'lon' is not strictly ascending", "sort it: ds.sortby('lon')")
    if lon.size and (lon.min() < 0 or lon.max() >= 360):
        raise EarthzooError(
            f"{what} coordinate 'lon' has values outside [0, 360)", "wrap it: ds.assign_coords(lon=ds.lon % 360).sortby('lon')"
        )
    t = ds["time"].values
    if not np.issubdtype(t.dtype, np.datetime64):
        raise EarthzooError(
            f"{what} coordinate 'time' is {t.dtype}, not datetime64", "decode the times (xarray.decode_cf) or assign datetime64 values"
        )
    if t.size > 1 and not np.all(np.diff(t) > np.timedelta64(0, "ns")):
        raise EarthzooError(f"{what} coordinate 'time' is not strictly increasing", "sort it: ds.sortby('time'), and drop duplicate times")
    names = [str(c) for c in ds["channel"].values]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise EarthzooError(
            f"{what} has duplicate channels {dup}", "drop the duplicates: ds.sel(channel=~ds.get_index('channel').duplicated())"
        )
    if channels is not None:
        missing = [c for c in channels if c not in names]
        if missing:
            raise EarthzooError(
                f"{what} is missing variable(s) {missing} (it has: {', '.join(names)})",
                "choose a data source that provides them, or change the model's variable list",
            )
    if grid is not None:
        have = (lat.size, lon.size)
        if tuple(grid) != have:
            raise EarthzooError(
                f"{what} grid {have[0]}x{have[1]} (lat x lon) does not match the model's {grid[0]}x{grid[1]}",
                "regrid the data or pick the data size / model preset made for each other (see earthzoo.data docs)",
            )
    if "ocean_mask" in ds and ds["ocean_mask"].dims != ("lat", "lon"):
        raise EarthzooError(
            f"{what} variable 'ocean_mask' has dims {ds['ocean_mask'].dims}, expected ('lat', 'lon')", "transpose it to (lat, lon)"
        )
    if check_nans:
        _check_nans(f, names, what)
    return ds


def _check_nans(f: xr.DataArray, names: list[str], what: str) -> None:
    """Scan the fields for NaN and inf a few time steps at a time (the data may be lazy on disk)."""
    n = f.sizes["time"]
    per = max(1, int(2e7 // max(1, f[0].size)))
    nans = np.zeros(len(names), dtype=np.int64)
    infs = np.zeros(len(names), dtype=np.int64)
    for start in range(0, n, per):
        block = np.asarray(f[start : start + per].values)
        nans += np.isnan(block).sum(axis=(0, 2, 3))
        infs += np.isinf(block).sum(axis=(0, 2, 3))
    bad = [(names[i], int(a), int(b)) for i, (a, b) in enumerate(zip(nans, infs)) if a or b]
    if bad:
        kinds = " and ".join(k for k, c in (("NaNs", nans.sum()), ("infs", infs.sum())) if c)
        listing = ", ".join(f"{name!r} ({', '.join(f'{c} {k} values' for k, c in (('NaN', a), ('inf', b)) if c)})" for name, a, b in bad[:5])
        raise EarthzooError(
            f"{what} has {kinds} in input fields: channel {listing}",
            "fill or mask them before use (ocean land points: fill with 0 and set ocean_mask)",
        )


def regular_lat(nlat: int, poles: bool = True) -> np.ndarray:
    """Equiangular latitudes north -> south: with both poles, or cell centres."""
    if poles:
        return np.linspace(90.0, -90.0, nlat)
    d = 180.0 / nlat
    return 90.0 - d * (np.arange(nlat) + 0.5)


def regular_lon(nlon: int) -> np.ndarray:
    return np.arange(nlon) * (360.0 / nlon)


def to_internal_order(ds: xr.Dataset, lat: str = "lat", lon: str = "lon") -> xr.Dataset:
    """Rename/flip/wrap coordinates to lat descending and lon ascending in [0, 360)."""
    if lat != "lat" or lon != "lon":
        ds = ds.rename({lat: "lat", lon: "lon"})
    latv = ds["lat"].values
    if latv.size > 1 and latv[0] < latv[-1]:
        ds = ds.isel(lat=slice(None, None, -1))
    lonv = np.asarray(ds["lon"].values, dtype=float)
    if lonv.size and (lonv.min() < 0 or lonv.max() >= 360):
        ds = ds.assign_coords(lon=lonv % 360.0)
    if lonv.size > 1 and not np.all(np.diff(ds["lon"].values) > 0):
        ds = ds.sortby("lon")
    return ds
