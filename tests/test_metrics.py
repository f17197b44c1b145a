"""Metrics: analytic cases, property tests, and agreement with an independent
computation (xarray's weighted mean with closed-form cell areas)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from earthzoo.data import make_dataset, regular_lat, regular_lon
from earthzoo.errors import EarthzooError
from earthzoo.metrics import cell_area_weights, evaluate, lat_weights, spatial_weights
from hypothesis import given, settings
from hypothesis import strategies as st

H6 = np.timedelta64(6, "h")


def _truth(nt=12, nc=2, nlat=9, nlon=16, poles=True, seed=0):
    rng = np.random.default_rng(seed)
    times = np.datetime64("2001-01-01T00", "ns") + np.arange(nt) * H6
    data = rng.normal(size=(nt, nc, nlat, nlon)).cumsum(axis=0).astype(np.float32)
    return make_dataset(data, times, [f"c{i}" for i in range(nc)], regular_lat(nlat, poles), regular_lon(nlon))


def _forecast_from(truth, leads=(1, 2, 3), inits=(0, 1, 2, 3), fn=lambda x: x):
    f = truth["fields"].values.astype(np.float64)
    arr = np.stack([np.stack([fn(f[i + k]) for k in leads]) for i in inits])
    return xr.DataArray(
        arr,
        dims=("init_time", "lead_time", "channel", "lat", "lon"),
        coords={
            "init_time": truth["time"].values[list(inits)],
            "lead_time": np.array(leads) * H6,
            "channel": truth["channel"].values,
            "lat": truth["lat"].values,
            "lon": truth["lon"].values,
        },
    )


def test_weights_sum_on_grids_with_and_without_poles():
    for lat in (regular_lat(33, poles=True), regular_lat(32, poles=False), regular_lat(721, poles=True)):
        area = cell_area_weights(lat)
        assert area.sum() == pytest.approx(2.0, abs=1e-12)  # the whole sphere, per unit longitude fraction
        assert lat_weights(lat).mean() == pytest.approx(1.0, abs=1e-12)
        assert np.allclose(area, area[::-1])  # symmetric about the equator
    d = np.deg2rad(180.0 / 32)
    w = cell_area_weights(regular_lat(33, poles=True))
    assert w[0] == pytest.approx(1 - np.cos(d / 2))  # pole cap: from 90 - d/2 to 90
    assert w[16] == pytest.approx(2 * np.sin(d / 2))  # equator row: cos(0) * 2 sin(d/2)


def test_weights_follow_the_coordinate_order():
    lat = regular_lat(17, poles=True)
    assert np.allclose(lat_weights(lat[::-1]), lat_weights(lat)[::-1])
    shuffled = lat[[3, 0, 16, 8, 1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]]
    assert np.allclose(lat_weights(shuffled), lat_weights(lat)[[3, 0, 16, 8, 1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]])


def test_perfect_forecast_has_rmse_0_and_acc_1():
    truth = _truth()
    res = evaluate(_forecast_from(truth), truth)
    for ch in ("c0", "c1"):
        m = res["metrics"]["forecast"][ch]
        assert np.allclose(m["rmse"], 0, atol=1e-12)
        assert np.allclose(m["acc"], 1, atol=1e-12)
        assert np.allclose(m["bias"], 0, atol=1e-12)
    assert res["lead_time_hours"] == [6.0, 12.0, 18.0]


def test_constant_offset_gives_rmse_equal_to_offset():
    truth = _truth()
    res = evaluate(_forecast_from(truth, fn=lambda x: x - 2.5), truth)
    m = res["metrics"]["forecast"]["c1"]
    assert np.allclose(m["rmse"], 2.5, atol=1e-9)
    assert np.allclose(m["bias"], -2.5, atol=1e-9)


def test_baselines_persistence_and_climatology():
    truth = _truth()
    res = evaluate(_forecast_from(truth), truth)
    f = truth["fields"].values.astype(np.float64)
    w = lat_weights(truth["lat"].values)[:, None] * np.ones(16)
    # persistence at lead 2, channel 0, by hand
    mse = [np.sum(w * (f[i + 2, 0] - f[i, 0]) ** 2) / w.sum() for i in range(4)]
    assert res["metrics"]["persistence"]["c0"]["rmse"][1] == pytest.approx(np.sqrt(np.mean(mse)), rel=1e-9)
    assert all(a is None for a in res["metrics"]["climatology"]["c0"]["acc"])  # zero anomaly: undefined
    clim = f.mean(axis=0)
    mse_c = [np.sum(w * (f[i + 1, 0] - clim[0]) ** 2) / w.sum() for i in range(4)]
    assert res["metrics"]["climatology"]["c0"]["rmse"][0] == pytest.approx(np.sqrt(np.mean(mse_c)), rel=1e-9)


def test_agrees_with_xarray_weighted_mean():
    """An independent route: closed-form areas (cos(lat) * 2 sin(d/2), polar caps
    1 - cos(d/2)) and xarray's .weighted(); the same RMSE, ACC and bias to 1e-6."""
    truth = _truth(nt=14, nlat=17, nlon=32, seed=3)
    rng = np.random.default_rng(4)
    fc = _forecast_from(truth, fn=lambda x: x + rng.normal(scale=0.7, size=x.shape))
    res = evaluate(fc, truth)
    lat = truth["lat"].values
    d = np.deg2rad(180.0 / 16)
    area = np.where(np.abs(lat) == 90, 1 - np.cos(d / 2), np.cos(np.deg2rad(lat)) * 2 * np.sin(d / 2))
    wts = xr.DataArray(area, dims="lat", coords={"lat": lat})
    t = truth["fields"].astype(np.float64)
    clim = t.mean("time")
    for li, lead in enumerate(fc["lead_time"].values):
        valid = fc["init_time"].values + lead
        tv = t.sel(time=valid).rename(time="init_time").assign_coords(init_time=fc["init_time"].values)
        fv = fc.sel(lead_time=lead)
        rmse = np.sqrt(((fv - tv) ** 2).weighted(wts).mean(("lat", "lon")).mean("init_time"))
        bias = (fv - tv).weighted(wts).mean(("lat", "lon")).mean("init_time")
        fa, ta = fv - clim, tv - clim
        acc = (
            (fa * ta).weighted(wts).mean(("lat", "lon"))
            / np.sqrt((fa**2).weighted(wts).mean(("lat", "lon")) * (ta**2).weighted(wts).mean(("lat", "lon")))
        ).mean("init_time")
        for ch in ("c0", "c1"):
            m = res["metrics"]["forecast"][ch]
            assert m["rmse"][li] == pytest.approx(float(rmse.sel(channel=ch)), abs=1e-6)
            assert m["bias"][li] == pytest.approx(float(bias.sel(channel=ch)), abs=1e-6)
            assert m["acc"][li] == pytest.approx(float(acc.sel(channel=ch)), abs=1e-6)


