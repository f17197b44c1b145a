"""Bad input at the command line (issue 15): each case one line on stderr, exit
code 2, nothing half-written; legal edge cases behave as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from earthzoo.cli import main
from earthzoo.data import make_dataset, regular_lat, regular_lon, write_dataset

H6 = np.timedelta64(6, "h")


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture
def scored(tmp_path):
    """A truth file (12 times, 2 channels, 9x16) and a forecast file from it."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(12, 2, 9, 16)).astype(np.float32)
    truth = make_dataset(data, np.datetime64("2001-01-01", "ns") + np.arange(12) * H6, ["z", "u"], regular_lat(9), regular_lon(16))
    fc = xr.Dataset(
        {"fields": (("init_time", "lead_time", "channel", "lat", "lon"), np.stack([data[i + 1 : i + 3] + 0.1 for i in range(4)]))},
        coords={"init_time": truth["time"].values[:4], "lead_time": np.array([1, 2]) * H6, "channel": ["z", "u"], "lat": truth["lat"].values, "lon": truth["lon"].values},
    )
    write_dataset(fc, tmp_path / "fc.nc")
    return truth, tmp_path / "fc.nc"


def test_evaluate_nan_truth_is_refused_unless_skipna(scored, tmp_path, capsys):
    truth, fc = scored
    bad = truth.copy(deep=True)
    bad["fields"][:, 1] = np.nan
    write_dataset(bad, tmp_path / "nan.nc")
    assert main(["evaluate", str(fc), str(tmp_path / "nan.nc")]) == 2
    _one_line_error(capsys, "truth has NaN or inf", "'u'", "--skipna")
    assert main(["evaluate", str(fc), str(tmp_path / "nan.nc"), "--skipna", "--json"]) == 0
    out = capsys.readouterr()
    res = json.loads(out.out)
    assert res["skipped_points"] == 4 * 2 * 9 * 16 and res["metrics"]["forecast"]["u"]["rmse"] == [None, None]
    assert "skipped 1152 NaN/inf point(s)" in out.err


