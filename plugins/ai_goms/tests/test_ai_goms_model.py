"""AI-GOMS config, shapes, parameter count and the torch <-> MindSpore contract."""

import numpy as np
import pytest
import torch
from earthzoo.errors import EarthzooError
from earthzoo.training.masking import mask_indices
from earthzoo_ai_goms import torch_model as tm
from earthzoo_ai_goms.common import sincos_pos_embed_2d
from earthzoo_ai_goms.config import AIGOMSConfig


def test_tiny_channels_and_shapes():
    c = AIGOMSConfig.preset("tiny")
    assert (c.out_chans, c.in_chans) == (17, 23)
    assert c.variables[:4] == ("t_0m", "t_10m", "t_50m", "t_200m") and c.variables[4] == "s_0m" and c.variables[-1] == "ssh"
    model = tm.build(c)
    y = model(torch.randn(2, 23, 32, 64))
    assert y.shape == (2, 17, 32, 64)


def test_paper_parameter_count_matches_the_paper():
    """113.9 M trainable parameters (MODELS.md), built without allocating memory."""
    c = AIGOMSConfig.preset("paper")
    assert (c.in_chans, c.out_chans) == (67, 61)
    with torch.device("meta"):
        model = tm.build(c)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert round(trainable / 1e6, 1) == 113.9
    # the fixed position embeddings are parameters in the state_dict but not trained
    assert not model.pos_embed.requires_grad and not model.decoder_pos_embed.requires_grad
    assert model.decoder_pred.weight.shape == (1024, 61, 8, 8)


@pytest.mark.parametrize(
    "bad", [dict(img_size=(30, 64)), dict(embed_dim=30), dict(mask_ratio=1.0), dict(task="nowcast"), dict(region=(0, 99, 0, 4))]
)
def test_bad_config_is_one_line_error(bad):
    with pytest.raises(EarthzooError) as err:
        AIGOMSConfig.preset("tiny").replace(**bad)
    assert "\n" not in str(err.value) and err.value.fix


def test_wrong_input_shape_is_one_line_error():
    model = tm.build(AIGOMSConfig.preset("tiny"))
    with pytest.raises(EarthzooError, match="23"):
        model(torch.randn(1, 17, 32, 64))


def test_sincos_embedding_is_fixed_and_distinct():
    e = sincos_pos_embed_2d(32, (8, 16))
    assert e.shape == (1, 128, 32)
    assert np.allclose(e, sincos_pos_embed_2d(32, (8, 16)))
    # every token gets its own embedding
    assert len({tuple(np.round(r, 5)) for r in e[0]}) == 128


def test_masked_tokens_do_not_influence_the_encoder():
    """Changing the input inside hidden patches only changes nothing the encoder sees."""
    c = AIGOMSConfig.preset("tiny")
    model = tm.build(c).eval()
    with torch.no_grad():  # a live head: the residual presets start with a zero one
        torch.nn.init.normal_(model.decoder_pred.weight, std=0.05)
    x = torch.randn(1, c.in_chans, 32, 64)
    keep, restore, mask = mask_indices(np.random.default_rng(0).random((1, 128)), 0.5)
    hidden = int(np.flatnonzero(mask[0])[0])
    r, col = divmod(hidden, 16)
    x2 = x.clone()
    x2[:, :, r * 4 : (r + 1) * 4, col * 4 : (col + 1) * 4] += 10.0
    with torch.no_grad():
        a = model.forward_masked(x, torch.from_numpy(keep), torch.from_numpy(restore))
        b = model.forward_masked(x2, torch.from_numpy(keep), torch.from_numpy(restore))
        full_a, full_b = model(x), model(x2)
    assert torch.equal(a, b)
    assert not torch.equal(full_a, full_b)


def test_untrained_residual_model_is_persistence_in_both_frameworks():
    """The residual presets start as persistence: the ocean channels of the input
    come back unchanged (the prediction head is zero), in torch and MindSpore."""
    import mindspore as ms
    from earthzoo_ai_goms import mindspore_model as mm

    c = AIGOMSConfig.preset("tiny")
    assert c.residual and not AIGOMSConfig.preset("paper").residual
    x = torch.randn(2, c.in_chans, *c.img_size)
    with torch.no_grad():
        yt = tm.build(c)(x)
    ym = mm.build(c)(ms.Tensor(x.numpy())).asnumpy()
    persistence = x[:, : c.out_chans].numpy()
    assert np.abs(yt.numpy() - persistence).max() <= 1e-7
    assert np.abs(ym - persistence).max() <= 1e-7


def test_residual_adds_the_scaled_network_output():
    """With a live head, the output is input state + exp(residual_log_scale) x the
    decoder's output, per channel; the absolute model (residual off) is the decoder's output."""
    c = AIGOMSConfig.preset("tiny")
    torch.manual_seed(1)
    model = tm.build(c).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.decoder_pred.weight, std=0.05)
        model.residual_log_scale.copy_(torch.linspace(-3.0, 0.0, c.out_chans))
        x = torch.randn(1, c.in_chans, *c.img_size)
        raw = model.forward_decoder(model.forward_encoder(x))
        y = model(x)
    scale = torch.exp(torch.linspace(-3.0, 0.0, c.out_chans)).reshape(1, -1, 1, 1)
    assert torch.allclose(y, x[:, : c.out_chans] + scale * raw, atol=1e-6)
    assert (y - x[:, : c.out_chans]).abs().max() > 1e-3
    absolute = tm.build(c.replace(residual=False))
    assert not hasattr(absolute, "residual_log_scale")
    assert sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in absolute.parameters()) == c.out_chans


def test_bad_residual_scale_is_one_line_error():
    with pytest.raises(EarthzooError, match="residual_scale"):
        AIGOMSConfig.preset("tiny").replace(residual_scale=0.0)
