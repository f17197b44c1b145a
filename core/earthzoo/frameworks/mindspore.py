"""MindSpore side of core: tensors <-> NumPy, parameters <-> canonical weights,
seeding, device setup and recompute. Parameter names are the cell attribute
paths, which our models keep equal to the torch state_dict names."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any, Iterable

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import EarthzooError  # noqa: E402
from ..tensors import Tensors, check_fits  # noqa: E402

NAME = "mindspore"
_DEVICE_SET: str | None = None


def to_numpy(x: Any) -> np.ndarray:
    return x.asnumpy().copy()  # asnumpy shares memory with the tensor


def from_numpy(a: np.ndarray) -> ms.Tensor:
    return ms.Tensor(np.array(a, copy=True))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    ms.set_seed(seed)


def set_device(target: str = "CPU") -> None:
    """Select the MindSpore device target once per process (MindSpore allows one)."""
    global _DEVICE_SET
    if _DEVICE_SET is None:
        try:
            ms.set_device(target)
        except RuntimeError:
            # The runtime already started (a kernel ran first): fine if it runs on target.
            if ms.get_context("device_target") != target:
                raise EarthzooError(f"MindSpore already runs on {ms.get_context('device_target')} in this process", f"start a new process to use {target}") from None
        _DEVICE_SET = target
    elif _DEVICE_SET != target:
        raise EarthzooError(f"MindSpore already runs on {_DEVICE_SET} in this process", f"start a new process to use {target}")


def named_parameters(net: Any) -> dict[str, Any]:
    return dict(net.parameters_and_names())


def expected_shapes(net: Any) -> dict[str, tuple[int, ...]]:
    return {k: tuple(p.shape) for k, p in named_parameters(net).items()}


def state_to_numpy(net: Any) -> Tensors:
    return {k: to_numpy(p) for k, p in named_parameters(net).items()}


def load_numpy_state(net: Any, tensors: Tensors, what: str = "the model") -> None:
    """Load canonical arrays into the cell's parameters; names and shapes must fit exactly."""
    params = named_parameters(net)
    check_fits(tensors, expected_shapes(net), what)
    for name, p in params.items():
        p.set_data(ms.Tensor(np.array(tensors[name], copy=True)))


def load_checkpoint_file(path: str | Path) -> Tensors:
    from .. import msckpt

    return msckpt.load(path)


def save_checkpoint_file(path: str | Path, tensors: Tensors) -> None:
    from .. import msckpt

    msckpt.save(path, tensors)


def synchronize(device: str = "CPU") -> None:
    """Wait for the device. MindSpore 2.10 on CPU has no stream to wait for: its
    ``runtime.synchronize`` logs an ERROR line there and returns, so it is skipped
    (callers read results with ``asnumpy``, which waits)."""
    if ms.get_context("device_target") != "CPU":
        ms.runtime.synchronize()


def peak_memory_bytes(device: str = "CPU") -> int | None:
    """Peak device memory held by tensors (``mindspore.runtime.max_memory_allocated``);
    None on the host, where MindSpore 2.10 does not track it (the call returns 0)."""
    if ms.get_context("device_target") == "CPU":
        return None
    return int(ms.runtime.max_memory_allocated())


def free_memory_bytes(device: str = "CPU") -> int | None:
    """None: MindSpore 2.10 reports what it allocated, not what the device has free, so
    earthzoo.training.memory checks MindSpore batches against the host's memory only."""
    return None


def checkpoint_units(net: Any) -> Iterable[Any]:
    """As the torch side: each attribute is a list of repeated blocks or one cell."""
    for attr in getattr(net, "checkpoint_modules", ()):
        unit = getattr(net, attr)
        yield from unit if isinstance(unit, (ms.nn.CellList, ms.nn.SequentialCell, list, tuple)) else (unit,)


def enable_activation_checkpointing(net: Any) -> list[str]:
    """Cell.recompute() on each repeated block, with MindSpore's own ops inside them in
    place of the op table's compiled kernels: a Custom op with a bprop is not
    recomputed, so the output its consumer's backward needs would be kept (GraphCast
    small, batch 4: 2.8 instead of 2.1 GB of step memory)."""
    from .mindspore_layers import without_compiled_kernels

    blocks = list(checkpoint_units(net))
    if not blocks:
        raise EarthzooError(f"{type(net).__name__} names no blocks for recompute", "set checkpoint_modules on the model class")
    for block in blocks:
        without_compiled_kernels(block)
        block.recompute()
    return [f"recompute on {len(blocks)} blocks (Cell.recompute, MindSpore's own ops inside them)"]