def test_mask_scores_ocean_points_only():
    truth = _truth(nlat=8, nlon=16, poles=False)
    mask = np.ones((8, 16), bool)
    mask[:, :5] = False
    truth["ocean_mask"] = (("lat", "lon"), mask)

    def land_garbage(x):
        y = x.copy()
        y[..., :5] += 1000.0
        return y

    res = evaluate(_forecast_from(truth, fn=land_garbage), truth)
    assert res["masked"] is True
    assert np.allclose(res["metrics"]["forecast"]["c0"]["rmse"], 0, atol=1e-9)
    res_all = evaluate(_forecast_from(truth, fn=land_garbage), truth, mask=np.ones((8, 16), bool))
    assert min(res_all["metrics"]["forecast"]["c0"]["rmse"]) > 100


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0), flip=st.booleans(), roll=st.integers(0, 15))
def test_properties(seed, scale, flip, roll):
    truth = _truth(nt=8, nlat=9, nlon=16, seed=seed)
    rng = np.random.default_rng(seed + 1)
    noise = rng.normal(size=(4, 3, 2, 9, 16))
    fc = _forecast_from(truth, inits=(0, 1, 2, 3), leads=(1, 2, 3)) + noise
    base = evaluate(fc, truth)["metrics"]["forecast"]
    for ch in ("c0", "c1"):
        m = base[ch]
        assert all(r >= abs(b) - 1e-12 for r, b in zip(m["rmse"], m["bias"]))  # rmse bounds |bias|
        assert all(-1 - 1e-12 <= a <= 1 + 1e-12 for a in m["acc"])
    # scaling forecast and truth by a constant scales rmse and keeps acc
    t2 = truth.copy()
    t2["fields"] = truth["fields"] * scale
    scaled = evaluate(fc * scale, t2)["metrics"]["forecast"]
    assert np.allclose(scaled["c0"]["rmse"], np.array(base["c0"]["rmse"]) * scale, rtol=1e-5)
    assert np.allclose(scaled["c0"]["acc"], base["c0"]["acc"], atol=1e-5)
    # reordering latitude (and rolling longitude) of both changes nothing
    t3 = truth.isel(lat=slice(None, None, -1) if flip else slice(None)).roll(lon=roll, roll_coords=True)
    f3 = fc.isel(lat=slice(None, None, -1) if flip else slice(None)).roll(lon=roll, roll_coords=True)
    moved = evaluate(f3, t3)["metrics"]["forecast"]
    assert np.allclose(moved["c1"]["rmse"], base["c1"]["rmse"], rtol=1e-9)
    assert np.allclose(moved["c1"]["acc"], base["c1"]["acc"], rtol=1e-9)


