"""Installed distributions and their entry points, read from each one's
``entry_points.txt`` / ``METADATA`` (the PyPA layout) rather than through
importlib.metadata, whose import alone costs about 30 ms: a tenth of a whole
weight conversion. A leaf module: the registry loads plugins with it."""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
import types
from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    """One ``name = module[:attr]`` line of a distribution's entry_points.txt."""

    name: str
    value: str
    dist: types.SimpleNamespace  # .name, .version

    def load(self) -> object:
        module, _, attr = re.sub(r"\[.*\]\s*$", "", self.value).partition(":")
        obj = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def distributions() -> dict[str, types.SimpleNamespace]:
    """Installed distributions by normalised name (the first on sys.path wins, as for
    importlib.metadata): .name, .version (from the folder name, else METADATA) and .path.
    Listed once per sys.path (forget_distributions, which the registry's reset calls, after an install in-process)."""
    return _distributions(tuple(sys.path))


@functools.lru_cache(maxsize=1)
def _distributions(path: tuple[str, ...]) -> dict[str, types.SimpleNamespace]:
    found: dict[str, types.SimpleNamespace] = {}
    for folder in path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:  # a zip file or a missing folder holds no plugin of ours
            continue
        for entry in names:
            stem, dot, kind = entry.rpartition(".")
            if kind not in ("dist-info", "egg-info") or not dot:
                continue
            name, _, ver = stem.partition("-")
            key = re.sub(r"[-_.]+", "_", name).lower()
            if key not in found:
                where = os.path.join(folder or ".", entry)
                found[key] = types.SimpleNamespace(name=name, version=ver.partition("-")[0] or _metadata_version(where), path=where)
    return found


def forget_distributions() -> None:
    _distributions.cache_clear()


def _metadata_version(path: str) -> str:
    for meta in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(path, meta), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.partition(":")[2].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    return "?"


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` across installed distributions."""
    out = []
    for dist in distributions().values():
        try:
            with open(os.path.join(dist.path, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        section = None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
            elif section == group and "=" in line and not line.startswith(("#", ";")):
                name, _, value = line.partition("=")
                out.append(EntryPoint(name.strip(), value.strip(), dist))
    return out


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    dist = distributions().get(re.sub(r"[-_.]+", "_", name).lower())
    return dist.version if dist else None


def version(name: str) -> str:
    """The installed version of distribution ``name`` ("0.0.0" when it is not installed, as in a source tree)."""
    return installed_version(name) or "0.0.0"
