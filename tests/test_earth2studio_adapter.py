"""The earth2studio adapter's interface on its own (earth2studio's workflow itself runs
in tests/test_earth2studio.py under .ci/e2s.sh): coordinates with earth2studio names,
one step and the iterator equal earthzoo.Forecaster, in torch and in MindSpore."""

from __future__ import annotations

import earthzoo
import numpy as np
import pytest
import torch
import xarray as xr
from earthzoo.earth2studio import PrognosticModel
from earthzoo.errors import EarthzooError
from test_forecast import _weights
from training_helpers import wave_dataset

NAMES = ["z", "u", "v", "vort", "div"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2s")
    data = wave_dataset(tmp / "w.nc", times=8)
    return xr.open_dataset(data).load(), _weights(tmp / "w.safetensors", data)


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_iterator_equals_forecaster(setup, framework):
    ds, w = setup
    fc = earthzoo.Forecaster("fourcastnet", w, framework=framework)
    want = fc.forecast(ds, 1, steps=3)
    model = PrognosticModel(fc, lat=ds["lat"].values[:32], lon=ds["lon"].values).to("cpu")
    ic = model.input_coords()
    assert list(ic) == ["batch", "lead_time", "variable", "lat", "lon"] and list(ic["variable"]) == NAMES
    coords = ic.copy()
    coords.pop("batch")
    coords = {"time": ds["time"].values[1:2], **coords}
    x = torch.from_numpy(ds["fields"].values[1:2, None, :, :32])  # (time, lead_time, variable, lat, lon)
    it = model.create_iterator(x, coords)
    x0, c0 = next(it)
    assert c0["lead_time"][0] == np.timedelta64(0, "ns") and torch.equal(x0, x)
    for k in range(3):
        xk, ck = next(it)
        assert xk.shape == (1, 1, 5, 32, 64) and ck["lead_time"][0] == np.timedelta64(6 * (k + 1), "h")
        for i, c in enumerate(NAMES):
            np.testing.assert_allclose(xk[0, 0, i].numpy(), want[c].values[0, k], rtol=0, atol=1e-5)
    y, cy = model(x, coords)  # one step == the iterator's first
    np.testing.assert_allclose(y[0, 0, 0].numpy(), want["z"].values[0, 0], rtol=0, atol=1e-5)
    assert list(cy["variable"]) == NAMES and cy["lead_time"][0] == np.timedelta64(6, "h")


def test_bad_coordinates_are_one_line_errors(setup):
    ds, w = setup
    model = PrognosticModel(earthzoo.Forecaster("fourcastnet", w))
    coords = model.input_coords()
    coords["variable"] = np.array(["t2m", "u", "v", "vort", "div"])
    with pytest.raises(EarthzooError, match=r"variables \['t2m', 'u', 'v', 'vort', 'div'\] given, the model takes"):
        model.output_coords(coords)
    with pytest.raises(EarthzooError, match="grid 3x64 given for a model of 32x64"):
        PrognosticModel(earthzoo.Forecaster("fourcastnet", w), lat=[0, 1, 2])
