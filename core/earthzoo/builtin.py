"""Core's own hook implementations, always registered: the default model builder
and the CPU backend (and, as they are added, core's data sources)."""

from .backends.cpu import (  # noqa: F401 - re-exported as hook implementations
    earthzoo_custom_ops,
    earthzoo_energy_meter,
    earthzoo_memory_schedule,
    earthzoo_mixed_precision,
    earthzoo_register_backends,
    earthzoo_setup_device,
)
from .cards import resolve
from .data.sources import earthzoo_register_datasources  # noqa: F401 - core's data sources
from .plugins import hookimpl


@hookimpl(trylast=True)
def earthzoo_build_model(card, config, framework):
    """Import the card's builder for ``framework`` and call it with the config."""
    from .errors import EarthzooError

    if framework not in card.builders:
        raise EarthzooError(f"model {card.name!r} has no {framework} implementation", f"use one of: {', '.join(card.frameworks)}")
    from .frameworks import framework_module

    framework_module(framework)  # a clear error when the framework is not installed
    return resolve(card.builders[framework])(config)
