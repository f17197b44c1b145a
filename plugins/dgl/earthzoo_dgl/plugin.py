"""Hook implementations of earthzoo-dgl: GraphCast's ``gather`` / ``scatter_sum``
through DGL for torch. Where DGL cannot run, importing this module raises
PluginUnavailable, so ``earthzoo plugins`` lists the plugin as unavailable with the reason."""

from earthzoo.errors import PluginUnavailable
from earthzoo.plugins import hookimpl

from . import FIX, serves, unavailable_reason

_reason = unavailable_reason()
if _reason is not None:
    raise PluginUnavailable(_reason, FIX)


@hookimpl
def earthzoo_custom_ops(backend, framework):
    """DGL replaces the native message passing (index_select / index_add_) of torch models."""
    if framework != "torch" or not serves(backend):
        return {}
    from . import engine

    return {"gather": engine.gather, "scatter_sum": engine.scatter_sum}
