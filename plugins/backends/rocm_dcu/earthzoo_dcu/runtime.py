"""DCU device setup (a DTK/ROCm torch: devices are ``cuda``, collectives RCCL behind
torch's "nccl" name), the fp16 precision policy and memory schedules."""

from __future__ import annotations

from typing import Any

from earthzoo.errors import EarthzooError
from earthzoo.runtime import DeviceContext, MemoryPlan, PrecisionPlan

NAME = "dcu"
# gfx targets with bf16 matrix instructions (K100-AI / BW-class DCUs, MI200/MI300). Z100 (gfx906) and K100 (gfx926) are fp16.
BF16_ARCHS = ("gfx90a", "gfx928", "gfx936", "gfx940", "gfx941", "gfx942")


def setup_device(framework: str, rank: int, world_size: int) -> DeviceContext:
    if framework != "torch":
        raise EarthzooError("earthzoo-dcu runs torch only (MindSpore has no ROCm/DTK build)", "use --framework torch, or --backend cpu for MindSpore")
    import torch

    if not getattr(torch.version, "hip", None):
        raise EarthzooError(f"torch {torch.__version__} is not a ROCm/DTK build", "install the DTK torch wheel for your DCU")
    if not torch.cuda.is_available():
        raise EarthzooError("the ROCm torch sees no DCU (driver not loaded, or HIP_VISIBLE_DEVICES empty)", "check hy-smi, or use --backend cpu")
    index = rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return DeviceContext(NAME, framework, f"cuda:{index}", "nccl", rank, world_size, torch.cuda.synchronize)


def gfx_arch() -> str | None:
    """The current DCU's gfx target (e.g. "gfx906") when a ROCm torch with a device is loaded."""
    import sys

    torch = sys.modules.get("torch")
    try:
        if torch is not None and getattr(torch.version, "hip", None) and torch.cuda.is_available():
            return str(torch.cuda.get_device_properties(torch.cuda.current_device()).gcnArchName).split(":")[0]
    except Exception:  # noqa: BLE001
        return None
    return None


def precision_plan(framework: str, policy: str, arch: str | None) -> PrecisionPlan:
    """fp16 autocast with a GradScaler is the DCU policy; bf16 only where the gfx target has bf16 matrix cores."""
    if framework != "torch":
        raise EarthzooError("earthzoo-dcu runs torch only (MindSpore has no ROCm/DTK build)", "use --framework torch")
    what = arch or "gfx target unknown"
    if policy == "fp32":
        return PrecisionPlan("fp32", note=f"fp32 ({what})")
    if policy == "bf16":
        if arch is not None and arch not in BF16_ARCHS:
            raise EarthzooError(f"bf16 is not supported on this DCU ({arch})", "use --precision fp16 (autocast fp16 with a GradScaler)")
        return PrecisionPlan("bf16", autocast_dtype="bfloat16", note=f"torch.autocast bf16 ({what})")
    return PrecisionPlan("fp16", autocast_dtype="float16", grad_scaler=True, note=f"torch.autocast fp16 + GradScaler ({what})")


def memory_schedule(framework: str, model: Any, plan: MemoryPlan) -> list[str]:
    """What ``plan`` asks beyond checkpointing (which BackendPlugin applies)."""
    applied: list[str] = []
    if plan.memory_fraction is not None:
        applied.append(_apply_fraction(plan.memory_fraction))
    if plan.offload_optimizer:
        applied.append("offload_optimizer not applied: earthzoo-dcu keeps optimizer state on the DCU")
    return applied


def _apply_fraction(fraction: float) -> str:
    import torch

    if not getattr(torch.version, "hip", None) or not torch.cuda.is_available():
        return f"memory_fraction {fraction} not applied: no DCU in this process"
    index = torch.cuda.current_device()
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    return f"memory_fraction {fraction} on cuda:{index} (HIP; torch.cuda.set_per_process_memory_fraction)"
