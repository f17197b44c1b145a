"""Hook implementations of earthzoo-dcu: Sugon DCUs (ROCm/DTK torch, devices named cuda)."""

from __future__ import annotations

from earthzoo.cards import BackendCard
from earthzoo.plugins import hookimpl

from . import probe as _probe
from . import runtime as _rt

NAME = _rt.NAME

CARD = BackendCard(
    name=NAME,
    summary="Sugon DCU (ROCm/DTK torch, devices appear as cuda): fp16 autocast + GradScaler; RCCL",
    frameworks=("torch",),
    probe=_probe.probe,
    priority=10,
    energy_method="sampled (amdsmi, hy-smi or rocm-smi --showpower)",
)


@hookimpl
def earthzoo_register_backends(register):
    register(CARD)


@hookimpl
def earthzoo_setup_device(backend, framework, rank, world_size):
    if backend != NAME:
        return None
    return _rt.setup_device(framework, rank, world_size)


@hookimpl
def earthzoo_custom_ops(backend, framework):
    # hipFFT and atomic scatter serve the models as they are on DCU.
    return {}


@hookimpl
def earthzoo_mixed_precision(backend, framework, policy):
    if backend != NAME:
        return None
    return _rt.precision_plan(framework, policy, _rt.gfx_arch())


@hookimpl
def earthzoo_memory_schedule(backend, framework, model, plan):
    if backend != NAME:
        return None
    return _rt.memory_schedule(framework, model, plan)


@hookimpl
def earthzoo_energy_meter(backend):
    if backend != NAME:
        return None
    from .energy import smi_meter

    return smi_meter()
