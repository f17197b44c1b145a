"""Readers of the real formats, on small files the tests write, and the checks
on bad input (NaNs, missing variable, non-monotonic coordinate, grid mismatch)."""

from __future__ import annotations

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr
from earthzoo.data import check_dataset, make_dataset, open_source, read_dataset, regular_lat, regular_lon, write_dataset
from earthzoo.errors import EarthzooError

TIMES = np.datetime64("2018-01-01T00", "ns") + np.arange(3) * np.timedelta64(6, "h")


def _wb2_store(path, ascending: bool, lon180: bool = False):
    rng = np.random.default_rng(0)
    lat = np.linspace(-90, 90, 7) if ascending else np.linspace(90, -90, 7)
    lon = np.arange(12) * 30.0
    if lon180:
        lon = np.where(lon >= 180, lon - 360, lon)
    z = rng.normal(size=(3, 2, 7, 12)).astype(np.float32) * 100 + 50000
    t2m = rng.normal(size=(3, 7, 12)).astype(np.float32) + 280
    ds = xr.Dataset(
        {"geopotential": (("time", "level", "latitude", "longitude"), z), "2m_temperature": (("time", "latitude", "longitude"), t2m)},
        coords={"time": TIMES, "level": [500, 850], "latitude": lat, "longitude": lon},
    )
    ds.to_zarr(path, mode="w")
    return ds


def test_era5_wb2_zarr_either_latitude_order(tmp_path):
    for ascending, lon180 in ((True, False), (False, True)):
        store = tmp_path / f"era5_{ascending}.zarr"
        raw = _wb2_store(store, ascending, lon180)
        ds = open_source("era5-wb2", str(store))
        check_dataset(ds, channels=["z500", "z850", "t2m"])
        assert [str(c) for c in ds["channel"].values] == ["z500", "z850", "t2m"]
        assert ds["lat"].values[0] == 90 and ds["lon"].values.min() == 0
        # the same numbers at the same (lat, lon)
        expect = (
            raw["geopotential"]
            .sel(level=850)
            .assign_coords(longitude=raw["longitude"] % 360)
            .sortby("latitude", ascending=False)
            .sortby("longitude")
        )
        np.testing.assert_array_equal(ds["fields"].sel(channel="z850").values, expect.values)
        np.testing.assert_array_equal(
            ds["fields"].sel(channel="t2m").values[1],
            raw["2m_temperature"]
            .sortby("latitude", ascending=False)
            .assign_coords(longitude=raw["longitude"] % 360)
            .sortby("longitude")
            .values[1],
        )
        sub = open_source("era5-wb2", str(store), variables=["t2m", "z500"])
        assert [str(c) for c in sub["channel"].values] == ["t2m", "z500"]
    with pytest.raises(EarthzooError, match=r"missing variable\(s\) \['u500'\]"):
        open_source("era5-wb2", str(store), variables=["u500"])


def test_fourcastnet_hdf5(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(4, 20, 9, 16)).astype(np.float32)
    path = tmp_path / "2018.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("fields", data=data)
    ds = open_source("era5-fourcastnet", str(path))
    assert ds["fields"].variable._in_memory is False  # lazy: nothing read yet
    check_dataset(ds, grid=(9, 16))
    assert str(ds["channel"].values[0]) == "u10" and str(ds["channel"].values[14]) == "z500"
    assert ds["time"].values[0] == np.datetime64("2018-01-01T00") and ds["time"].values[3] == np.datetime64("2018-01-01T18")
    np.testing.assert_array_equal(ds["fields"].values, data)
    np.testing.assert_array_equal(ds["fields"][2, 5:7, ::2].values, data[2, 5:7, ::2])
    assert ds["lat"].values[0] == 90 and ds["lat"].values[-1] == -90
    with pytest.raises(EarthzooError, match="3 channel names given for 20"):
        open_source("era5-fourcastnet", str(path), channels=["a", "b", "c"])


