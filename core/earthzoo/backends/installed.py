"""What the installed frameworks were built for, and which device nodes the driver
made, read without importing anything: backend probes run on every `earthzoo
backends` and must cost milliseconds."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, or None (found without importing it)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def device_indices(stem: str, dev_root: str = "/dev") -> list[int]:
    """Indices N of the device nodes ``dev_root/<stem>N``, sorted; [] when the folder
    cannot be read. Only digits may follow the stem (``nvidiactl`` is not a GPU)."""
    try:
        names = os.listdir(dev_root)
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := re.fullmatch(rf"{re.escape(stem)}(\d+)", n)))


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def parse_torch_version(text: str) -> dict[str, Any]:
    """``__version__``, ``cuda`` and ``hip`` from the text of torch/version.py."""
    out: dict[str, Any] = {}
    for key, name in (("__version__", "version"), ("cuda", "cuda"), ("hip", "hip")):
        m = re.search(rf"^{key}\s*(?::[^=\n]*)?=\s*(.+?)\s*$", text, re.M)
        try:
            out[name] = ast.literal_eval(m.group(1)) if m else None
        except (ValueError, SyntaxError):
            out[name] = None
    return out


def torch_build() -> dict[str, Any] | None:
    """torch's version and its CUDA/HIP build tags (a ROCm/DTK torch has ``hip`` set
    and names its devices ``cuda`` too); None when torch is not installed."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "version"):
        return {"version": torch.__version__, "cuda": torch.version.cuda, "hip": torch.version.hip}
    folder = package_dir("torch")
    if folder is None:
        return None
    try:
        return parse_torch_version((folder / "version.py").read_text())
    except OSError:
        return None


def mindspore_has_plugin(prefix: str) -> bool:
    """Whether the installed MindSpore wheel ships a device plugin lib/plugin/<prefix>*
    ("gpu", "ascend")."""
    folder = package_dir("mindspore")
    plugin_dir = folder / "lib" / "plugin" if folder is not None else None
    return plugin_dir is not None and plugin_dir.is_dir() and any(p.name.startswith(prefix) for p in plugin_dir.glob("*"))
