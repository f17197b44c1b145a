"""The CPU backend: always available, so core plus one model plugin is a working zoo."""

from __future__ import annotations

import glob
import os
import platform
from pathlib import Path

from ..cards import BackendCard, BackendStatus
from ..energy import CounterMeter, EnergyMeter, UnavailableMeter
from ..errors import EarthzooError
from ..runtime import DeviceContext, MemoryPlan, PrecisionPlan
from .base import BackendPlugin

NAME = "cpu"
RAPL_ROOT = "/sys/class/powercap"


def probe() -> BackendStatus:
    cores = os.cpu_count() or 1
    return BackendStatus(True, (f"cpu ({cores} cores)",), details={"processor": platform.processor() or platform.machine(), "rapl": _rapl_status(RAPL_ROOT)[1]})


CARD = BackendCard(
    name=NAME,
    summary="Host CPU: torch eager and MindSpore CPU; RAPL energy where readable",
    frameworks=("torch", "mindspore"),
    probe=probe,
    priority=0,
    energy_method="counter (RAPL) or unavailable",
)


def _rapl_packages(root: str) -> list[Path]:
    """Package-level RAPL domains (intel-rapl:N, not their sub-domains intel-rapl:N:M)."""
    return sorted(Path(p) for p in glob.glob(os.path.join(root, "intel-rapl:*")) if os.path.basename(p).count(":") == 1)


def _rapl_status(root: str) -> tuple[list[Path], str]:
    domains = _rapl_packages(root)
    if not domains:
        return [], f"no RAPL domains under {root}"
    readable = [d for d in domains if os.access(d / "energy_uj", os.R_OK)]
    if not readable:
        return [], f"RAPL energy_uj under {root} is not readable (permission denied; root or a udev rule is needed)"
    return readable, "readable"


def rapl_meter(root: str = RAPL_ROOT) -> EnergyMeter:
    """A counter meter summing the package domains' energy_uj (microjoules)."""
    domains, why = _rapl_status(root)
    if not domains:
        return UnavailableMeter(why, source="rapl")
    ranges = [int((d / "max_energy_range_uj").read_text()) if (d / "max_energy_range_uj").exists() else 0 for d in domains]
    return CounterMeter(lambda: [int((d / "energy_uj").read_text()) for d in domains], scale=1e-6, wrap=ranges, source="rapl")


class CpuBackend(BackendPlugin):
    """torch eager with gloo, MindSpore CPU with mccl; RAPL energy where readable."""

    def setup_device(self, framework, rank, world_size):
        if framework == "torch":
            return DeviceContext(NAME, framework, "cpu", "gloo", rank, world_size)
        from ..frameworks import mindspore as msfw
        from ..frameworks.mindspore_cpu_kernels import split_threads

        msfw.set_device("CPU")
        split_threads(None)
        return DeviceContext(NAME, framework, "CPU", "mccl", rank, world_size, msfw.synchronize)

    def precision_plan(self, framework, policy):
        if policy == "fp32":
            return PrecisionPlan("fp32")
        if framework == "torch":
            return PrecisionPlan(policy, autocast_dtype="bfloat16" if policy == "bf16" else "float16", grad_scaler=policy == "fp16")
        if policy == "bf16":
            raise EarthzooError("MindSpore has no bf16 CPU kernels for MatMul/LayerNorm", "use --precision fp16 or fp32 with MindSpore on CPU")
        return PrecisionPlan("fp16", grad_scaler=True, amp_level="auto", amp_dtype="float16", note="MindSpore CPU: fp16 only (amp 'auto' + dynamic loss scaling)")

    def memory_schedule(self, framework, model, plan: MemoryPlan):
        applied: list[str] = []
        if plan.memory_fraction is not None:
            applied.append("memory_fraction ignored: host memory is not partitioned on cpu")
        if plan.offload_optimizer:
            applied.append("offload ignored: optimizer state already lives in host memory on cpu")
        return applied

    def energy_meter(self):
        return rapl_meter()

    def custom_ops(self, framework):
        """MindSpore's LayerNorm, bias add, exact GELU and AdamW update as earthzoo's
        compiled kernels (built on first use; ``mindspore_cpu_kernels``)."""
        if framework != "mindspore":
            return {}
        from ..frameworks import mindspore_cpu_kernels

        return mindspore_cpu_kernels.table()


plugin = CpuBackend(CARD)
