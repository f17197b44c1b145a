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
