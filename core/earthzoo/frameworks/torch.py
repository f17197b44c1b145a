"""PyTorch side of core: tensors <-> NumPy, state dicts <-> canonical weights,
seeding, device sync and activation checkpointing."""

from __future__ import annotations

import contextlib
import functools
import random
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.utils.checkpoint

from .. import torchfile
from ..errors import EarthzooError
from ..files import atomic_path
from ..tensors import Tensors, check_fits

NAME = "torch"


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy() if x.dtype == torch.bfloat16 else x.detach().cpu().numpy()


def from_numpy(a: np.ndarray, device: str = "cpu") -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def expected_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def state_to_numpy(model: torch.nn.Module) -> Tensors:
    """The model's state_dict as canonical NumPy arrays (copies)."""
    return {k: to_numpy(v).copy() for k, v in model.state_dict().items()}


def load_numpy_state(model: torch.nn.Module, tensors: Tensors, what: str = "the model") -> None:
    """Load canonical arrays; names and shapes must fit exactly."""
    check_fits(tensors, expected_shapes(model), what)
    state = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)


def _torch_load(path: str | Path, fix: str) -> Any:
    """``torch.load`` that never unpickles code; a foreign file is a one-line error."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise EarthzooError(f"weights file {str(path)!r} does not exist", "check the path") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise EarthzooError(f"{str(path)!r} is not a loadable torch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})", fix) from exc


def load_object(path: str | Path, fix: str) -> Any:
    """``torch.load(weights_only=True)`` with every tensor as a NumPy array (for what
    earthzoo.torchfile cannot read itself: bfloat16, legacy files)."""
    def numpy(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return to_numpy(obj).copy()
        if isinstance(obj, dict):
            return type(obj)((k, numpy(v)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)):
            return type(obj)(numpy(v) for v in obj)
        return obj

    return numpy(_torch_load(path, fix))


# read without torch where possible; kept here for callers of the framework module
load_state_file = torchfile.load_state_file
load_training_checkpoint = torchfile.load_training_checkpoint
DDP_PREFIX = torchfile.DDP_PREFIX


def save_state_file(path: str | Path, tensors: Tensors) -> None:
    with atomic_path(path) as tmp:
        torch.save({k: torch.from_numpy(np.require(v, requirements=("C", "W"))) for k, v in tensors.items()}, str(tmp))


def save_training_checkpoint(path: str | Path, tensors: Tensors, **entries: Any) -> None:
    """Write that layout atomically (DDP 'module.' keys, empty optimizer state, plus
    ``entries``), loadable by the original code's ``load_state_dict``."""
    state = {DDP_PREFIX + k: torch.from_numpy(np.array(v, copy=True)) for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        torch.save({"iters": 0, "epoch": 0, "model_state": state, "optimizer_state_dict": {}, **entries}, str(tmp))


def _on_accelerator(device: str) -> bool:
    """Whether ``device`` (a DeviceContext's) is on the accelerator this torch runs (CUDA,
    ROCm, or one a backend's extension registers, as torch_npu does): no device names here.
    The host is never one, and a torch without ``torch.accelerator`` (before 2.6, as in
    the DGL environment's 2.2) is answered for the host only."""
    kind = torch.device(device).type
    if kind == "cpu" or not hasattr(torch, "accelerator"):
        return False
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    return accelerator is not None and kind == accelerator.type


def synchronize(device: str) -> None:
    if _on_accelerator(device):
        torch.accelerator.synchronize(torch.device(device))


def checkpoint_units(model: Any) -> Iterable[Any]:
    """The blocks a model names in ``checkpoint_modules``: each attribute is a list of
    repeated blocks or one module (GraphCast's encoder and decoder on the full grid)."""
    for attr in getattr(model, "checkpoint_modules", ()):
        unit = getattr(model, attr)
        yield from unit if isinstance(unit, (torch.nn.ModuleList, torch.nn.Sequential, list, tuple)) else (unit,)


def _checkpointed(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        if torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    run.earthzoo_checkpointed = True
    return run


def enable_activation_checkpointing(model: torch.nn.Module) -> list[str]:
    """Recompute each block's activations in backward instead of storing them."""
    applied = 0
    for block in checkpoint_units(model):
        if not getattr(block.forward, "earthzoo_checkpointed", False):
            block.forward = _checkpointed(block.forward)
        applied += 1
    if not applied:
        raise EarthzooError(f"{type(model).__name__} names no blocks for activation checkpointing", "set checkpoint_modules on the model class")
    return [f"activation checkpointing on {applied} blocks (torch.utils.checkpoint)"]


def autocast(device: str, dtype_name: str | None):
    """An autocast context for a precision plan's dtype; a null context for fp32."""
    if not dtype_name:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=getattr(torch, dtype_name))


def keeps_fp32(module: torch.nn.Module) -> bool:
    """Whether a module runs in float32 inside a low-precision region: the norms (their
    mean and variance are reductions) and what a model marks ``keep_fp32`` (spectral
    filters: FFT or DFT-by-matmul and their mode mixing)."""
    return getattr(module, "keep_fp32", False) or isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.modules.batchnorm._NormBase))


