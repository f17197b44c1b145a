"""Every FourCastNet weight format is written as well as read: a round trip through
all of them keeps every tensor, extra, attr and the config, and forecasts exactly as
the original; original-to-original conversions reproduce the golden fixtures'
reference outputs; each config field's source is reported and --config changes it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from earthzoo.api import load_model
from earthzoo.cli import main
from earthzoo.weights import detect_format, load_canonical, read_weights, verify

torch = pytest.importorskip("torch")
ms = pytest.importorskip("mindspore")
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from training_helpers import wave_dataset  # noqa: E402


def convert(capsys, *argv) -> dict:
    code = main(["convert", *map(str, argv), "--model", "fourcastnet", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def y_of(weights, x, config=None) -> np.ndarray:
    model = load_model("fourcastnet", "torch", weights=str(weights), backend="cpu", config=config)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.fixture
def nvlabs_with_stats(golden, tmp_path):
    """The golden NVlabs checkpoint with global_means.npy / global_stds.npy beside it, as NVlabs keeps them."""
    src = tmp_path / "nvlabs"
    src.mkdir()
    shutil.copy(golden / "fourcastnet_nvlabs_tiny.ckpt", src / "backbone.ckpt")
    rng = np.random.default_rng(3)
    np.save(src / "global_means.npy", rng.standard_normal((1, 5, 1, 1)).astype(np.float32))
    np.save(src / "global_stds.npy", rng.uniform(0.5, 2, (1, 5, 1, 1)).astype(np.float32))
    return src


def test_round_trip_through_every_format_keeps_everything_and_forecasts_identically(nvlabs_with_stats, tmp_path, capsys):
    src = nvlabs_with_stats
    first = convert(capsys, src / "backbone.ckpt", tmp_path / "c0.safetensors", "--verify")
    assert first["from"] == "nvlabs-fourcastnet"  # detected by content
    assert first["extras"] == ["in_mean", "in_std", "out_mean", "out_std"] and first["attrs"] == ["epoch", "iters"]
    chain = [("t.pt", "torch"), ("m.ckpt", "mindspore"), ("me.ckpt", "mindearth-afnonet"), ("nv/backbone.ckpt", "nvlabs-fourcastnet"), ("c1.safetensors", "safetensors")]
    (tmp_path / "nv").mkdir()
    prev = tmp_path / "c0.safetensors"
    for name, fmt in chain:
        report = convert(capsys, prev, tmp_path / name, "--to", fmt, "--verify")
        v = report["verify"]
        assert v["equal"] and v["compared"] == 30 and v["config_equal"], (fmt, v)
        assert v["extras_compared"] == ["in_mean", "in_std", "out_mean", "out_std"] and v["attrs_compared"] == ["epoch", "iters"], (fmt, v)
        assert detect_format(tmp_path / name, "fourcastnet") == fmt
        prev = tmp_path / name
    # the NVlabs layout keeps the statistics beside the checkpoint, bit-exact
    for stats in ("global_means.npy", "global_stds.npy"):
        a, b = np.load(src / stats), np.load(tmp_path / "nv" / stats)
        assert a.dtype == b.dtype and a.shape == b.shape == (1, 5, 1, 1) and np.array_equal(a, b)
    w0, w1 = load_canonical(tmp_path / "c0.safetensors"), load_canonical(tmp_path / "c1.safetensors")
    assert verify(w0.tensors, w1.tensors).equal and verify(w0.extras, w1.extras).equal
    assert w0.attrs == w1.attrs and w0.config == w1.config
    # a forecast from the round-tripped weights is identical to the original's
    from earthzoo.training.forecast import forecast

    data = wave_dataset(tmp_path / "waves.nc", times=8)
    from earthzoo.data import read_dataset

    runs = []
    for i, w in enumerate(("c0.safetensors", "c1.safetensors")):
        s = forecast("fourcastnet", weights=str(tmp_path / w), init=str(data), steps=3, out=str(tmp_path / f"f{i}.nc"), show_progress=False)
        ds = read_dataset(s["out"], load=True)  # the per-variable file, stacked
        runs.append((ds["fields"].values.copy(), ds.attrs["normalisation"]))
    assert runs[0][1] == runs[1][1] == "normalisation from the weights"
    assert np.isfinite(runs[0][0]).all() and np.array_equal(runs[0][0], runs[1][0])


def test_nvlabs_to_mindearth_in_one_command_matches_the_references(golden, tmp_path, capsys):
    """Original to original: NVlabs -> MindEarth (MindSpore's own loader reads it) and
    MindEarth -> NVlabs -> MindEarth (bit-exact, with MindEarth's unused parameters)."""
    nv_io, me_io = np.load(golden / "fourcastnet_nvlabs_tiny_io.npz"), np.load(golden / "mindearth_afnonet_tiny_io.npz")
    report = convert(capsys, golden / "fourcastnet_nvlabs_tiny.ckpt", tmp_path / "me.ckpt", "--to", "mindearth-afnonet", "--verify")
    assert any("tanh GELU" in n for n in report["notes"])  # said, not hidden
    params = {k: v.asnumpy() for k, v in ms.load_checkpoint(str(tmp_path / "me.ckpt")).items()}
    nv = torch.load(golden / "fourcastnet_nvlabs_tiny.ckpt", weights_only=True)["model_state"]
    assert params["forward_features.layer.1.ffn_norm.gamma"].tobytes() == nv["module.blocks.1.norm2.weight"].numpy().tobytes()
    assert set(params) == set(np.load(golden / "mindearth_afnonet_tiny_params.npz").files) - {f"forward_features.layer.{i}.filter.w.weight" for i in (0, 1)}
    # the weights keep their own config (erf GELU, in the sidecar): the NVlabs reference output
    convert(capsys, tmp_path / "me.ckpt", tmp_path / "me.safetensors")
    assert np.abs(y_of(tmp_path / "me.safetensors", nv_io["x"]) - nv_io["y"]).max() <= 1e-5

    # MindEarth -> NVlabs -> MindEarth: every parameter of the MindEarth file comes back bit-exact
    convert(capsys, golden / "mindearth_afnonet_tiny.ckpt", tmp_path / "nv.ckpt", "--to", "nvlabs-fourcastnet", "--verify")
    convert(capsys, tmp_path / "nv.ckpt", tmp_path / "me2.ckpt", "--to", "mindearth-afnonet", "--verify")
    back = {k: v.asnumpy() for k, v in ms.load_checkpoint(str(tmp_path / "me2.ckpt")).items()}
    want = np.load(golden / "mindearth_afnonet_tiny_params.npz")
    assert set(back) == set(want.files) and all(back[k].dtype == want[k].dtype and np.array_equal(back[k], want[k]) for k in want.files)
    convert(capsys, tmp_path / "nv.ckpt", tmp_path / "nv.safetensors")
    assert load_canonical(tmp_path / "nv.safetensors").config["gelu"] == "tanh"
    assert np.abs(y_of(tmp_path / "nv.safetensors", me_io["x"]) - me_io["y_nchw"]).max() <= 1e-5


def test_each_config_field_says_where_it_came_from_and_config_changes_the_output(golden, tmp_path, capsys):
    io = np.load(golden / "fourcastnet_nvlabs_tiny_io.npz")
    plain = convert(capsys, golden / "fourcastnet_nvlabs_tiny.ckpt", tmp_path / "a.safetensors")
    src = {k: v["source"] for k, v in plain["config"].items()}
    assert src["in_chans"] == src["embed_dim"] == src["img_size"] == "inferred from tensor shapes"
    assert src["gelu"] == src["sparsity_threshold"] == src["variables"] == "assumed: default of preset 'tiny'"
    tanh = convert(capsys, golden / "fourcastnet_nvlabs_tiny.ckpt", tmp_path / "b.safetensors", "--config", "gelu=tanh", "--config", "sparsity_threshold=0.02")
    assert tanh["config"]["gelu"] == {"value": "tanh", "source": "set with --config"}
    assert load_canonical(tmp_path / "b.safetensors").config["sparsity_threshold"] == 0.02  # the file records the final config
    ya, yb = y_of(tmp_path / "a.safetensors", io["x"]), y_of(tmp_path / "b.safetensors", io["x"])
    assert np.abs(ya - io["y"]).max() <= 1e-5 and np.abs(yb - ya).max() > 1e-4
    # the same through load_model(config=...) and parity --config
    assert np.array_equal(y_of(tmp_path / "a.safetensors", io["x"], {"gelu": "tanh", "sparsity_threshold": 0.02}), yb)
    assert main(["parity", "fourcastnet", "--weights", str(tmp_path / "a.safetensors"), "--config", "gelu=tanh", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["max_abs_err"] < 1e-3
    # and forecast --config
    from earthzoo.data import read_dataset

    data = wave_dataset(tmp_path / "waves.nc", times=4)
    fields = []
    for name, extra in (("f0.nc", []), ("f1.nc", ["--config", "gelu=tanh"])):
        assert main(["forecast", "fourcastnet", "--weights", str(tmp_path / "a.safetensors"), "--init", str(data), "--steps", "2", "--out", str(tmp_path / name), *extra]) == 0
        ds = read_dataset(tmp_path / name, load=True)  # the per-variable file, stacked
        fields.append(ds["fields"].values.copy())
    assert np.abs(fields[1] - fields[0]).max() > 1e-4
    capsys.readouterr()
    # people read the same per source
    assert main(["convert", str(golden / "fourcastnet_nvlabs_tiny.ckpt"), str(tmp_path / "c.safetensors"), "--model", "fourcastnet"]) == 0
    text = capsys.readouterr().out
    assert "inferred from tensor shapes: img_size=32,64" in text and "assumed: default of preset 'tiny' (not in the file: set with --config KEY=VALUE if wrong):" in text


def test_bad_config_values_and_targets_are_one_line_errors(golden, tmp_path, capsys):
    ckpt = str(golden / "fourcastnet_nvlabs_tiny.ckpt")
    cases = [
        (["--config", "depth=two"], "depth takes an integer"),
        (["--config", "nope=1"], "has no config field 'nope'"),
        (["--config", "gelu"], "is not KEY=VALUE"),
        (["--config", "gelu=relu"], "unknown gelu 'relu'"),
        (["--config", "variables=a,b"], "names 2 channels (variables) for a model of 5 input channels"),
    ]
    for extra, pattern in cases:
        assert main(["convert", ckpt, str(tmp_path / "x.safetensors"), "--model", "fourcastnet", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and pattern in err, err
    assert main(["convert", ckpt, str(tmp_path / "x.ckpt"), "--model", "fourcastnet"]) == 2
    assert "could be written as any of: mindspore, mindearth-afnonet, nvlabs-fourcastnet - name one with --to" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_nothing_is_overwritten_without_asking(golden, tmp_path, capsys):
    ckpt = str(golden / "fourcastnet_nvlabs_tiny.ckpt")
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"precious")
    assert main(["convert", ckpt, str(out), "--model", "fourcastnet"]) == 2
    assert "already exists - pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"
    stats = tmp_path / "stats"
    stats.mkdir()
    np.save(stats / "m.npy", np.zeros(5, np.float32))
    np.save(stats / "s.npy", np.ones(5, np.float32))
    assert main(["convert", ckpt, str(tmp_path / "s.safetensors"), "--model", "fourcastnet", "--means", str(stats / "m.npy"), "--stds", str(stats / "s.npy")]) == 0
    (tmp_path / "global_means.npy").write_bytes(b"precious")  # a file the NVlabs writer would put beside its checkpoint
    assert main(["convert", str(tmp_path / "s.safetensors"), str(tmp_path / "nv.ckpt"), "--model", "fourcastnet", "--to", "nvlabs-fourcastnet"]) == 2
    assert "global_means.npy' already exists - pass --overwrite" in capsys.readouterr().err
    assert not (tmp_path / "nv.ckpt").exists() and (tmp_path / "global_means.npy").read_bytes() == b"precious"
    (tmp_path / "w.pt.extras.npz").write_bytes(b"stale")  # a stale sidecar would be read back with a new file
    assert main(["convert", ckpt, str(tmp_path / "w.pt"), "--model", "fourcastnet", "--to", "torch"]) == 2
    assert "w.pt.extras.npz' already exists - pass --overwrite" in capsys.readouterr().err and not (tmp_path / "w.pt").exists()
    assert main(["convert", ckpt, str(tmp_path / "w.pt"), "--model", "fourcastnet", "--to", "torch", "--overwrite", "--drop-extras"]) == 0
    assert not (tmp_path / "w.pt.extras.npz").exists()  # the stale one is gone, and --drop-extras wrote none
    assert main(["convert", ckpt, str(out), "--model", "fourcastnet", "--overwrite"]) == 0
    assert read_weights(out).model == "fourcastnet"
    # forecast output too
    data = wave_dataset(tmp_path / "waves.nc", times=4)
    (tmp_path / "f.nc").write_bytes(b"precious")
    assert main(["forecast", "fourcastnet", "--weights", str(out), "--init", str(data), "--steps", "1", "--out", str(tmp_path / "f.nc")]) == 2
    assert "already exists - pass --overwrite" in capsys.readouterr().err and (tmp_path / "f.nc").read_bytes() == b"precious"
    assert main(["forecast", "fourcastnet", "--weights", str(out), "--init", str(data), "--steps", "1", "--out", str(tmp_path / "f.nc"), "--overwrite"]) == 0
