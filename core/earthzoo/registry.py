"""Plugins and what they registered, in one place: the pluggy manager over the
entry-point group ``earthzoo``, a record of each plugin (loaded, unavailable or
failed), and the registry of models, backends, weight formats and data sources that
the registration hooks registered. ``earthzoo.plugins`` re-exports the public part.

Each entry point loads in its own try/except: a broken plugin (any exception,
SystemExit included; KeyboardInterrupt still stops) is recorded with its error
and the rest keep working (``EARTHZOO_STRICT_PLUGINS=1`` makes it fatal); one that
raises ``PluginUnavailable`` (a missing optional library) is recorded as
unavailable with its reason. Each plugin's registration runs in its own try/except too.
``EARTHZOO_LOAD_PLUGINS=a,b`` loads only those entry points; set and empty, none.
Core's own hooks (the CPU backend, the default model builder, the basic weight
formats) are always registered."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import asdict, dataclass, field

import pluggy

from . import builtin, hookspecs
from .cards import BackendCard, DataSourceCard, ModelCard, WeightFormat
from .entrypoints import entry_points, forget_distributions, version
from .errors import EarthzooError, PluginUnavailable

ENTRY_POINT_GROUP = "earthzoo"
BUILTIN = "earthzoo.builtin"


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
_registry: Registry | None = None


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


@dataclass
class Registry:
    models: dict[str, ModelCard] = field(default_factory=dict)
    backends: dict[str, BackendCard] = field(default_factory=dict)
    weight_formats: dict[str, WeightFormat] = field(default_factory=dict)
    datasources: dict[str, DataSourceCard] = field(default_factory=dict)

    def model(self, name: str) -> ModelCard:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none installed"
            raise EarthzooError(f"unknown model {name!r} (installed: {known})", "check the name with `earthzoo models`, or pip install the plugin that provides it")
        return self.models[name]

    def backend(self, name: str) -> BackendCard:
        if name not in self.backends:
            known = ", ".join(sorted(self.backends))
            raise EarthzooError(f"unknown backend {name!r} (installed: {known})", "check the name with `earthzoo backends`, or pip install its plugin (earthzoo-cuda, earthzoo-ascend, earthzoo-dcu)")
        return self.backends[name]

    def weight_format(self, name: str) -> WeightFormat:
        if name not in self.weight_formats:
            known = ", ".join(sorted(self.weight_formats)) or "none"
            raise EarthzooError(f"unknown weight format {name!r} (registered: {known})", "check the name with `earthzoo models --json`")
        return self.weight_formats[name]

    def datasource(self, name: str) -> DataSourceCard:
        if name not in self.datasources:
            known = ", ".join(sorted(self.datasources)) or "none"
            raise EarthzooError(f"unknown data source {name!r} (registered: {known})", "check the name with `earthzoo data list`")
        return self.datasources[name]

    def match_models(self, pattern: str = "*") -> list[ModelCard]:
        return [self.models[n] for n in sorted(self.models) if fnmatch.fnmatch(n, pattern)]


_HOOKS = (
    ("earthzoo_register_models", "models"),
    ("earthzoo_register_backends", "backends"),
    ("earthzoo_register_weight_formats", "weight_formats"),
    ("earthzoo_register_datasources", "datasources"),
)


def get_registry() -> Registry:
    """Run every plugin's registration hooks once and keep what they registered."""
    global _registry
    if _registry is not None:
        return _registry
    pm = get_plugin_manager()
    reg = Registry()
    for hook_name, attr in _HOOKS:
        table = getattr(reg, attr)
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in load order
            added: list = []
            try:
                impl.function(register=added.append)
                for item in added:
                    if item.name in table:
                        raise EarthzooError(f"{attr[:-1].replace('_', ' ')} {item.name!r} is registered twice")
                    table[item.name] = item
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - isolate each plugin, sys.exit() included
                record_failure(impl.plugin_name, exc)
    _registry = reg
    return reg


def add_commands(cli) -> None:
    """Give each plugin's ``earthzoo_register_commands`` a click group of its own and
    move what it added onto ``cli``: a plugin that fails, or names a command that is
    already taken, is marked failed and adds nothing."""
    import click

    for impl in get_plugin_manager().hook.earthzoo_register_commands.get_hookimpls():
        staging = click.Group(impl.plugin_name)
        try:
            impl.function(cli=staging)
            taken = sorted(set(staging.commands) & set(cli.commands))
            if taken:
                raise EarthzooError(f"command(s) {', '.join(taken)} already exist", "give the plugin's commands other names")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - isolate each plugin, sys.exit() included
            record_failure(impl.plugin_name, exc)
            continue
        for command in staging.commands.values():
            cli.add_command(command)


def register(module: object, name: str, dist_version: str = "local") -> None:
    """Register a plugin module in-process (a notebook, a test) as if it were installed."""
    global _registry
    _register(get_plugin_manager(), module, name, dist_version)
    _registry = None


def plugin_records() -> list[PluginRecord]:
    """What loaded and what failed, in load order (registration errors included)."""
    get_registry()  # registration hooks can fail too; run them before reporting
    return list(_records.values())


def reset() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin in-process)."""
    global _pm, _registry
    _pm = None
    _registry = None
    _records.clear()
    forget_distributions()