def _in_fp32(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        device = next((a.device.type for a in args if torch.is_tensor(a)), "cpu")
        args = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        with torch.autocast(device_type=device, enabled=False):
            return forward(*args, **kwargs)

    run.earthzoo_fp32 = True
    return run


def mixed_precision(model: torch.nn.Module, plan: Any) -> torch.nn.Module:
    """Prepare ``model`` for a precision plan's autocast: the modules :func:`keeps_fp32`
    names run with autocast off on float32 inputs (torch's CPU autocast would leave
    layer_norm in bf16/fp16 and cannot run an FFT in them). The engines and forecasts
    run the model inside :func:`autocast`; fp32 plans leave the model as it is."""
    if plan is None or not plan.autocast_dtype:
        return model
    for module in model.modules():
        if keeps_fp32(module) and not getattr(module.forward, "earthzoo_fp32", False):
            module.forward = _in_fp32(module.forward)
    return model


def peak_memory_bytes(device: str) -> int | None:
    """Peak accelerator memory held by tensors; None on the host (RSS measures that) and
    where the accelerator's extension keeps no such statistic."""
    if not _on_accelerator(device):
        return None
    try:
        return int(torch.accelerator.max_memory_allocated(torch.device(device)))
    except (RuntimeError, NotImplementedError):
        return None


def free_memory_bytes(device: str) -> int | None:
    """Free accelerator memory on ``device``; None on the host (earthzoo.training.memory reads that)."""
    if not _on_accelerator(device):
        return None
    try:
        return int(torch.accelerator.get_memory_info(torch.device(device))[0])
    except (RuntimeError, NotImplementedError):
        return None


def prepare_for_inference(model: torch.nn.Module, ctx) -> torch.nn.Module:
    return model.to(ctx.device).eval()


def shapes_of(build) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of the model ``build()`` makes, built on the meta device."""
    with torch.device("meta"):
        return expected_shapes(build())


def inference_function(model: torch.nn.Module, plan: Any = None, compile: bool = False):
    """A NumPy -> NumPy forward in inference mode (eval, no autograd) on the model's
    device, under ``plan``'s autocast when one is given (float32 out either way).
    ``compile``: through ``torch.compile`` (the first call compiles, 20-60 s at paper
    size; paper-size FourCastNet then runs 0.86-0.89x the eager time on one CPU thread:
    element-wise ops fused into a few passes over memory)."""
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    mixed_precision(model, plan)
    dtype = plan.autocast_dtype if plan is not None else None
    forward = _compiled(model) if compile else model

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad(), autocast(str(device), dtype):
            return to_numpy(forward(from_numpy(x, str(device))).float())

    return run


def _compiled(model: torch.nn.Module):
    """``torch.compile(model)``, whose failure to compile (no C++ compiler for the CPU
    backend, say) is one line when the first call compiles."""
    compiled = torch.compile(model)

    def forward(x):
        try:
            return compiled(x)
        except torch._dynamo.exc.BackendCompilerFailed as exc:
            why = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise EarthzooError(f"torch.compile cannot compile {type(model).__name__} here ({why[:200]})", "run without compile (--compile)") from exc

    return forward
