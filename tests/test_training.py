"""Training engines: AdamW/clipping/schedule semantics, torch vs MindSpore loss
curves from the same initial weights, logs and the loss plot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from earthzoo.training import TrainConfig, train
from earthzoo.training.data import ArrayData, BatchPlan
from earthzoo.training.trainer import read_log
from training_helpers import wave_dataset


def _toy_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 8, 16)).astype(np.float32)
    return ArrayData(x, (0.5 * x[:, None] + 0.1).astype(np.float32))


def _initial_weights(model, preset, path, seed=0):
    from earthzoo.api import build_model, model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    tfw.seed_everything(seed)
    m = build_model(model, "torch", preset)
    save_canonical(path, Weights(tfw.state_to_numpy(m), model, config_to_dict(model_card(model).make_config(preset))))
    return str(path)


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(steps=10, lr=1.0, warmup_steps=2, min_lr=0.1)
    lrs = [cfg.lr_at(s) for s in range(10)]
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert lrs[2] == pytest.approx(1.0) and all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    assert cfg.lr_at(10) == pytest.approx(0.1)


def test_batch_plan_splits_the_global_batch_over_ranks():
    one = BatchPlan(10, 4, 2, seed=3)
    two = [BatchPlan(10, 4, 2, seed=3, rank=r, world=2) for r in range(2)]
    for step in range(4):
        for micro in range(2):
            assert list(one.indices(step, micro)) == list(two[0].indices(step, micro)) + list(two[1].indices(step, micro))
    seen = np.concatenate([one.indices(0, 0), one.indices(0, 1), one.indices(1, 0)])[:10]
    assert sorted(seen) == list(range(10))  # one epoch is a permutation


def test_toy_torch_and_mindspore_follow_the_same_curve(zoo, tmp_path):
    """Same weights, same batches, AdamW + clipping + warmup + accumulation: the
    MindSpore graph engine tracks torch's AdamW step by step."""
    init = _initial_weights("toy", "tiny", tmp_path / "init.safetensors")
    cfg = TrainConfig(steps=15, batch_size=4, lr=2e-2, warmup_steps=3, accum_steps=2, grad_clip=0.5, checkpoint_every=0)
    data = _toy_data()
    curves, finals = {}, {}
    for fw in ("torch", "mindspore"):
        train("toy", framework=fw, data=data, out=tmp_path / fw, cfg=cfg, weights=init, show_progress=False)
        curves[fw] = np.array([r["loss"] for r in read_log(tmp_path / fw / "train_log.jsonl")])
        from earthzoo.weights import load_canonical

        finals[fw] = load_canonical(tmp_path / fw / "weights.safetensors").tensors
    assert len(curves["torch"]) == 15 and curves["torch"][-1] < 0.5 * curves["torch"][0]
    np.testing.assert_allclose(curves["mindspore"], curves["torch"], rtol=1e-4)
    for k in finals["torch"]:
        np.testing.assert_allclose(finals["mindspore"][k], finals["torch"][k], atol=1e-4)


def test_log_plot_and_summary(zoo, tmp_path):
    s = train("toy", data=_toy_data(), out=tmp_path / "run", cfg=TrainConfig(steps=4, checkpoint_every=2), show_progress=False)
    recs = read_log(tmp_path / "run" / "train_log.jsonl")
    assert [r["step"] for r in recs] == [1, 2, 3, 4]
    assert all(r["samples_per_s"] > 0 and r["lr"] > 0 and np.isfinite(r["loss"]) for r in recs)
    png = (tmp_path / "run" / "loss_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["final_loss"] == pytest.approx(recs[-1]["loss"])
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-000002", "step-000004"]
    assert s["weights"].endswith("weights.safetensors")


def test_without_matplotlib_the_run_finishes_and_skips_the_plot(zoo, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib now fails
    s = train("toy", data=_toy_data(), out=tmp_path / "run", cfg=TrainConfig(steps=2, checkpoint_every=0), show_progress=False)
    assert (tmp_path / "run" / "weights.safetensors").is_file() and not (tmp_path / "run" / "loss_curve.png").exists()
    assert s["plot"] is None and json.loads((tmp_path / "run" / "summary.json").read_text())["plot"] is None
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["note: plot skipped (matplotlib is not installed, so no figure is drawn - for figures: pip install 'earthzoo[plot]')"]


@pytest.mark.slow
def test_fourcastnet_tiny_torch_mindspore_loss_curves_agree_50_steps(tmp_path):
    """Acceptance: FourCastNet tiny, fp32, same initial weights and data: the
    two frameworks' losses agree within 1% relative at each of the first 50 steps."""
    from earthzoo.api import model_card
    from earthzoo.training.data import training_data

    path = wave_dataset(tmp_path / "waves.nc", times=30)
    card = model_card("fourcastnet")
    data = training_data(str(path), card, card.make_config("tiny"), 1)
    init = _initial_weights("fourcastnet", "tiny", tmp_path / "init.safetensors")
    cfg = TrainConfig(steps=50, batch_size=1, lr=1e-3, warmup_steps=5, checkpoint_every=0)
    curves = {}
    for fw in ("torch", "mindspore"):
        train("fourcastnet", framework=fw, preset="tiny", data=data, out=tmp_path / fw, cfg=cfg, weights=init, show_progress=False)
        curves[fw] = np.array([r["loss"] for r in read_log(tmp_path / fw / "train_log.jsonl")])
    rel = np.abs(curves["mindspore"] - curves["torch"]) / np.abs(curves["torch"])
    (tmp_path.parent / "fcn_parity.json").write_text(json.dumps({"max_rel": float(rel.max()), "torch": curves["torch"].tolist(), "mindspore": curves["mindspore"].tolist()}))
    print(f"max relative loss difference over 50 steps: {rel.max():.3e}")
    assert len(rel) == 50 and rel.max() < 0.01
    assert curves["torch"][-5:].mean() < curves["torch"][:5].mean()


def test_data_that_does_not_fit_the_preset_names_the_presets_that_exist():
    """GraphCast's ``tiny`` (the golden fixture's 10 channels) on the 5-channel tiny
    atmosphere: the error names the presets, ``tiny-synthetic`` among them."""
    from earthzoo.api import model_card
    from earthzoo.errors import EarthzooError
    from earthzoo.training.data import training_data

    card = model_card("graphcast")
    with pytest.raises(EarthzooError) as err:
        training_data("synthetic-atmosphere:tiny", card, card.make_config("tiny"), 1)
    assert "has 5 channels" in err.value.problem and "tiny-synthetic" in err.value.fix
