"""Loading plugins: a pluggy manager over the entry-point group ``earthzoo``.

Each entry point loads in its own try/except: a broken plugin (any exception,
SystemExit included; KeyboardInterrupt still stops) is recorded with its error
and the rest keep working (``EARTHZOO_STRICT_PLUGINS=1`` makes it fatal); one that
raises ``PluginUnavailable`` (a missing optional library) is recorded as
unavailable with its reason.
``EARTHZOO_LOAD_PLUGINS=a,b`` loads only those entry points; set and empty, none.
Core's own hooks (the CPU backend, the default model builder) are always registered.

Entry points are read from each installed distribution's ``entry_points.txt`` (the
PyPA layout) rather than through importlib.metadata, whose import alone costs about
30 ms: a tenth of a whole weight conversion."""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
import types
from dataclasses import asdict, dataclass, field

import pluggy

from . import hookspecs
from .errors import EarthzooError, PluginUnavailable

ENTRY_POINT_GROUP = "earthzoo"
BUILTIN = "earthzoo.builtin"

hookimpl = pluggy.HookimplMarker("earthzoo")


@dataclass
class PluginRecord:
    name: str
    version: str
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


_pm: pluggy.PluginManager | None = None
_records: dict[str, PluginRecord] = {}


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
    Read once per sys.path (``reset`` forgets it, after installing in-process)."""
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
                path = os.path.join(folder or ".", entry)
                found[key] = types.SimpleNamespace(name=name, version=ver.partition("-")[0] or _metadata_version(path), path=path)
    return found


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


def version(name: str) -> str:
    """The installed version of distribution ``name`` ("0.0.0" when it is not installed, as in a source tree)."""
    dist = distributions().get(re.sub(r"[-_.]+", "_", name).lower())
    return dist.version if dist else "0.0.0"


def _strict() -> bool:
    return os.environ.get("EARTHZOO_STRICT_PLUGINS", "") == "1"


def _selected() -> set[str] | None:
    raw = os.environ.get("EARTHZOO_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def record_failure(name: str, exc: BaseException) -> None:
    """Mark a plugin failed; in strict mode, stop with its error."""
    text = " ".join(str(exc).split())  # one line, for the table and the log
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    rec = _records.setdefault(name, PluginRecord(name, "?"))
    rec.status, rec.error = "failed", message
    if _strict():
        raise EarthzooError(f"plugin {name!r} failed: {message}", "fix or uninstall the plugin, or unset EARTHZOO_STRICT_PLUGINS") from exc


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])


def _register(pm: pluggy.PluginManager, module: object, name: str, dist_version: str) -> None:
    pm.register(module, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pm.unregister(name=name)
        raise
    _records[name] = PluginRecord(name, dist_version, _hooks_of(pm, module))


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loaded on first use."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager("earthzoo")
    pm.add_hookspecs(hookspecs)
    from . import builtin

    _records.clear()
    _register(pm, builtin, BUILTIN, version("earthzoo"))
    selected = _selected()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if selected is not None and ep.name not in selected:
            continue
        dist_version = ep.dist.version if ep.dist is not None else "?"
        _records[ep.name] = PluginRecord(ep.name, dist_version)
        try:
            _register(pm, ep.load(), ep.name, dist_version)
        except PluginUnavailable as exc:
            _records[ep.name].status, _records[ep.name].error = "unavailable", str(exc)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - one broken plugin (even one calling sys.exit) must not break the rest
            record_failure(ep.name, exc)
    _pm = pm
    return pm


def register(module: object, name: str, dist_version: str = "local") -> None:
    """Register a plugin module in-process (a notebook, a test) as if it were installed."""
    from .registry import reset as reset_registry

    _register(get_plugin_manager(), module, name, dist_version)
    reset_registry()


def plugin_records() -> list[PluginRecord]:
    """What loaded and what failed, in load order (registration errors included)."""
    from .registry import get_registry

    get_registry()  # registration hooks can fail too; run them before reporting
    return list(_records.values())


def reset() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin in-process)."""
    global _pm
    from . import registry

    _pm = None
    _records.clear()
    _distributions.cache_clear()
    registry.reset()
