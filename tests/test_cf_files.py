"""CF-true files: forecasts and data are written one variable per field with units,
standard_name and long_name, coordinate variables without _FillValue, times in CF-1.8
types; the IOOS compliance checker (compliance-checker, CF 1.8) finds 0 errors in
them. The stacked form written by earlier versions is still read."""

from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest
import xarray as xr
from earthzoo.data import make_dataset, read_dataset, regular_lat, regular_lon, write_dataset
from earthzoo.data.lexicon import canonical, e2s_name, lookup
from earthzoo.training import forecast
from test_forecast import _weights
from training_helpers import wave_dataset


def _ocean(path):
    names = ["t_10m", "s_10m", "u_10m", "ssh", "u10", "msl", "z500"]
    rng = np.random.default_rng(0)
    mask = rng.random((8, 16)) > 0.3
    ds = make_dataset(rng.standard_normal((3, len(names), 8, 16)).astype(np.float32), np.datetime64("2021-03-01") + np.arange(3) * np.timedelta64(1, "D"), names, regular_lat(8, poles=False), regular_lon(16),
                      depth=[10, 10, 10, np.nan, np.nan, np.nan, np.nan], ocean_mask=mask, prognostic=names[:4], forcing=names[4:6], static=names[6:])
    write_dataset(ds, path)
    return ds


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cf")
    data = wave_dataset(tmp / "w.nc", times=8)
    w = _weights(tmp / "w.safetensors", data)
    forecast("fourcastnet", weights=w, init=str(data), steps=3, out=str(tmp / "fc.nc"), init_indices=[0, 2], show_progress=False)
    return {"forecast": tmp / "fc.nc", "ocean": tmp / "ocean.nc", "ocean_ds": _ocean(tmp / "ocean.nc"), "data": data, "tmp": tmp}


def test_one_variable_per_field_with_cf_attributes_and_no_fill_on_coordinates(files):
    with netCDF4.Dataset(files["forecast"]) as nc:
        assert nc.Conventions == "CF-1.8" and "fields" not in nc.variables
        for name in ("z", "u", "v", "vort", "div"):
            var = nc[name]
            assert var.dimensions == ("init_time", "lead_time", "lat", "lon")
            assert {"units", "standard_name", "long_name"} <= set(var.ncattrs()), name
        assert nc["u"].standard_name == "eastward_wind" and nc["z"].units == "m2 s-2"
        for coord in ("init_time", "lead_time", "valid_time", "lat", "lon"):
            assert "_FillValue" not in nc[coord].ncattrs(), coord
            assert nc[coord].dtype != np.int64, coord  # CF-1.8 has no 64-bit integers
    with netCDF4.Dataset(files["ocean"]) as nc:
        assert nc["s_10m"].standard_name == "sea_water_salinity" and nc["s_10m"].units == "1e-3" and nc["s_10m"].depth == 10.0
        assert nc["ssh"].standard_name == "sea_surface_height_above_geoid" and "_FillValue" not in nc["time"].ncattrs()


def test_files_read_back_stacked_and_old_stacked_files_still_read(files):
    ocean = read_dataset(files["ocean"], load=True)
    want = files["ocean_ds"]
    assert list(ocean["channel"].values) == list(want["channel"].values)
    np.testing.assert_array_equal(ocean["fields"].values, want["fields"].values)
    np.testing.assert_array_equal(ocean["ocean_mask"].values, want["ocean_mask"].values)
    np.testing.assert_array_equal(ocean["depth"].values, want["depth"].values)
    assert ocean.attrs["prognostic"] == ["t_10m", "s_10m", "u_10m", "ssh"] and ocean.attrs["static"] == ["z500"]
    old = files["tmp"] / "old.nc"  # the stacked form as earlier versions wrote it
    xr.open_dataset(files["data"]).to_netcdf(old)
    assert read_dataset(old, load=True)["fields"].dims == ("time", "channel", "lat", "lon")


def test_lexicon_spellings():
    assert canonical("10m_u_component_of_wind") == canonical("10u") == canonical("u10m") == "u10"
    assert canonical("2t") == canonical("2m_temperature") == "t2m" and canonical("z_500") == canonical("geopotential_500") == "z500"
    assert canonical("u_component_of_wind_500") == "u500" and canonical("vo") == "vort" and canonical("tp06") == "tp"
    assert e2s_name("u10") == "u10m" and e2s_name("u100") == "u100m" and e2s_name("z500") == "z500" and e2s_name("tp") == "tp06"
    v = lookup("t850")
    assert (v.units, v.standard_name, v.level, v.wb2) == ("K", "air_temperature", 850.0, "temperature_850")
    assert lookup("water_temp_10m").name == "t_10m" and lookup("nonsense").units == "1"


@pytest.mark.parametrize("which", ["forecast", "ocean"])
def test_cf_checker_finds_no_errors(files, which, tmp_path):
    runner = pytest.importorskip("compliance_checker.runner", reason="compliance-checker is not installed (.ci/e2s.sh installs it in its own environment)")
    runner.CheckSuite.load_all_available_checkers()
    report = tmp_path / "cc.json"
    runner.ComplianceChecker.run_checker(str(files[which]), ["cf:1.8"], 0, "normal", output_filename=str(report), output_format="json")
    result = json.loads(report.read_text())["cf:1.8"]
    errors = [m for p in result["high_priorities"] for m in p["msgs"]]
    print(f"compliance-checker cf:1.8 on the {which} file: {result['high_count']} errors, {result['medium_count']} warnings, {result['scored_points']}/{result['possible_points']} points")
    assert result["high_count"] == 0 and not errors, errors
