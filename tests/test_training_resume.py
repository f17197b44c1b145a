"""Exact resume: a real `earthzoo train` process is killed (SIGKILL) after a
checkpoint appears, resumed with --resume, and ends with exactly the weights
of an uninterrupted run."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from earthzoo.weights import load_canonical
from training_helpers import earthzoo, kill_at_checkpoint, wave_dataset

ARGS = ["--preset", "tiny", "--steps", "8", "--checkpoint-every", "2", "--batch-size", "2", "--lr", "2e-3", "--warmup", "2", "--accum", "2", "--seed", "7"]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_killed_run_resumes_to_the_same_weights(tmp_path, framework):
    data = str(wave_dataset(tmp_path / "waves.nc", times=24))
    args = [*ARGS, "--framework", framework]
    full = earthzoo("train", "fourcastnet", "--data", data, "--out", str(tmp_path / "full"), *args)
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    env = dict(os.environ, GLOG_v="3")
    kill_at_checkpoint([sys.executable, "-m", "earthzoo", "train", "fourcastnet", "--data", data, "--out", str(out), *args], out, env=env)
    killed_at = max(int(p.name[5:]) for p in (out / "checkpoints").glob("step-*"))
    assert 4 <= killed_at < 8

    again = earthzoo("train", "fourcastnet", "--data", data, "--out", str(out), "--resume", *args)
    assert again.returncode == 0, again.stderr
    a = load_canonical(tmp_path / "full" / "weights.safetensors").tensors
    b = load_canonical(out / "weights.safetensors").tensors
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    print(f"{framework}: killed after checkpoint {killed_at}; max |w_resumed - w_full| = {worst:.3e}")
    assert worst == 0.0
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_resume_refuses_another_model_or_config(zoo, tmp_path):
    from earthzoo.errors import EarthzooError
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.data import ArrayData

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 8, 16)).astype(np.float32)
    data = ArrayData(x, x[:, None].copy())
    train("toy", data=data, out=tmp_path / "run", cfg=TrainConfig(steps=2, checkpoint_every=1), show_progress=False)
    with pytest.raises(EarthzooError, match="already holds a training run"):
        train("toy", data=data, out=tmp_path / "run", cfg=TrainConfig(steps=4), show_progress=False)
    with pytest.raises(EarthzooError, match=r"holds another run \(.*lr") as e:
        train("toy", data=data, out=tmp_path / "run", cfg=TrainConfig(steps=2, lr=1e-2), resume=True, show_progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(EarthzooError, match="holds another run.*preset"):
        train("toy", preset="small", data=ArrayData(np.zeros((8, 4, 16, 32), np.float32), np.zeros((8, 1, 4, 16, 32), np.float32)), out=tmp_path / "run", cfg=TrainConfig(steps=2), resume=True, show_progress=False)


def test_cli_resume_from_another_model_is_one_line_error(tmp_path):
    data = str(wave_dataset(tmp_path / "waves.nc", times=12))
    out = str(tmp_path / "run")
    first = earthzoo("train", "fourcastnet", "--data", data, "--out", out, "--steps", "1", "--batch-size", "1")
    assert first.returncode == 0, first.stderr
    other = earthzoo("train", "fourcastnet", "--data", data, "--out", out, "--steps", "1", "--batch-size", "1", "--framework", "mindspore", "--resume")
    assert other.returncode == 2
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds another run" in lines[0] and "framework" in lines[0]


@pytest.mark.parametrize("model", ["fourcastnet", "graphcast", "ai_goms"])
def test_mindspore_initialisation_follows_the_seed(model):
    """Every MindSpore parameter is drawn from seeded generators (a bare
    np.random.default_rng() made one --seed train differently run to run)."""
    from earthzoo.api import build_model
    from earthzoo.frameworks import mindspore as msfw

    def build(seed):
        msfw.seed_everything(seed)
        return msfw.state_to_numpy(build_model(model, "mindspore", preset="tiny"))

    a, b, c = build(7), build(7), build(8)
    assert a.keys() == b.keys()
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) == 0.0
    assert any(not np.array_equal(a[k], c[k]) for k in a)  # the seed matters


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_same_seed_same_losses_and_weights(tmp_path, framework):
    data = str(wave_dataset(tmp_path / "waves.nc", times=24))
    runs = []
    for name in ("a", "b"):
        r = earthzoo("train", "fourcastnet", "--framework", framework, "--data", data, "--out", str(tmp_path / name), "--preset", "tiny", "--steps", "4", "--batch-size", "2", "--seed", "7")
        assert r.returncode == 0, r.stderr
        losses = [json.loads(line)["loss"] for line in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
        runs.append((losses, load_canonical(tmp_path / name / "weights.safetensors").tensors))
    (la, wa), (lb, wb) = runs
    assert la == lb and len(la) == 4
    worst = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
    print(f"{framework} same seed: losses {la}; max |w_a - w_b| = {worst:.3e}")
    assert worst == 0.0
