"""The DGL engine in the DGL environment: its ops equal the native ones (values and
gradients), GraphCast through it reproduces DeepMind's reference and the default
engine's outputs and gradients, it is what the custom-ops hook selects, and
training through it gives the default engine's losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dgl_helpers import needs_dgl

pytestmark = needs_dgl

GRAPH_ARGS = ("grid_node_features_full", "mesh_node_features_full", "g2m_edge_features", "g2m_senders", "g2m_receivers",
              "mesh_edge_features", "mesh_senders", "mesh_receivers", "m2g_edge_features", "m2g_senders", "m2g_receivers")
REL = 1e-6


def _dgl_ops():
    from earthzoo_dgl import engine

    return {"gather": engine.gather, "scatter_sum": engine.scatter_sum}


def _rel(a, b) -> float:
    """max |a - b| relative to max |b|."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def test_ops_equal_the_native_ones_with_gradients():
    import torch
    from earthzoo_graphcast.torch_model import DEFAULT_OPS

    g = torch.Generator().manual_seed(0)
    n, e = 7, 40
    index = torch.randint(0, n - 2, (e,), generator=g)  # repeated indices, and nodes that no edge points at
    for shape in ((n, 5), (n, 3, 4)):
        x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
        src = torch.randn((e,) + shape[1:], generator=g, dtype=torch.float64, requires_grad=True)
        results = []
        for ops in (DEFAULT_OPS, _dgl_ops()):
            y, s = ops["gather"](x, index), ops["scatter_sum"](src, index, n)
            (y.sin().sum() + s.cos().sum()).backward()
            results.append((y.detach(), s.detach(), x.grad.clone(), src.grad.clone()))
            x.grad = src.grad = None
        for want, got in zip(*results):
            assert want.shape == got.shape
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        assert results[1][1][n - 2:].abs().max() == 0  # nodes without edges sum to zero


def test_float16_goes_through_float32_on_cpu():
    """DGL's CPU kernels have no float16 (CPU fp16 autocast): gathered exactly, summed in float32."""
    import torch

    g = torch.Generator().manual_seed(0)
    index = torch.randint(0, 5, (30,), generator=g)
    x = torch.randn((6, 4), generator=g).half().requires_grad_()
    ops = _dgl_ops()
    y = ops["gather"](x, index)
    assert y.dtype == torch.float16 and torch.equal(y, x[index])
    s = ops["scatter_sum"](y, index, 6)
    assert s.dtype == torch.float16
    torch.testing.assert_close(s, torch.zeros(6, 4).index_add_(0, index, y.float()).half(), rtol=0, atol=0)
    s.float().sum().backward()
    torch.testing.assert_close(x.grad, torch.bincount(index, minlength=6).half()[:, None].expand(6, 4), rtol=0, atol=0)


def _golden_model(ckpt, ops):
    from earthzoo.frameworks import torch as fw
    from earthzoo_graphcast import convert
    from earthzoo_graphcast.config import GraphCastConfig
    from earthzoo_graphcast.torch_model import build

    w = convert.read(ckpt)
    model = build(GraphCastConfig(**w.config))
    fw.load_numpy_state(model, w.tensors, "graphcast")
    model.set_ops(ops)
    return model


def test_reproduces_deepmind_reference_on_reference_graphs(ckpt, gio):
    """The tolerances of plugins/graphcast/tests/test_graphcast_golden.py."""
    import torch

    model = _golden_model(ckpt, _dgl_ops())
    with torch.no_grad():
        out, lat = model.forward_nodes(*[torch.from_numpy(np.ascontiguousarray(gio[k])) for k in GRAPH_ARGS], return_latents=True)
    assert np.abs(out.numpy() - gio["grid_out"]).max() <= 1e-5
    for name in ("latent_grid_after_g2m", "latent_mesh_after_g2m", "latent_mesh_after_processor", "latent_grid_before_decoder"):
        assert np.abs(lat[name].numpy() - gio[name]).max() <= 3e-5, name
    steps = np.stack([s.numpy() for s in lat["mesh_processor_step_latents"]])
    assert np.abs(steps - gio["mesh_processor_step_latents"]).max() <= 3e-5


