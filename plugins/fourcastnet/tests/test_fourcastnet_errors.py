"""Bad weights: a one-line error naming the tensor and both shapes."""

from __future__ import annotations

import pytest
from earthzoo.cli import main

torch = pytest.importorskip("torch")


def _errors(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_other_channel_count_names_tensor_and_shapes(tmp_path, capsys):
    from earthzoo.frameworks import torch as tfw
    from earthzoo_fourcastnet.config import FourCastNetConfig
    from earthzoo_fourcastnet.torch_model import build

    tfw.save_state_file(tmp_path / "seven.pt", tfw.state_to_numpy(build(FourCastNetConfig(in_chans=7, out_chans=7))))
    code = main(["convert", str(tmp_path / "seven.pt"), str(tmp_path / "out.safetensors"), "--model", "fourcastnet", "--from", "torch", "--preset", "tiny"])
    err = _errors(capsys)
    assert code == 2
    assert "'patch_embed.proj.weight'" in err and "(64, 7, 4, 4)" in err and "(64, 5, 4, 4)" in err
    assert not (tmp_path / "out.safetensors").exists()


def test_nvlabs_reader_infers_channels_then_the_model_fits(tmp_path, capsys):
    """In the original format the channel count is read from the checkpoint; the
    default preset's 5 channel names do not fit a 26-channel checkpoint, which is an
    error naming the fix, not a silent mismatch."""
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import Weights, load_canonical
    from earthzoo_fourcastnet.config import FourCastNetConfig
    from earthzoo_fourcastnet.convert import write_nvlabs
    from earthzoo_fourcastnet.torch_model import build

    write_nvlabs(str(tmp_path / "v1.ckpt"), Weights(tfw.state_to_numpy(build(FourCastNetConfig(in_chans=26, out_chans=26)))))
    assert main(["convert", str(tmp_path / "v1.ckpt"), str(tmp_path / "v1.safetensors"), "--model", "fourcastnet"]) == 2
    err = _errors(capsys)
    assert "names 5 channels (variables) for a model of 26 input channels" in err and "--config variables=" in err
    assert main(["convert", str(tmp_path / "v1.ckpt"), str(tmp_path / "v1.safetensors"), "--model", "fourcastnet", "--preset", "paper_v1"]) == 0
    w = load_canonical(tmp_path / "v1.safetensors")
    assert w.config["in_chans"] == 26 and len(w.config["variables"]) == 26


def test_checkpoint_of_another_model(tmp_path, capsys):
    tfw_state = {"module.encoder.weight": torch.zeros(3, 3)}
    torch.save({"model_state": tfw_state}, tmp_path / "other.ckpt")
    code = main(["convert", str(tmp_path / "other.ckpt"), str(tmp_path / "o.safetensors"), "--model", "fourcastnet", "--from", "nvlabs-fourcastnet"])
    err = _errors(capsys)
    assert code == 2 and "'patch_embed.proj.weight'" in err and "not a FourCastNet" in err


def test_golden_mindearth_file_is_not_nvlabs(golden, tmp_path, capsys):
    code = main(["convert", str(golden / "mindearth_afnonet_tiny.ckpt"), str(tmp_path / "x.safetensors"), "--model", "fourcastnet", "--from", "nvlabs-fourcastnet"])
    assert code == 2 and "not a loadable torch checkpoint" in _errors(capsys)
