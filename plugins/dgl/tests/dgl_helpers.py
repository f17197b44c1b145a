"""Why the engine tests cannot run here, if they cannot (a uniquely named module, importable beside other plugins' tests)."""

from __future__ import annotations

import pytest

try:
    from earthzoo_dgl import unavailable_reason

    REASON = unavailable_reason()
except ImportError:
    REASON = "earthzoo-dgl is not installed"

needs_dgl = pytest.mark.skipif(REASON is not None, reason=f"DGL engine tests run in the DGL environment (docs/dgl.md, .ci/dgl.sh): {REASON}")
