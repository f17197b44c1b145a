"""Hook implementations of earthzoo-ascend: Huawei Ascend NPUs for torch (torch_npu) and MindSpore (Ascend)."""

from __future__ import annotations

from earthzoo.cards import BackendCard
from earthzoo.plugins import hookimpl

from . import probe as _probe
from . import runtime as _rt

NAME = _rt.NAME

CARD = BackendCard(
    name=NAME,
    summary="Huawei Ascend NPUs: torch_npu (npu) and MindSpore Ascend (graph mode, amp O2 + loss scaling); HCCL; DFT-by-matmul FFT",
    frameworks=("torch", "mindspore"),
    probe=_probe.probe,
    priority=20,
    energy_method="sampled (npu-smi info -t power)",
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
    if backend != NAME:
        return {}
    from .ops import op_table

    return op_table(framework)


@hookimpl
def earthzoo_mixed_precision(backend, framework, policy):
    if backend != NAME:
        return None
    return _rt.precision_plan(framework, policy, _rt.chip_name())


@hookimpl
def earthzoo_memory_schedule(backend, framework, model, plan):
    if backend != NAME:
        return None
    return _rt.memory_schedule(framework, model, plan)


@hookimpl
def earthzoo_energy_meter(backend):
    if backend != NAME:
        return None
    from .energy import npu_smi_meter

    return npu_smi_meter()
