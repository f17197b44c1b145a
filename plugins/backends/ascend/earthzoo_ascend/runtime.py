"""Ascend device setup (torch_npu ``npu`` / MindSpore ``Ascend``), precision plans
and memory schedules (recompute, memory cap, pipelined stages). Frameworks are
imported only inside the functions that need a device."""

from __future__ import annotations

from typing import Any

from earthzoo.errors import EarthzooError, missing_dependency
from earthzoo.runtime import DeviceContext, MemoryPlan, PrecisionPlan

NAME = "ascend"
# Chips with bf16 Cube units: the 910B family and later; 910A/910 Pro and 310 series are fp16 only.
BF16_PREFIXES = ("Ascend910B", "Ascend910_93", "Ascend910C")


def _torch_npu() -> Any:
    try:
        import torch
        import torch_npu  # noqa: F401 - registers the npu device with torch
    except ImportError as exc:
        raise missing_dependency("torch_npu", "torch-npu (the release matching your torch and CANN)", "for --backend ascend --framework torch") from exc
    return torch


def setup_device(framework: str, rank: int, world_size: int) -> DeviceContext:
    if framework == "torch":
        torch = _torch_npu()
        if not torch.npu.is_available():
            raise EarthzooError("torch_npu sees no NPU (driver or CANN not set up)", "source the CANN set_env.sh, or use --backend cpu")
        index = rank % torch.npu.device_count()
        torch.npu.set_device(index)
        return DeviceContext(NAME, framework, f"npu:{index}", "hccl", rank, world_size, torch.npu.synchronize)
    import mindspore as ms
    from earthzoo.frameworks import mindspore as msfw

    msfw.set_device("Ascend")  # under msrun, device_id comes from the local rank
    ms.set_context(mode=ms.GRAPH_MODE)  # whole-graph sinking is how Ascend runs fast
    return DeviceContext(NAME, framework, "Ascend", "hccl", rank, world_size, msfw.synchronize)


def chip_name() -> str | None:
    """The SoC name (e.g. "Ascend910B3") when torch_npu is already loaded with a device; None otherwise."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or "torch_npu" not in sys.modules:
        return None
    try:
        return str(torch.npu.get_device_name(torch.npu.current_device()))
    except Exception:  # noqa: BLE001
        return None


def precision_plan(framework: str, policy: str, chip: str | None) -> PrecisionPlan:
    """fp16 everywhere with loss scaling; bf16 only on 910B-class chips. MindSpore uses
    amp O2 (network in fp16/bf16, BatchNorm/LayerNorm and the loss in fp32): O3 would
    also cast the FFT and norms, which the models keep in fp32."""
    if policy == "fp32":
        return PrecisionPlan("fp32", note="fp32 on Ascend")
    what = chip or "chip unknown"
    if policy == "bf16" and chip is not None and not chip.startswith(BF16_PREFIXES):
        raise EarthzooError(f"bf16 needs an Ascend 910B-class chip; this one is {chip}", "use --precision fp16 (with loss scaling)")
    dtype = "bfloat16" if policy == "bf16" else "float16"
    if framework == "torch":
        return PrecisionPlan(policy, autocast_dtype=dtype, grad_scaler=policy == "fp16", note=f"torch_npu autocast {policy} ({what})")
    return PrecisionPlan(policy, grad_scaler=policy == "fp16", amp_level="O2", amp_dtype=dtype, note=f"MindSpore amp O2 {policy}{' + DynamicLossScaleManager' if policy == 'fp16' else ''} ({what})")


def memory_schedule(framework: str, model: Any, plan: MemoryPlan) -> list[str]:
    """What ``plan`` asks beyond recompute (which BackendPlugin applies): the memory cap on
    the NPU when one is in use; ``plan.extras['pipeline_stages']`` as MindSpore pipeline parallel stages."""
    applied: list[str] = []
    if plan.memory_fraction is not None:
        applied.append(_apply_fraction(framework, plan.memory_fraction))
    stages = plan.extras.get("pipeline_stages")
    if stages:
        applied.append(_apply_stages(framework, int(stages)))
    if plan.offload_optimizer:
        applied.append("offload_optimizer not applied: earthzoo-ascend keeps optimizer state on the NPU")
    return applied


def _apply_fraction(framework: str, fraction: float) -> str:
    import sys

    if framework == "torch":
        torch = sys.modules.get("torch")
        if "torch_npu" not in sys.modules or not torch.npu.is_available():
            return f"memory_fraction {fraction} not applied: no NPU in this process"
        index = torch.npu.current_device()
        torch.npu.set_per_process_memory_fraction(fraction, index)
        return f"memory_fraction {fraction} on npu:{index} (torch.npu.set_per_process_memory_fraction)"
    return f"memory_fraction {fraction} not applied: MindSpore caps device memory by size, not fraction (mindspore.runtime.set_memory(max_size=...))"


def _apply_stages(framework: str, stages: int) -> str:
    if stages < 1:
        raise EarthzooError(f"pipeline_stages {stages} must be at least 1", "give the number of pipeline stages, e.g. 2")
    if framework != "mindspore":
        return f"pipeline_stages {stages} not applied: torch pipelining is not wired in earthzoo-ascend"
    import mindspore as ms

    ms.set_auto_parallel_context(pipeline_stages=stages)
    return f"pipeline_stages {stages} (mindspore.set_auto_parallel_context; takes effect under msrun with semi-auto parallel)"
