"""The backend hooks written once: every backend answers them the same way, only for
its own name, so a backend plugin is a card plus a subclass that says what it does.

pluggy registers an instance's decorated methods, inherited ones included, so a
plugin's entry point names a module-level instance (``"earthzoo_cuda.plugin:plugin"``)."""

from __future__ import annotations

from typing import Any, Callable

from ..cards import BackendCard
from ..errors import EarthzooError
from ..frameworks import framework_module
from ..hookspecs import hookimpl
from ..runtime import PRECISIONS


class BackendPlugin:
    """Hook implementations that answer only for ``self.card.name`` and delegate to
    the overridable methods below; a method left as it is serves nothing (``None``,
    or no custom ops), so the caller reports what is missing. What every backend does
    the same way is done here: the precision policy is checked to be one of
    ``runtime.PRECISIONS`` before ``precision_plan`` is asked, and a memory plan's
    activation checkpointing is applied through core's framework module before
    ``memory_schedule`` applies the rest."""

    def __init__(self, card: BackendCard):
        self.card = card

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.card.name!r}>"

    # --- what a backend overrides -------------------------------------------------

    def setup_device(self, framework: str, rank: int, world_size: int) -> Any:
        """A ``runtime.DeviceContext`` for this rank."""
        return None

    def precision_plan(self, framework: str, policy: str) -> Any:
        """A ``runtime.PrecisionPlan`` for ``policy`` (one of fp32/bf16/fp16, already checked)."""
        return None

    def memory_schedule(self, framework: str, model: Any, plan: Any) -> list[str]:
        """Apply what a ``runtime.MemoryPlan`` asks beyond activation checkpointing (memory
        fraction, offload, extras) to ``model``; returns what was applied or not, in words."""
        return []

    def energy_meter(self) -> Any:
        """An ``energy.EnergyMeter`` for this backend's devices."""
        return None

    def custom_ops(self, framework: str) -> dict[str, Callable]:
        """Operator overrides ``{op_name: callable}``; none by default (native ops stay)."""
        return {}

    # --- the hooks ----------------------------------------------------------------

    @hookimpl
    def earthzoo_register_backends(self, register):
        register(self.card)

    @hookimpl
    def earthzoo_setup_device(self, backend, framework, rank, world_size):
        return self.setup_device(framework, rank, world_size) if backend == self.card.name else None

    @hookimpl
    def earthzoo_custom_ops(self, backend, framework):
        return self.custom_ops(framework) if backend == self.card.name else {}

    @hookimpl
    def earthzoo_mixed_precision(self, backend, framework, policy):
        if backend != self.card.name:
            return None
        if policy not in PRECISIONS:
            raise EarthzooError(f"unknown precision {policy!r}", f"use one of: {', '.join(PRECISIONS)}")
        return self.precision_plan(framework, policy)

    @hookimpl
    def earthzoo_memory_schedule(self, backend, framework, model, plan):
        if backend != self.card.name:
            return None
        applied: list[str] = []
        if plan.activation_checkpointing:
            applied += framework_module(framework).enable_activation_checkpointing(model)
        return applied + self.memory_schedule(framework, model, plan)

    @hookimpl
    def earthzoo_energy_meter(self, backend):
        return self.energy_meter() if backend == self.card.name else None
