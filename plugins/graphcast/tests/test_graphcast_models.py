"""Model behaviour: torch <-> MindSpore parity (forward, rollout, gradients), the op
table, activation checkpointing, channel bookkeeping and input errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from earthzoo.errors import EarthzooError
from earthzoo_graphcast.config import GraphCastConfig
from earthzoo_graphcast.inputs import example_input, next_input


def _pair(config):
    import torch
    from earthzoo.frameworks import mindspore as msfw
    from earthzoo.frameworks import torch as tfw
    from earthzoo_graphcast import mindspore_model, torch_model

    torch.manual_seed(0)
    tm = torch_model.build(config)
    mm = mindspore_model.build(config)
    msfw.load_numpy_state(mm, tfw.state_to_numpy(tm), "graphcast")
    return tm, mm


def test_parity_rollout_through_core():
    from earthzoo.parity import parity

    report = parity("graphcast", preset="tiny", steps=5)
    rel = [s["rel_rmse"] for s in report["per_step"]]
    assert len(rel) == 5 and max(rel) <= 1e-5, rel


def test_gradients_match_between_frameworks():
    import mindspore as ms
    import torch

    cfg = dataclasses.replace(GraphCastConfig.preset("tiny"), residual=False)
    tm, mm = _pair(cfg)
    x = example_input(cfg, 2, 1)
    y = np.random.default_rng(2).standard_normal((2, cfg.out_channels, cfg.n_lat, cfg.n_lon)).astype(np.float32)
    loss_t = ((tm(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
    loss_t.backward()
    grads_t = {k: p.grad.numpy() for k, p in tm.named_parameters()}

    params = mm.trainable_params()

    def loss_fn(xx, yy):
        return ((mm(xx) - yy) ** 2).mean()

    loss_m, grads = ms.value_and_grad(loss_fn, None, params)(ms.Tensor(x), ms.Tensor(y))
    assert abs(float(loss_m.asnumpy()) - loss_t.item()) <= 1e-5 * abs(loss_t.item())
    for p, g in zip(params, grads):
        gt = grads_t[p.name]
        assert np.abs(g.asnumpy() - gt).max() <= 1e-4 * (np.abs(gt).max() + 1e-6), p.name


def test_op_table_override_is_used_and_equivalent():
    import torch
    from earthzoo_graphcast import torch_model

    cfg = GraphCastConfig.preset("tiny")
    torch.manual_seed(0)
    m = torch_model.build(cfg)
    x = torch.from_numpy(example_input(cfg, 1, 0))
    with torch.no_grad():
        ref = m(x)
    calls = []

    def scatter_sum(src, index, num):  # a different engine: scatter_add_ with an expanded index
        calls.append(num)
        idx = index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
        return src.new_zeros((num,) + tuple(src.shape[1:])).scatter_add_(0, idx, src)

    m.set_ops({"scatter_sum": scatter_sum})
    with torch.no_grad():
        out = m(x)
    assert len(calls) == 2 + cfg.gnn_msg_steps
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_activation_checkpointing_keeps_gradients():
    import torch
    from earthzoo.plugins import get_plugin_manager
    from earthzoo.runtime import MemoryPlan
    from earthzoo_graphcast import torch_model

    cfg = GraphCastConfig.preset("tiny")
    torch.manual_seed(0)
    a = torch_model.build(cfg)
    b = torch_model.build(cfg)
    b.load_state_dict(a.state_dict())
    # Through the memory-schedule hook, as the training engine applies it.
    notes = get_plugin_manager().hook.earthzoo_memory_schedule(backend="cpu", framework="torch", model=b, plan=MemoryPlan(activation_checkpointing=True))
    assert "5 blocks" in notes[0]  # the encoder, the 3 processor steps, the decoder
    assert all(getattr(blk.forward, "earthzoo_checkpointed", False) for blk in (b.encoder, *b.processor, b.decoder))
    runs = []
    b.decoder.step.register_forward_pre_hook(lambda *_: runs.append("decoder"))  # pre: a recompute stops early
    b.encoder.register_forward_pre_hook(lambda *_: runs.append("encoder"))  # the outer call only
    x = torch.from_numpy(example_input(cfg, 1, 0))
    for m in (a, b):
        m(x).square().mean().backward()
    assert runs.count("decoder") == 2 and runs.count("encoder") == 1  # the decoder's step ran again in backward
    for (k, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-6, rtol=1e-5, msg=k)


def test_mindspore_recompute_on_encoder_processor_and_decoder():
    from earthzoo.frameworks import mindspore as msfw
    from earthzoo_graphcast import mindspore_model

    m = mindspore_model.build(GraphCastConfig.preset("tiny"))
    assert "5 blocks" in msfw.enable_activation_checkpointing(m)[0]


def test_channels_and_next_input():
    cfg = GraphCastConfig.preset("tiny")
    assert (cfg.in_channels, cfg.out_channels) == (10, 3)
    x = example_input(cfg, 2, 0)
    y = np.random.default_rng(1).standard_normal((2, 3, 19, 36)).astype(np.float32)
    nx = next_input(x, y, 0, cfg)
    names = cfg.channel_names()
    ix = {n: i for i, n in enumerate(names)}
    np.testing.assert_array_equal(nx[:, ix["2m_temperature[time=0]"]], x[:, ix["2m_temperature[time=1]"]])
    np.testing.assert_array_equal(nx[:, ix["2m_temperature[time=1]"]], y[:, 0])
    np.testing.assert_array_equal(nx[:, ix["temperature[time=1,level=850]"]], y[:, 2])
    np.testing.assert_array_equal(nx[:, ix["land_sea_mask"]], x[:, ix["land_sea_mask"]])
    small, paper = GraphCastConfig.preset("small"), GraphCastConfig.preset("paper")
    assert small.residual and small.residual_index() == [0, 1, 2, 3]
    assert (paper.in_channels, paper.out_channels) == (471, 227) and (paper.latent_size, paper.gnn_msg_steps, paper.mesh_size) == (512, 16, 6)


def test_residual_adds_last_state():
    import torch
    from earthzoo_graphcast import torch_model

    base = dataclasses.replace(GraphCastConfig.preset("tiny"), input_variables=("2m_temperature", "temperature"), forcing_variables=())
    torch.manual_seed(0)
    plain = torch_model.build(base)
    res = torch_model.build(dataclasses.replace(base, residual=True))
    res.load_state_dict(plain.state_dict())
    x = torch.from_numpy(example_input(base, 1, 0))
    with torch.no_grad():
        d = res(x) - plain(x)
    torch.testing.assert_close(d, x[:, base.residual_index()], atol=1e-6, rtol=0)


def test_wrong_input_shape_is_one_line_error():
    import mindspore as ms
    import torch

    cfg = GraphCastConfig.preset("tiny")
    tm, mm = _pair(cfg)
    bad = np.zeros((1, 9, 19, 36), np.float32)
    with pytest.raises(EarthzooError, match=r"expects input \(B, 10, 19, 36\)"):
        tm(torch.from_numpy(bad))
    with pytest.raises(EarthzooError, match=r"expects input \(B, 10, 19, 36\)"):
        mm(ms.Tensor(bad))
    with pytest.raises(EarthzooError, match="no preset"):
        GraphCastConfig.preset("huge")


def test_mindspore_trains_through_the_compiled_engine(tmp_path):
    """The engine's jitted step calls construct directly: the graphs must already be in place."""
    from earthzoo import model_card
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.data import ArrayData

    cfg = model_card("graphcast").make_config("tiny")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, cfg.in_channels, cfg.n_lat, cfg.n_lon)).astype(np.float32)
    y = rng.standard_normal((4, 1, cfg.out_channels, cfg.n_lat, cfg.n_lon)).astype(np.float32)
    summary = train("graphcast", framework="mindspore", preset="tiny", data=ArrayData(x, y), out=tmp_path / "run", cfg=TrainConfig(steps=3, batch_size=2, checkpoint_every=0), show_progress=False)
    assert summary["steps"] == 3 and np.isfinite(summary["final_loss"])
