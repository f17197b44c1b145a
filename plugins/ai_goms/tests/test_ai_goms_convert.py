"""The original AI-GOMS checkpoint layout: written by our torch model, read back
through the registered "ai-goms" weight format into both frameworks bit-exactly."""

import numpy as np
import pytest
import torch
from earthzoo.api import model_card
from earthzoo.errors import EarthzooError
from earthzoo.weights import Weights, read_weights, write_weights
from earthzoo_ai_goms import torch_model as tm
from earthzoo_ai_goms.config import AIGOMSConfig
from earthzoo_ai_goms.convert import read_original


@pytest.mark.parametrize("preset", ["tiny", "tiny_downscale"])
def test_original_layout_round_trip_bit_exact(tmp_path, preset):
    import mindspore as ms
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.frameworks import torch as tfw
    from earthzoo_ai_goms import mindspore_model as mm

    config = AIGOMSConfig.preset(preset)
    torch.manual_seed(11)
    model = tm.build(config)
    with torch.no_grad():  # a live head: the residual presets start with a zero one
        torch.nn.init.normal_(model.backbone.decoder_pred.weight if preset.endswith("downscale") else model.decoder_pred.weight, std=0.05)
    state = tfw.state_to_numpy(model)
    path = tmp_path / "ai_goms_original.tar"
    write_weights(path, Weights(state, "ai_goms"), fmt="ai-goms", config=config)

    raw = torch.load(path, map_location="cpu", weights_only=True)  # the original's own loader
    assert set(raw) >= {"model_state", "epoch", "iters", "optimizer_state_dict"}
    assert all(k.startswith("module.") for k in raw["model_state"])

    w = read_weights(path, fmt="ai-goms", model="ai_goms")
    assert w.model == "ai_goms"
    rebuilt_config = model_card("ai_goms").config_from_dict(w.config)
    assert rebuilt_config == config
    t2 = tm.build(rebuilt_config)
    tfw.load_numpy_state(t2, w.tensors)
    m2 = mm.build(rebuilt_config)
    mfw.load_numpy_state(m2, w.tensors)
    for name, value in state.items():
        assert np.array_equal(t2.state_dict()[name].numpy(), value), name
        assert np.array_equal(dict(m2.parameters_and_names())[name].asnumpy(), value), name
    x = torch.randn(1, config.in_chans, *config.img_size)
    with torch.no_grad():
        assert torch.equal(model(x), t2(x))
    assert m2(ms.Tensor(x.numpy())).shape == tuple(model(x).shape)


def test_config_is_inferred_without_the_config_entry(tmp_path):
    config = AIGOMSConfig.preset("tiny").replace(depth=3, embed_dim=48, num_blocks=4)
    state = {k: v.detach().numpy() for k, v in tm.build(config).state_dict().items()}
    path = tmp_path / "bare.pt"
    torch.save({"model_state": {"module." + k: torch.from_numpy(v) for k, v in state.items()}}, path)
    w = read_original(str(path))
    tensors, overrides = w.tensors, w.config
    assert set(w.config_sources.values()) == {"shapes"}  # no stored config: every field from the shapes
    assert set(tensors) == set(state)
    got = model_card("ai_goms").config_from_dict(overrides, "tiny")
    assert (got.depth, got.embed_dim, got.num_blocks, got.img_size) == (3, 48, 4, (32, 64))
    assert got.residual  # the tensors hold residual_log_scale


def test_original_checkpoint_without_residual_scale_builds_the_absolute_model(tmp_path):
    """The original predicts the absolute state: its checkpoints have no residual_log_scale."""
    config = AIGOMSConfig.preset("tiny").replace(residual=False)
    state = {k: v.detach().numpy() for k, v in tm.build(config).state_dict().items()}
    path = tmp_path / "original.pt"
    torch.save({"model_state": {"module." + k: torch.from_numpy(v) for k, v in state.items()}}, path)
    overrides = read_original(str(path)).config
    assert model_card("ai_goms").config_from_dict(overrides, "tiny").residual is False


