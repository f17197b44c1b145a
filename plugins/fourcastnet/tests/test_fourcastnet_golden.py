"""The golden fixtures from the original implementations, reproduced from their own
checkpoint formats through `earthzoo convert`, in both frameworks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from earthzoo.api import load_model
from earthzoo.cli import main
from earthzoo.weights import load_canonical

# the root conftest's golden folder, for module-scoped fixtures
GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden"

torch = pytest.importorskip("torch")
ms = pytest.importorskip("mindspore")


def _convert(src, dst, fmt):
    assert main(["convert", str(src), str(dst), "--model", "fourcastnet", "--from", fmt]) == 0
    return dst


def _run(framework, weights, x):
    model = load_model("fourcastnet", framework, weights=str(weights), backend="cpu")
    if framework == "torch":
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy(), model.forward_features(torch.from_numpy(x)).numpy()
    return model(ms.Tensor(x)).asnumpy(), model.forward_features(ms.Tensor(x)).asnumpy()


@pytest.fixture(scope="module")
def nvlabs(tmp_path_factory):
    out = tmp_path_factory.mktemp("nv") / "fcn.safetensors"
    return _convert(GOLDEN / "fourcastnet_nvlabs_tiny.ckpt", out, "nvlabs-fourcastnet"), np.load(GOLDEN / "fourcastnet_nvlabs_tiny_io.npz")


@pytest.mark.parametrize("framework,tol", [("torch", 1e-5), ("mindspore", 1e-4)])
def test_nvlabs_golden_y(nvlabs, framework, tol):
    weights, io = nvlabs
    y, features = _run(framework, weights, io["x"])
    err = np.abs(y - io["y"]).max()
    print(f"{framework}: max abs error vs golden y = {err:.3g}")
    assert err <= tol
    assert np.abs(features - io["features"]).max() <= tol


def test_nvlabs_reader_keeps_every_tensor(golden):
    from earthzoo_fourcastnet.convert import read_nvlabs

    w = read_nvlabs(str(golden / "fourcastnet_nvlabs_tiny.ckpt"))
    tensors, overrides = w.tensors, w.config
    assert w.attrs == {"iters": "0", "epoch": "0"} and not w.dropped and not w.extras
    assert set(w.config_sources.values()) == {"shapes"}
    state = torch.load(golden / "fourcastnet_nvlabs_tiny.ckpt", weights_only=True)["model_state"]
    assert list(tensors) == [k[len("module."):] for k in state]
    for k, v in state.items():
        assert np.array_equal(tensors[k[len("module."):]], v.numpy())
    assert overrides == {"in_chans": 5, "patch_size": 4, "embed_dim": 64, "out_chans": 5, "depth": 2, "num_blocks": 8, "mlp_ratio": 4.0, "img_size": [32, 64]}


def test_nvlabs_writer_round_trip(golden, tmp_path):
    from earthzoo_fourcastnet.convert import read_nvlabs, write_nvlabs

    w = read_nvlabs(str(golden / "fourcastnet_nvlabs_tiny.ckpt"))
    tensors = w.tensors
    write_nvlabs(str(tmp_path / "back.ckpt"), w)
    raw = torch.load(tmp_path / "back.ckpt", weights_only=True)
    assert set(raw) == {"iters", "epoch", "model_state", "optimizer_state_dict"}
    assert all(k.startswith("module.") for k in raw["model_state"])
    again = read_nvlabs(str(tmp_path / "back.ckpt")).tensors
    assert all(np.array_equal(again[k], tensors[k]) for k in tensors) and set(again) == set(tensors)


@pytest.fixture(scope="module")
def mindearth(tmp_path_factory):
    out = tmp_path_factory.mktemp("me") / "me.safetensors"
    return _convert(GOLDEN / "mindearth_afnonet_tiny.ckpt", out, "mindearth-afnonet"), np.load(GOLDEN / "mindearth_afnonet_tiny_io.npz")


def test_mindearth_reader_matches_params_npz(golden):
    from earthzoo_fourcastnet.convert import mindearth_to_canonical, read_mindearth

    w = read_mindearth(str(golden / "mindearth_afnonet_tiny.ckpt"))
    tensors, overrides = w.tensors, w.config
    assert sorted(w.extras) == [f"mindearth-afnonet:forward_features.layer.{i}.filter.w.weight" for i in (0, 1)]
    expected = mindearth_to_canonical(dict(np.load(golden / "mindearth_afnonet_tiny_params.npz")))
    assert set(tensors) == set(expected) and all(np.array_equal(tensors[k], expected[k]) for k in tensors)
    assert overrides["gelu"] == "tanh"
    assert "blocks.1.norm2.weight" in tensors and not any("filter.w.weight" in k for k in tensors)


@pytest.mark.parametrize("framework,tol", [("torch", 1e-5), ("mindspore", 1e-4)])
def test_mindearth_golden_y(mindearth, framework, tol):
    weights, io = mindearth
    assert load_canonical(weights).config["gelu"] == "tanh"
    y, _ = _run(framework, weights, io["x"])
    err = np.abs(y - io["y_nchw"]).max()
    print(f"{framework}: max abs error vs MindEarth y = {err:.3g}")
    assert err <= tol


def test_mindearth_needs_the_tanh_flag(mindearth):
    """The GELU flag is what makes the difference, not a silent tolerance."""
    from earthzoo.frameworks.torch import load_numpy_state
    from earthzoo_fourcastnet.config import FourCastNetConfig
    from earthzoo_fourcastnet.torch_model import build

    weights, io = mindearth
    model = build(FourCastNetConfig(gelu="erf")).eval()
    load_numpy_state(model, load_canonical(weights).tensors)
    with torch.no_grad():
        y = model(torch.from_numpy(io["x"])).numpy()
    assert np.abs(y - io["y_nchw"]).max() > 1e-5


def test_global_means_stds_ride_with_the_weights(golden, tmp_path):
    """FourCastNet's global_means.npy / global_stds.npy, shape (1, C, 1, 1), become the
    weights' per-channel normalisation."""
    means = np.arange(5, dtype=np.float32).reshape(1, 5, 1, 1)
    stds = np.full((1, 5, 1, 1), 2.0, np.float32)
    np.save(tmp_path / "global_means.npy", means)
    np.save(tmp_path / "global_stds.npy", stds)
    out = tmp_path / "fcn.safetensors"
    assert main(["convert", str(golden / "fourcastnet_nvlabs_tiny.ckpt"), str(out), "--model", "fourcastnet", "--from", "nvlabs-fourcastnet", "--means", str(tmp_path / "global_means.npy"), "--stds", str(tmp_path / "global_stds.npy")]) == 0
    extras = load_canonical(out).extras
    assert np.array_equal(extras["in_mean"], means.reshape(-1)) and np.array_equal(extras["in_std"], stds.reshape(-1))
