"""The versions earthzoo is tested with are written once, in core/earthzoo/constraints.txt:
code reads them through earthzoo.pins, pip through ``-c``; the copies that packaging
needs (pyproject extras) and the docs' examples must agree with it."""

from __future__ import annotations

import ast
import re

import pytest
import tomllib
from earthzoo.pins import CONSTRAINTS, framework_pip, pins, satisfied, version

from conftest import REPO

# Deliberate differences: DGL's wheels stop at torch 2.2, so earthzoo-dgl runs in an environment of its own.
OWN_ENVIRONMENT = {("plugins/dgl/pyproject.toml", "torch"), (".ci/dgl.sh", "torch"), ("docs/dgl.md", "torch")}
PINNED = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(pins(), key=len, reverse=True))) + r")\s*(==|<=|>=|<|>|~=)\s*([0-9][\w.]*)")


def _normal(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_the_constraints_name_the_frameworks():
    assert CONSTRAINTS.parent.name == "earthzoo" and {"torch", "mindspore", "numpy"} <= set(pins())
    assert framework_pip("mindspore") == f"{pins()['mindspore']} '{pins()['numpy']}'"
    assert satisfied("torch", version("torch") + "+cpu") and not satisfied("torch", "2.2.1")
    with pytest.raises(ValueError):
        version("numpy")  # a range, not one version


def test_pyproject_pins_agree_with_the_constraints():
    files = sorted(REPO.glob("core/pyproject.toml")) + sorted(REPO.glob("plugins/**/pyproject.toml"))
    checked = 0
    for path in files:
        project = tomllib.loads(path.read_text())["project"]
        requirements = list(project.get("dependencies", ())) + [r for extra in project.get("optional-dependencies", {}).values() for r in extra]
        for requirement in requirements:
            name = re.split(r"[=<>!~ ;\[]", requirement, maxsplit=1)[0].lower()
            rel = str(path.relative_to(REPO))
            if name in pins() and re.search(r"[=<>]", requirement) and (rel, name) not in OWN_ENVIRONMENT:
                assert _normal(requirement) == _normal(pins()[name]), f"{rel}: {requirement} disagrees with core/earthzoo/constraints.txt ({pins()[name]})"
                checked += 1
    assert checked >= 15  # core's extras and each plugin's torch/mindspore extras


def test_docs_and_scripts_agree_and_code_reads_the_pins():
    texts = [REPO / "README.md", REPO / "requirements-dev.txt", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / ".ci").iterdir())]
    for path in texts:
        rel = str(path.relative_to(REPO))
        for m in PINNED.finditer(path.read_text()):
            if (rel, m.group(1)) not in OWN_ENVIRONMENT:
                assert _normal(m.group(0)) == _normal(pins()[m.group(1)]), f"{rel}: {m.group(0)} disagrees with core/earthzoo/constraints.txt"
    for path in sorted((REPO / "core" / "earthzoo").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            found = PINNED.search(node.value) if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
            assert found is None, f"{path.relative_to(REPO)}:{node.lineno} writes the pin {found.group(0)}: use earthzoo.pins"


def test_requirements_dev_installs_through_the_constraints():
    lines = [line.strip() for line in (REPO / "requirements-dev.txt").read_text().splitlines()]
    assert "-c core/earthzoo/constraints.txt" in lines and {"torch", "mindspore", "numpy"} <= set(lines)
