"""`earthzoo data list/make` and `earthzoo evaluate` end to end, and the
framework adapters over the same windows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from earthzoo.cli import main
from earthzoo.data import Windows, climatology, read_dataset, write_dataset


@pytest.fixture
def made(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EARTHZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "atm.nc"
    assert main(["data", "make", "synthetic-atmosphere", "--out", str(out), "-o", "steps=24", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["time"] == 24 and summary["lat"] == 33 and summary["channels"] == ["z", "u", "v", "vort", "div"]
    return out


def test_data_list_json(capsys):
    assert main(["data", "list", "--json"]) == 0
    names = {c["name"] for c in json.loads(capsys.readouterr().out)}
    assert {"synthetic-atmosphere", "synthetic-ocean", "era5-wb2", "era5-fourcastnet", "hycom"} <= names


def test_evaluate_json(made, tmp_path, capsys):
    truth = read_dataset(made)
    f = truth["fields"].values.astype(np.float32)
    leads = [1, 2, 4]
    n = 10
    fc = xr.Dataset(
        {
            "fields": (
                ("init_time", "lead_time", "channel", "lat", "lon"),
                np.stack([np.stack([f[i + k] * 0.5 + f[i] * 0.5 for k in leads]) for i in range(n)]),
            )
        },
        coords={
            "init_time": truth["time"].values[:n],
            "lead_time": np.array(leads) * np.timedelta64(6, "h"),
            "channel": truth["channel"].values,
            "lat": truth["lat"].values,
            "lon": truth["lon"].values,
        },
    )
    fpath = tmp_path / "fc.nc"
    write_dataset(fc, fpath)
    cpath = tmp_path / "clim.nc"
    write_dataset(climatology(truth), cpath)
    assert main(["evaluate", str(fpath), str(made), "--climatology", str(cpath), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["lead_time_hours"] == [6.0, 12.0, 24.0]
    m = res["metrics"]
    assert set(m) == {"forecast", "persistence", "climatology"}
    for ch in ("z", "u", "v", "vort"):
        # half-way between persistence and truth: half the persistence error
        np.testing.assert_allclose(m["forecast"][ch]["rmse"], 0.5 * np.array(m["persistence"][ch]["rmse"]), rtol=1e-5)
        assert len(m["forecast"][ch]["acc"]) == 3 and m["climatology"][ch]["acc"] == [None] * 3
    assert main(["evaluate", str(fpath), str(made)]) == 0  # the table form
    assert "persist rmse" in capsys.readouterr().out
    assert main(["evaluate", str(fpath), "no-such-thing"]) == 2
    assert "neither a file nor a data source" in capsys.readouterr().err


def test_make_rejects_bad_options(made, tmp_path, capsys):
    assert main(["data", "make", "synthetic-atmosphere", "--out", str(tmp_path / "x.nc"), "-o", "steps"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["data", "make", "synthetic-atmosphere", "--out", str(tmp_path / "x.nc"), "--size", "huge"]) == 2
    assert "unknown size 'huge'" in capsys.readouterr().err


def test_torch_and_mindspore_adapters_yield_the_same_pairs(made):
    ds = read_dataset(made)
    w = Windows(ds, history=2, lead=2, split="train")
    from earthzoo.frameworks.torch_data import WindowDataset, dataloader

    tds = WindowDataset(w)
    assert len(tds) == len(w)
    x, y = tds[3]
    np.testing.assert_array_equal(x.numpy(), w[3][0])
    xb, yb = next(iter(dataloader(w, batch_size=4)))
    assert tuple(xb.shape) == (4, 10, 33, 64) and tuple(yb.shape) == (4, 2, 5, 33, 64)
    from earthzoo.frameworks.mindspore_data import generator_dataset

    mds = generator_dataset(w, batch_size=4)
    first = next(mds.create_tuple_iterator(output_numpy=True))
    np.testing.assert_array_equal(first[0], xb.numpy())
    np.testing.assert_array_equal(first[1], yb.numpy())


def test_evaluate_takes_the_truth_as_name_size_like_train(tmp_path, monkeypatch, capsys):
    from earthzoo.training.data import open_source

    monkeypatch.setenv("EARTHZOO_CACHE", str(tmp_path / "cache"))
    truth = open_source("synthetic-ocean:tiny")
    fc = truth["fields"].isel(time=[0, 1]).rename(time="init_time").expand_dims(lead_time=[np.timedelta64(24, "h")], axis=1).to_dataset(name="fields")
    write_dataset(fc, tmp_path / "persist.nc")  # persistence as a forecast: it must score exactly as the persistence baseline
    assert main(["evaluate", str(tmp_path / "persist.nc"), "synthetic-ocean:tiny", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    assert m["forecast"]["ssh"]["rmse"] == pytest.approx(m["persistence"]["ssh"]["rmse"]) and m["forecast"]["ssh"]["rmse"][0] > 0
