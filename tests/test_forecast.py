"""Forecast rollouts: the same weights give the same denormalised forecast in
torch and MindSpore, written as CF NetCDF/Zarr with init_time/lead_time coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from training_helpers import wave_dataset

from earthzoo.errors import EarthzooError
from earthzoo.training import forecast


def _weights(path, data_path):
    from earthzoo.api import build_model, model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo.training.data import fields_for_model, normalisation, open_source
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    tfw.seed_everything(0)
    m = build_model("fourcastnet", "torch", "tiny")
    f, _ = fields_for_model(open_source(str(data_path)), 5, (32, 64))
    save_canonical(path, Weights(tfw.state_to_numpy(m), "fourcastnet", config_to_dict(model_card("fourcastnet").make_config("tiny")), extras=normalisation(f)))
    return str(path)


def test_forecast_torch_equals_mindspore_and_has_cf_coords(tmp_path):
    data = wave_dataset(tmp_path / "w.nc", times=12)
    w = _weights(tmp_path / "w.safetensors", data)
    out = {}
    for fw, suffix in (("torch", ".nc"), ("mindspore", ".zarr")):
        s = forecast("fourcastnet", weights=w, framework=fw, init=str(data), steps=3, out=str(tmp_path / f"f_{fw}{suffix}"), init_indices=[0, 4], show_progress=False)
        out[fw] = xr.open_dataset(s["out"], engine="zarr" if suffix == ".zarr" else None)
    a, b = out["torch"], out["mindspore"]
    assert a["fields"].dims == ("init_time", "lead_time", "channel", "lat", "lon") and a["fields"].shape == (2, 3, 5, 32, 64)
    assert list(a["lead_time"].values.astype("timedelta64[h]").astype(int)) == [6, 12, 18]
    assert a["init_time"].values[1] - a["init_time"].values[0] == np.timedelta64(24, "h")
    assert a["lat"].attrs["units"] == "degrees_north" and a.attrs["Conventions"].startswith("CF")
    np.testing.assert_allclose(b["fields"].values, a["fields"].values, rtol=1e-4, atol=1e-3)
    # denormalised: the forecast lives in the data's units, channel c near its mean 10*c
    means = a["fields"].mean(("init_time", "lead_time", "lat", "lon")).values
    assert np.all(np.abs(means - 10 * np.arange(5)) < 5)


def test_forecast_bad_input(tmp_path):
    data = wave_dataset(tmp_path / "w.nc", times=6)
    w = _weights(tmp_path / "w.safetensors", data)
    with pytest.raises(EarthzooError, match="neither .nc nor .zarr"):
        forecast("fourcastnet", weights=w, init=str(data), steps=2, out=str(tmp_path / "f.txt"), show_progress=False)
    with pytest.raises(EarthzooError, match=r"initial time index 9 of .* \(6 times\)"):
        forecast("fourcastnet", weights=w, init=str(data), steps=2, out=str(tmp_path / "f.nc"), init_indices=[9], show_progress=False)
    with pytest.raises(EarthzooError, match="does not exist"):
        forecast("fourcastnet", weights=w, init=str(data), steps=2, out=str(tmp_path / "nope" / "f.nc"), show_progress=False)


def test_evaluate_scores_the_models_own_forecast_on_the_rows_it_keeps(tmp_path, capsys):
    """FourCastNet drops the south-pole row (33 -> 32): the truth is taken on the forecast's grid."""
    import json

    from earthzoo.cli import main

    data = wave_dataset(tmp_path / "w.nc", times=12)
    w = _weights(tmp_path / "w.safetensors", data)
    forecast("fourcastnet", weights=w, init=str(data), steps=2, out=str(tmp_path / "fc.nc"), show_progress=False)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "fc.nc"), str(data), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["lead_time_hours"] == [6.0, 12.0] and all(len(v["rmse"]) == 2 for v in res["metrics"]["forecast"].values())
    off = xr.open_dataset(data).assign_coords(lat=lambda d: d["lat"] * 0.99)  # a truth on another grid is still refused
    off.to_netcdf(tmp_path / "off.nc")
    assert main(["evaluate", str(tmp_path / "fc.nc"), str(tmp_path / "off.nc")]) == 2
    assert "grid mismatch on 'lat': the forecast's lat 90 is not on the truth's grid" in capsys.readouterr().err