def test_wrong_checkpoint_is_one_line_error(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model_state": {"module.head.weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(EarthzooError, match="not an AI-GOMS") as err:
        read_original(str(path))
    assert "\n" not in str(err.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(EarthzooError, match="not a loadable torch checkpoint"):
        read_original(str(junk))


def test_round_trip_through_every_format_is_bit_exact(tmp_path, capsys):
    """original -> safetensors -> torch -> MindSpore -> original, each format detected
    (the original by content, from a .pt that is also a plain torch suffix), keeps every
    tensor, the normalisation, the epoch and the config."""
    import json

    from earthzoo.cli import main
    from earthzoo.weights import detect_format, load_canonical, save_canonical

    config = AIGOMSConfig.preset("tiny")
    torch.manual_seed(5)
    state = {k: v.detach().numpy() for k, v in tm.build(config).state_dict().items()}
    c = config.out_chans
    extras = {"in_mean": np.linspace(0, 1, config.in_chans, dtype=np.float32), "in_std": np.full(config.in_chans, 2, np.float32),
              "out_mean": np.linspace(0, 1, c, dtype=np.float32), "out_std": np.full(c, 3, np.float32)}
    original = tmp_path / "orig.pt"
    torch.save({"iters": 7, "epoch": 3, "model_state": {"module." + k: torch.from_numpy(v) for k, v in state.items()}, "optimizer_state_dict": {}}, original)
    assert detect_format(original, "ai_goms") == "ai-goms" and detect_format(original) == "ai-goms"
    assert main(["convert", str(original), str(tmp_path / "a.safetensors"), "--model", "ai_goms", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["from"] == "ai-goms" and first["attrs"] == ["epoch", "iters"]
    w = load_canonical(tmp_path / "a.safetensors")
    w.extras = extras
    save_canonical(tmp_path / "a.safetensors", w)
    prev = "a.safetensors"
    for name, fmt in (("t.pt", "torch"), ("m.ckpt", "mindspore"), ("back.pt", "ai-goms"), ("z.safetensors", "safetensors")):
        assert main(["convert", str(tmp_path / prev), str(tmp_path / name), "--model", "ai_goms", "--to", fmt, "--verify", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        v = report["verify"]
        assert report["from"] == {"t.pt": "torch", "m.ckpt": "mindspore", "back.pt": "ai-goms", "z.safetensors": "safetensors"}.get(prev, report["from"]), (prev, report["from"])
        assert v["equal"] and v["config_equal"] and v["extras_compared"] == sorted(extras), (fmt, v)
        prev = name
    raw = torch.load(tmp_path / "back.pt", weights_only=True)
    assert (raw["iters"], raw["epoch"]) == (7, 3) and all(np.array_equal(raw["model_state"]["module." + k].numpy(), v) for k, v in state.items())
    z = load_canonical(tmp_path / "z.safetensors")
    assert all(np.array_equal(z.tensors[k], v) for k, v in state.items()) and all(np.array_equal(z.extras[k], v) for k, v in extras.items())
    assert z.config == w.config


def test_optimizer_state_is_not_dropped_silently(tmp_path, capsys):
    from earthzoo.cli import main

    config = AIGOMSConfig.preset("tiny")
    state = {"module." + k: v for k, v in tm.build(config).state_dict().items()}
    path = tmp_path / "with_opt.pt"
    torch.save({"model_state": state, "optimizer_state_dict": {"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": []}}, path)
    assert main(["convert", str(path), str(tmp_path / "o.safetensors"), "--model", "ai_goms"]) == 2
    assert "holds an optimizer state ('optimizer_state_dict'), which no weight format keeps - pass --drop-extras" in capsys.readouterr().err
    assert main(["convert", str(path), str(tmp_path / "o.safetensors"), "--model", "ai_goms", "--drop-extras"]) == 0
    assert "dropped (--drop-extras): an optimizer state" in capsys.readouterr().out
