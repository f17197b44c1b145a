"""GraphCast test helpers: the golden arrays, and a private graph cache per test session."""

from __future__ import annotations

import numpy as np
import pytest


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