def test_evaluate_truth_with_shuffled_longitude(scored, tmp_path, capsys):
    truth, fc = scored
    write_dataset(truth, tmp_path / "t.nc")
    assert main(["evaluate", str(fc), str(tmp_path / "t.nc"), "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    write_dataset(truth.isel(lon=np.random.default_rng(1).permutation(16)), tmp_path / "shuffled.nc")
    assert main(["evaluate", str(fc), str(tmp_path / "shuffled.nc"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == base
    write_dataset(truth.isel(lon=[0, 0, *range(1, 15)]), tmp_path / "dup.nc")
    assert main(["evaluate", str(fc), str(tmp_path / "dup.nc")]) == 2
    _one_line_error(capsys, "'lon' has repeated values")


def test_bench_unwritable_out_and_zero_counts_are_refused_before_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["bench", "fourcastnet", "--preset", "tiny", "--out", str(blocker / "sub")]) == 2
    _one_line_error(capsys, "cannot write", "a-file/sub")
    for option in ("--reps", "--leads", "--threads"):
        assert main(["bench", "fourcastnet", "--preset", "tiny", option, "0", "--out", str(tmp_path / "b")]) == 2
        _one_line_error(capsys, f"{option} must be at least 1, got 0")
    assert main(["bench", "fourcastnet", "--preset", "tiny", "--report", str(blocker), "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "is a file")
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_parity_batch_0_is_refused(capsys):
    assert main(["parity", "fourcastnet", "--preset", "tiny", "--batch", "0"]) == 2
    _one_line_error(capsys, "--batch must be at least 1")


def test_train_batch_larger_than_the_data_is_refused_before_any_write(tmp_path, capsys):
    from training_helpers import wave_dataset

    data = wave_dataset(tmp_path / "waves.nc", times=12)
    for batch in ("200", "1000000000000"):
        assert main(["train", "fourcastnet", "--data", str(data), "--out", str(tmp_path / "run"), "--batch-size", batch, "--steps", "1"]) == 2
        _one_line_error(capsys, f"--batch-size {batch} is larger than the", "training samples")
    assert not (tmp_path / "run").exists()


def test_train_batch_that_cannot_fit_is_refused_with_the_estimate(tmp_path):
    """100000 real samples (broadcast: no memory) of FourCastNet tiny: the estimate
    (activations measured in one forward pass) exceeds any memory this test runs on."""
    from earthzoo.errors import EarthzooError
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.data import ArrayData

    n = 100_000
    x = np.broadcast_to(np.zeros((1, 5, 32, 64), np.float32), (n, 5, 32, 64))
    data = ArrayData(x, np.broadcast_to(x[:, None], (n, 1, 5, 32, 64)))
    with pytest.raises(EarthzooError, match=r"a batch of 100000 sample\(s\) needs about .* GiB \(estimated\), more than the .* GiB available host memory") as e:
        train("fourcastnet", preset="tiny", data=data, out=tmp_path / "run", cfg=TrainConfig(steps=1, batch_size=n), show_progress=False)
    assert "--batch-size" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()  # no folder, no empty log
    summary = train("fourcastnet", preset="tiny", data=data, out=tmp_path / "ok", cfg=TrainConfig(steps=1, batch_size=2), show_progress=False)
    check = summary["memory_check"]
    assert 0 < check["estimated_bytes"] < check["free_bytes"]


def test_forecast_that_cannot_fit_is_refused_before_rolling_out(tmp_path, monkeypatch, capsys):
    from earthzoo.training import TrainConfig, memory, train
    from training_helpers import wave_dataset

    data = wave_dataset(tmp_path / "waves.nc", times=12)
    train("fourcastnet", preset="tiny", data=str(data), out=tmp_path / "run", cfg=TrainConfig(steps=1), show_progress=False)
    weights = str(tmp_path / "run" / "weights.safetensors")
    monkeypatch.setattr(memory, "host_available", lambda: 100 * 1024)  # a host with 100 KiB free (a fake memory query)
    assert main(["forecast", "fourcastnet", "--weights", weights, "--init", str(data), "--steps", "2", "--out", str(tmp_path / "fc.nc")]) == 2
    _one_line_error(capsys, "a forecast of 1 initial state(s) x 2 steps needs about", "9.54e-05 GiB available host memory", "--init-index")
    assert not (tmp_path / "fc.nc").exists()
    monkeypatch.undo()
    assert main(["forecast", "fourcastnet", "--weights", weights, "--init", str(data), "--steps", "2", "--init-index", "-3", "--out", str(tmp_path / "fc.nc")]) == 0
    capsys.readouterr()
    assert xr.open_dataset(tmp_path / "fc.nc")["init_time"].values[0] == xr.open_dataset(data)["time"].values[-3]  # -3: third from the end


def test_argument_and_metadata_checks_come_before_any_model_is_built(tmp_path, monkeypatch, capsys):
    import earthzoo.api
    from earthzoo.training import TrainConfig, train
    from training_helpers import wave_dataset

    data = wave_dataset(tmp_path / "waves.nc", times=12)
    train("fourcastnet", preset="tiny", data=str(data), out=tmp_path / "run", cfg=TrainConfig(steps=1), show_progress=False)
    weights = str(tmp_path / "run" / "weights.safetensors")
    few = wave_dataset(tmp_path / "three.nc", times=12, channels=3)

    def no_build(*a, **k):
        raise AssertionError("a model was built before the arguments and the data were checked")

    monkeypatch.setattr(earthzoo.api, "build_model", no_build)
    fc = ["forecast", "fourcastnet", "--weights", weights, "--steps", "2"]
    cases = [
        ([*fc, "--init", str(data), "--init-index", "40", "--out", str(tmp_path / "f.nc")], "initial time index 40"),
        ([*fc, "--init", str(few), "--out", str(tmp_path / "f.nc")], "lacks the channel(s) vort, div"),
        ([*fc, "--init", str(data), "--out", str(tmp_path / "no" / "f.nc")], "output folder"),
        (["forecast", "graphcast", "--weights", weights, "--init", str(data), "--out", str(tmp_path / "f.nc")], "are for model 'fourcastnet'"),
        (["train", "fourcastnet", "--data", str(few), "--out", str(tmp_path / "r2")], "lacks the channel(s) vort, div"),
        (["train", "graphcast", "--data", str(data), "--weights", weights, "--out", str(tmp_path / "r2")], "are for model 'fourcastnet'"),
        (["train", "fourcastnet", "--data", "era5-wb2", "--out", str(tmp_path / "r2")], "--path PATH"),
    ]
    for args, needle in cases:
        assert main(args) == 2, args
        err = _one_line_error(capsys, needle)
        assert "open_source(" not in err.split(" (in Python:")[0] and "load_model(" not in err  # CLI words, not Python calls
    assert not (tmp_path / "f.nc").exists() and not (tmp_path / "r2").exists()
