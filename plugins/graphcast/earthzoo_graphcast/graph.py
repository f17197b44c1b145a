"""GraphCast's graphs in NumPy/SciPy: the icosahedral refinement hierarchy, the
merged multi-mesh, grid2mesh edges by radius query, mesh2grid edges to the
containing triangle, and the structural node/edge features as the original
defines them (float32 lat/lon -> positions, per-edge rotation of the receiver
to (1, 0, 0), features [|d|, dx, dy, dz] / max |d| over the graph's edges).

Node and edge orders follow the reference, so per-edge arrays compare directly:
mesh vertices in refinement order, multi-mesh edges from faces of levels 0..R,
grid2mesh ordered by grid node then mesh node, mesh2grid three per grid node in
the face's vertex order. Graphs are cached on disk keyed by (grid, mesh levels)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from earthzoo.errors import EarthzooError
from earthzoo.files import atomic_path, cache_root
from scipy.spatial import cKDTree

GRAPH_VERSION = 1

# The regular icosahedron with DeepMind's vertex and face numbering (facts
# checked against the golden fixture): vertices (c1, c2, 0), (0, c1, c2),
# (c2, 0, c1) for c1 in (1, -1), c2 in (phi, -phi), then rotated about y so a
# face is not cut by the poles' meridian planes.
_ICOSA_FACES = np.array(
    [(0, 1, 2), (0, 6, 1), (8, 0, 2), (8, 4, 0), (3, 8, 2), (3, 2, 7), (7, 2, 1), (0, 4, 6), (4, 11, 6), (6, 11, 5),
     (1, 5, 7), (4, 10, 11), (4, 8, 10), (10, 8, 3), (10, 3, 9), (11, 10, 9), (11, 9, 5), (5, 9, 7), (9, 3, 7), (1, 6, 5)],
    dtype=np.int64,
)


def icosahedron() -> tuple[np.ndarray, np.ndarray]:
    phi = (1.0 + np.sqrt(5.0)) / 2.0
    verts = []
    for c1 in (1.0, -1.0):
        for c2 in (phi, -phi):
            verts += [(c1, c2, 0.0), (0.0, c1, c2), (c2, 0.0, c1)]
    # The reference keeps mesh geometry in float32: cast, rotate in float64, cast again.
    v = (np.array(verts) / np.linalg.norm([1.0, phi])).astype(np.float32)
    # Rotate about y by half the supplement of the dihedral angle.
    dihedral = 2.0 * np.arcsin(phi / np.sqrt(3.0))
    a = (np.pi - dihedral) / 2.0
    rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    return np.dot(v, rot).astype(np.float32), _ICOSA_FACES.copy()


def refine(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split every face in four; new vertices (normalised edge midpoints) are
    numbered in order of first appearance over faces and their edges 01, 12, 20."""
    n = len(vertices)
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    pairs = np.stack([np.stack([a, b], 1), np.stack([b, c], 1), np.stack([c, a], 1)], 1).reshape(-1, 2)  # face-major
    key = pairs.min(1) * n + pairs.max(1)
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    mid_index = (n + rank[inverse]).reshape(-1, 3)  # per face: m01, m12, m20
    order = np.argsort(rank)
    lo, hi = uniq[order] // n, uniq[order] % n
    mids = vertices[lo] + vertices[hi]
    # Row norms as sqrt(dot(m, m)), the reference's per-vertex np.linalg.norm, bit for bit in float32.
    norms = np.sqrt((mids[:, None, :] @ mids[:, :, None])[:, 0, :])
    mids = (mids / norms).astype(vertices.dtype)
    m01, m12, m20 = mid_index[:, 0], mid_index[:, 1], mid_index[:, 2]
    children = np.stack([np.stack([a, m01, m20], 1), np.stack([m01, b, m12], 1), np.stack([m20, m12, c], 1), np.stack([m01, m12, m20], 1)], 1)
    return np.concatenate([vertices, mids]), children.reshape(-1, 3)