def prepare_for_inference(net: Any, ctx) -> Any:
    net.set_train(False)
    return net


def shapes_of(build) -> dict[str, tuple[int, ...]]:
    return expected_shapes(build())


def keeps_fp32(cell: Any) -> bool:
    """Whether a cell runs wholly in float32 inside a low-precision network: what a
    model marks ``keep_fp32`` (spectral filters: FFT or DFT-by-matmul and their mode
    mixing). Norms need no mark: the ``auto`` amp level keeps them in float32."""
    return bool(getattr(cell, "keep_fp32", False))


def mixed_precision(net: Any, plan: Any) -> Any:
    """Set ``net`` (in place) to run in a precision plan's ``amp_dtype`` operator by
    operator, as torch's autocast does: MindSpore's ``auto`` amp level (matmuls and
    convolutions in the low dtype, norms, exponentials and losses in float32, the rest
    in the widest input dtype), with the cells a model marks ``keep_fp32`` (spectral
    filters) held at float32 by their own O0 strategy. Parameters stay float32.

    Every amp level other than O0 is served this way: MindSpore's O1/O2/O3 rewrite the
    network's Python source (``ms.rewrite``), which cannot follow module-level functions
    or pyboost primitives (TypeErrors on ``_PyboostConcatPrim`` and
    ``builtin_function_or_method``), and ``Cell.to_float`` does not cast parameters
    that reach functional ops (``ops.matmul(x, self.weight.T)``)."""
    if plan is None or not plan.amp_level or plan.amp_level == "O0":
        return net
    from mindspore.train.amp import AmpLevel, auto_mixed_precision, create_amp_strategy

    dtype = getattr(ms, plan.amp_dtype or "float16")
    if getattr(net, "_amp_level", None) == "auto":
        return net
    for _, cell in net.cells_and_names():
        if keeps_fp32(cell):
            cell.amp_strategy = create_amp_strategy(AmpLevel.AmpO0, dtype, [], [])
    return auto_mixed_precision(net, "auto", dtype)


def input_check(net: Any):
    """The model's own input check on a shape alone, without running the model: the
    net's ``check_input_shape(shape)`` method, else its module's ``check_input(shape,
    config)`` (FourCastNet); None when the model has neither."""
    method = getattr(net, "check_input_shape", None)
    if callable(method):
        return method
    module = sys.modules.get(type(net).__module__)
    fn = getattr(module, "check_input", None)
    config = getattr(net, "config", None)
    if callable(fn) and config is not None:
        return lambda shape: fn(shape, config)
    return None


def inference_function(net: Any, plan: Any = None):
    """A NumPy -> NumPy forward in graph mode (``ms.jit`` of ``construct``; PyNative is
    several times slower on CPU), in ``plan``'s precision when one is given (float32
    out). A new input shape is checked by the model's shape check (:func:`input_check`)
    before it is compiled; the model is never run in PyNative to check an input (that
    took 68 s and most of an 18 GiB peak at paper size). Without a shape check, a first
    call that fails becomes a one-line error naming the shape."""
    net.set_train(False)
    mixed_precision(net, plan)
    if hasattr(net, "ensure_graphs"):  # models that load their graphs lazily in __call__ (GraphCast)
        net.ensure_graphs()
    jitted = ms.jit(net.construct)
    check = input_check(net)
    checked: set[tuple[int, ...]] = set()

    def run(x: np.ndarray) -> np.ndarray:
        t = from_numpy(x)
        if x.shape in checked:
            return to_numpy(jitted(t).astype(ms.float32))
        if check is not None:
            check(tuple(x.shape))
            out = jitted(t)
        else:
            try:
                out = jitted(t)
            except EarthzooError:
                raise
            except Exception as exc:  # noqa: BLE001 - MindSpore raises RuntimeError/ValueError/TypeError on shapes
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise EarthzooError(f"{type(net).__name__} cannot run an input of shape {tuple(x.shape)} ({first})", "check the input's channels and grid against the model config") from None
        checked.add(x.shape)
        return to_numpy(out.astype(ms.float32))

    return run
