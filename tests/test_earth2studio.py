"""earth2studio's own deterministic workflow runs an earthzoo FourCastNet (tiny) from a
local data source (earth2studio.data.DataArrayFile) into earth2studio's IO backend
(ZarrBackend), and the numbers equal `earthzoo forecast`'s file to 1e-6.

Needs the real earth2studio (earthzoo[earth2studio], 0.19.0): .ci/e2s.sh builds the
environment it runs in (earth2studio's dependencies do not fit the main one)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from earthzoo.pins import satisfied, version
from test_forecast import _weights
from training_helpers import earthzoo as earthzoo_cli
from training_helpers import wave_dataset

e2s = pytest.importorskip("earth2studio", reason="earth2studio is not installed (.ci/e2s.sh runs this test in its own environment)")

NAMES = ["z", "u", "v", "vort", "div"]
STEPS = 4


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_earth2studio_deterministic_workflow_equals_earthzoo_forecast(tmp_path, framework):
    import earthzoo
    import torch
    from earth2studio.data import DataArrayFile
    from earth2studio.io import ZarrBackend
    from earth2studio.run import deterministic
    from earthzoo.data.lexicon import e2s_name
    from earthzoo.earth2studio import PrognosticModel

    assert e2s.__version__ == version("earth2studio") and satisfied("torch", torch.__version__)
    data = wave_dataset(tmp_path / "w.nc", times=8)
    w = _weights(tmp_path / "w.safetensors", data)
    r = earthzoo_cli("forecast", "fourcastnet", "--weights", w, "--framework", framework, "--init", str(data), "--init-index", "2", "--steps", str(STEPS), "--out", str(tmp_path / "fc.nc"), "--json")
    assert r.returncode == 0, r.stderr
    want = xr.open_dataset(tmp_path / "fc.nc").load()

    ds = xr.open_dataset(data).load()  # the same data as earth2studio's local source: (time, variable, lat, lon)
    da = ds["fields"].rename(channel="variable").assign_coords(variable=[e2s_name(c) for c in NAMES]).drop_vars(["channel_units", "channel_long_name"])
    da.to_netcdf(tmp_path / "source.nc")
    source = DataArrayFile(str(tmp_path / "source.nc"))

    model = PrognosticModel(earthzoo.Forecaster("fourcastnet", w, framework=framework), lat=ds["lat"].values[:32], lon=ds["lon"].values)
    io = deterministic([ds["time"].values[2]], STEPS, model, source, ZarrBackend(), device=torch.device("cpu"))

    worst = 0.0
    for c in NAMES:
        got = np.asarray(io[e2s_name(c)][:])  # (time, lead_time, lat, lon), lead 0 = the initial state
        assert got.shape == (1, STEPS + 1, 32, 64)
        np.testing.assert_array_equal(got[0, 0], ds["fields"].sel(channel=c).values[2, :32])
        np.testing.assert_allclose(got[0, 1:], want[c].values[0], rtol=0, atol=1e-6)
        worst = max(worst, float(np.abs(got[0, 1:] - want[c].values[0]).max()))
    print(f"earth2studio {e2s.__version__} deterministic workflow ({framework}), {STEPS} steps x {len(NAMES)} variables: max |e2s - earthzoo forecast| = {worst:.3g}")
