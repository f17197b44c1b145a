"""DataSpec.residual_loss: the engines' loss becomes the MSE of one-step changes
normalised by residual_std (GraphCast's), through per-channel weights
(std / residual_std)^2 scaled to mean 1; checked against NumPy from physical
fields, torch against MindSpore, and the default (off) against the plain MSE."""

from __future__ import annotations

import numpy as np
import pytest
from earthzoo.cards import DataSpec
from earthzoo.training.data import Layout, residual_loss_weights


def _fields(masked: bool, seed: int = 0):
    """Physical (T, 3, H, W) fields whose channels change at very different rates
    (as ocean u, T and ssh do), a land mask, and their ocean-only statistics in NumPy."""
    rng = np.random.default_rng(seed)
    T, H, W = 12, 6, 8
    base = rng.standard_normal((3, H, W)) * np.array([2.0, 5.0, 0.3])[:, None, None] + np.array([0.0, 15.0, 0.1])[:, None, None]
    steps = rng.standard_normal((T, 3, H, W)) * np.array([0.8, 0.01, 0.05])[:, None, None]
    phys = (base[None] + np.cumsum(steps, axis=0)).astype(np.float64)
    mask = np.ones((H, W), np.float32)
    if masked:
        mask[:2, :3] = 0.0
        mask[4:, 6:] = 0.0
    ocean = mask.astype(bool)
    vals = phys[:, :, ocean]  # (T, C, n_ocean)
    mean = vals.mean(axis=(0, 2))
    std = vals.std(axis=(0, 2))
    rstd = np.sqrt((np.diff(vals, axis=0) ** 2).mean(axis=(0, 2)))
    return phys, mask, mean, std, rstd


def _torch_engine(model, layout):
    from earthzoo.runtime import DeviceContext, PrecisionPlan
    from earthzoo.training import TrainConfig
    from earthzoo.training.engine_torch import TorchEngine

    return TorchEngine(model, TrainConfig(steps=1, checkpoint_every=0), DeviceContext("cpu", "torch", "cpu"), lambda x, y, s, c: y, PrecisionPlan("fp32"), None, layout)


def _batch(phys, mask, mean, std, idx, rollout=1):
    z = ((phys - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32) * mask
    x = np.stack([z[i] for i in idx])
    y = np.stack([z[i + 1 : i + 1 + rollout] for i in idx])
    f = np.zeros((len(idx), rollout, 1, 1, 1), np.float32)
    return x, y, f


def test_weights_are_std_over_residual_std_squared_with_mean_one():
    std, rstd = np.array([2.0, 5.0, 0.3]), np.array([0.8, 0.01, 0.05])
    w = residual_loss_weights(std, rstd)
    raw = (std / rstd) ** 2
    np.testing.assert_allclose(w, raw / raw.mean(), rtol=1e-6)
    assert w.dtype == np.float32 and w.mean() == pytest.approx(1.0, rel=1e-6)
    assert residual_loss_weights(np.array([1.0, 2.0]), np.array([0.0, 1.0]))[0] > 0  # no change recorded: finite weight
    from earthzoo.errors import EarthzooError

    with pytest.raises(EarthzooError):
        residual_loss_weights(np.ones(3), np.ones(2))


@pytest.mark.parametrize("masked", [False, True])
def test_torch_loss_is_the_residual_normalised_mse(masked):
    """The weighted loss of normalised states equals, in NumPy from the physical
    fields, mean over channels (and ocean points) of ((predicted change - true
    change) / residual_std)^2, divided by the mean weight mean((std/residual_std)^2)."""
    import torch

    phys, mask, mean, std, rstd = _fields(masked)
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 3, 1)
    layout = Layout(3, mask=mask if masked else None, loss_weight=residual_loss_weights(std, rstd))
    eng = _torch_engine(model, layout)
    idx = [0, 3, 7]
    x, y, f = _batch(phys, mask, mean, std, idx)
    with torch.no_grad():
        loss = float(eng._loss(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(f)))
        out = model(torch.from_numpy(x)).numpy().astype(np.float64)
    pred = out * std[None, :, None, None] + mean[None, :, None, None]  # predicted physical state at t+1
    now = phys[idx]
    err = ((pred - now) - (phys[[i + 1 for i in idx]] - now)) / rstd[None, :, None, None]
    ocean = mask.astype(bool)
    per_channel = (err[:, :, ocean] ** 2).mean(axis=(0, 2))
    expected = per_channel.mean() / np.mean((std / rstd) ** 2)
    assert loss == pytest.approx(expected, rel=1e-4)
    with torch.no_grad():
        plain = float(_torch_engine(model, Layout(3, mask=mask if masked else None))._loss(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(f)))
    assert abs(plain - loss) > 0.05 * plain  # the weighting changes the loss on this case


