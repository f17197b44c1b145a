"""earthzoo.Forecaster: the Python forecast equals `earthzoo forecast`'s file, takes
initial states by datetime from the stacked form or from one variable per field
(WeatherBench2 / ERA5 / earth2studio names, latitude either way), streams lead
times, and gives the same numbers in torch and MindSpore."""

from __future__ import annotations

import earthzoo
import numpy as np
import pytest
import xarray as xr
from earthzoo.data import read_dataset
from earthzoo.errors import EarthzooError
from earthzoo.training import forecast
from test_forecast import _weights
from training_helpers import wave_dataset

NAMES = ["z", "u", "v", "vort", "div"]


def _wb2_like(ds: xr.Dataset) -> xr.Dataset:
    """The stacked data as a WeatherBench2-style file: long / ERA5 short names, latitude ascending."""
    spell = {"z": "geopotential", "u": "u_component_of_wind", "v": "v_component_of_wind", "vort": "vo", "div": "d"}
    f = ds["fields"]
    out = xr.Dataset({spell[c]: (("time", "latitude", "longitude"), f.sel(channel=c).values) for c in reversed(NAMES)},
                     coords={"time": ds["time"].values, "latitude": ds["lat"].values, "longitude": ds["lon"].values})
    return out.isel(latitude=slice(None, None, -1))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fc")
    data = wave_dataset(tmp / "w.nc", times=12)
    return data, _weights(tmp / "w.safetensors", data), tmp


def test_forecaster_equals_the_cli_and_reads_any_spelling(setup):
    data, w, tmp = setup
    forecast("fourcastnet", weights=w, init=str(data), steps=3, out=str(tmp / "cli.nc"), init_indices=[2], show_progress=False)
    cli = xr.open_dataset(tmp / "cli.nc").load()
    fc = earthzoo.Forecaster("fourcastnet", w)
    ds = xr.open_dataset(data).load()
    by_time = fc.forecast(ds, "2020-01-01T12:00", steps=3)  # index 2 of the 6-hourly data
    assert list(by_time.data_vars) == NAMES and by_time["z"].dims == ("init_time", "lead_time", "lat", "lon")
    assert by_time["u"].attrs["units"] == "m s-1" and by_time.attrs["normalisation"] == "normalisation from the weights"
    for c in NAMES:
        np.testing.assert_array_equal(by_time[c].values, cli[c].values)
    wb2 = fc.forecast(_wb2_like(ds), np.datetime64("2020-01-01T12:00"), steps=3)
    for c in NAMES:
        np.testing.assert_array_equal(wb2[c].values, cli[c].values)
    streamed = list(fc.iterate(ds, ["2020-01-01T12:00"], steps=3))
    assert [int(s["lead_time"].values[0] / np.timedelta64(1, "h")) for s in streamed] == [6, 12, 18]
    np.testing.assert_array_equal(xr.concat(streamed, "lead_time")["vort"].values, cli["vort"].values)
    # a model without forcings starts from the data's last time too (only the initial state is read)
    last = fc.forecast(ds.isel(time=slice(0, 3)), "2020-01-01T12:00", steps=3)
    np.testing.assert_array_equal(last["u"].values, cli["u"].values)
    # earthzoo's reader takes the per-variable file back to the stacked form
    stacked = read_dataset(tmp / "cli.nc", load=True)
    assert list(stacked["channel"].values) == NAMES and stacked["fields"].shape == (1, 3, 5, 32, 64)


def test_forecaster_torch_equals_mindspore(setup):
    data, w, _ = setup
    ds = xr.open_dataset(data).load()
    a = earthzoo.Forecaster("fourcastnet", w, framework="torch").forecast(ds, ["2020-01-01T00:00", "2020-01-02T00:00"], steps=2)
    b = earthzoo.Forecaster("fourcastnet", w, framework="mindspore").forecast(ds, ["2020-01-01T00:00", "2020-01-02T00:00"], steps=2)
    assert a["z"].shape == (2, 2, 32, 64)
    for c in NAMES:
        np.testing.assert_allclose(b[c].values, a[c].values, rtol=1e-4, atol=1e-3)


def test_forecaster_runs_initial_times_in_batches_of_at_most_batch(setup):
    """Five initial times in calls of two (2 + 2 + 1 per lead) give each time's own forecast."""
    data, w, _ = setup
    ds = xr.open_dataset(data).load()
    fc = earthzoo.Forecaster("fourcastnet", w, batch=2)
    fc.model  # noqa: B018 - builds the inference function; then count its calls
    inner, calls = fc._step, []
    fc._step = lambda x: calls.append(len(x)) or inner(x)
    five = fc.forecast(ds, [0, 1, 2, 3, 4], steps=2)
    assert calls == [2, 2, 1] * 2
    for i in range(5):
        one = earthzoo.Forecaster("fourcastnet", w, batch=1).forecast(ds, [i], steps=2)
        for c in NAMES:
            np.testing.assert_allclose(five[c].values[i], one[c].values[0], rtol=1e-5, atol=1e-4)
    with pytest.raises(EarthzooError, match="batch=0"):
        earthzoo.Forecaster("fourcastnet", w, batch=0)


def test_forecaster_bad_input(setup):
    data, w, _ = setup
    fc = earthzoo.Forecaster("fourcastnet", w)
    ds = xr.open_dataset(data).load()
    with pytest.raises(EarthzooError, match=r"initial time 2019-01-01T00:00 is not a time of the initial data \(2020-01-01T00:00 \.\. 2020-01-03T18:00\)"):
        fc.forecast(ds, "2019-01-01", steps=1)
    with pytest.raises(EarthzooError, match="steps=0 asks for no forecast"):
        fc.forecast(ds, 0, steps=0)
    with pytest.raises(EarthzooError, match="holds no field on"):
        fc.forecast(xr.Dataset({"x": ("time", np.zeros(3))}, coords={"lat": [0.0], "lon": [0.0]}), 0, steps=1)


def test_forecast_compile_gives_the_eager_forecast_and_is_torchs_only(setup, capsys):
    """``earthzoo forecast --compile`` (torch.compile) writes the eager forecast; with
    MindSpore, whose forward is already a compiled graph, it is one line of error."""
    import json

    from earthzoo.cli import main

    data, w, tmp = setup
    args = ["forecast", "fourcastnet", "--weights", w, "--init", str(data), "--steps", "2", "--json"]
    assert main([*args, "--out", str(tmp / "eager.nc")]) == 0
    assert json.loads(capsys.readouterr().out)["compiled"] is False
    assert main([*args, "--out", str(tmp / "compiled.nc"), "--compile"]) == 0
    assert json.loads(capsys.readouterr().out)["compiled"] is True
    eager, compiled = xr.open_dataset(tmp / "eager.nc").load(), xr.open_dataset(tmp / "compiled.nc").load()
    for c in NAMES:
        np.testing.assert_allclose(compiled[c].values, eager[c].values, rtol=1e-5, atol=1e-4 * float(np.abs(eager[c].values).max()))
    assert main([*args[:-1], "--out", str(tmp / "ms.nc"), "--framework", "mindspore", "--compile"]) == 2
    err = capsys.readouterr().err
    assert "compile is torch.compile, and mindspore's forward is already a compiled graph" in err and not (tmp / "ms.nc").exists()
