"""The Ascend backend's op table (DFT-by-matmul rfft/irfft and rfft2/irfft2, one-hot
scatter_sum) applied on CPU to every model in both frameworks: the outputs and the
gradients of every parameter equal the default ops' to 1e-5 (relative to the largest
value), and each op the model looks up is really called."""

from __future__ import annotations

import numpy as np
import pytest
from earthzoo.api import build_model, model_card
from earthzoo.cards import resolve
from earthzoo.ops import apply_custom_ops, custom_ops

RTOL = 1e-5
# the ops of the Ascend table each model looks up (gather stays native on Ascend)
USES = {"fourcastnet": {"rfft2", "irfft2"}, "ai_goms": {"rfft", "irfft"}, "graphcast": {"scatter_sum"}}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EARTHZOO_CACHE", str(tmp_path_factory.getbasetemp() / "earthzoo-cache"))  # GraphCast's graphs


class Counted:
    """An op that counts its calls, so a table that is installed but never used fails."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def _inputs(name: str, seed: int = 0):
    card = model_card(name)
    config = card.make_config("tiny")
    x = resolve(card.example_input)(config, batch=2, seed=seed)
    return config, x


def _perturb(named: list[tuple[str, np.ndarray]], seed: int) -> dict[str, np.ndarray]:
    """Every parameter moved by N(0, 0.05): AI-GOMS's tiny output head starts at zero
    (an untrained residual model is persistence), which would hide its spectral filters."""
    rng = np.random.default_rng(seed)
    return {k: (v + 0.05 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in named}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _torch_run(name: str, table: dict | None):
    import torch

    config, x = _inputs(name)
    torch.manual_seed(0)
    net = build_model(name, "torch", config=config)
    with torch.no_grad():
        for k, v in _perturb([(k, p.detach().numpy()) for k, p in net.named_parameters()], 1).items():
            net.get_parameter(k).copy_(torch.from_numpy(v))
    if table is not None:
        net.set_ops(table)
    y = net(torch.from_numpy(x))
    w = torch.from_numpy(np.random.default_rng(2).standard_normal(tuple(y.shape)).astype(np.float32))
    (y * w).sum().backward()
    grads = {k: p.grad.numpy() for k, p in net.named_parameters() if p.grad is not None}
    return y.detach().numpy(), grads


def _mindspore_net(name: str):
    import mindspore as ms
    from earthzoo.frameworks import mindspore as msfw

    msfw.set_device("CPU")
    msfw.seed_everything(0)
    config, x = _inputs(name)
    net = build_model(name, "mindspore", config=config)
    params = net.trainable_params()
    for p, v in zip(params, _perturb([(p.name, p.asnumpy()) for p in params], 1).values()):
        p.set_data(ms.Tensor(v))
    return net, params, x


def _mindspore_run(name: str, table: dict | None):
    import mindspore as ms

    net, params, x = _mindspore_net(name)
    if table is not None:
        net.set_ops(table)
    xt = ms.Tensor(x)
    y = net(xt)
    w = ms.Tensor(np.random.default_rng(2).standard_normal(tuple(y.shape)).astype(np.float32))
    grads = ms.grad(lambda t: (net(t) * w).sum(), grad_position=None, weights=params)(xt)
    return y.asnumpy(), {p.name: g.asnumpy() for p, g in zip(params, grads)}


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
@pytest.mark.parametrize("name", ["fourcastnet", "graphcast", "ai_goms"])
def test_ascend_op_table_matches_the_default_ops(name, framework):
    run = _torch_run if framework == "torch" else _mindspore_run
    y_ref, g_ref = run(name, None)
    table = {k: Counted(v) for k, v in custom_ops(framework, "ascend").items()}
    y, g = run(name, table)
    assert {k for k, op in table.items() if op.calls} == USES[name]
    assert _rel(y, y_ref) < RTOL, (name, framework, _rel(y, y_ref))
    assert set(g) == set(g_ref) and len(g) > 10
    worst = max(g, key=lambda k: _rel(g[k], g_ref[k]))
    assert _rel(g[worst], g_ref[worst]) < RTOL, (name, framework, worst, _rel(g[worst], g_ref[worst]))
    # the spectral filters' weights (or the message MLPs') get real gradients through the table
    assert all(np.abs(v).max() > 0 for k, v in g.items() if ".filter." in k or "edge_mlp" in k)


@pytest.mark.parametrize("name", ["fourcastnet", "graphcast", "ai_goms"])
def test_mindspore_graph_mode_compiles_the_ascend_table(name):
    """Through ``apply_custom_ops`` (what a run on the backend does), the lazily named
    ops (Ascend's DFTs, the CPU's compiled kernels) are resolved, so ``ms.jit``
    compiles them (it cannot compile the wrapper)."""
    from earthzoo.frameworks import mindspore as msfw

    outs = []
    for backend in ("cpu", "ascend"):
        net, _, x = _mindspore_net(name)
        assert apply_custom_ops(net, "mindspore", backend) == (
            ["adamw", "bias_add", "complex_linear", "gelu", "irfft", "irfft2", "layer_norm", "linear", "rfft", "rfft2"] if backend == "cpu" else ["irfft", "irfft2", "rfft", "rfft2", "scatter_sum"]
        )
        run = msfw.inference_function(net)
        run(x)  # the first call of a shape runs the cell (its input checks), the next the compiled graph
        outs.append(run(x))
    assert _rel(outs[1], outs[0]) < RTOL, (name, _rel(outs[1], outs[0]))
