"""Canonical weights, conversion between formats, and clear errors on bad input."""

from __future__ import annotations

import json
import pickle

import earthzoo
import numpy as np
import pytest
from earthzoo.cli import main
from earthzoo.errors import EarthzooError
from earthzoo.frameworks import mindspore as msfw
from earthzoo.frameworks import torch as tfw
from earthzoo.weights import Weights, load_canonical, save_canonical, sniff, verify


def toy_weights(preset="tiny", seed=0) -> dict[str, np.ndarray]:
    model = earthzoo.build_model("toy", "torch", preset=preset)
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in tfw.state_to_numpy(model).items()}


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_canonical_round_trip_keeps_metadata_and_extras(tmp_path):
    tensors = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float32)}
    extras = {"in_mean": np.array([1.0, 2.0], np.float32), "in_std": np.array([3.0, 4.0], np.float32)}
    save_canonical(tmp_path / "w.safetensors", Weights(tensors, "toy", {"channels": 3, "depth": 2}, "test", extras))
    back = load_canonical(tmp_path / "w.safetensors")
    assert (back.model, back.config, back.source) == ("toy", {"channels": 3, "depth": 2}, "test")
    assert verify(tensors, back.tensors).equal and verify(extras, back.extras).equal
    assert sniff(tmp_path / "w.safetensors") == "safetensors"


def test_verify_reports_differences():
    a = {"x": np.zeros(3, np.float32), "y": np.zeros(2, np.float32)}
    b = {"x": np.array([0, 0, 0.5], np.float32), "z": np.zeros(1, np.float32)}
    report = verify(a, b)
    assert not report.equal and report.worst == "x" and report.max_abs_diff == 0.5
    assert report.missing == ["y"] and report.extra == ["z"]
    assert not verify({"x": np.zeros(2, np.float32)}, {"x": np.zeros(2, np.float64)}).equal


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_load_model_with_canonical_weights_is_exact(zoo, tmp_path, framework):
    tensors = toy_weights()
    save_canonical(tmp_path / "toy.safetensors", Weights(tensors, "toy", {"channels": 3, "depth": 2, "lat": 8, "lon": 16}))
    model = earthzoo.load_model("toy", framework, weights=str(tmp_path / "toy.safetensors"))
    fw = tfw if framework == "torch" else msfw
    assert verify(tensors, fw.state_to_numpy(model)).equal


def test_convert_chain_torch_safetensors_mindspore_is_bit_exact(zoo, tmp_path, capsys):
    tensors = toy_weights()
    tfw.save_state_file(tmp_path / "toy.pt", tensors)
    code, out, err = run(["convert", "toy.pt", "toy.safetensors", "--model", "toy", "--verify", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["verify"]["equal"] and report["tensors"] == 9
    assert run(["convert", "toy.safetensors", "toy.ckpt", "--model", "toy", "--verify"], capsys)[0] == 0
    assert run(["convert", "toy.ckpt", "back.safetensors", "--model", "toy"], capsys)[0] == 0
    back = load_canonical(tmp_path / "back.safetensors")
    assert verify(tensors, back.tensors).equal
    assert back.config == {"channels": 3, "depth": 2, "lat": 8, "lon": 16, "tag": ""} and back.model == "toy"  # the final config, through the sidecar
    ms_model = earthzoo.load_model("toy", "mindspore", weights=str(tmp_path / "back.safetensors"))
    assert verify(tensors, msfw.state_to_numpy(ms_model)).equal


def test_convert_foreign_format_and_normalisation(zoo, tmp_path, capsys):
    tensors = toy_weights()
    np.savez(tmp_path / "toy.npz", **{k.replace(".", "/"): v for k, v in tensors.items()})
    np.save(tmp_path / "means.npy", np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1))
    np.save(tmp_path / "stds.npy", np.array([4, 5, 6], np.float32).reshape(1, 3, 1, 1))
    code, _, err = run(["convert", "toy.npz", "toy.safetensors", "--model", "toy", "--from", "toy-npz", "--means", "means.npy", "--stds", "stds.npy"], capsys)
    assert code == 0, err
    back = load_canonical(tmp_path / "toy.safetensors")
    assert verify(tensors, back.tensors).equal and back.source == "toy-npz:toy.npz"
    np.testing.assert_array_equal(back.extras["in_std"], [4, 5, 6])


def _assert_one_line_error(code, err, pattern):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert pattern in lines[0], lines[0]
    assert " - " in lines[0]  # problem - fix


def test_bad_inputs_give_one_line_errors_and_no_partial_output(zoo, tmp_path, capsys):
    save_canonical(tmp_path / "small.safetensors", Weights(toy_weights("small"), "toy", {}))
    save_canonical(tmp_path / "good.safetensors", Weights(toy_weights(), "toy", {}))
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "pickled.safetensors").write_bytes(pickle.dumps({"a": 1}))
    tfw.save_state_file(tmp_path / "torchzip.safetensors", toy_weights())
    np.savez(tmp_path / "wrongnames.npz", other=np.zeros(3, np.float32))
    cases = [
        (["convert", "good.safetensors", "o.safetensors", "--model", "nope"], "unknown model 'nope'"),
        (["convert", "missing.safetensors", "o.safetensors", "--model", "toy"], "does not exist"),
        (["convert", "truncated.safetensors", "o.safetensors", "--model", "toy", "--from", "safetensors"], "truncated or corrupt"),
        (["convert", "garbage.safetensors", "o.safetensors", "--model", "toy"], "cannot tell the format"),
        (["convert", "pickled.safetensors", "o.safetensors", "--model", "toy", "--from", "safetensors"], "is a pickled torch checkpoint"),
        (["convert", "torchzip.safetensors", "o.safetensors", "--model", "toy", "--from", "safetensors"], "is a pickled torch checkpoint"),
        (["convert", "small.safetensors", "o.safetensors", "--model", "toy", "--preset", "tiny"], "has shape (4,) in the weights but (3,) in model 'toy'"),
        (["convert", "wrongnames.npz", "o.safetensors", "--model", "toy", "--from", "toy-npz"], "is missing from the weights"),
        (["convert", "good.safetensors", "o.bin", "--model", "toy"], "cannot tell which format to write"),
        (["convert", "good.safetensors", "o.safetensors", "--model", "toy", "--from", "nvlabs"], "unknown weight format 'nvlabs'"),
        (["convert", "good.safetensors", "nodir/o.safetensors", "--model", "toy"], "output folder 'nodir' does not exist"),
    ]
    for argv, pattern in cases:
        code, _, err = run(argv, capsys)
        _assert_one_line_error(code, err, pattern)
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".*part*"))


def test_load_model_errors(zoo, tmp_path):
    with pytest.raises(EarthzooError, match="does not exist"):
        earthzoo.load_model("toy", weights=str(tmp_path / "none.safetensors"))
    save_canonical(tmp_path / "other.safetensors", Weights(toy_weights(), "graphcast", {}))
    with pytest.raises(EarthzooError, match="are for model 'graphcast', not 'toy'"):
        earthzoo.load_model("toy", weights=str(tmp_path / "other.safetensors"))
    with pytest.raises(EarthzooError, match="unknown framework 'jax'"):
        earthzoo.load_model("toy", "jax")
    with pytest.raises(EarthzooError, match="unknown backend 'tpu'"):
        earthzoo.load_model("toy", backend="tpu")
