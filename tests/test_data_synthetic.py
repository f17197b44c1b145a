"""The embedded sources are dynamic, bounded, in the internal form, and cached."""

from __future__ import annotations

import time

import numpy as np
import pytest
from earthzoo.data import NormStats, Windows, channel_list, check_dataset, open_source, time_splits
from earthzoo.metrics import evaluate


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("cache")
    mp.setenv("EARTHZOO_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def atm(cache):
    return open_source("synthetic-atmosphere", size="tiny", steps=48)


@pytest.fixture(scope="module")
def ocn(cache):
    return open_source("synthetic-ocean", size="tiny", days=24, spinup_days=40)


def _persistence(ds, leads):
    n = ds.sizes["time"] - max(leads)
    f = ds["fields"].values.astype(np.float64)
    import xarray as xr

    fc = xr.DataArray(
        np.stack([np.stack([f[i] for _ in leads]) for i in range(n)]),
        dims=("init_time", "lead_time", "channel", "lat", "lon"),
        coords={
            "init_time": ds["time"].values[:n],
            "lead_time": ds["time"].values[list(leads)] - ds["time"].values[0],
            "channel": ds["channel"].values,
            "lat": ds["lat"].values,
            "lon": ds["lon"].values,
        },
    )
    return evaluate(fc, ds)


def test_atmosphere_form_and_grid(atm):
    check_dataset(atm, channels=["z", "u", "v", "vort", "div"], grid=(33, 64))
    assert atm["lat"].values[0] == 90.0 and atm["lat"].values[-1] == -90.0
    assert atm["fields"].dtype == np.float32
    assert np.all(np.diff(atm["time"].values) == np.timedelta64(6, "h"))


def test_atmosphere_is_dynamic_and_bounded(atm):
    res = _persistence(atm, leads=(1, 2, 3, 4, 16))
    for ch in ("z", "u", "v", "vort"):
        rmse = res["metrics"]["forecast"][ch]["rmse"]
        assert all(b > a for a, b in zip(rmse[:4], rmse[1:4])), (ch, rmse)  # persistence degrades with lead
        assert rmse[0] > 0 and rmse[4] > 2 * rmse[0], (ch, rmse)  # ... until it saturates near sqrt(2) std
    f = atm["fields"].values.astype(np.float64)
    w = np.cos(np.deg2rad(atm["lat"].values))[:, None]
    ke = (0.5 * (f[:, 1] ** 2 + f[:, 2] ** 2) * w).mean(axis=(1, 2))
    assert ke.max() / ke.min() < 1.5  # energy stays bounded (slow hyperdiffusive decay only)
    mass = (f[:, 0] * w).mean(axis=(1, 2))
    assert np.ptp(mass) / mass.mean() < 1e-3  # mass (mean geopotential) conserved
    assert 10 < np.sqrt(ke.mean() * 2) < 40  # winds of atmospheric size, m/s


def test_atmosphere_cache_hit_and_key(atm, cache):
    t = time.perf_counter()
    again = open_source("synthetic-atmosphere", size="tiny", steps=48)
    assert time.perf_counter() - t < 2.0
    np.testing.assert_array_equal(again["fields"].values, atm["fields"].values)
    files = sorted(p.name for p in cache.glob("synthetic-atmosphere-tiny-*.nc"))
    assert len(files) == 1 and not list(cache.glob(".*part*"))
    other = open_source("synthetic-atmosphere", size="tiny", steps=4, seed=1)
    assert other.sizes["time"] == 4
    assert len(list(cache.glob("synthetic-atmosphere-tiny-*.nc"))) == 2


def test_ocean_form_mask_and_layout(ocn):
    check_dataset(ocn, grid=(32, 64))
    names = [str(c) for c in ocn["channel"].values]
    depths = (0, 10, 50, 200)
    assert names == [f"{v}_{d}m" for v in "tsuv" for d in depths] + ["ssh", "u10", "v10", "t2m", "msl", "sp", "orography"]
    assert channel_list(ocn, "prognostic") == names[:17]
    assert channel_list(ocn, "forcing") == ["u10", "v10", "t2m", "msl", "sp"]
    assert channel_list(ocn, "static") == ["orography"]
    d = ocn["depth"].values
    assert np.allclose(d[:16], np.tile(depths, 4)) and np.all(np.isnan(d[16:]))
    mask = ocn["ocean_mask"].values
    assert mask.dtype == bool and 0.45 < mask.mean() < 0.75
    f = ocn["fields"].values
    assert np.all(f[:, :17][:, :, ~mask] == 0)  # ocean channels are 0 over land
    sst = f[:, 0][:, mask]
    assert -3 < sst.min() and sst.max() < 32
    warm = f[:, 0] > 6.0  # outside polar waters (which may be colder than the deep water)
    assert warm[:, mask].mean() > 0.5 and np.all(f[:, 3][warm] < f[:, 0][warm])  # 200 m colder than the surface
    oro = f[:, -1]
    assert np.all(oro[:, mask] == 0) and oro[:, ~mask].min() > 0 and np.ptp(oro, axis=0).max() == 0


def test_ocean_is_dynamic(ocn):
    res = _persistence(ocn, leads=(1, 2, 3, 9))
    for ch in ("t_0m", "s_0m", "ssh", "u_0m", "v_0m", "t_200m"):
        rmse = res["metrics"]["forecast"][ch]["rmse"]
        assert all(b > a for a, b in zip(rmse[:3], rmse[1:3])) and rmse[0] > 0, (ch, rmse)
    for ch in ("t_0m", "ssh"):  # slow fields keep drifting; surface currents follow the (periodic) weather
        rmse = res["metrics"]["forecast"][ch]["rmse"]
        assert rmse[3] > rmse[2], (ch, rmse)
    assert res["masked"] is True


def test_windows_and_stats(atm, tmp_path):
    splits = time_splits(atm["time"].values, valid=0.25, test=0.25)
    assert (splits["train"].stop, splits["valid"].stop, splits["test"].stop) == (24, 36, 48)
    stats = NormStats.from_dataset(atm, splits["train"])
    stats.save(tmp_path / "s.json")
    assert NormStats.load(tmp_path / "s.json") == stats
    f = atm["fields"].values[:24].astype(np.float64)
    assert np.allclose(stats.mean, f.mean(axis=(0, 2, 3)), rtol=1e-6, atol=1e-9)
    assert np.allclose(stats.std, f.std(axis=(0, 2, 3)), rtol=1e-4)
    assert np.allclose(stats.residual_std, np.sqrt((np.diff(f, axis=0) ** 2).mean(axis=(0, 2, 3))), rtol=1e-6)
    w = Windows(atm, history=2, lead=3, split="train", stats=stats, splits=splits)
    assert len(w) == 24 - 2 - 3 + 1
    x, y = w[0]
    assert x.shape == (10, 33, 64) and y.shape == (3, 5, 33, 64) and x.dtype == np.float32
    raw = atm["fields"].values
    np.testing.assert_allclose(
        x[5:10] * np.asarray(stats.std)[:, None, None] + np.asarray(stats.mean)[:, None, None], raw[1], rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(stats.denormalise(y[2]), raw[4], rtol=1e-5, atol=1e-3)
    xs = np.stack([w[i][0] for i in range(len(w))])
    assert abs(xs.mean()) < 0.2 and 0.8 < xs.std() < 1.2
    test = Windows(atm, history=1, lead=2, split="test", stats=stats, splits=splits)
    assert test.init_index(0) == 36 and test.init_index(len(test) - 1) + 2 == 47  # windows never cross the split
    with pytest.raises(IndexError):
        w[len(w)]


def test_ocean_windows_inputs_and_targets(ocn):
    w = Windows(ocn, history=1, lead=1, split=None)
    assert w.in_channels == [str(c) for c in ocn["channel"].values] and len(w.out_channels) == 17
    x, y = w[0]
    assert x.shape == (23, 32, 64) and y.shape == (1, 17, 32, 64)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    assert w.mask is not None and w.mask.shape == (32, 64)
