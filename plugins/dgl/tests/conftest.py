"""earthzoo-dgl tests: the GraphCast tests' golden arrays and private graph cache, shared
from their gc_helpers."""

from __future__ import annotations

import sys
from pathlib import Path

# The GraphCast tests' helpers and fixtures (tie nodes, input stacking, golden arrays), whatever else is collected.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "graphcast" / "tests"))

from gc_helpers import _graph_cache, ckpt, gio  # noqa: E402, F401 - fixtures
