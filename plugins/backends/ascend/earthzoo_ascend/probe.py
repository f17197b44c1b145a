"""Is a Huawei Ascend NPU usable here? Answered from /dev/davinciN device files,
npu-smi on PATH and whether torch_npu / MindSpore's Ascend plugin are installed,
without importing a framework. Never raises."""

from __future__ import annotations

import shutil
from typing import Any

from earthzoo.backends.installed import device_indices, has_module, mindspore_has_plugin
from earthzoo.cards import BackendStatus

DEV_ROOT = "/dev"


def device_files(dev_root: str = DEV_ROOT) -> list[int]:
    """Indices N of /dev/davinciN (one per NPU chip; davinci_manager is not a chip)."""
    return device_indices("davinci", dev_root)


def probe_with(dev_root: str = DEV_ROOT, torch_npu: bool = False, ms_ascend: bool = False, npu_smi: str | None = None) -> BackendStatus:
    """The probe with its queries as arguments, so tests can replay machines."""
    try:
        chips = device_files(dev_root)
        frameworks = (["torch"] if torch_npu else []) + (["mindspore"] if ms_ascend else [])
        details: dict[str, Any] = {"npu_smi": npu_smi, "torch_npu": torch_npu, "mindspore_ascend_plugin": ms_ascend, "usable_frameworks": frameworks}
        if not chips:
            return BackendStatus(False, reason=f"no Ascend NPU: no {dev_root}/davinci<N> device files", details=details)
        devices = tuple(f"npu:{i}" for i in range(len(chips)))
        if not frameworks:
            return BackendStatus(False, devices, reason=f"{len(chips)} Ascend NPU(s) but neither torch_npu nor MindSpore's Ascend plugin is installed; pip install torch-npu", details=details)
        return BackendStatus(True, devices, details=details)
    except Exception as exc:  # noqa: BLE001 - a probe never raises
        return BackendStatus(False, reason=f"probe failed: {type(exc).__name__}: {exc}")


def probe() -> BackendStatus:
    return probe_with(DEV_ROOT, has_module("torch_npu"), mindspore_has_plugin("ascend"), shutil.which("npu-smi"))
