"""Masked pre-training's framework-free half: which tokens are hidden, where the
loss looks, and the clear errors for settings and models that have no such stage."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from earthzoo.errors import EarthzooError
from earthzoo.training import TrainConfig, train
from earthzoo.training.data import ArrayData, Layout
from earthzoo.training.masking import mask_indices, masked_batch, reconstruction_target

CONFIG = SimpleNamespace(patch_size=4, mask_ratio=0.75)


def test_masking_keeps_the_smallest_noise_and_restores_order():
    noise = np.random.default_rng(3).random((2, 10))
    keep, restore, mask = mask_indices(noise, 0.6)
    assert keep.shape == (2, 4) and mask.sum() == 2 * 6
    for b in range(2):
        assert set(keep[b]) == set(np.argsort(noise[b])[:4])
        assert np.all(mask[b, keep[b]] == 0)
        shuffled = np.argsort(noise[b], kind="stable")
        assert np.array_equal(shuffled[restore[b]], np.arange(10))


def _ocean(H=16, W=32):
    ocean = np.ones((H, W), np.float32)
    ocean[:5, 3:20] = 0  # land across several patches, some only partly
    return ocean


def test_weight_covers_exactly_the_hidden_patches_ocean_points():
    x = np.random.default_rng(0).standard_normal((3, 7, 16, 32)).astype(np.float32)
    target = x[:, :2]
    ocean = _ocean()
    _, _, keep, restore, weight = masked_batch(x, target, CONFIG, ocean, seed=5, step=2, micro=1)
    assert weight.shape == (3, 1, 16, 32) and keep.shape == (3, 8)  # 4x8 tokens, a quarter kept
    for b in range(3):
        hidden = np.ones(32, bool)
        hidden[keep[b]] = False
        pix = np.zeros((16, 32), bool)
        for t in np.flatnonzero(hidden):
            r, c = divmod(int(t), 8)
            pix[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = True
        np.testing.assert_array_equal(weight[b, 0] > 0, pix & (ocean > 0))
    # the loss sum(weight * d^2) is the mean square over those points and the target's channels
    np.testing.assert_allclose(weight.sum() * target.shape[1], 1.0, rtol=1e-6)
    d = np.random.default_rng(1).standard_normal(target.shape).astype(np.float32)
    sel = np.broadcast_to(weight > 0, d.shape)
    np.testing.assert_allclose((weight * d * d).sum(), np.mean(d[sel] ** 2), rtol=1e-5)


def test_masks_follow_seed_step_and_micro_batch_and_split_over_processes():
    x = np.zeros((4, 3, 16, 32), np.float32)
    draw = lambda *a, **k: masked_batch(x, x, CONFIG, None, *a, **k)[2]  # noqa: E731
    np.testing.assert_array_equal(draw(0, 3, 0), draw(0, 3, 0))
    assert not np.array_equal(draw(0, 3, 0), draw(0, 4, 0)) and not np.array_equal(draw(0, 3, 0), draw(0, 3, 1))
    assert not np.array_equal(draw(0, 3, 0), draw(1, 3, 0))
    # two processes holding halves of the micro-batch hide what one process would, and
    # the mean of their losses is one process's loss (weights normalised over the whole)
    ocean = _ocean()
    half = x[:2]
    parts = [masked_batch(half, half, CONFIG, ocean, 0, 3, 0, rows=(r, 2)) for r in range(2)]
    one = masked_batch(x, x, CONFIG, ocean, 0, 3, 0)
    np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), one[2])
    np.testing.assert_allclose(np.concatenate([p[4] for p in parts]) / 2, one[4], rtol=1e-6)


def test_reconstruction_target_is_the_last_prognostic_frame():
    x = np.arange(2 * 9 * 2 * 2, dtype=np.float32).reshape(2, 9, 2, 2)
    layout = Layout(prognostic=3, history=2, forcing=2, static=1)  # 6 history + 2 forcing + 1 static
    np.testing.assert_array_equal(reconstruction_target(x, layout), x[:, 3:6])
    np.testing.assert_array_equal(reconstruction_target(x, None), x)


def test_bad_masked_settings_and_models_without_the_stage_fail_clearly(zoo, tmp_path):
    with pytest.raises(EarthzooError, match="use --rollout 1 with --stage masked"):
        TrainConfig(stage="masked", rollout_steps=2)
    with pytest.raises(EarthzooError, match="unknown training stage"):
        TrainConfig(stage="finetune")
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 16)).astype(np.float32)
    with pytest.raises(EarthzooError, match="'toy' has no masked pre-training stage") as e:
        train("toy", data=ArrayData(x, x[:, None]), out=tmp_path / "run", cfg=TrainConfig(steps=1, stage="masked"), show_progress=False)
    assert "\n" not in str(e.value)


def test_cli_stage_option_reaches_the_trainer(tmp_path):
    from training_helpers import earthzoo, wave_dataset

    data = wave_dataset(tmp_path / "waves.nc", times=12)
    run = earthzoo("train", "fourcastnet", "--preset", "tiny", "--data", str(data), "--steps", "1", "--stage", "masked", "--out", str(tmp_path / "run"))
    assert run.returncode == 2 and "'fourcastnet' has no masked pre-training stage" in run.stderr and "Traceback" not in run.stderr
