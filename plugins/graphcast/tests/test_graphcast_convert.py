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
