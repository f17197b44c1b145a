"""NVML energy: the total-energy counter (millijoules since driver load, Volta and
newer) read before and after; where a GPU lacks it, board power (milliwatts)
sampled and integrated. Both are core's meters (earthzoo.energy); this module
only finds the right NVML calls. ``nvml`` may be any object with pynvml's
functions, so tests replay GPUs with a fake."""

from __future__ import annotations

import os
from typing import Any, Sequence

from earthzoo.energy import CounterMeter, EnergyMeter, SampledMeter, UnavailableMeter

# nvmlDeviceGetTotalEnergyConsumption returns an unsigned long long (mJ).
COUNTER_RANGE_MJ = 2**64
PIP = "nvidia-ml-py==13.615.71"


def visible_indices(env: dict[str, str] | None = None) -> list[int] | None:
    """GPUs named by CUDA_VISIBLE_DEVICES as integers (the ones this run uses), or None for all.
    UUID lists are not mapped: then every GPU is measured, as the reading says."""
    raw = (env if env is not None else os.environ).get("CUDA_VISIBLE_DEVICES")
    if raw is None or not raw.strip():
        return None
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        return None


def nvml_meter(nvml: Any = None, indices: Sequence[int] | None = None, interval: float = 0.1) -> EnergyMeter:
    """A counter meter over the GPUs' total-energy counters, or a sampled power meter
    when any GPU has no counter; unavailable (with the reason) when NVML is not usable."""
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            return UnavailableMeter(f"nvidia-ml-py is not installed (pip install {PIP})", source="nvml")
    try:
        nvml.nvmlInit()
        count = nvml.nvmlDeviceGetCount()
        wanted = list(range(count)) if indices is None else [i for i in indices if 0 <= i < count]
        if not wanted:
            return UnavailableMeter(f"NVML sees {count} GPU(s), none of them the ones this run uses ({list(indices or [])})", source="nvml")
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in wanted]
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return UnavailableMeter(f"NVML is not usable: {type(exc).__name__}: {exc}", source="nvml")
    gpus = ",".join(str(i) for i in wanted)
    missing = []
    for i, h in zip(wanted, handles):
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(h)
        except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported before Volta
            missing.append(f"GPU {i}: {type(exc).__name__}")
    if not missing:
        return CounterMeter(
            lambda: [nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in handles],
            scale=1e-3,
            wrap=[COUNTER_RANGE_MJ] * len(handles),
            source=f"nvml total energy (GPUs {gpus})",
        )
    try:
        for h in handles:
            nvml.nvmlDeviceGetPowerUsage(h)
    except Exception as exc:  # noqa: BLE001
        return UnavailableMeter(f"NVML has neither the energy counter ({'; '.join(missing)}) nor power readings ({type(exc).__name__})", source="nvml")
    return SampledMeter(
        lambda: sum(nvml.nvmlDeviceGetPowerUsage(h) for h in handles) / 1000.0,
        interval=interval,
        source=f"nvml power sampled (GPUs {gpus}; no energy counter: {'; '.join(missing)})",
    )
