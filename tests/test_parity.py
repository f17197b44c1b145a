"""`earthzoo parity`: the comparison itself, and FourCastNet through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from earthzoo.errors import EarthzooError
from earthzoo.parity import compare


def test_compare_measures_relative_rmse():
    a = np.ones((2, 3, 4, 5), np.float32)
    b = a.copy()
    assert compare(a, b) == {"max_abs_err": 0.0, "rel_rmse": 0.0}
    b[0, 0, 0, 0] = 1.5
    got = compare(a, b)
    assert got["max_abs_err"] == pytest.approx(0.5)
    assert got["rel_rmse"] == pytest.approx(np.sqrt(0.25 / a.size))


def test_compare_nan_where_both_agree_is_ignored_and_elsewhere_infinite():
    a = np.ones((1, 1, 3, 4), np.float32)
    a[:, :, -1] = np.nan
    assert compare(a, a.copy())["max_abs_err"] == 0.0
    b = a.copy()
    b[0, 0, 0, 0] = np.nan
    assert compare(a, b)["rel_rmse"] == float("inf")
    with pytest.raises(EarthzooError, match="differ in shape"):
        compare(a, a[..., :2])


def test_parity_needs_a_step():
    from earthzoo.parity import parity

    with pytest.raises(EarthzooError, match="--steps"):
        parity("fourcastnet", steps=0)


def test_fourcastnet_parity_cli_ten_steps(capsys):
    pytest.importorskip("earthzoo_fourcastnet")
    pytest.importorskip("torch")
    pytest.importorskip("mindspore")
    from earthzoo.cli import main

    assert main(["parity", "fourcastnet", "--preset", "tiny", "--steps", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"model", "preset", "steps", "max_abs_err", "rel_rmse", "per_step"} <= set(report)
    assert report["model"] == "fourcastnet" and report["preset"] == "tiny" and report["steps"] == 10
    assert [s["step"] for s in report["per_step"]] == list(range(1, 11))
    assert all(0 <= s["rel_rmse"] <= 1e-5 for s in report["per_step"])
    assert report["rel_rmse"] == max(s["rel_rmse"] for s in report["per_step"])


def test_parity_with_weights_uses_their_config(tmp_path, capsys, golden):
    pytest.importorskip("earthzoo_fourcastnet")
    from earthzoo.cli import main

    assert main(["convert", str(golden / "mindearth_afnonet_tiny.ckpt"), str(tmp_path / "me.safetensors"), "--model", "fourcastnet", "--from", "mindearth-afnonet"]) == 0
    capsys.readouterr()
    assert main(["parity", "fourcastnet", "--weights", str(tmp_path / "me.safetensors"), "--steps", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["preset"] == "from weights" and report["rel_rmse"] <= 1e-5
