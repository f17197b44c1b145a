"""What the registration hooks registered: models, backends, weight formats,
data sources. Each plugin's registration runs in its own try/except."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from .cards import BackendCard, DataSourceCard, ModelCard, WeightFormat
from .errors import EarthzooError
from .plugins import get_plugin_manager, record_failure


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


_registry: Registry | None = None

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


def reset() -> None:
    global _registry
    _registry = None
