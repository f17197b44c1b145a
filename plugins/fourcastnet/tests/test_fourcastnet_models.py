"""Both implementations: names, round trips, the DFT path, the pole row, PrecipNet."""

from __future__ import annotations

import numpy as np
import pytest
from earthzoo.api import build_model, model_card
from earthzoo.frameworks import mindspore as mfw
from earthzoo.frameworks import torch as tfw
from earthzoo_fourcastnet.config import FourCastNetConfig

torch = pytest.importorskip("torch")
ms = pytest.importorskip("mindspore")


def _pair(config, seed=0):
    tfw.seed_everything(seed)
    t = build_model("fourcastnet", "torch", config=config).eval()
    m = build_model("fourcastnet", "mindspore", config=config)
    mfw.load_numpy_state(m, tfw.state_to_numpy(t))
    m.set_train(False)
    return t, m


def _x(config, batch=2, seed=1, rows=None):
    H, W = config.img_size
    return np.random.default_rng(seed).standard_normal((batch, config.in_chans, rows or H, W)).astype(np.float32)


def test_same_parameter_names_and_shapes():
    cfg = FourCastNetConfig()
    assert tfw.expected_shapes(build_model("fourcastnet", "torch", config=cfg)) == mfw.expected_shapes(build_model("fourcastnet", "mindspore", config=cfg))


def test_torch_mindspore_round_trip_is_bit_exact():
    t, m = _pair(FourCastNetConfig(), seed=3)
    canonical = tfw.state_to_numpy(t)
    back = mfw.state_to_numpy(m)
    t2 = build_model("fourcastnet", "torch", config=FourCastNetConfig())
    tfw.load_numpy_state(t2, back)
    again = tfw.state_to_numpy(t2)
    for name in canonical:
        assert canonical[name].dtype == back[name].dtype == again[name].dtype
        assert np.array_equal(canonical[name], back[name]) and np.array_equal(canonical[name], again[name]), name


def test_file_round_trip_through_every_format(tmp_path):
    from earthzoo.cli import main
    from earthzoo.weights import Weights, load_canonical, save_canonical

    t, _ = _pair(FourCastNetConfig(), seed=4)
    save_canonical(tmp_path / "a.safetensors", Weights(tfw.state_to_numpy(t), "fourcastnet", {}))
    for src, dst, to in (("a.safetensors", "b.pt", "torch"), ("b.pt", "c.ckpt", "mindspore"), ("c.ckpt", "d.safetensors", "safetensors")):
        assert main(["convert", str(tmp_path / src), str(tmp_path / dst), "--model", "fourcastnet", "--to", to, "--verify"]) == 0
    a, d = load_canonical(tmp_path / "a.safetensors").tensors, load_canonical(tmp_path / "d.safetensors").tensors
    assert set(a) == set(d) and all(np.array_equal(a[k], d[k]) for k in a)


def test_forward_parity_and_graph_mode():
    from earthzoo_fourcastnet.mindspore_model import compiled

    cfg = FourCastNetConfig()
    t, m = _pair(cfg)
    x = _x(cfg)
    with torch.no_grad():
        yt = t(torch.from_numpy(x)).numpy()
    ym = m(ms.Tensor(x)).asnumpy()
    yg = compiled(m)(ms.Tensor(x)).asnumpy()
    assert np.abs(yt - ym).max() < 1e-5 and np.abs(ym - yg).max() < 1e-5
    assert np.abs(yt).max() > 0.1  # a real output, not zeros


@pytest.mark.parametrize("pole_pad", ["repeat", "nan"])
def test_pole_row_dropped_and_padded(pole_pad):
    cfg = FourCastNetConfig(pole_pad=pole_pad)
    t, m = _pair(cfg)
    x = _x(cfg, rows=33)
    with torch.no_grad():
        y33, y32 = t(torch.from_numpy(x)).numpy(), t(torch.from_numpy(x[:, :, :32])).numpy()
    ym = m(ms.Tensor(x)).asnumpy()
    assert y33.shape == (2, 5, 33, 64) and ym.shape == y33.shape
    assert np.array_equal(y33[:, :, :32], y32)
    if pole_pad == "nan":
        assert np.isnan(y33[:, :, 32]).all() and np.isnan(ym[:, :, 32]).all()
    else:
        assert np.array_equal(y33[:, :, 32], y33[:, :, 31]) and np.array_equal(ym[:, :, 32], ym[:, :, 31])


