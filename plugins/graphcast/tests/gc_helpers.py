"""Shared facts and fixtures for the GraphCast tests (a uniquely named module: importable
beside other plugins' tests; earthzoo-dgl's conftest imports the fixtures too)."""

from __future__ import annotations

import numpy as np
import pytest

# Nodes on edges shared by mesh faces (golden README): any containing face is valid there.
TIE_NODES = (162, 198, 234, 270, 288, 306, 324, 333, 342, 351, 360, 378, 396, 432, 468, 504)


def stack_inputs(gio, cfg):
    """The golden in_*/forcing_* arrays stacked by the config's channel list: (B, C, lat, lon), lat as given."""
    b = gio["in_2m_temperature"].shape[0]
    chans = []
    for kind, var, t, lev in cfg.input_channels():
        if kind == "static":
            a = np.broadcast_to(gio[f"in_{var}"], (b,) + gio[f"in_{var}"].shape)
        else:
            a = gio[f"{'forcing' if kind == 'forcing' else 'in'}_{var}"][:, t]
            if lev is not None:
                a = a[:, list(cfg.pressure_levels).index(lev)]
        chans.append(a)
    return np.stack(chans, axis=1).astype(np.float32)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def _graph_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EARTHZOO_CACHE", str(tmp_path_factory.getbasetemp() / "earthzoo-cache"))


@pytest.fixture
def gio(golden):
    with np.load(golden / "graphcast_deepmind_tiny_io.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture
def ckpt(golden):
    return golden / "graphcast_deepmind_tiny.npz"
