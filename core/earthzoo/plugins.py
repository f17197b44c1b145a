"""What a plugin author (or a test, a notebook) uses: ``hookimpl`` to mark hook
implementations, ``register`` to add a plugin module in-process, ``plugin_records``
and ``reset``. Loading and the records live in :mod:`earthzoo.registry`."""

from .hookspecs import hookimpl
from .registry import BUILTIN, ENTRY_POINT_GROUP, PluginRecord, get_plugin_manager, plugin_records, record_failure, register, reset

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "PluginRecord", "get_plugin_manager", "hookimpl", "plugin_records", "record_failure", "register", "reset"]
