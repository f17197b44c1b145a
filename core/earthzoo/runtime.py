"""What the runtime hooks return: framework-free descriptions of a device,
a precision policy and a memory plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import EarthzooError

PRECISIONS = ("fp32", "bf16", "fp16")


def _no_sync() -> None:
    return None


@dataclass
class DeviceContext:
    """The device a process runs on. ``synchronize`` waits for queued device work,
    so that timings measure work done rather than work launched."""

    backend: str
    framework: str
    device: str
    dist_backend: str = "gloo"
    rank: int = 0
    world_size: int = 1
    synchronize: Callable[[], None] = _no_sync

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("backend", "framework", "device", "dist_backend", "rank", "world_size")}


@dataclass(frozen=True)
class PrecisionPlan:
    """How to run one precision policy on one backend and framework.

    torch: ``autocast_dtype`` ("bfloat16"/"float16"/None) and ``grad_scaler``.
    MindSpore: ``amp_level`` ("O0".."O3" or "auto"; every level but O0 runs as
    MindSpore's operator-level "auto", see frameworks.mindspore.mixed_precision),
    ``amp_dtype`` ("float16"/"bfloat16") and ``grad_scaler`` (dynamic loss scaling).
    ``fp32_ops`` are kept in float32 whatever the policy (FFTs, reductions): norms by
    the autocast/amp lists, spectral filters by the models' ``keep_fp32`` mark."""

    policy: str
    autocast_dtype: str | None = None
    grad_scaler: bool = False
    amp_level: str = "O0"
    amp_dtype: str | None = None
    fp32_ops: tuple[str, ...] = ("rfft2", "irfft2", "fft", "layer_norm", "softmax", "sum")
    note: str = ""


@dataclass(frozen=True)
class MemoryPlan:
    """What to do to save memory: activation checkpointing of the model's repeated
    blocks, a cap on the device-memory fraction, and offload of optimizer state."""

    activation_checkpointing: bool = False
    memory_fraction: float | None = None
    offload_optimizer: bool = False
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.memory_fraction is not None and not 0 < self.memory_fraction <= 1:
            raise EarthzooError(f"memory fraction {self.memory_fraction} is outside (0, 1]", "give a fraction such as 0.9")
