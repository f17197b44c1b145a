"""The op table: operators a model looks up by name, so that a backend's
``earthzoo_custom_ops`` can replace them (DFT-by-matmul FFTs on chips without a
fast FFT, GNN scatter alternatives).

A model that uses an op table implements ``set_ops(table)``; it starts with its
framework's native ops, and ``apply_custom_ops`` swaps in a backend's overrides."""

from __future__ import annotations

from typing import Any, Callable

from .registry import get_plugin_manager


def custom_ops(framework: str, backend: str = "cpu") -> dict[str, Callable]:
    """All plugins' overrides for ``backend`` and ``framework``; later-registered plugins win."""
    results = get_plugin_manager().hook.earthzoo_custom_ops(backend=backend, framework=framework)
    table: dict[str, Callable] = {}
    for ops in reversed(results):  # pluggy returns the last-registered plugin's result first
        table.update(ops or {})
    return table


def resolved_ops(framework: str, backend: str = "cpu") -> dict[str, Callable]:
    """``custom_ops`` with the ops a backend names lazily (a ``resolve()`` method)
    resolved, which needs the framework imported: MindSpore's graph mode cannot
    compile the lazy wrapper. One that resolves to None cannot be made here, and is
    left out (the native op stays)."""
    resolved = {k: op.resolve() if hasattr(op, "resolve") else op for k, op in custom_ops(framework, backend).items()}
    return {k: op for k, op in resolved.items() if op is not None}


def apply_custom_ops(model: Any, framework: str, backend: str = "cpu") -> list[str]:
    """Install the backend's overrides into ``model``; returns the names offered to it."""
    table = resolved_ops(framework, backend)
    if table and hasattr(model, "set_ops"):
        model.set_ops(table)
        return sorted(table)
    return []
