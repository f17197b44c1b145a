"""No import cycles among core's modules. Every import of an earthzoo module counts,
module-level and function-local alike: a local import may defer torch or mindspore
(or a slow earthzoo module) for start-up speed, but not hide a cycle. Imports under
``if TYPE_CHECKING:`` never run and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

import earthzoo
import pytest

CORE = Path(earthzoo.__file__).resolve().parent


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``package_dir``."""
    out = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for each import of a module in ``modules``.
    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module."""
    tree = ast.parse(path.read_text())
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    top = {id(n) for stmt in tree.body for n in ast.walk(stmt) if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    skip = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            parts = package[: len(package) - node.level + 1] + [node.module] if node.level else [node.module]
            base = ".".join(p for p in parts if p)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.append((target, node.lineno, id(node) in top))
    return found


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    modules = module_files(package_dir)
    return {name: {t for t, _, _ in imports_of(name, path, modules)} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def local_imports(package_dir: Path) -> list[tuple[str, int, str]]:
    """Function-local imports of earthzoo modules: (importing module, line, imported module)."""
    modules = module_files(package_dir)
    return [(name, line, t) for name, path in modules.items() for t, line, at_top in imports_of(name, path, modules) if not at_top]


def _path_of(graph: dict[str, set[str]], component: list[str]) -> str:
    """One cycle through the component, for the failure message."""
    members, start = set(component), component[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in members)
        back = [w for w in nxt if w == start]
        if back and len(path) > 1:
            return " -> ".join(path + [start])
        step = next((w for w in nxt if w not in seen), None)
        if step is None:
            return " <-> ".join(component)
        path.append(step)
        seen.add(step)


def test_core_has_no_import_cycles():
    graph = import_graph(CORE)
    assert len(graph) > 50 and "earthzoo.registry" in graph
    found = cycles(graph)
    assert not found, "import cycles among core modules: " + "; ".join(_path_of(graph, c) for c in found)


PLUGIN_PACKAGES = sorted(p.parent for p in (CORE.parents[1] / "plugins").glob("**/earthzoo_*/__init__.py"))


@pytest.mark.parametrize("package", PLUGIN_PACKAGES, ids=[p.name for p in PLUGIN_PACKAGES])
def test_plugin_packages_have_no_import_cycles(package):
    graph = import_graph(package)
    assert not cycles(graph), "import cycles: " + "; ".join(_path_of(graph, c) for c in cycles(graph))


def test_the_check_finds_cycles_hidden_in_functions(tmp_path):
    pkg = tmp_path / "earthzoo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("import os\n\ndef f():\n    from .sub.c import g\n    return g\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..b import f\n\ndef g():\n    from .. import a\n")
    graph = import_graph(pkg)
    assert graph["earthzoo.sub.c"] == {"earthzoo.a"}  # the TYPE_CHECKING import does not count
    assert cycles(graph) == [["earthzoo.a", "earthzoo.b", "earthzoo.sub.c"]]
    assert sorted((m, t) for m, _, t in local_imports(pkg)) == [("earthzoo.b", "earthzoo.sub.c"), ("earthzoo.sub.c", "earthzoo.a")]
    (pkg / "sub" / "c.py").write_text("def g():\n    import os\n")
    assert cycles(import_graph(pkg)) == []