def test_hycom_packed_netcdf(tmp_path):
    """Written with netCDF4 directly (int16, scale/offset/fill), so the reader's
    unpacking is checked against an independent write."""
    rng = np.random.default_rng(2)
    nt, nd, nlat, nlon = 2, 3, 6, 10
    lat = np.linspace(-20, 30, nlat)  # HYCOM: ascending
    lon = np.linspace(-100, 80, nlon)
    depth = np.array([0.0, 10.0, 50.0])
    land = np.zeros((nlat, nlon), bool)
    land[:2, :3] = True
    true = {
        "water_temp": 15 + 5 * rng.random((nt, nd, nlat, nlon)),
        "salinity": 34 + rng.random((nt, nd, nlat, nlon)),
        "water_u": rng.normal(scale=0.3, size=(nt, nd, nlat, nlon)),
        "water_v": rng.normal(scale=0.3, size=(nt, nd, nlat, nlon)),
        "surf_el": rng.normal(scale=0.2, size=(nt, nlat, nlon)),
    }
    path = tmp_path / "hycom.nc"
    with netCDF4.Dataset(path, "w") as nc:
        for name, n in (("time", nt), ("depth", nd), ("lat", nlat), ("lon", nlon)):
            nc.createDimension(name, n)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2000-01-01 00:00:00"
        t[:] = [0, 24]
        nc.createVariable("depth", "f8", ("depth",))[:] = depth
        nc.createVariable("lat", "f8", ("lat",))[:] = lat
        nc.createVariable("lon", "f8", ("lon",))[:] = lon
        for name, values in true.items():
            dims = ("time", "depth", "lat", "lon") if values.ndim == 4 else ("time", "lat", "lon")
            v = nc.createVariable(name, "i2", dims, fill_value=np.int16(-30000))
            v.scale_factor, v.add_offset = 0.001, 20.0 if name in ("water_temp", "salinity") else 0.0
            v.set_auto_maskandscale(True)
            v[:] = np.ma.masked_array(values, np.broadcast_to(land, values.shape))
    ds = open_source("hycom", str(path), depths=[0, 10])
    check_dataset(ds)
    names = [str(c) for c in ds["channel"].values]
    assert names == ["t_0m", "t_10m", "s_0m", "s_10m", "u_0m", "u_10m", "v_0m", "v_10m", "ssh"]
    mask = ds["ocean_mask"].values
    flip = (slice(None), slice(None, None, -1))
    order = np.argsort(lon % 360)
    np.testing.assert_array_equal(mask, ~land[::-1][:, order])  # north->south, lon in [0, 360) ascending
    assert mask.sum() == mask.size - 6
    got = ds["fields"].values
    np.testing.assert_allclose(got[:, 1][:, mask], true["water_temp"][:, 1][flip][:, :, order][:, mask], atol=6e-4)
    np.testing.assert_allclose(got[:, 8][:, mask], true["surf_el"][flip][:, :, order][:, mask], atol=6e-4)
    assert np.all(got[:, :, ~mask] == 0)  # land fill -> 0, masked out
    assert ds["time"].values[1] == np.datetime64("2000-01-02T00")
    with pytest.raises(EarthzooError, match="no depth level"):
        open_source("hycom", str(path), depths=[7])


def _small():
    rng = np.random.default_rng(0)
    return make_dataset(
        rng.normal(size=(4, 3, 5, 8)),
        TIMES[:1].repeat(4) + np.arange(4) * np.timedelta64(6, "h"),
        ["z500", "t2m", "u10"],
        regular_lat(5),
        regular_lon(8),
    )


def test_bad_input_errors_name_the_problem():
    ds = _small()
    bad = ds.copy(deep=True)
    bad["fields"][1, 1, 2, 3] = np.nan
    with pytest.raises(EarthzooError, match=r"NaNs in input fields: channel 't2m' \(1 NaN values\)"):
        check_dataset(bad)
    with pytest.raises(EarthzooError, match=r"missing variable\(s\) \['q700'\]"):
        check_dataset(ds, channels=["z500", "q700"])
    with pytest.raises(EarthzooError, match="coordinate 'lat' is not strictly descending"):
        check_dataset(ds.isel(lat=[0, 2, 1, 3, 4]))
    with pytest.raises(EarthzooError, match="coordinate 'lon' is not strictly ascending"):
        check_dataset(ds.isel(lon=[1, 0, 2, 3, 4, 5, 6, 7]))
    with pytest.raises(EarthzooError, match="coordinate 'time' is not strictly increasing"):
        check_dataset(ds.isel(time=[0, 2, 1, 3]))
    with pytest.raises(EarthzooError, match="grid 5x8 .* does not match the model's 4x8"):
        check_dataset(ds, grid=(4, 8))
    with pytest.raises(EarthzooError, match="no variable 'fields'"):
        check_dataset(ds.rename(fields="x"))
    with pytest.raises(EarthzooError, match="does not exist"):
        open_source("hycom", "nope.nc")
    with pytest.raises(EarthzooError, match="needs a path"):
        open_source("era5-wb2")
    with pytest.raises(EarthzooError, match="unknown data source 'nope'"):
        open_source("nope")


def test_write_read_round_trip_netcdf_and_zarr(tmp_path):
    ds = _small()
    ds["ocean_mask"] = (("lat", "lon"), np.arange(40).reshape(5, 8) % 3 > 0)
    ds.attrs["forcing"] = ["u10"]
    for name in ("a.nc", "a.zarr"):
        write_dataset(ds, tmp_path / name)
        back = read_dataset(tmp_path / name)
        np.testing.assert_array_equal(back["fields"].values, ds["fields"].values)
        np.testing.assert_array_equal(back["ocean_mask"].values, ds["ocean_mask"].values)
        assert back["ocean_mask"].dtype == bool and back.attrs["forcing"] == ["u10"] and back.attrs["prognostic"] == ["z500", "t2m", "u10"]
        assert [str(c) for c in back["channel"].values] == ["z500", "t2m", "u10"]
        assert str(back["channel_units"].values[1]) == "K"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc", "a.zarr"]  # no temporaries left
