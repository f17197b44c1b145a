"""The memory a batch needs, estimated before it is allocated, against the memory
free where it will live: a batch that cannot fit is refused in one line, with
both figures, instead of being killed by the OS with nothing printed.

The estimate errs low, so that only what surely cannot fit is refused:
parameters, their gradients, AdamW's two moments and the gradient accumulators
(5 x 4 bytes per parameter when training, 1 x 4 when forecasting); per sample,
the batch arrays, and the activations measured in one forward pass of a single
sample (the sum of every leaf module's output, kept for the backward pass once
per rollout step; twice the largest one with activation checkpointing) - when forecasting, twice the largest leaf output plus the
rolled-out forecast held for the file (three float32 copies: outputs,
denormalised, written). Free memory: the device's own count where the framework
gives one (torch on an accelerator: CUDA, ROCm, NPU), else the host's available memory (MemAvailable,
capped by a cgroup limit); on other accelerators only the host-resident batch
arrays are checked. Measured against the peak RSS growth of one training step
(FourCastNet tiny, batch 1000, CPU): torch 0.88 GiB estimated vs 1.37 GiB used,
MindSpore (graph mode keeps more) 0.60 vs 4.35 GiB - low, as intended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EarthzooError
from ..frameworks import framework_module

GiB = 1024**3


def host_available() -> int | None:
    """Bytes the host can still give this process (None where it cannot be read)."""
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    try:  # a container's limit (cgroup v2) can be far below the machine's memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            free = min(free, int(limit) - used) if free is not None else int(limit) - used
    except (OSError, ValueError):
        pass
    return free


def device_available(device: str, framework: str) -> int | None:
    """Free bytes on ``device`` where the framework reports them, else None."""
    return framework_module(framework).free_memory_bytes(device)


def activation_bytes(model: Any, framework: str, sample: np.ndarray) -> tuple[int, int]:
    """(sum, largest) of the leaf modules' output bytes in one forward pass of ``sample`` (1, C, H, W)."""
    sizes: list[int] = []

    def add(outputs: Any) -> None:
        for o in outputs if isinstance(outputs, (tuple, list)) else (outputs,):
            n = getattr(o, "nbytes", None)
            if n is None and hasattr(o, "element_size"):
                n = o.numel() * o.element_size()
            if isinstance(n, (int, np.integer)):
                sizes.append(int(n))

    if framework == "torch":
        import torch

        device = next(iter(model.parameters()), torch.empty(0)).device
        was_training = model.training
        model.eval()  # no dropout: the probe must not move the RNG of a seeded run
        leaves = [m for m in model.modules() if not list(m.children())]
        handles = [m.register_forward_hook(lambda m, i, o: add(o)) for m in leaves]
        try:
            with torch.no_grad():
                model(torch.from_numpy(np.array(sample, np.float32)).to(device))
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
    else:
        import mindspore as ms

        leaves = [c for _, c in model.cells_and_names() if not list(c.cells())]
        handles = [c.register_forward_hook(lambda c, i, o: add(o)) for c in leaves]
        try:
            model(ms.Tensor(np.array(sample, np.float32)))
        finally:
            for h in handles:
                h.remove()
    return sum(sizes), max(sizes, default=0)


def _parameters(model: Any, framework: str) -> int:
    if framework == "torch":
        return sum(int(p.numel()) for p in model.parameters())
    return sum(int(np.prod(p.shape)) for p in model.get_parameters())


def check(needed: int, host_part: int, device: str, framework: str, what: str, fix: str) -> dict[str, Any]:
    """Refuse when ``needed`` bytes (``host_part`` of them in host memory whatever the
    device) cannot fit; returns the figures for the run's summary."""
    free = device_available(device, framework)
    host = host_available()
    where = f"free on {device}"
    on_host = free is None and device.lower() == "cpu"
    if on_host:
        free, where = host, "available host memory"
    if free is not None and needed > free:
        raise EarthzooError(f"{what} needs about {needed / GiB:.3g} GiB (estimated), more than the {free / GiB:.3g} GiB {where}", fix)
    if not on_host and host is not None and host_part > host:
        raise EarthzooError(f"{what} needs about {host_part / GiB:.3g} GiB of host memory for its arrays (estimated), more than the {host / GiB:.3g} GiB available", fix)
    return {"estimated_bytes": int(needed), "free_bytes": None if free is None else int(free), "measured": where if free is not None else "unknown"}


def check_training(model: Any, framework: str, device: str, sample: tuple[np.ndarray, ...], batch: int, rollout: int, checkpointing: bool = False) -> dict[str, Any]:
    """Refuse a training batch of ``batch`` samples (per process) that cannot fit;
    ``sample`` is the data of one sample, as the dataset gives it. With activation
    checkpointing only about the largest activations are kept, not all of them."""
    per_sample_data = sum(int(a.nbytes) for a in sample)
    total, largest = activation_bytes(model, framework, sample[0])
    acts = 2 * largest if checkpointing else total
    state = 5 * 4 * _parameters(model, framework)
    needed = state + batch * (per_sample_data + rollout * acts)
    return check(needed, batch * per_sample_data, device, framework, f"a batch of {batch} sample(s)", "use a smaller --batch-size (with --accum to keep the batch per update), or --checkpointing")


def check_forecast(model: Any, framework: str, device: str, x0: np.ndarray, steps: int, out_per_step: int) -> dict[str, Any]:
    """Refuse a forecast of ``len(x0)`` initial states x ``steps`` that cannot fit;
    ``out_per_step`` is the bytes of one sample's output at one step."""
    batch = len(x0)
    _, largest = activation_bytes(model, framework, x0[:1])
    held = 3 * steps * out_per_step  # outputs, denormalised, float32 for the file
    needed = 4 * _parameters(model, framework) + batch * (int(x0[0].nbytes) + 2 * largest + held)
    return check(needed, batch * held, device, framework, f"a forecast of {batch} initial state(s) x {steps} steps", "forecast fewer --init-index values or fewer --steps per run")
