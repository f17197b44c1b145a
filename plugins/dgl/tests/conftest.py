"""earthzoo-dgl tests: the golden fixture, a private graph cache, and the reason to skip
the engine tests where DGL cannot run (the main environment)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# The GraphCast tests' helpers (tie nodes, input stacking), whatever else is collected.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "graphcast" / "tests"))


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