@pytest.mark.parametrize("masked", [False, True])
def test_default_off_is_the_plain_mse(masked):
    """No loss weights (DataSpec's default): the loss is the plain (ocean) MSE of
    normalised states, bit for bit the formula the engine had before."""
    import torch
    import torch.nn.functional as F

    assert DataSpec(prognostic=("a",)).residual_loss is False
    phys, mask, mean, std, _ = _fields(masked, seed=1)
    torch.manual_seed(1)
    model = torch.nn.Conv2d(3, 3, 1)
    eng = _torch_engine(model, Layout(3, mask=mask if masked else None))
    assert eng.weight is None
    x, y, f = _batch(phys, mask, mean, std, [1, 5])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        loss = eng._loss(xt, yt, torch.from_numpy(f))
        out = model(xt)
        if masked:
            m = torch.from_numpy(mask)[None, None]
            d = (out * m - yt[:, 0]) * m
            ref = (d * d).sum() / (m.sum() * out.shape[0] * out.shape[1])
        else:
            ref = F.mse_loss(out, yt[:, 0])
    assert float(loss) == float(ref)


@pytest.mark.parametrize("masked", [False, True])
def test_torch_and_mindspore_weighted_losses_agree(masked):
    """The same 1x1-conv weights and batches, rollout 2: RolloutLoss (weights a
    constant Tensor of the Cell) matches the torch engine's loss."""
    import mindspore as ms
    import torch
    from earthzoo.training.engine_mindspore import RolloutLoss
    from mindspore import Tensor, nn

    phys, mask, mean, std, rstd = _fields(masked, seed=2)
    layout = Layout(3, mask=mask if masked else None, loss_weight=residual_loss_weights(std, rstd))
    torch.manual_seed(2)
    tm = torch.nn.Conv2d(3, 3, 1)
    mm = nn.Conv2d(3, 3, 1, has_bias=True, pad_mode="valid")
    mm.weight.set_data(Tensor(tm.weight.detach().numpy()))
    mm.bias.set_data(Tensor(tm.bias.detach().numpy()))
    eng = _torch_engine(tm, layout)
    ms_loss = RolloutLoss(mm, 2, lambda x, y, s, c: y, None, layout)
    for idx in ([0, 4], [2, 6], [5, 8]):
        x, y, f = _batch(phys, mask, mean, std, idx, rollout=2)
        with torch.no_grad():
            t = float(eng._loss(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(f)))
        m = float(ms_loss(Tensor(x), Tensor(y), Tensor(f)).asnumpy())
        assert m == pytest.approx(t, rel=1e-4)
    assert ms.float32 == ms_loss.weight.dtype


@pytest.fixture(scope="module")
def ocean_file(tmp_path_factory):
    from earthzoo.data import open_source, write_dataset

    ds = open_source("synthetic-ocean", size="tiny", days=16, spinup_days=30).load()
    return write_dataset(ds, tmp_path_factory.mktemp("ocean") / "ocean.nc")


def test_ai_goms_trains_with_residual_loss_in_both_frameworks(ocean_file, tmp_path):
    """AI-GOMS's spec turns the weighting on; its weights come from the training
    split's NormStats (ocean only); torch and MindSpore loss curves agree over
    3 updates from the same initial weights."""
    from earthzoo.api import build_model, model_card
    from earthzoo.data import NormStats, time_splits
    from earthzoo.frameworks import torch as tfw
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.data import open_source, training_data
    from earthzoo.training.trainer import read_log
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    card = model_card("ai_goms")
    config = card.make_config("tiny")
    spec = card.spec(config)
    assert spec.residual_loss and spec.masked
    data = training_data(str(ocean_file), card, config, rollout=2)
    ds = open_source(str(ocean_file))
    ns = NormStats.from_dataset(ds.isel(time=time_splits(ds["time"].values)["train"]), channels=list(spec.prognostic))
    np.testing.assert_allclose(data.layout.loss_weight, residual_loss_weights(ns.std, ns.residual_std), rtol=1e-5)

    tfw.seed_everything(0)
    m = build_model("ai_goms", "torch", "tiny")
    init = tmp_path / "init.safetensors"
    save_canonical(init, Weights(tfw.state_to_numpy(m), "ai_goms", config_to_dict(config)))
    cfg = TrainConfig(steps=3, batch_size=2, rollout_steps=2, lr=1e-3, checkpoint_every=0)
    curves = {}
    for fw in ("torch", "mindspore"):
        train("ai_goms", framework=fw, preset="tiny", data=data, out=tmp_path / fw, cfg=cfg, weights=str(init), show_progress=False)
        curves[fw] = np.array([r["loss"] for r in read_log(tmp_path / fw / "train_log.jsonl")])
    assert len(curves["torch"]) == 3 and np.all(np.isfinite(curves["torch"]))
    np.testing.assert_allclose(curves["mindspore"], curves["torch"], rtol=1e-4)
