"""CUDA device setup, precision plans and memory schedules. torch is imported
only inside the functions that need a device."""

from __future__ import annotations

import os
from typing import Any

from earthzoo.errors import EarthzooError
from earthzoo.runtime import DeviceContext, MemoryPlan, PrecisionPlan

NAME = "cuda"


def tf32_enabled() -> bool:
    """TF32 matmuls are off unless EARTHZOO_CUDA_TF32=1: fp32 parity against the
    CPU is measured in true fp32; TF32 is a speed choice the user makes."""
    return os.environ.get("EARTHZOO_CUDA_TF32", "0") == "1"


def setup_device(framework: str, rank: int, world_size: int) -> DeviceContext:
    if framework == "torch":
        import torch

        if getattr(torch.version, "hip", None):
            raise EarthzooError(f"torch {torch.__version__} is a ROCm/HIP build", "use --backend dcu on AMD/Hygon devices")
        if not torch.cuda.is_available():
            raise EarthzooError(f"torch {torch.__version__} sees no CUDA device", "install a CUDA build of torch, or use --backend cpu")
        index = rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        torch.backends.cudnn.benchmark = True  # fixed input shapes per model: autotuned convolutions pay off
        torch.backends.cuda.matmul.allow_tf32 = tf32_enabled()
        torch.backends.cudnn.allow_tf32 = tf32_enabled()
        return DeviceContext(NAME, framework, f"cuda:{index}", "nccl", rank, world_size, torch.cuda.synchronize)
    from earthzoo.frameworks import mindspore as msfw

    # Under msrun, MindSpore picks device_id from the local rank itself.
    msfw.set_device("GPU")
    return DeviceContext(NAME, framework, "GPU", "nccl", rank, world_size, msfw.synchronize)


def compute_capability() -> tuple[int, int] | None:
    """The current GPU's (major, minor), or None when no CUDA torch/device is here."""
    try:
        import torch

        if torch.cuda.is_available():
            return tuple(torch.cuda.get_device_capability())  # type: ignore[return-value]
    except Exception:  # noqa: BLE001
        return None
    return None


def precision_plan(framework: str, policy: str, capability: tuple[int, int] | None) -> PrecisionPlan:
    """bf16 autocast needs Ampere (sm_80) or newer; before it, fp16 with a GradScaler.
    ``capability`` None means "not known here" (planning on a machine without the GPU)."""
    if policy == "fp32":
        note = "TF32 matmuls on (EARTHZOO_CUDA_TF32=1)" if tf32_enabled() else "true fp32 (TF32 off; EARTHZOO_CUDA_TF32=1 enables it)"
        return PrecisionPlan("fp32", note=note)
    sm = f"sm_{capability[0]}{capability[1]}" if capability else "compute capability unknown"
    if policy == "bf16" and capability is not None and capability[0] < 8:
        raise EarthzooError(f"bf16 needs an Ampere (sm_80) or newer GPU; this one is {sm}", "use --precision fp16 (fp16 autocast with a GradScaler)")
    if framework == "torch":
        if policy == "bf16":
            return PrecisionPlan("bf16", autocast_dtype="bfloat16", grad_scaler=False, note=f"torch.autocast bf16 ({sm}); no loss scaling needed")
        return PrecisionPlan("fp16", autocast_dtype="float16", grad_scaler=True, note=f"torch.autocast fp16 + GradScaler ({sm})")
    if policy == "bf16":
        return PrecisionPlan("bf16", amp_level="O1", amp_dtype="bfloat16", note=f"MindSpore GPU amp O1 bf16 ({sm}); not run on hardware by earthzoo")
    return PrecisionPlan("fp16", grad_scaler=True, amp_level="O2", amp_dtype="float16", note=f"MindSpore GPU amp O2 fp16 with dynamic loss scaling ({sm})")


def memory_schedule(framework: str, model: Any, plan: MemoryPlan, device_index: int | None = None) -> list[str]:
    """What ``plan`` asks beyond checkpointing (which BackendPlugin applies): the memory
    cap on the device when this process has one, otherwise said to be deferred."""
    applied: list[str] = []
    if plan.memory_fraction is not None:
        applied.append(_apply_fraction(framework, plan.memory_fraction, device_index))
    if plan.offload_optimizer:
        applied.append("offload_optimizer not applied: earthzoo-cuda keeps optimizer state on the GPU (no ZeRO/FSDP offload here)")
    return applied


def _apply_fraction(framework: str, fraction: float, device_index: int | None) -> str:
    if framework == "torch":
        import torch

        if not torch.cuda.is_available() or getattr(torch.version, "hip", None):
            return f"memory_fraction {fraction} not applied: no CUDA device in this process"
        index = torch.cuda.current_device() if device_index is None else device_index
        torch.cuda.set_per_process_memory_fraction(fraction, index)
        return f"memory_fraction {fraction} on cuda:{index} (torch.cuda.set_per_process_memory_fraction)"
    return f"memory_fraction {fraction} not applied: MindSpore caps device memory by size, not fraction (mindspore.runtime.set_memory(max_size=...))"
