"""Shared test setup: quiet MindSpore, run in a temporary folder (MindSpore writes
rank_0/ and rewritten_network/ into the working directory), and paths to golden data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GLOG_v", "3")

REPO = Path(__file__).resolve().parent
GOLDEN = REPO / "tests" / "golden"  # reference fixtures from the original implementations; see its README


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def golden() -> Path:
    if not GOLDEN.is_dir():
        pytest.fail(f"golden fixtures not found at {GOLDEN}: the clone is incomplete")
    return GOLDEN


@pytest.fixture
def zoo(monkeypatch):
    """A fresh plugin manager with no installed plugins, plus the toy model plugin
    from tests/toyzoo.py registered in-process."""
    import sys

    import earthzoo.plugins as plugins

    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "")
    monkeypatch.syspath_prepend(str(REPO / "tests"))
    plugins.reset()
    import toyzoo

    plugins.register(toyzoo, "toyzoo", "test")
    yield plugins.get_plugin_manager()
    plugins.reset()
    sys.modules.pop("toyzoo", None)
