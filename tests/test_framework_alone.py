"""Each framework alone: with torch (and matplotlib) unimportable, the MindSpore
path trains, forecasts, evaluates and converts; what genuinely needs torch says so
in one line with the pip command; with no framework at all the chip backends are
still listed. (Real wheel-built environments: .ci/install_matrix.sh.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from earthzoo.pins import pins
from training_helpers import wave_dataset

from conftest import REPO

NO_TORCH = "torch,torch_harmonics,torch_npu,matplotlib"
NO_FRAMEWORK = "torch,torch_harmonics,torch_npu,mindspore,matplotlib,pynvml,amdsmi"


def without(blocked: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARTHZOO_")}
    return subprocess.run([sys.executable, str(REPO / "tests" / "without.py"), blocked, "--", *args], capture_output=True, text=True, env=dict(env, GLOG_v="3"), timeout=900)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_backends_listed_with_no_framework_installed():
    rows = json.loads(ok(without(NO_FRAMEWORK, "backends", "--json")).stdout)
    assert {"cpu", "cuda", "ascend", "dcu"} <= {b["name"] for b in rows}


def one_line_torch_needed(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("error: cannot import torch (needed ") and f"pip install {pins()['torch']}" in r.stderr


def test_parity_without_torch_is_refused_naming_torch():
    one_line_torch_needed(without(NO_TORCH, "parity", "fourcastnet", "--preset", "tiny"))


@pytest.mark.slow
def test_mindspore_alone_trains_forecasts_evaluates_converts(tmp_path):
    wave_dataset("atmos.nc")
    ok(without(NO_TORCH, "train", "fourcastnet", "--framework", "mindspore", "--preset", "tiny", "--data", "atmos.nc", "--steps", "2", "--out", "run"))
    assert os.path.isfile("run/weights.safetensors") and not os.path.exists("run/loss_curve.png")
    ok(without(NO_TORCH, "forecast", "fourcastnet", "--weights", "run/weights.safetensors", "--framework", "mindspore", "--init", "atmos.nc", "--steps", "2", "--out", "fc.nc"))
    scores = json.loads(ok(without(NO_TORCH, "evaluate", "fc.nc", "atmos.nc", "--json")).stdout)
    assert len(scores["lead_time_hours"]) == 2
    ok(without(NO_TORCH, "convert", "run/weights.safetensors", "w.ckpt", "--model", "fourcastnet", "--to", "mindspore", "--verify"))
    back = ok(without(NO_TORCH, "convert", "w.ckpt", "back.safetensors", "--model", "fourcastnet", "--verify"))
    assert "verified bit-exact" in back.stdout
    one_line_torch_needed(without(NO_TORCH, "convert", "run/weights.safetensors", "w.pt", "--model", "fourcastnet", "--to", "torch"))
    assert not os.path.exists("w.pt")


def test_doctor_says_per_distribution_what_is_usable_and_the_pip_command_for_the_rest():
    r = without(NO_TORCH, "doctor", "--json")
    assert r.returncode == 0, r.stderr  # a missing optional feature is no failure
    feats = {(c["distribution"], c["feature"]): c for c in json.loads(r.stdout) if "feature" in c}
    assert feats[("earthzoo", "--framework mindspore")]["usable"]
    assert feats[("earthzoo", "parity (torch vs MindSpore)")]["pip"] == "pip install 'earthzoo[torch,mindspore]'"
    assert feats[("earthzoo", "figures (loss curves, report)")]["pip"] == "pip install 'earthzoo[plot]'"
    assert feats[("earthzoo-fourcastnet", "fourcastnet in torch")]["pip"] == "pip install 'earthzoo-fourcastnet[torch]'"
    assert feats[("earthzoo-fourcastnet", "convert --to mindearth-afnonet")]["usable"]
    assert not feats[("earthzoo-fourcastnet", "convert --to nvlabs-fourcastnet")]["usable"]  # written with torch.save
    assert feats[("earthzoo-graphcast", "convert --to deepmind-graphcast")]["usable"]  # numpy only
