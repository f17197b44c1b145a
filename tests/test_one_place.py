"""Concerns written once: the cache root (earthzoo.files.cache_root) and the JSON
encoding of outputs (earthzoo.files.json_text). A second copy in core or a plugin fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO


def _sources() -> list[Path]:
    return sorted(p for root in ("core/earthzoo", "plugins") for p in (REPO / root).rglob("*.py") if "tests" not in p.relative_to(REPO).parts)


def _trees():
    for path in _sources():
        yield str(path.relative_to(REPO)), ast.parse(path.read_text())


def test_one_cache_root():
    readers = sorted(rel for rel, tree in _trees() for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "EARTHZOO_CACHE")
    assert readers == ["core/earthzoo/files.py"], f"$EARTHZOO_CACHE read outside earthzoo.files.cache_root: {readers}"


def test_one_json_encoder():
    encoders, hooks = [], []
    for rel, tree in _trees():
        for n in ast.walk(tree):
            if isinstance(n, ast.ClassDef) and any("JSONEncoder" in ast.unparse(b) for b in n.bases):
                encoders.append(f"{rel}:{n.lineno}")
            if isinstance(n, ast.Call) and ast.unparse(n.func) in ("json.dumps", "json.dump") and any(k.arg in ("default", "cls") for k in n.keywords):
                hooks.append((rel, ast.unparse(next(k.value for k in n.keywords if k.arg in ("default", "cls")))))
    assert encoders == [], f"JSONEncoder subclasses beside earthzoo.files.json_text: {encoders}"
    # json_text's encoder; the data cache hashes its parameters' text (default=str), which is a key, not an output
    assert sorted(hooks) == [("core/earthzoo/data/cache.py", "str"), ("core/earthzoo/files.py", "encode")], hooks
