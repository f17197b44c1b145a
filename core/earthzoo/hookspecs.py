"""The earthzoo plugin contract: every hook a plugin may implement, in lifecycle order.

This module holds only specifications. Their docstrings are the reference
documentation; docs/hooks.md repeats each signature and a test keeps the two in step.
"""

import pluggy

hookspec = pluggy.HookspecMarker("earthzoo")
# What plugins mark their implementations with (re-exported as earthzoo.plugins.hookimpl).
hookimpl = pluggy.HookimplMarker("earthzoo")

# ---------------------------------------------------------------------------
# Registration: called once after the plugins are loaded. Cheap, and they must
# not import torch or mindspore: whatever is heavy is named as "module:function".
# ---------------------------------------------------------------------------


@hookspec
def earthzoo_register_models(register):
    """Register models by calling ``register(card)`` with one
    :class:`earthzoo.cards.ModelCard` per model. A plugin may register several.
    Registering a name twice is an error reported by ``earthzoo plugins``."""


@hookspec
def earthzoo_register_backends(register):
    """Register chip backends by calling ``register(card)`` with a
    :class:`earthzoo.cards.BackendCard`. Its ``probe`` is called lazily, must be
    fast and must never raise."""


@hookspec
def earthzoo_register_weight_formats(register):
    """Register readers (and optionally writers) of foreign checkpoint formats by
    calling ``register(fmt)`` with a :class:`earthzoo.cards.WeightFormat`, for
    example the NVlabs FourCastNet ``.ckpt`` or DeepMind's GraphCast ``.npz``. Core
    registers the plain ``torch`` and ``mindspore`` formats the same way (for any model)."""


@hookspec
def earthzoo_register_datasources(register):
    """Register data sources by calling ``register(card)`` with a
    :class:`earthzoo.cards.DataSourceCard` (embedded synthetic data, ERA5, HYCOM...)."""


@hookspec
def earthzoo_register_commands(cli):
    """Add commands to the ``earthzoo`` command line: ``cli`` is its click group, so
    ``cli.add_command(cmd)`` or ``@cli.command()`` adds one. Called only when the
    command line runs; a name that core or another plugin already uses marks the
    plugin failed. Import heavy things inside the command, not at module level."""


# ---------------------------------------------------------------------------
# Runtime: the five concerns of running a model on a chip. ``backend`` is always
# the backend's name (``"cpu"``, ``"cuda"``, ...); ``framework`` is ``"torch"``
# or ``"mindspore"``. An implementation that does not serve the given backend
# returns None so that the next one is asked.
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def earthzoo_build_model(card, config, framework):
    """Model building: return an untrained model of ``card`` built from the config
    dataclass ``config`` in ``framework``. Core's implementation (trylast) imports
    ``card.builders[framework]`` and calls it with ``config``; a plugin may answer
    first (``tryfirst``) with a vendor-tuned build."""


@hookspec(firstresult=True)
def earthzoo_setup_device(backend, framework, rank, world_size):
    """Device setup: make the device of process ``rank`` of ``world_size`` current
    and return an :class:`earthzoo.runtime.DeviceContext` (device string,
    ``synchronize()``, distributed backend name)."""


@hookspec
def earthzoo_custom_ops(backend, framework):
    """Custom ops: return a dict ``{op_name: callable}`` of operator overrides for
    this backend and framework (e.g. ``rfft2``/``irfft2`` as DFT-by-matmul on chips
    without a fast FFT, ``scatter_sum`` for GNNs; MindSpore's shared layers take
    cell factories ``layer_norm(eps)``, ``bias_add()``, ``gelu()``, and its training
    engine ``adamw()``: the CPU backend's compiled kernels). Models look ops up in an
    op table; the dicts of all plugins are merged, plugins registered later winning."""


@hookspec(firstresult=True)
def earthzoo_mixed_precision(backend, framework, policy):
    """Mixed precision: return an :class:`earthzoo.runtime.PrecisionPlan` saying how
    to run ``policy`` (``"fp32"``, ``"bf16"`` or ``"fp16"``) here: torch autocast
    dtype and whether a GradScaler is needed, MindSpore amp level and dtype.
    FFTs and reductions stay fp32. Raise :class:`earthzoo.errors.EarthzooError`
    when the chip cannot run the policy."""


@hookspec(firstresult=True)
def earthzoo_memory_schedule(backend, framework, model, plan):
    """Memory scheduling: apply the :class:`earthzoo.runtime.MemoryPlan` ``plan``
    (activation checkpointing, memory fraction, offload) to ``model`` in place and
    return the list of what was applied, as short strings."""


@hookspec(firstresult=True)
def earthzoo_energy_meter(backend):
    """Energy: return an :class:`earthzoo.energy.EnergyMeter` for this backend
    (NVML, npu-smi, hy-smi/rocm-smi, RAPL). A meter that cannot measure says so
    with method ``"unavailable"`` and a reason; it never guesses a number."""
