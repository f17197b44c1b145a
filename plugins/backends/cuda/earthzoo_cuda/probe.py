"""Is an NVIDIA GPU usable here? Answered from device files, torch's build
metadata and (when it imports) NVML, without importing torch: ``earthzoo
backends`` probes every backend and must stay fast. Never raises."""

from __future__ import annotations

import shutil
from typing import Any, Callable

from earthzoo.backends.installed import device_indices, mindspore_has_plugin, torch_build
from earthzoo.cards import BackendStatus

DEV_ROOT = "/dev"


def device_files(dev_root: str = DEV_ROOT) -> list[int]:
    """Indices N of /dev/nvidiaN (the driver's per-GPU nodes; nvidiactl and nvidia-uvm are not GPUs)."""
    return device_indices("nvidia", dev_root)


def nvml_names(nvml: Any = None) -> list[str] | None:
    """GPU names from NVML, or None when NVML is not usable (no library, no driver)."""
    try:
        if nvml is None:
            import pynvml as nvml  # nvidia-ml-py: pure Python, loads libnvidia-ml lazily
        nvml.nvmlInit()
        names = []
        for i in range(nvml.nvmlDeviceGetCount()):
            name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, driver mismatch...: not usable
        return None


def probe_with(dev_root: str = DEV_ROOT, build: dict | None = None, names: Callable[[], list[str] | None] = nvml_names, ms_gpu: bool | None = None) -> BackendStatus:
    """The probe with its hardware queries as arguments, so tests can replay machines."""
    try:
        gpus = device_files(dev_root)
        smi = shutil.which("nvidia-smi")
        details: dict[str, Any] = {"nvidia_smi": smi, "torch": build, "mindspore_gpu_plugin": ms_gpu}
        if build and build.get("hip"):
            return BackendStatus(False, reason=f"torch {build.get('version')} is a ROCm/HIP build (hip {build['hip']}): its 'cuda' devices are AMD/Hygon; use --backend dcu", details=details)
        if not gpus:
            return BackendStatus(False, reason=f"no NVIDIA GPU: no {dev_root}/nvidia<N> device files", details=details)
        frameworks = []
        if build and build.get("cuda"):
            frameworks.append("torch")
        if ms_gpu:
            frameworks.append("mindspore")
        details["usable_frameworks"] = frameworks
        found = names() or [f"cuda:{i}" for i in range(len(gpus))]
        devices = tuple(f"cuda:{i} {n}" if not n.startswith("cuda:") else n for i, n in enumerate(found))
        if not frameworks:
            tag = f"torch {build.get('version')}" if build else "no torch"
            return BackendStatus(False, devices, reason=f"{len(gpus)} NVIDIA GPU(s) but {tag} has no CUDA and MindSpore has no GPU plugin; install a CUDA build of torch", details=details)
        return BackendStatus(True, devices, details=details)
    except Exception as exc:  # noqa: BLE001 - a probe never raises
        return BackendStatus(False, reason=f"probe failed: {type(exc).__name__}: {exc}")


def probe() -> BackendStatus:
    return probe_with(DEV_ROOT, torch_build(), nvml_names, mindspore_has_plugin("gpu"))