def test_bad_inputs_are_named():
    truth = _truth()
    fc = _forecast_from(truth)
    with pytest.raises(EarthzooError, match="missing variable.*c9"):
        evaluate(fc.assign_coords(channel=["c0", "c9"]), truth)
    with pytest.raises(EarthzooError, match="grid mismatch on 'lat'"):
        evaluate(fc, truth.isel(lat=slice(0, -1)))
    with pytest.raises(EarthzooError, match="truth has no time"):
        evaluate(_forecast_from(truth, leads=(1, 2, 3), inits=(8,)).assign_coords(lead_time=np.array([1, 2, 9]) * H6), truth)
    with pytest.raises(EarthzooError, match="mask selects no grid points"):
        spatial_weights(truth["lat"].values, truth["lon"].values, np.zeros((9, 16), bool))


def test_dayofyear_climatology_feeds_acc():
    from earthzoo.data import climatology, climatology_at

    times = np.datetime64("2001-01-01", "ns") + np.arange(730) * np.timedelta64(1, "D")
    doy = np.arange(730) % 365
    rng = np.random.default_rng(5)
    season = np.sin(2 * np.pi * doy / 365)[:, None, None, None] * np.ones((1, 1, 5, 8))
    data = (10 * season + rng.normal(size=(730, 1, 5, 8))).astype(np.float32)
    truth = make_dataset(data, times, ["c0"], regular_lat(5), regular_lon(8))
    clim = climatology(truth, by="dayofyear", window_days=0)
    at = climatology_at(clim, times[[40, 405]])
    np.testing.assert_allclose(at.values[0], 0.5 * (data[40] + data[405]), rtol=1e-5)  # same day of both years
    np.testing.assert_allclose(at.values[1], at.values[0])
    smooth = climatology(truth, by="dayofyear", window_days=10)
    fc = _forecast_from(truth, leads=(1,), inits=tuple(range(0, 700, 7))).assign_coords(lead_time=[np.timedelta64(1, "D")])
    fc = fc + rng.normal(size=fc.shape)
    res = evaluate(fc, truth, smooth)
    # the seasonal cycle is removed: ACC reflects the noise only, well below the raw correlation
    raw = evaluate(fc, truth, smooth.assign(fields=smooth["fields"] * 0))
    assert 0.4 < res["metrics"]["forecast"]["c0"]["acc"][0] < 0.9 < raw["metrics"]["forecast"]["c0"]["acc"][0]
    assert res["metrics"]["climatology"]["c0"]["rmse"][0] == pytest.approx(1.0, abs=0.15)  # noise std


