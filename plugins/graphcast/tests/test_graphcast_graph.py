"""Graph construction against the reference's graphs (golden tiny case) and the paper sizes."""

from __future__ import annotations

import numpy as np
import pytest
from earthzoo_graphcast import graph
from earthzoo_graphcast.config import GraphCastConfig
from gc_helpers import TIE_NODES, stack_inputs


def _pairs(s, r):
    return set(zip(s.tolist(), r.tolist()))


@pytest.fixture
def built(gio):
    return graph.build_graphs(gio["grid_lat"], gio["grid_lon"], 2)


def test_mesh_geometry_matches_reference(built, gio):
    np.testing.assert_array_equal(built.mesh_vertices.astype(np.float64), gio["mesh_vertices"])
    np.testing.assert_array_equal(built.finest_faces, gio["mesh_faces_finest"])
    _, faces = graph.mesh_hierarchy(2)
    np.testing.assert_array_equal(np.concatenate(faces), gio["multimesh_faces"])
    np.testing.assert_array_equal(built.mesh_lat, gio["mesh_nodes_lat"])
    np.testing.assert_array_equal(built.mesh_lon, gio["mesh_nodes_lon"])
    assert abs(float(built.g2m_radius) - float(gio["g2m_query_radius"])) < 1e-12


@pytest.mark.parametrize("name", ["g2m", "mesh"])
def test_edge_sets_and_features_match(built, gio, name):
    s, r = getattr(built, f"{name}_senders"), getattr(built, f"{name}_receivers")
    assert _pairs(s, r) == _pairs(gio[f"{name}_senders"], gio[f"{name}_receivers"])
    # Same order too, so per-edge features compare directly.
    np.testing.assert_array_equal(s, gio[f"{name}_senders"])
    np.testing.assert_array_equal(r, gio[f"{name}_receivers"])
    np.testing.assert_allclose(getattr(built, f"{name}_edge_features"), gio[f"{name}_edge_features"], rtol=0, atol=1e-6)


def test_mesh2grid_matches_except_ties_where_face_contains_point(built, gio):
    mine = built.m2g_senders.reshape(-1, 3)
    ref = gio["m2g_senders"].reshape(-1, 3)
    np.testing.assert_array_equal(built.m2g_receivers, gio["m2g_receivers"])
    other = np.setdiff1d(np.arange(len(ref)), TIE_NODES)
    assert _pairs(mine[other].ravel(), np.repeat(other, 3)) == _pairs(ref[other].ravel(), np.repeat(other, 3))
    feats_mine = built.m2g_edge_features.reshape(-1, 3, 4)[other]
    np.testing.assert_allclose(feats_mine, gio["m2g_edge_features"].reshape(-1, 3, 4)[other], rtol=0, atol=1e-6)
    # At the ties: the chosen vertices form a finest face that contains the point.
    faces = {tuple(sorted(f)) for f in built.finest_faces.tolist()}
    v = built.mesh_vertices.astype(np.float64)
    xyz = graph.positions32(gio["grid_nodes_lat"], gio["grid_nodes_lon"]).astype(np.float64)
    for node in TIE_NODES:
        tri = mine[node]
        assert tuple(sorted(tri.tolist())) in faces
        a, b, c = v[tri]
        sign = np.sign(np.dot(np.cross(a, b), c))
        sides = [sign * np.dot(np.cross(p, q), xyz[node]) for p, q in ((a, b), (b, c), (c, a))]
        assert min(sides) >= -1e-7, (node, sides)


def test_node_features_match(built, gio):
    np.testing.assert_allclose(built.grid_node_features, gio["grid_node_structural_features"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(built.mesh_node_features, gio["mesh_node_structural_features"], atol=1e-6, rtol=0)


def test_input_channel_stacking_matches_reference(gio):
    cfg = GraphCastConfig.preset("tiny")
    assert cfg.channel_names() == [
        "2m_temperature[time=0]", "2m_temperature[time=1]", "land_sea_mask",
        "temperature[time=0,level=500]", "temperature[time=0,level=850]", "temperature[time=1,level=500]", "temperature[time=1,level=850]",
        "toa_incident_solar_radiation[time=0]", "toa_incident_solar_radiation[time=1]", "forcing:toa_incident_solar_radiation[time=0]",
    ]
    x = stack_inputs(gio, cfg)  # (B, C, lat, lon), lat ascending as given
    b, c, h, w = x.shape
    np.testing.assert_array_equal(x.transpose(2, 3, 0, 1).reshape(h * w, b, c), gio["grid_features_in"])


def test_north_to_south_grid_is_a_node_permutation(gio):
    asc = graph.build_graphs(gio["grid_lat"], gio["grid_lon"], 2)
    desc = graph.build_graphs(gio["grid_lat"][::-1], gio["grid_lon"], 2)
    n_lon = len(gio["grid_lon"])
    n_lat = len(gio["grid_lat"])
    perm = np.arange(n_lat * n_lon).reshape(n_lat, n_lon)[::-1].ravel()  # desc node -> asc node
    assert _pairs(perm[desc.g2m_senders], desc.g2m_receivers) == _pairs(asc.g2m_senders, asc.g2m_receivers)
    np.testing.assert_allclose(desc.grid_node_features, asc.grid_node_features[perm])
    assert desc.grid_node_features[0, 0] == pytest.approx(1.0)  # first node is the north pole


def test_paper_mesh_sizes():
    v, faces = graph.mesh_hierarchy(6)
    s, _ = graph.faces_to_edges(np.concatenate(faces))
    assert (len(v), len(s)) == (40962, 327660)


def test_cache_round_trip_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHZOO_CACHE", str(tmp_path))
    cfg = GraphCastConfig.preset("tiny")
    g1 = graph.graphs_for(cfg)
    files = list((tmp_path / "graphcast").glob("*.npz"))
    assert len(files) == 1 and not list((tmp_path / "graphcast").glob(".*part*"))
    g2 = graph.graphs_for(cfg)
    np.testing.assert_array_equal(g1.m2g_senders, g2.m2g_senders)
    np.testing.assert_array_equal(g1.g2m_edge_features, g2.g2m_edge_features)
    graph.load_graphs(cfg.latitudes(), cfg.longitudes(), 1)
    assert len(list((tmp_path / "graphcast").glob("*.npz"))) == 2  # other mesh levels -> another entry
