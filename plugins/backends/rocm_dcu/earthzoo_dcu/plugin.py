"""Hook implementations of earthzoo-dcu: Sugon DCUs (ROCm/DTK torch, devices named cuda)."""

from __future__ import annotations

from earthzoo.backends.base import BackendPlugin
from earthzoo.cards import BackendCard

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


class DcuBackend(BackendPlugin):
    """Sugon DCUs; hipFFT and atomic scatter serve the models as they are, so the native ops stay."""

    def setup_device(self, framework, rank, world_size):
        return _rt.setup_device(framework, rank, world_size)

    def precision_plan(self, framework, policy):
        return _rt.precision_plan(framework, policy, _rt.gfx_arch())

    def memory_schedule(self, framework, model, plan):
        return _rt.memory_schedule(framework, model, plan)

    def energy_meter(self):
        from .energy import smi_meter

        return smi_meter()


plugin = DcuBackend(CARD)
