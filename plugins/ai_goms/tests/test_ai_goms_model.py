"""AI-GOMS config, shapes, parameter count and the torch <-> MindSpore contract."""

import numpy as np
import pytest
import torch
from earthzoo.errors import EarthzooError
from earthzoo_ai_goms import torch_model as tm
from earthzoo_ai_goms.common import mask_indices, sincos_pos_embed_2d
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


def test_masking_keeps_the_smallest_noise_and_restores_order():
    noise = np.random.default_rng(3).random((2, 10))
    keep, restore, mask = mask_indices(noise, 0.6)
    assert keep.shape == (2, 4) and mask.sum() == 2 * 6
    for b in range(2):
        assert set(keep[b]) == set(np.argsort(noise[b])[:4])
        assert np.all(mask[b, keep[b]] == 0)
        shuffled = np.argsort(noise[b], kind="stable")
        assert np.array_equal(shuffled[restore[b]], np.arange(10))


def test_masked_tokens_do_not_influence_the_encoder():
    """Changing the input inside hidden patches only changes nothing the encoder sees."""
    c = AIGOMSConfig.preset("tiny")
    model = tm.build(c).eval()
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
