"""Hook implementations of earthzoo-cuda: NVIDIA GPUs for torch (cuda) and MindSpore (GPU)."""

from __future__ import annotations

from earthzoo.cards import BackendCard
from earthzoo.plugins import hookimpl

from . import probe as _probe
from . import runtime as _rt

NAME = _rt.NAME

CARD = BackendCard(
    name=NAME,
    summary="NVIDIA GPUs: torch cuda (cudnn benchmark, bf16 on Ampere+, fp16+GradScaler before), MindSpore GPU; NCCL",
    frameworks=("torch", "mindspore"),
    probe=_probe.probe,
    priority=30,
    energy_method="counter (NVML total energy), sampled (NVML power) fallback",
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
    # cuFFT and atomic scatter are fast on NVIDIA GPUs: the native ops stay.
    return {}


@hookimpl
def earthzoo_mixed_precision(backend, framework, policy):
    if backend != NAME:
        return None
    return _rt.precision_plan(framework, policy, _rt.compute_capability())


@hookimpl
def earthzoo_memory_schedule(backend, framework, model, plan):
    if backend != NAME:
        return None
    return _rt.memory_schedule(framework, model, plan)


@hookimpl
def earthzoo_energy_meter(backend):
    if backend != NAME:
        return None
    from .energy import nvml_meter, visible_indices

    return nvml_meter(indices=visible_indices())
