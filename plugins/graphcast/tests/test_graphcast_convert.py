"""DeepMind checkpoint -> canonical -> torch / MindSpore, and the errors for bad checkpoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from earthzoo.errors import EarthzooError
from earthzoo_graphcast import convert
from earthzoo_graphcast.config import GraphCastConfig


def test_read_maps_every_used_parameter(ckpt, golden):
    w = convert.read(ckpt)
    tensors, cfg = w.tensors, w.config
    raw, _, _ = convert.read_npz(ckpt)
    assert sorted(w.extras) == sorted(f"deepmind-graphcast:{k}" for k in raw if convert.IGNORED[0] in k)  # kept, for writing back
    assert set(w.attrs) == {"description", "license"} and w.config_sources["n_lat"] == "derived" and w.config_sources["latent_size"] == "file"
    used = [k for k in raw if convert.IGNORED[0] not in k]
    assert len(tensors) == len(used) == 100 and len(raw) == 106
    w = raw["params:grid2mesh_gnn/~_networks_builder/encoder_nodes_grid_nodes_mlp/~/linear_0:w"]
    np.testing.assert_array_equal(tensors["encoder.embed_grid_nodes.linear_0.weight"], w.T)
    np.testing.assert_array_equal(tensors["processor.2.node_mlp.layer_norm.bias"], raw["params:mesh_gnn/~_networks_builder/processor_nodes_2_mesh_nodes_layer_norm:offset"])
    assert cfg["latent_size"] == 32 and cfg["gnn_msg_steps"] == 3 and (cfg["n_lat"], cfg["n_lon"]) == (19, 36)
    assert cfg["target_variables"] == ("2m_temperature", "temperature") and cfg["pressure_levels"] == (500, 850)
    assert GraphCastConfig(**cfg) == GraphCastConfig.preset("tiny")


def test_task_config_mismatch_is_one_line_naming_the_difference(ckpt):
    tiny = GraphCastConfig.preset("tiny")
    assert len(convert.read_for(ckpt, tiny)) == 100
    other = dataclasses.replace(tiny, target_variables=("2m_temperature",))
    with pytest.raises(EarthzooError) as e:
        convert.read_for(ckpt, other)
    msg = str(e.value)
    assert "\n" not in msg and "target_variables=(2m_temperature, temperature)" in msg and "target_variables=(2m_temperature)" in msg
    with pytest.raises(EarthzooError, match="grid has n_lat=19 but the requested config has n_lat=65"):
        convert.read_for(ckpt, GraphCastConfig.preset("small"))
    with pytest.raises(EarthzooError, match="pressure_levels=\\(500, 850\\) but the requested config has pressure_levels=\\(500\\)"):
        convert.read_for(ckpt, dataclasses.replace(tiny, pressure_levels=(500,)))


def test_pickled_or_foreign_npz_is_refused(tmp_path):
    bad = tmp_path / "obj.npz"
    np.savez(bad, **{"params:x:w": np.array([object()], dtype=object)})
    with pytest.raises(EarthzooError, match="needs pickle"):
        convert.read(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(EarthzooError, match="no 'params:' entries"):
        convert.read(other)
    unknown = tmp_path / "unknown.npz"
    np.savez(unknown, **{"params:mesh_gnn/~_networks_builder/mystery_mlp/~/linear_0:w": np.zeros((2, 2))})
    with pytest.raises(EarthzooError, match="unknown parameter"):
        convert.read(unknown)


def test_convert_cli_to_canonical_then_both_frameworks(ckpt, tmp_path):
    from click.testing import CliRunner
    from earthzoo.api import load_model
    from earthzoo.cli import app
    from earthzoo.frameworks import mindspore as msfw
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import load_canonical

    out = tmp_path / "gc.safetensors"
    res = CliRunner().invoke(app, ["convert", str(ckpt), str(out), "--model", "graphcast", "--from", "deepmind-graphcast", "--verify"])
    assert res.exit_code == 0, res.output
    w = load_canonical(out)
    assert w.model == "graphcast" and w.config["latent_size"] == 32
    tm = load_model("graphcast", "torch", weights=str(out))
    mm = load_model("graphcast", "mindspore", weights=str(out))
    ts, ms_ = tfw.state_to_numpy(tm), msfw.state_to_numpy(mm)
    assert set(ts) == set(ms_) == set(w.tensors)
    for k in ts:  # torch <-> MindSpore is a name-preserving, bit-exact copy
        np.testing.assert_array_equal(ts[k], ms_[k])
    # canonical -> MindSpore .ckpt -> canonical, bit-exact
    ck = tmp_path / "gc.ckpt"
    res = CliRunner().invoke(app, ["convert", str(out), str(ck), "--model", "graphcast", "--verify"])
    assert res.exit_code == 0, res.output


def test_deepmind_format_round_trip_through_every_format_is_bit_exact(ckpt, gio, tmp_path, capsys):
    """DeepMind .npz -> safetensors -> torch -> MindSpore -> DeepMind .npz, formats
    detected by content and suffix, gives back every array of the original file
    (parameters incl. the unused mesh2grid mesh-node update, configs, description,
    licence), with the same dtypes; and the model from it reproduces grid_out."""
    import json

    import torch
    from earthzoo.cli import main
    from test_graphcast_golden import GRAPH_ARGS, _model, _np, _to

    chain = [(ckpt, "gc.safetensors", "deepmind-graphcast"), ("gc.safetensors", "gc.pt", "safetensors"), ("gc.pt", "gc.ckpt", "torch"), ("gc.ckpt", "back.npz", "mindspore")]
    for src, dst, kind in chain:
        assert main(["convert", str(tmp_path / src), str(tmp_path / dst), "--model", "graphcast", "--verify", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["from"] == kind and report["verify"]["equal"] and report["verify"]["config_equal"]
        assert len(report["extras"]) == 6 and report["attrs"] == ["description", "license"]
    assert report["to"] == "deepmind-graphcast"
    with np.load(ckpt) as a, np.load(tmp_path / "back.npz") as b:
        assert sorted(a.files) == sorted(b.files) and len(a.files) == 124
        for k in a.files:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), k
    model = _model("torch", tmp_path / "back.npz")
    with torch.no_grad():
        out = model.forward_nodes(*[_to("torch", gio[k]) for k in GRAPH_ARGS])
    assert np.abs(_np(out) - gio["grid_out"]).max() <= 1e-5


def test_deepmind_format_is_detected_by_content_as_source_and_by_suffix_as_target(ckpt, tmp_path, capsys):
    from earthzoo.cli import main
    from earthzoo.weights import detect_format

    assert detect_format(ckpt) == "deepmind-graphcast" and convert.sniff(ckpt)
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    assert not convert.sniff(tmp_path / "plain.npz")
    assert main(["convert", str(ckpt), str(tmp_path / "w.safetensors"), "--model", "graphcast"]) == 0
    assert main(["convert", str(tmp_path / "w.safetensors"), str(tmp_path / "w.npz"), "--model", "graphcast"]) == 0
    assert detect_format(tmp_path / "w.npz") == "deepmind-graphcast"
    out = capsys.readouterr().out
    assert "read from file: resolution=10.0" in out and "derived from other fields of the file: n_lat=19, n_lon=36" in out