def test_reproduces_deepmind_reference_through_model_call(ckpt, gio):
    import torch
    from gc_helpers import TIE_NODES, stack_inputs

    model = _golden_model(ckpt, _dgl_ops())
    x = stack_inputs(gio, model.config)[:, :, ::-1].copy()  # golden lat is ascending; earthzoo feeds north -> south
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()[:, :, ::-1]
    b, c, h, w = y.shape
    out = y.transpose(2, 3, 0, 1).reshape(h * w, b, c)
    keep = np.setdiff1d(np.arange(h * w), TIE_NODES)
    assert np.abs(out[keep] - gio["grid_out"][keep]).max() <= 1e-5
    # and the wrong latitude order does not match: this comparison can fail
    with torch.no_grad():
        wrong = model(torch.from_numpy(stack_inputs(gio, model.config))).numpy()
    assert np.abs(wrong.transpose(2, 3, 0, 1).reshape(h * w, b, c) - gio["grid_out"]).max() > 0.1


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_equals_default_engine_outputs_and_gradients(preset):
    import torch
    from earthzoo_graphcast import torch_model
    from earthzoo_graphcast.config import GraphCastConfig
    from earthzoo_graphcast.inputs import example_input

    cfg = GraphCastConfig.preset(preset)
    torch.manual_seed(0)
    native = torch_model.build(cfg)
    dgl = torch_model.build(cfg)
    dgl.load_state_dict(native.state_dict())
    dgl.set_ops(_dgl_ops())
    x = torch.from_numpy(example_input(cfg, 2, 0))
    target = torch.randn((2, cfg.out_channels, cfg.n_lat, cfg.n_lon), generator=torch.Generator().manual_seed(1))
    runs = []
    for model in (native, dgl):
        y = model(x)
        ((y - target) ** 2).mean().backward()
        runs.append((y.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (y_native, g_native), (y_dgl, g_dgl) = runs
    assert _rel(y_dgl, y_native) <= REL
    assert g_native.keys() == g_dgl.keys() and len(g_native) > 0
    for k in g_native:
        assert g_native[k].abs().max() > 0, k  # every parameter gets a gradient: the comparison is not empty
        assert _rel(g_dgl[k], g_native[k]) <= REL, k


def test_the_custom_ops_hook_selects_the_engine():
    import earthzoo
    from earthzoo.ops import custom_ops
    from earthzoo_dgl import engine

    table = custom_ops("torch", "cpu")
    assert table["gather"] is engine.gather and table["scatter_sum"] is engine.scatter_sum
    # torch only: MindSpore on cpu gets the CPU backend's kernels, and no message passing
    assert not {"gather", "scatter_sum"} & set(custom_ops("mindspore", "cpu")) and custom_ops("torch", "ascend") == {}
    model = earthzoo.load_model("graphcast", "torch", preset="tiny", backend="cpu")
    assert model.ops["gather"] is engine.gather and all(step.ops is model.ops for step in model.processor)


def _losses(tmp_path, name, monkeypatch, load_plugins):
    from earthzoo import plugins
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.data import ArrayData
    from earthzoo_graphcast.config import GraphCastConfig

    if load_plugins is None:
        monkeypatch.delenv("EARTHZOO_LOAD_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", load_plugins)
    plugins.reset()
    cfg = GraphCastConfig.preset("tiny")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, cfg.in_channels, cfg.n_lat, cfg.n_lon)).astype(np.float32)
    y = rng.standard_normal((4, 1, cfg.out_channels, cfg.n_lat, cfg.n_lon)).astype(np.float32)
    summary = train("graphcast", framework="torch", preset="tiny", data=ArrayData(x, y), out=tmp_path / name, cfg=TrainConfig(steps=4, batch_size=2, checkpoint_every=0), backend="cpu", show_progress=False)
    plugins.reset()
    return [json.loads(line)["loss"] for line in open(summary["log"])]


def test_training_through_the_engine_gives_the_default_losses(tmp_path, monkeypatch):
    from earthzoo_dgl import engine

    calls = []
    real_scatter = engine.scatter_sum

    def counted(src, index, num):
        calls.append(num)
        return real_scatter(src, index, num)

    monkeypatch.setattr(engine, "scatter_sum", counted)
    with_dgl = _losses(tmp_path, "dgl", monkeypatch, None)  # every installed plugin: the hook selects DGL
    used = len(calls)
    assert used >= 4 * (2 + 3)  # 4 steps, a forward each: grid2mesh, 3 mesh steps, mesh2grid (and the trainer's memory probe)
    native = _losses(tmp_path, "native", monkeypatch, "graphcast")  # the DGL plugin not loaded: native ops
    assert len(calls) == used and len(native) == len(with_dgl) == 4
    for a, b in zip(with_dgl, native):
        assert abs(a - b) <= REL * abs(b), (with_dgl, native)
    assert native[0] != native[-1]  # the weights moved: the losses compared are of training steps
