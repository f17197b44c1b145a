"""Land never enters the loss: garbage (huge values, NaN, inf) on land points gives
the same loss and finite gradients, in both frameworks."""

import numpy as np
import pytest
import torch
from earthzoo_ai_goms import torch_model as tm
from earthzoo_ai_goms.common import mask_indices
from earthzoo_ai_goms.config import AIGOMSConfig
from earthzoo_ai_goms.inputs import example_input, example_ocean_mask


def _data():
    c = AIGOMSConfig.preset("tiny")
    ocean = example_ocean_mask(c)
    assert 0 < ocean.mean() < 1
    rng = np.random.default_rng(0)
    pred = rng.standard_normal((2, c.out_chans, *c.img_size)).astype(np.float32)
    target = example_input(c, 2, 0)[:, : c.out_chans]
    garbage_t, garbage_p = target.copy(), pred.copy()
    land = ~ocean
    garbage_t[:, 0][:, land] = np.nan
    garbage_t[:, 1][:, land] = 1e30
    garbage_t[:, 2:][:, :, land] = -7e3
    garbage_p[:, :][:, :, land] = 123.0
    keep, restore, mask = mask_indices(rng.random((2, 128)), 0.5)
    return c, ocean, pred, target, garbage_p, garbage_t, mask


def test_land_garbage_gives_the_same_loss_torch():
    c, ocean, pred, target, gp, gt, mask = _data()
    clean = tm.ocean_mse(torch.from_numpy(pred), torch.from_numpy(target), ocean)
    p = torch.from_numpy(gp).requires_grad_(True)
    dirty = tm.ocean_mse(p, torch.from_numpy(gt), ocean)
    assert torch.isfinite(clean) and clean.item() == dirty.item()
    dirty.backward()
    assert torch.isfinite(p.grad).all() and (p.grad[:, :, ~torch.from_numpy(ocean)] == 0).all()
    # the loss does see the ocean: a change there changes it
    bumped = gt.copy()
    bumped[:, 0][:, ocean] += 1.0
    assert tm.ocean_mse(torch.from_numpy(gp), torch.from_numpy(bumped), ocean).item() != dirty.item()
    pc = tm.pretrain_loss(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(mask), ocean, c.patch_size)
    pd = tm.pretrain_loss(torch.from_numpy(gp), torch.from_numpy(gt), torch.from_numpy(mask), ocean, c.patch_size)
    assert torch.isfinite(pc) and pc.item() == pd.item()


def test_pretrain_loss_ignores_visible_patches():
    c, ocean, pred, target, *_, mask = _data()
    base = tm.pretrain_loss(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(mask), ocean, c.patch_size).item()
    visible = np.kron(1 - mask.reshape(2, 8, 16), np.ones((4, 4), np.float32)).astype(bool)  # (2, H, W)
    changed = pred.copy()
    changed[visible[:, None].repeat(c.out_chans, 1)] += 5.0
    assert tm.pretrain_loss(torch.from_numpy(changed), torch.from_numpy(target), torch.from_numpy(mask), ocean, c.patch_size).item() == base


def test_land_garbage_gives_the_same_loss_mindspore():
    ms = pytest.importorskip("mindspore")
    from earthzoo_ai_goms import mindspore_model as mm

    c, ocean, pred, target, gp, gt, mask = _data()
    clean = float(mm.ocean_mse(ms.Tensor(pred), ms.Tensor(target), ocean).asnumpy())
    dirty = float(mm.ocean_mse(ms.Tensor(gp), ms.Tensor(gt), ocean).asnumpy())
    assert np.isfinite(clean) and clean == dirty
    pc = float(mm.pretrain_loss(ms.Tensor(pred), ms.Tensor(target), ms.Tensor(mask), ocean, c.patch_size).asnumpy())
    pd = float(mm.pretrain_loss(ms.Tensor(gp), ms.Tensor(gt), ms.Tensor(mask), ocean, c.patch_size).asnumpy())
    assert np.isfinite(pc) and pc == pd
    grad = ms.grad(lambda p: mm.ocean_mse(p, ms.Tensor(gt), ocean))(ms.Tensor(gp)).asnumpy()
    assert np.isfinite(grad).all() and (grad[:, :, ~ocean] == 0).all()
