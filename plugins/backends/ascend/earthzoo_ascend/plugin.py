"""Hook implementations of earthzoo-ascend: Huawei Ascend NPUs for torch (torch_npu) and MindSpore (Ascend)."""

from __future__ import annotations

from earthzoo.backends.base import BackendPlugin
from earthzoo.cards import BackendCard

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


class AscendBackend(BackendPlugin):
    """Huawei Ascend NPUs; custom ops replace the FFT and scatter the chip lacks or runs slowly."""

    def setup_device(self, framework, rank, world_size):
        return _rt.setup_device(framework, rank, world_size)

    def precision_plan(self, framework, policy):
        return _rt.precision_plan(framework, policy, _rt.chip_name())

    def memory_schedule(self, framework, model, plan):
        return _rt.memory_schedule(framework, model, plan)

    def energy_meter(self):
        from .energy import npu_smi_meter

        return npu_smi_meter()

    def custom_ops(self, framework):
        from .ops import op_table

        return op_table(framework)


plugin = AscendBackend(CARD)
