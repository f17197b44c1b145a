"""DGL as the message-passing engine of earthzoo's GraphCast (torch); see docs/dgl.md.

Importing this package imports neither torch nor dgl (nor importlib.metadata: plugins
load in every earthzoo process, conversions included)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from earthzoo.entrypoints import installed_version

FIX = "run it in the DGL environment (torch 2.2.1, dgl 2.1.0): see docs/dgl.md"


def unavailable_reason() -> str | None:
    """Why DGL cannot run here, or None, read from the installed files: DGL 2.x loads a
    graphbolt library built for the exact torch release and fails to import without one."""
    dgl_version = installed_version("dgl")
    if dgl_version is None:
        return "dgl is not installed"
    torch_version = (installed_version("torch") or "").split("+")[0]
    if not torch_version:
        return f"dgl {dgl_version} is installed but torch is not"
    spec = find_spec("dgl")
    if spec is None or not spec.submodule_search_locations:
        return f"dgl {dgl_version} is registered but its package is missing"
    graphbolt = Path(list(spec.submodule_search_locations)[0]) / "graphbolt"
    if graphbolt.is_dir() and not any(graphbolt.glob(f"*graphbolt_pytorch_{torch_version}.*")):
        return f"dgl {dgl_version} has no build for torch {torch_version} (DGL's wheels stop at torch 2.2.1)"
    return None


def serves(backend: str) -> bool:
    """CPU always; CUDA only with a CUDA build of DGL (PyPI's wheels are CPU builds, versioned without '+cu')."""
    return backend == "cpu" or (backend == "cuda" and "+cu" in (installed_version("dgl") or ""))
