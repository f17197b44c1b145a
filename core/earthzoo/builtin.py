"""Core's own hook implementations, always registered: the default model builder
and the CPU backend (and, as they are added, core's data sources)."""

from .backends.cpu import plugin as _cpu
from .cards import resolve
from .data.sources import earthzoo_register_datasources  # noqa: F401 - core's data sources
from .plugins import hookimpl

# The CPU backend's hooks answer as part of this module (one "earthzoo.builtin" record);
# pluggy takes bound methods as hook implementations like functions.
earthzoo_register_backends = _cpu.earthzoo_register_backends
earthzoo_setup_device = _cpu.earthzoo_setup_device
earthzoo_custom_ops = _cpu.earthzoo_custom_ops
earthzoo_mixed_precision = _cpu.earthzoo_mixed_precision
earthzoo_memory_schedule = _cpu.earthzoo_memory_schedule
earthzoo_energy_meter = _cpu.earthzoo_energy_meter


@hookimpl(trylast=True)
def earthzoo_build_model(card, config, framework):
    """Import the card's builder for ``framework`` and call it with the config."""
    from .errors import EarthzooError

    if framework not in card.builders:
        raise EarthzooError(f"model {card.name!r} has no {framework} implementation", f"use one of: {', '.join(card.frameworks)}")
    from .frameworks import framework_module

    framework_module(framework)  # a clear error when the framework is not installed
    return resolve(card.builders[framework])(config)
