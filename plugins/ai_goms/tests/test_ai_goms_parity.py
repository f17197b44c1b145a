"""Torch <-> MindSpore parity (fp32): the backbone rollout through core's parity, the
fine-tuning modules and the masked forward (the pre-training loss: test_ai_goms_engine)."""

import numpy as np
import pytest
import torch
from earthzoo.parity import parity
from earthzoo.training.masking import mask_indices
from earthzoo_ai_goms import mindspore_model as mm
from earthzoo_ai_goms import torch_model as tm
from earthzoo_ai_goms.config import AIGOMSConfig
from earthzoo_ai_goms.inputs import example_input


def _weights_with_live_head(tmp_path, seed=0):
    """Canonical tiny weights whose prediction head is random and residual scale 1:
    the residual tiny preset starts with a zero head (persistence), which would let a
    parity test pass without the network contributing anything."""
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import Weights, save_canonical

    torch.manual_seed(seed)
    model = tm.build(AIGOMSConfig.preset("tiny"))
    with torch.no_grad():
        torch.nn.init.normal_(model.decoder_pred.weight, std=0.05)
        torch.nn.init.normal_(model.decoder_pred.bias, std=0.05)
        model.residual_log_scale.zero_()
    path = tmp_path / "live_head.safetensors"
    save_canonical(path, Weights(tfw.state_to_numpy(model), "ai_goms"))
    return str(path)


def test_backbone_rollout_parity_10_steps(tmp_path):
    report = parity("ai_goms", preset="tiny", steps=10, weights=_weights_with_live_head(tmp_path))
    assert len(report["per_step"]) == 10
    assert all(s["rel_rmse"] <= 1e-5 for s in report["per_step"]), report["per_step"]


@pytest.mark.parametrize("preset", ["tiny_downscale", "tiny_wave"])
def test_finetune_module_parity(preset):
    report = parity("ai_goms", preset=preset, steps=1)
    assert report["rel_rmse"] <= 1e-5


def _pair(preset):
    import mindspore as ms

    c = AIGOMSConfig.preset(preset)
    t = tm.build(c)
    with torch.no_grad():  # a live head: the residual presets start with a zero one
        torch.nn.init.normal_(t.decoder_pred.weight, std=0.05)
    m = mm.build(c)
    state = {k: v.detach().numpy().copy() for k, v in t.state_dict().items()}
    params = dict(m.parameters_and_names())
    assert set(params) == set(state)
    for k, p in params.items():
        p.set_data(ms.Tensor(state[k]))
    return c, t, m


def test_masked_forward_parity():
    import mindspore as ms

    c, t, m = _pair("tiny")
    x = example_input(c, 2, 1)
    keep, restore, mask = mask_indices(np.random.default_rng(7).random((2, 128)), c.mask_ratio)
    with torch.no_grad():
        yt = t.forward_masked(torch.from_numpy(x), torch.from_numpy(keep), torch.from_numpy(restore))
    ym = m.forward_masked(ms.Tensor(x), ms.Tensor(keep), ms.Tensor(restore))
    d = yt.numpy() - ym.asnumpy()
    assert np.sqrt(np.mean(d**2)) / np.sqrt(np.mean(yt.numpy() ** 2)) <= 1e-5


def test_compiled_forecast_step_matches_pynative_and_checks_its_input():
    import mindspore as ms
    from earthzoo.errors import EarthzooError

    c, _, m = _pair("tiny")
    x = ms.Tensor(example_input(c, batch=2))
    step = mm.compiled(m)
    assert mm.compiled(m) is step  # one jitted forward per net, kept on the net
    y, yg = m(x).asnumpy(), step(x).asnumpy()
    assert np.abs(yg - y).max() <= 1e-5 * np.abs(y).max()
    with pytest.raises(EarthzooError, match="AI-GOMS input has shape"):
        step(ms.Tensor(np.zeros((1, 3, *c.img_size), np.float32)))
