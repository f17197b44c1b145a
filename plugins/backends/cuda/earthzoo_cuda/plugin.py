"""Hook implementations of earthzoo-cuda: NVIDIA GPUs for torch (cuda) and MindSpore (GPU)."""

from __future__ import annotations

from earthzoo.backends.base import BackendPlugin
from earthzoo.cards import BackendCard

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


class CudaBackend(BackendPlugin):
    """NVIDIA GPUs; cuFFT and atomic scatter are fast there, so the native ops stay."""

    def setup_device(self, framework, rank, world_size):
        return _rt.setup_device(framework, rank, world_size)

    def precision_plan(self, framework, policy):
        return _rt.precision_plan(framework, policy, _rt.compute_capability())

    def memory_schedule(self, framework, model, plan):
        return _rt.memory_schedule(framework, model, plan)

    def energy_meter(self):
        from .energy import nvml_meter, visible_indices

        return nvml_meter(indices=visible_indices())


plugin = CudaBackend(CARD)
