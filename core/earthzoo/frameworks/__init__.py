"""The only places in core that import a deep-learning framework.

``framework_module(name)`` returns ``earthzoo.frameworks.torch`` or
``earthzoo.frameworks.mindspore``; both offer the same functions, so callers
can stay framework-agnostic."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..cards import FRAMEWORKS
from ..errors import EarthzooError, missing_dependency
from ..pins import framework_pip


def framework_module(name: str, purpose: str | None = None) -> ModuleType:
    """The framework's module, or a one-line error naming the pip command (``purpose``: what needs it)."""
    if name not in FRAMEWORKS:
        raise EarthzooError(f"unknown framework {name!r}", f"use one of: {', '.join(FRAMEWORKS)}")
    try:
        return importlib.import_module(f"earthzoo.frameworks.{name}")
    except ImportError as exc:
        if exc.name in ("torch", "mindspore"):
            raise missing_dependency(name, framework_pip(name), purpose or f"for --framework {name}") from exc
        raise
