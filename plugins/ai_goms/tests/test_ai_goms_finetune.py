"""Each fine-tuning module trains alone: the backbone stays frozen, the head learns,
in PyTorch and MindSpore."""

import numpy as np
import pytest
import torch
from earthzoo_ai_goms import torch_model as tm
from earthzoo_ai_goms.config import AIGOMSConfig
from earthzoo_ai_goms.inputs import example_input


def _target(model_out_shape, seed=0):
    return np.random.default_rng(seed).standard_normal(model_out_shape).astype(np.float32)


@pytest.mark.parametrize("preset", ["tiny_downscale", "tiny_wave"])
def test_torch_head_trains_backbone_frozen(preset):
    c = AIGOMSConfig.preset(preset)
    torch.manual_seed(0)
    model = tm.build(c)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("head.") for n in trainable)
    x = torch.from_numpy(example_input(c, 2, 0))
    y = torch.from_numpy(_target(tuple(model(x).shape)))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("head."))


@pytest.mark.parametrize("preset", ["tiny_downscale", "tiny_wave"])
def test_mindspore_head_trains_backbone_frozen(preset):
    ms = pytest.importorskip("mindspore")
    from earthzoo_ai_goms import mindspore_model as mm

    c = AIGOMSConfig.preset(preset)
    net = mm.build(c)
    before = {k: p.asnumpy().copy() for k, p in net.parameters_and_names()}
    params = net.trainable_params()
    assert params and all(p.name.startswith("head.") for p in params)
    x = ms.Tensor(example_input(c, 2, 0))
    y = ms.Tensor(_target(tuple(net(x).shape)))
    opt = ms.nn.SGD(params, learning_rate=0.5)

    def loss_fn(a, b):
        return ms.ops.mean((net(a) - b) ** 2)

    step = ms.value_and_grad(loss_fn, None, opt.parameters)
    losses = []
    for _ in range(5):
        loss, grads = step(x, y)
        opt(grads)
        losses.append(float(loss.asnumpy()))
    assert losses[-1] < losses[0]
    after = {k: p.asnumpy() for k, p in net.parameters_and_names()}
    assert all(np.array_equal(before[k], after[k]) for k in before if k.startswith("backbone."))
    assert any(not np.array_equal(before[k], after[k]) for k in before if k.startswith("head."))