def mesh_hierarchy(levels: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Finest vertices (refinement keeps earlier vertices as a prefix) and the faces of each level 0..levels."""
    v, f = icosahedron()
    all_faces = [f]
    for _ in range(levels):
        v, f = refine(v, f)
        all_faces.append(f)
    return v, all_faces


def faces_to_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]]), np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])


# --------------------------------------------------------------------------- geometry


def cartesian_to_latlon(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon = np.mod(np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0])), 360.0)
    lat = 90.0 - np.degrees(np.arccos(np.clip(xyz[:, 2], -1.0, 1.0)))
    return lat, lon


def _angles32(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(phi, theta) in float32 radians, as the reference derives them from float32 degrees."""
    lat = np.asarray(lat, np.float32)
    lon = np.asarray(lon, np.float32)
    return np.deg2rad(lon), np.deg2rad(np.float32(90.0) - lat)


def positions32(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, theta = _angles32(lat, lon)
    return np.stack([np.cos(phi) * np.sin(theta), np.sin(phi) * np.sin(theta), np.cos(theta)], axis=1)


def node_features(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """[sin(lat) (as cos(colatitude)), cos(lon), sin(lon)], float32."""
    phi, theta = _angles32(lat, lon)
    return np.stack([np.cos(theta), np.cos(phi), np.sin(phi)], axis=1).astype(np.float32)


def edge_features(s_lat, s_lon, r_lat, r_lon, senders, receivers, normaliser: float | None = None) -> np.ndarray:
    """[|d|, dx, dy, dz] / max|d| with d = R (p_sender - p_receiver), R = R_y(pi/2 - theta_r) R_z(-phi_r)."""
    ps = positions32(s_lat, s_lon)[senders].astype(np.float64)
    pr = positions32(r_lat, r_lon)[receivers].astype(np.float64)
    phi, theta = _angles32(r_lat, r_lon)
    phi = phi.astype(np.float64)[receivers]
    theta = theta.astype(np.float64)[receivers]
    d = ps - pr
    # R_z(-phi): (x, y) -> (cos phi x + sin phi y, -sin phi x + cos phi y)
    cp, sp = np.cos(phi), np.sin(phi)
    x1 = cp * d[:, 0] + sp * d[:, 1]
    y1 = -sp * d[:, 0] + cp * d[:, 1]
    z1 = d[:, 2]
    # R_y(beta), beta = pi/2 - theta: (x, z) -> (cos b x + sin b z, -sin b x + cos b z)
    beta = np.pi / 2 - theta
    cb, sb = np.cos(beta), np.sin(beta)
    x2 = cb * x1 + sb * z1
    z2 = -sb * x1 + cb * z1
    rel = np.stack([x2, y1, z2], axis=1)
    length = np.linalg.norm(rel, axis=1, keepdims=True)
    norm = float(length.max()) if normaliser is None else float(normaliser)
    return (np.concatenate([length, rel], axis=1) / norm).astype(np.float32)


# --------------------------------------------------------------------------- the graphs


@dataclass
class Graphs:
    """Everything the model needs besides weights; arrays only (cacheable)."""

    grid_lat: np.ndarray
    grid_lon: np.ndarray
    mesh_vertices: np.ndarray
    mesh_lat: np.ndarray
    mesh_lon: np.ndarray
    grid_node_features: np.ndarray
    mesh_node_features: np.ndarray
    g2m_senders: np.ndarray
    g2m_receivers: np.ndarray
    g2m_edge_features: np.ndarray
    mesh_senders: np.ndarray
    mesh_receivers: np.ndarray
    mesh_edge_features: np.ndarray
    m2g_senders: np.ndarray
    m2g_receivers: np.ndarray
    m2g_edge_features: np.ndarray
    finest_faces: np.ndarray
    m2g_faces: np.ndarray  # index into finest_faces of each grid node's containing face
    g2m_radius: np.ndarray

    @property
    def n_grid(self) -> int:
        return len(self.grid_node_features)

    @property
    def n_mesh(self) -> int:
        return len(self.mesh_node_features)


def grid2mesh_edges(grid_xyz: np.ndarray, mesh_xyz: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """All (grid, mesh) pairs at straight-line distance <= radius, ordered by grid node then mesh node."""
    mesh_tree = cKDTree(mesh_xyz)
    grid_tree = cKDTree(grid_xyz)
    pairs = grid_tree.sparse_distance_matrix(mesh_tree, radius, output_type="ndarray")
    g, m = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    order = np.lexsort((m, g))
    return g[order], m[order]


def containing_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, k: int = 6) -> np.ndarray:
    """Index of a face whose spherical triangle contains each point (the most
    interior candidate among the faces with the nearest centroids)."""
    vertices = np.asarray(vertices, np.float64)
    points = np.asarray(points, np.float64)
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    orient = np.sign(np.einsum("ij,ij->i", np.cross(a, b), c))[:, None]  # +1 for outward-ordered faces
    # Planes through the origin and each face edge, oriented inward: p is in the face iff all three dot products >= 0.
    planes = np.stack([np.cross(a, b) * orient, np.cross(b, c) * orient, np.cross(c, a) * orient], axis=1)  # (F, 3, 3)
    tree = cKDTree((a + b + c) / 3.0)
    result = np.full(len(points), -1, dtype=np.int64)
    todo = np.arange(len(points))
    while len(todo):
        kk = min(k, len(faces))
        _, cand = tree.query(points[todo], k=kk, workers=-1)
        cand = cand.reshape(len(todo), kk)
        side = (planes[cand] @ points[todo][:, None, :, None])[..., 0]  # (n, k, 3)
        score = side.min(axis=2)
        best = np.argmax(score, axis=1)
        ok = score[np.arange(len(todo)), best] >= -1e-12
        result[todo[ok]] = cand[np.arange(len(todo)), best][ok]
        if kk == len(faces) and not ok.all():
            raise EarthzooError("mesh2grid: a grid point lies in no mesh face", "report this as a bug (the mesh is not closed?)")
        todo = todo[~ok]
        k *= 4
    return result


def build_graphs(lat: np.ndarray, lon: np.ndarray, mesh_size: int, radius_fraction: float = 0.6, m2g_normaliser: float | None = None) -> Graphs:
    """The three graphs for a lat-lon grid (node index = i_lat * n_lon + i_lon, lat in the given order)."""
    lat = np.asarray(lat, np.float32)
    lon = np.asarray(lon, np.float32)
    grid_lat = np.repeat(lat, len(lon))
    grid_lon = np.tile(lon, len(lat))
    vertices, level_faces = mesh_hierarchy(mesh_size)
    finest = level_faces[-1]
    mesh_lat, mesh_lon = (x.astype(np.float32) for x in cartesian_to_latlon(vertices))

    fs, fr = faces_to_edges(finest)
    # Longest finest edge from the float32 geometry, times the fraction in float32, as the reference does.
    radius = float(np.float32(np.linalg.norm(vertices[fs] - vertices[fr], axis=1).max()) * np.float32(radius_fraction))
    grid_xyz = positions32(grid_lat, grid_lon).astype(np.float64)

    g2m_s, g2m_r = grid2mesh_edges(grid_xyz, vertices, radius)
    mesh_s, mesh_r = faces_to_edges(np.concatenate(level_faces))
    face_of = containing_faces(grid_xyz, vertices, finest)
    m2g_s = finest[face_of].reshape(-1)
    m2g_r = np.repeat(np.arange(len(grid_xyz), dtype=np.int64), 3)

    return Graphs(
        grid_lat=lat, grid_lon=lon, mesh_vertices=vertices, mesh_lat=mesh_lat, mesh_lon=mesh_lon,
        grid_node_features=node_features(grid_lat, grid_lon),
        mesh_node_features=node_features(mesh_lat, mesh_lon),
        g2m_senders=g2m_s, g2m_receivers=g2m_r,
        g2m_edge_features=edge_features(grid_lat, grid_lon, mesh_lat, mesh_lon, g2m_s, g2m_r),
        mesh_senders=mesh_s, mesh_receivers=mesh_r,
        mesh_edge_features=edge_features(mesh_lat, mesh_lon, mesh_lat, mesh_lon, mesh_s, mesh_r),
        m2g_senders=m2g_s, m2g_receivers=m2g_r,
        m2g_edge_features=edge_features(mesh_lat, mesh_lon, grid_lat, grid_lon, m2g_s, m2g_r, m2g_normaliser),
        finest_faces=finest, m2g_faces=face_of, g2m_radius=np.array(radius),
    )


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    return cache_root() / "graphcast"


def cache_key(lat, lon, mesh_size: int, radius_fraction: float, m2g_normaliser) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(lat, np.float32).tobytes())
    h.update(b"|")
    h.update(np.ascontiguousarray(lon, np.float32).tobytes())
    h.update(repr((GRAPH_VERSION, int(mesh_size), float(radius_fraction), m2g_normaliser)).encode())
    return f"graphs_{len(lat)}x{len(lon)}_mesh{mesh_size}_{h.hexdigest()[:16]}"


def load_graphs(lat, lon, mesh_size: int, radius_fraction: float = 0.6, m2g_normaliser: float | None = None, cache: bool = True) -> Graphs:
    """Graphs from the on-disk cache, built (and written atomically) on a miss."""
    if not cache:
        return build_graphs(lat, lon, mesh_size, radius_fraction, m2g_normaliser)
    path = cache_dir() / (cache_key(lat, lon, mesh_size, radius_fraction, m2g_normaliser) + ".npz")
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return Graphs(**{f.name: z[f.name] for f in fields(Graphs)})
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt
            pass
    graphs = build_graphs(lat, lon, mesh_size, radius_fraction, m2g_normaliser)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{fl.name: getattr(graphs, fl.name) for fl in fields(Graphs)})
    except (OSError, EarthzooError):
        pass  # an unwritable cache only costs the rebuild next time
    return graphs


def graphs_for(config, lat=None, lon=None, cache: bool = True) -> Graphs:
    """The graphs of a GraphCastConfig's grid (north to south unless lat is given)."""
    lat = config.latitudes() if lat is None else lat
    lon = config.longitudes() if lon is None else lon
    return load_graphs(lat, lon, config.mesh_size, config.radius_query_fraction_edge_length, config.mesh2grid_edge_normalization_factor, cache)
