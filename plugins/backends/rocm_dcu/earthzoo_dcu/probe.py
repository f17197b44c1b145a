"""Is a Sugon DCU (or other ROCm GPU) usable here? Answered from /dev/kfd, the KFD
topology in sysfs, hy-smi/rocm-smi on PATH and torch's build tags read from
torch/version.py (a DTK/ROCm torch names its devices ``cuda``; ``torch.version.hip``
tells it apart from NVIDIA's), without importing torch. Never raises."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from earthzoo.backends.installed import torch_build
from earthzoo.cards import BackendStatus

DEV_ROOT = "/dev"
KFD_NODES = "/sys/class/kfd/kfd/topology/nodes"


def gpu_nodes(nodes_root: str = KFD_NODES) -> list[str]:
    """KFD topology nodes that are GPUs (simd_count > 0; CPU nodes have 0), as their gfx target names."""
    found = []
    try:
        entries = sorted(os.listdir(nodes_root), key=lambda n: int(n) if n.isdigit() else 0)
    except OSError:
        return []
    for entry in entries:
        try:
            props = dict(line.split(None, 1) for line in (Path(nodes_root) / entry / "properties").read_text().splitlines() if " " in line)
        except (OSError, ValueError):
            continue
        if int(props.get("simd_count", "0")) > 0:
            version = int(props.get("gfx_target_version", "0"))
            # gfx_target_version 90006 -> gfx906 (major*10000 + minor*100 + stepping, stepping in hex)
            found.append(f"gfx{version // 10000}{(version // 100) % 100}{version % 100:x}" if version else "gpu")
    return found


def probe_with(dev_root: str = DEV_ROOT, nodes_root: str = KFD_NODES, build: dict | None = None, smi: dict | None = None) -> BackendStatus:
    """The probe with its queries as arguments, so tests can replay machines."""
    try:
        smi = smi if smi is not None else {name: shutil.which(name) for name in ("hy-smi", "rocm-smi")}
        details: dict[str, Any] = {"torch": build, **{k.replace("-", "_"): v for k, v in smi.items()}}
        if not os.path.exists(os.path.join(dev_root, "kfd")):
            return BackendStatus(False, reason=f"no DCU/ROCm device: {dev_root}/kfd is absent (amdgpu/hydcu driver not loaded)", details=details)
        gpus = gpu_nodes(nodes_root)
        details["gfx"] = gpus
        if not gpus:
            return BackendStatus(False, reason=f"{dev_root}/kfd exists but the KFD topology lists no GPU", details=details)
        devices = tuple(f"cuda:{i} ({g})" for i, g in enumerate(gpus))
        if not (build and build.get("hip")):
            tag = f"torch {build.get('version')} is not a ROCm/DTK build" if build else "torch is not installed"
            return BackendStatus(False, devices, reason=f"{len(gpus)} DCU/ROCm GPU(s) but {tag}; install the DTK torch wheel", details=details)
        return BackendStatus(True, devices, details=details)
    except Exception as exc:  # noqa: BLE001 - a probe never raises
        return BackendStatus(False, reason=f"probe failed: {type(exc).__name__}: {exc}")


def probe() -> BackendStatus:
    return probe_with(DEV_ROOT, KFD_NODES, torch_build())