def test_nan_where_scored_is_an_error_unless_skipna():
    truth = _truth()
    fc = _forecast_from(truth)
    bad = truth.copy(deep=True)
    bad["fields"][:, 1] = np.nan  # an all-NaN truth channel used to score a perfect RMSE of 0
    with pytest.raises(EarthzooError, match=r"truth has NaN or inf values at scored points: channel 'c1'") as e:
        evaluate(fc, bad)
    assert "\n" not in str(e.value)
    with pytest.raises(EarthzooError, match=r"forecast has NaN or inf.*'c0'"):
        evaluate(fc.where(fc.lon != fc.lon[3], np.inf), truth)
    res = evaluate(fc, bad, skipna=True)
    assert res["skipped_points"] > 0 and res["metrics"]["forecast"]["c1"]["rmse"] == [None, None, None]
    assert res["metrics"]["forecast"]["c0"]["rmse"] == pytest.approx([0, 0, 0], abs=1e-9)
    # a few NaN points: skipped from the forecast and both baselines, and counted
    holes = fc.copy()
    holes[0, 0, 0, 2, 3] = np.nan
    res = evaluate(holes, truth, skipna=True)
    assert res["skipped_points"] == 1 and res["scored_points"] == fc.size - 1
    assert res["metrics"]["forecast"]["c0"]["rmse"] == pytest.approx([0, 0, 0], abs=1e-9)
    full = evaluate(fc, truth)["metrics"]["persistence"]["c1"]["rmse"]
    assert res["metrics"]["persistence"]["c1"]["rmse"] == pytest.approx(full)  # c1 had no hole


def test_nan_off_the_mask_is_not_scored():
    truth = _truth(nlat=8, nlon=16, poles=False)
    mask = np.ones((8, 16), bool)
    mask[:, :5] = False
    truth["ocean_mask"] = (("lat", "lon"), mask)
    fc = _forecast_from(truth)
    fc[..., :5] = np.nan  # land, as earthzoo forecast writes it
    res = evaluate(fc, truth)
    assert res["skipped_points"] == 0 and np.allclose(res["metrics"]["forecast"]["c0"]["rmse"], 0, atol=1e-9)


def test_truth_coordinates_in_any_order_or_refused():
    truth = _truth()
    fc = _forecast_from(truth) + 0.1 * np.random.default_rng(1).normal(size=(4, 3, 2, 9, 16))
    base = evaluate(fc, truth)
    rng = np.random.default_rng(0)
    shuffled = truth.isel(lon=rng.permutation(16), lat=rng.permutation(9), time=rng.permutation(12))
    assert evaluate(fc, shuffled) == base
    assert evaluate(fc, truth.roll(lon=5, roll_coords=True)) == base
    moved = evaluate(fc.isel(lon=rng.permutation(16), lat=rng.permutation(9)), truth)  # the forecast keeps its order
    for k in ("rmse", "acc", "bias"):
        assert np.allclose(moved["metrics"]["forecast"]["c0"][k], base["metrics"]["forecast"]["c0"][k], rtol=1e-12)
    with pytest.raises(EarthzooError, match="truth coordinate 'lon' has repeated values"):
        evaluate(fc, truth.isel(lon=[0, 0, *range(1, 15)]))
    with pytest.raises(EarthzooError, match="forecast coordinate 'lat' has repeated values"):
        evaluate(fc.isel(lat=[0, 0, *range(1, 8)]), truth)
    with pytest.raises(EarthzooError, match="forecast values have dtype"):
        evaluate(fc.astype(str), truth)