def test_wrong_input_shape_is_a_one_line_error():
    from earthzoo.errors import EarthzooError

    t, _ = _pair(FourCastNetConfig())
    with pytest.raises(EarthzooError, match=r"input has shape \(1, 5, 40, 64\)"):
        t(torch.zeros(1, 5, 40, 64))


# ---------------------------------------------------------------- DFT-by-matmul


def test_dft_ops_equal_fft_torch_forward_and_gradient():
    from earthzoo.frameworks import dft_torch as d

    for h, w in ((8, 16), (7, 15)):
        x = torch.randn(2, h, w, 6, dtype=torch.float32, requires_grad=True)
        gr, gi = torch.randn(2, h, w // 2 + 1, 6), torch.randn(2, h, w // 2 + 1, 6)
        outs = []
        for ops in (d.NATIVE_OPS, d.DFT_OPS):
            re, im = ops["rfft2"](x)
            back = ops["irfft2"](re * gr, im * gi, (h, w))
            (g,) = torch.autograd.grad((back * back).sum(), x)
            outs.append((re.detach(), im.detach(), back.detach(), g))
        for a, b in zip(*outs):
            assert torch.allclose(a, b, atol=1e-5, rtol=0), (h, w, (a - b).abs().max())


def _model_grads_torch(cfg, x, seed=0):
    tfw.seed_everything(seed)
    model = build_model("fourcastnet", "torch", config=cfg)
    xt = torch.from_numpy(x).requires_grad_(True)
    y = model(xt)
    loss = (y * y).mean()
    grads = torch.autograd.grad(loss, [xt, *model.parameters()], allow_unused=True, materialize_grads=True)
    return y.detach().numpy(), [g.numpy() for g in grads]


def test_dft_model_equals_fft_model_torch():
    x = _x(FourCastNetConfig())
    y1, g1 = _model_grads_torch(FourCastNetConfig(spectral="fft"), x)
    y2, g2 = _model_grads_torch(FourCastNetConfig(spectral="dft"), x)
    assert np.abs(y1 - y2).max() <= 1e-5
    for a, b in zip(g1, g2):
        assert np.abs(a - b).max() <= 1e-5 * max(np.abs(a).max(), 1e-6)  # relative: gradients here are 3e-5..2e-2


def _model_grads_ms(cfg, x, tensors):
    model = build_model("fourcastnet", "mindspore", config=cfg)
    mfw.load_numpy_state(model, tensors)
    params = model.trainable_params()

    def loss_fn(inp):
        y = model(inp)
        return (y * y).mean(), y

    grad_fn = ms.value_and_grad(loss_fn, grad_position=0, weights=params, has_aux=True)
    (_, y), (gx, gp) = grad_fn(ms.Tensor(x))
    return y.asnumpy(), [gx.asnumpy()] + [g.asnumpy() for g in gp]


def test_dft_model_equals_fft_model_mindspore():
    x = _x(FourCastNetConfig())
    tfw.seed_everything(0)
    tensors = tfw.state_to_numpy(build_model("fourcastnet", "torch", config=FourCastNetConfig()))
    y1, g1 = _model_grads_ms(FourCastNetConfig(spectral="fft"), x, tensors)
    y2, g2 = _model_grads_ms(FourCastNetConfig(spectral="dft"), x, tensors)
    assert np.abs(y1 - y2).max() <= 1e-5
    assert len(g1) == len(tensors) + 1  # x and every parameter (the unused norm gets zeros)
    for a, b in zip(g1, g2):
        assert np.abs(a - b).max() <= 1e-5 * max(np.abs(a).max(), 1e-6)  # relative: gradients here are 3e-5..2e-2
    # and MindSpore's gradients are torch's, parameter by parameter
    _, gt = _model_grads_torch(FourCastNetConfig(), x)
    for a, b in zip(gt, g1):
        assert np.abs(a - b).max() <= 1e-5 * max(np.abs(a).max(), 1e-6)  # relative: gradients here are 3e-5..2e-2


def test_custom_ops_hook_switches_to_dft():
    from earthzoo.frameworks import dft_torch

    t, _ = _pair(FourCastNetConfig())
    t.set_ops(dft_torch.DFT_OPS)
    assert all(b.filter.ops["rfft2"] is dft_torch.rfft2 for b in t.blocks)


# ---------------------------------------------------------------- variants and card


def test_activation_checkpointing_keeps_gradients():
    cfg = FourCastNetConfig()
    x = _x(cfg)
    _, g1 = _model_grads_torch(cfg, x)
    tfw.seed_everything(0)
    model = build_model("fourcastnet", "torch", config=cfg)
    assert "2 blocks" in tfw.enable_activation_checkpointing(model)[0]
    xt = torch.from_numpy(x).requires_grad_(True)
    g2 = torch.autograd.grad((model(xt) ** 2).mean(), [xt, *model.parameters()], allow_unused=True, materialize_grads=True)
    assert all(np.allclose(a, b.numpy(), atol=1e-7) for a, b in zip(g1, g2))


def test_precipnet_variant_in_both_frameworks():
    cfg = FourCastNetConfig(out_chans=1, precip=True)
    t, m = _pair(cfg)
    names = list(tfw.expected_shapes(t))
    assert names[0] == "backbone.pos_embed" and names[-2:] == ["conv.weight", "conv.bias"]
    x = _x(cfg)
    with torch.no_grad():
        yt = t(torch.from_numpy(x)).numpy()
    ym = m(ms.Tensor(x)).asnumpy()
    assert yt.shape == (2, 1, 32, 64) and (yt >= 0).all()
    assert np.abs(yt - ym).max() < 1e-5


def test_precip_checkpoint_is_recognised(tmp_path):
    from earthzoo_fourcastnet.convert import read_nvlabs, write_nvlabs

    t, _ = _pair(FourCastNetConfig(out_chans=1, precip=True))
    from earthzoo.weights import Weights

    write_nvlabs(str(tmp_path / "precip.ckpt"), Weights(tfw.state_to_numpy(t)))
    overrides = read_nvlabs(str(tmp_path / "precip.ckpt")).config
    assert overrides["precip"] is True and overrides["out_chans"] == 1


def test_paper_presets_have_the_published_size():
    from earthzoo.convert import model_shapes

    card = model_card("fourcastnet")
    shapes = model_shapes("fourcastnet", card.make_config("paper"))
    total = sum(int(np.prod(s)) for s in shapes.values())
    assert total == 74_691_840 and int(np.prod(shapes["pos_embed"])) == 12_441_600
    v1 = model_shapes("fourcastnet", card.make_config("paper_v1"))
    assert v1["patch_embed.proj.weight"] == (768, 26, 8, 8)
    assert len(card.make_config("paper_v1").variables) == 26


def test_card_example_and_next_input():
    from earthzoo.cards import resolve

    card = model_card("fourcastnet")
    cfg = card.make_config("small")
    x = resolve(card.example_input)(cfg, 2, 0)
    assert x.shape == (2, cfg.in_chans, *cfg.img_size) and x.dtype == np.float32
    assert not np.array_equal(x, resolve(card.example_input)(cfg, 2, 1))
    y = x + 1
    assert resolve(card.next_input)(x, y, 1, cfg) is y


def test_data_spec_names_the_small_presets_channels():
    card = model_card("fourcastnet")
    spec = card.spec(card.make_config("small"))
    assert spec.prognostic == ("z", "u", "v", "vort", "div") and spec.in_channels == card.make_config("small").in_chans
    assert card.spec(card.make_config("tiny")).prognostic == spec.prognostic  # the golden network, named channels
    assert card.spec(card.make_config("tiny", variables=())) is None  # unnamed channels are taken in order
    assert card.spec(card.make_config("precip")) is None
    assert card.spec(card.make_config("paper_v1")).out_channels == 26


@pytest.mark.parametrize("preset", ["tiny", "small", "paper", "paper_v1", "precip"])
def test_framework_free_shapes_agree_with_both_builders(preset):
    """The card's parameter_shapes (what convert checks against, importing no framework)
    are exactly the torch and MindSpore models' parameters."""
    from earthzoo_fourcastnet.config import parameter_shapes

    config = model_card("fourcastnet").make_config(preset)
    want = parameter_shapes(config)
    assert tfw.shapes_of(lambda: build_model("fourcastnet", "torch", config=config)) == want
    if preset in ("tiny", "small"):  # MindSpore allocates: the small presets only
        assert mfw.shapes_of(lambda: build_model("fourcastnet", "mindspore", config=config)) == want
