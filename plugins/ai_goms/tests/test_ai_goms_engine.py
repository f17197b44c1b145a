"""AI-GOMS through the common engine (its card's DataSpec): channels chosen by
name from the synthetic ocean, a loss over ocean points only (garbage on land
changes nothing), rollouts fed with the data's forcings at each step in both
frameworks, and forecasts written with a depth coordinate and land as NaN."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from earthzoo.data import open_source, read_dataset, write_dataset
from earthzoo.training import TrainConfig, forecast, train
from earthzoo.training.trainer import read_log


@pytest.fixture(scope="module")
def ocean_file(tmp_path_factory):
    """A short synthetic ocean (tiny grid and depths) written in the internal form."""
    ds = open_source("synthetic-ocean", size="tiny", days=20, spinup_days=30).load()
    return write_dataset(ds, tmp_path_factory.mktemp("ocean") / "ocean.nc")


def _land_garbage(src, dst):
    ds = read_dataset(src, load=True)
    f = ds["fields"].values.copy()
    land = ~ds["ocean_mask"].values
    prog = [i for i, c in enumerate(ds["channel"].values.astype(str)) if c in set(ds.attrs["prognostic"])]
    rng = np.random.default_rng(1)
    for i in prog:
        f[:, i][:, land] = rng.uniform(-1e3, 1e3, size=(f.shape[0], int(land.sum())))
    ds["fields"].values = f
    return write_dataset(ds, dst)


def _init_weights(path):
    from earthzoo.api import build_model, model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    tfw.seed_everything(0)
    m = build_model("ai_goms", "torch", "tiny")
    save_canonical(path, Weights(tfw.state_to_numpy(m), "ai_goms", config_to_dict(model_card("ai_goms").make_config("tiny"))))
    return str(path)


def test_data_spec_matches_the_synthetic_ocean(ocean_file):
    from earthzoo.api import model_card
    from earthzoo.training.data import training_data

    card = model_card("ai_goms")
    config = card.make_config("tiny")
    spec = card.spec(config)
    assert spec.masked and spec.forcing == ("u10", "v10", "t2m", "msl", "sp") and spec.static == ("orography",)
    assert spec.in_channels == config.in_chans and spec.prognostic[0] == "t_0m" and spec.prognostic[-1] == "ssh"
    data = training_data(str(ocean_file), card, config, rollout=2)
    x, y, f = data.get(np.array([0, 3]))
    assert x.shape == (2, config.in_chans, 32, 64) and y.shape == (2, 2, config.out_chans, 32, 64) and f.shape == (2, 2, 5, 32, 64)
    land = data.layout.mask == 0
    assert land.any() and np.all(x[:, : config.out_chans][:, :, land] == 0) and np.all(y[..., land] == 0)
    # the forcings of rollout step r are the data's at t+r+1: the input of window i+1 holds window i's f[:, 0]
    x1, _, _ = data.get(np.array([1]))
    np.testing.assert_array_equal(x1[0, config.out_chans : config.out_chans + 5], f[0, 0])


@pytest.mark.parametrize("stage", ["forecast", "masked"])
@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_land_garbage_gives_the_same_loss(ocean_file, tmp_path, framework, stage):
    """Garbage on land (prognostic channels) changes neither the loss nor the
    weights, in forecast training and in masked pre-training."""
    bad = _land_garbage(ocean_file, tmp_path / "garbage.nc")
    init = _init_weights(tmp_path / "init.safetensors")
    cfg = TrainConfig(steps=2, batch_size=2, rollout_steps=2 if stage == "forecast" else 1, lr=1e-3, checkpoint_every=0, stage=stage)
    losses, finals = {}, {}
    from earthzoo.weights import load_canonical

    for name, data in (("clean", ocean_file), ("garbage", bad)):
        train("ai_goms", framework=framework, preset="tiny", data=str(data), out=tmp_path / name, cfg=cfg, weights=init, show_progress=False)
        losses[name] = [r["loss"] for r in read_log(tmp_path / name / "train_log.jsonl")]
        finals[name] = load_canonical(tmp_path / name / "weights.safetensors").tensors
    assert losses["clean"] == losses["garbage"]
    for k in finals["clean"]:
        np.testing.assert_array_equal(finals["clean"][k], finals["garbage"][k])


def test_torch_and_mindspore_masked_rollout_losses_agree(ocean_file, tmp_path):
    init = _init_weights(tmp_path / "init.safetensors")
    cfg = TrainConfig(steps=3, batch_size=2, rollout_steps=3, lr=1e-3, checkpoint_every=0)
    curves = {}
    for fw in ("torch", "mindspore"):
        train("ai_goms", framework=fw, preset="tiny", data=str(ocean_file), out=tmp_path / fw, cfg=cfg, weights=init, show_progress=False)
        curves[fw] = np.array([r["loss"] for r in read_log(tmp_path / fw / "train_log.jsonl")])
    np.testing.assert_allclose(curves["mindspore"], curves["torch"], rtol=1e-4)


def test_masked_pretraining_through_the_engine_in_both_frameworks(ocean_file, tmp_path):
    """Stage 1 of AI-GOMS: the first loss of an untrained residual model (its head
    is zero, so it reconstructs 0) is the mean square of the input ocean state over
    the hidden patches' ocean points, worked out here from the masking noise; torch
    and MindSpore agree step by step; and a forecast run starts from its weights."""
    from earthzoo.api import model_card
    from earthzoo.training.data import BatchPlan, training_data
    from earthzoo.training.masking import mask_indices

    card = model_card("ai_goms")
    config = card.make_config("tiny")
    init = _init_weights(tmp_path / "init.safetensors")
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, checkpoint_every=0, stage="masked", seed=4)
    curves = {}
    for fw in ("torch", "mindspore"):
        train("ai_goms", framework=fw, preset="tiny", data=str(ocean_file), out=tmp_path / fw, cfg=cfg, weights=init, show_progress=False)
        curves[fw] = np.array([r["loss"] for r in read_log(tmp_path / fw / "train_log.jsonl")])
    np.testing.assert_allclose(curves["mindspore"], curves["torch"], rtol=1e-5)

    data = training_data(str(ocean_file), card, config, rollout=1)
    x, _, _ = data.get(BatchPlan(len(data), 2, 1, cfg.seed).indices(0, 0))
    noise = np.random.default_rng([cfg.seed, 0, 0, 0x4D41]).random((2, 128))
    _, _, hidden = mask_indices(noise, config.mask_ratio)
    pix = hidden.reshape(2, 8, 16).repeat(4, axis=1).repeat(4, axis=2) > 0  # 8x16 tokens of 4x4 points
    points = pix & (data.layout.mask > 0)[None]
    state = x[:, : config.out_chans].transpose(1, 0, 2, 3)[:, points]  # (channels, hidden ocean points)
    np.testing.assert_allclose(curves["torch"][0], np.mean(state.astype(np.float64) ** 2), rtol=1e-5)

    s = train("ai_goms", framework="torch", preset="tiny", data=str(ocean_file), out=tmp_path / "forecast", cfg=TrainConfig(steps=1, batch_size=2, checkpoint_every=0), weights=str(tmp_path / "torch" / "weights.safetensors"), show_progress=False)
    assert np.isfinite(s["final_loss"])


def test_cli_train_then_forecast_reads_forcings_each_step(ocean_file, tmp_path):
    env = dict(os.environ, GLOG_v="3")
    weights = {}
    for fw in ("torch", "mindspore"):
        cmd = [sys.executable, "-m", "earthzoo", "train", "ai_goms", "--framework", fw, "--preset", "tiny", "--data", str(ocean_file), "--steps", "2", "--rollout", "2", "--out", str(tmp_path / fw), "--json"]
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        summary = json.loads(run.stdout[run.stdout.index("{") :])
        assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
        weights[fw] = summary["weights"]
    steps = 5
    outs = {}
    for fw in ("torch", "mindspore"):
        s = forecast("ai_goms", weights=weights["torch"], framework=fw, init=str(ocean_file), steps=steps, out=str(tmp_path / f"f_{fw}.nc"), init_indices=[0, 4], show_progress=False)
        outs[fw] = read_dataset(s["out"], load=True)  # the per-variable file, stacked
    a = outs["torch"]
    assert a["fields"].shape == (2, steps, 17, 32, 64)
    assert list(a["depth"].values[:4]) == [0, 10, 50, 200] and np.isnan(a["depth"].values[-1])
    land = ~read_dataset(ocean_file, load=True)["ocean_mask"].values
    f = a["fields"].values
    assert np.all(np.isnan(f[..., land])) and np.all(np.isfinite(f[..., ~land]))
    np.testing.assert_allclose(outs["mindspore"]["fields"].values, f, rtol=1e-4, atol=1e-4)
    # forcings are read from the data at each step: changing the data's forcings
    # at time 2 leaves leads 1-2 from init 0 alone and changes lead 3
    ds = read_dataset(ocean_file, load=True)
    names = list(ds["channel"].values.astype(str))
    vals = ds["fields"].values.copy()
    vals[2, names.index("u10")] += 20.0
    ds["fields"].values = vals
    moved = write_dataset(ds, tmp_path / "moved.nc")
    s = forecast("ai_goms", weights=weights["torch"], framework="torch", init=str(moved), steps=steps, out=str(tmp_path / "g.nc"), init_indices=[0], show_progress=False)
    g = read_dataset(s["out"], load=True)["fields"].values
    np.testing.assert_array_equal(np.nan_to_num(g[0, :2]), np.nan_to_num(f[0, :2]))
    assert np.nanmax(np.abs(g[0, 2] - f[0, 2])) > 1e-6  # 2 steps from persistence, each channel's change at its data scale: small, but not 0


def test_forecast_needs_forcings_for_every_step(ocean_file, tmp_path):
    from earthzoo.errors import EarthzooError

    init = _init_weights(tmp_path / "init.safetensors")
    with pytest.raises(EarthzooError, match="no forcings"):
        forecast("ai_goms", weights=init, init=str(ocean_file), steps=5, out=str(tmp_path / "f.nc"), init_indices=[17], show_progress=False)
