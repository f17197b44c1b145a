"""Canonical weight files and conversion between formats.

The canonical form is a dict of NumPy arrays under the torch state_dict names,
stored as safetensors with metadata ``earthzoo.model``, ``earthzoo.config``
(JSON), ``earthzoo.format`` (= 1) and ``earthzoo.source``. Nothing here
unpickles: torch files are read with ``weights_only=True``."""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError
from .files import atomic_path

FORMAT_VERSION = "1"
# Non-parameter arrays (normalisation statistics...) ride in the same file under this
# prefix, which no module path can produce, so they never collide with parameters.
EXTRA_PREFIX = "earthzoo:"
BASIC_FORMATS = ("safetensors", "torch", "mindspore")
SUFFIX_FORMATS = {".safetensors": "safetensors", ".pt": "torch", ".pth": "torch", ".ckpt": "mindspore"}

Tensors = dict[str, np.ndarray]


@dataclass
class Weights:
    """A set of tensors under canonical names, with what is known of their origin.

    ``extras`` holds arrays that are not model parameters, by convention
    ``in_mean``/``in_std``/``out_mean``/``out_std`` of shape (channels,): the
    normalisation the model was trained with."""

    tensors: Tensors
    model: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    extras: Tensors = field(default_factory=dict)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})


# --------------------------------------------------------------------------- sniffing


def sniff(path: str | Path) -> str:
    """What a file is, from its first bytes: "safetensors", "zip" (torch.save),
    "pickle", "mindspore" (protobuf checkpoint) or "unknown"."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "pickle"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if path.suffix == ".ckpt" and head[:1] == b"\n":  # protobuf field 1, length-delimited
        return "mindspore"
    return "unknown"


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise EarthzooError(f"weights file {str(path)!r} does not exist", "check the path")
    if path.is_dir():
        raise EarthzooError(f"weights path {str(path)!r} is a folder, not a file", "name the weights file itself")
    return path


# --------------------------------------------------------------------------- canonical safetensors


def save_canonical(path: str | Path, weights: Weights) -> None:
    """Write canonical safetensors atomically."""
    from safetensors.numpy import save

    metadata = {
        "earthzoo.model": weights.model,
        "earthzoo.config": json.dumps(weights.config, sort_keys=True),
        "earthzoo.format": FORMAT_VERSION,
        "earthzoo.source": weights.source,
    }
    tensors = {k: np.ascontiguousarray(v) for k, v in weights.tensors.items()}
    tensors.update({EXTRA_PREFIX + k: np.ascontiguousarray(v) for k, v in weights.extras.items()})
    data = save(tensors, metadata=metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_canonical(path: str | Path) -> Weights:
    """Read a canonical safetensors file, with a clear error for anything else."""
    from safetensors import safe_open

    path = _require_file(path)
    kind = sniff(path)
    if kind in ("zip", "pickle"):
        raise EarthzooError(
            f"{str(path)!r} is a pickled torch checkpoint, not safetensors",
            "convert it first: earthzoo convert SRC OUT.safetensors --model NAME --from torch (or the model's original format)",
        )
    if kind == "mindspore":
        raise EarthzooError(f"{str(path)!r} is a MindSpore checkpoint, not safetensors", "convert it first: earthzoo convert SRC OUT.safetensors --model NAME --from mindspore")
    try:
        tensors: Tensors = {}
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
        raise EarthzooError(
            f"{str(path)!r} is not a readable safetensors file (truncated or corrupt: {exc})",
            "re-download or re-convert it",
        ) from exc
    fmt = meta.get("earthzoo.format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise EarthzooError(f"{str(path)!r} has earthzoo format {fmt}, this version reads {FORMAT_VERSION}", "upgrade earthzoo")
    try:
        config = json.loads(meta.get("earthzoo.config") or "{}")
    except json.JSONDecodeError as exc:
        raise EarthzooError(f"{str(path)!r} has a corrupt earthzoo.config entry", "re-convert the weights") from exc
    extras = {k[len(EXTRA_PREFIX):]: tensors.pop(k) for k in [k for k in tensors if k.startswith(EXTRA_PREFIX)]}
    return Weights(tensors, meta.get("earthzoo.model", ""), config, meta.get("earthzoo.source", ""), extras)


# --------------------------------------------------------------------------- any format


def format_for_suffix(path: str | Path) -> str | None:
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def read_weights(path: str | Path, fmt: str | None = None, model: str | None = None) -> Weights:
    """Read weights in any known format into the canonical form.

    ``fmt`` is "safetensors", "torch", "mindspore" or a registered foreign format;
    None detects safetensors and plain torch / MindSpore files from their bytes."""
    path = _require_file(path)
    if fmt is None:
        kind = sniff(path)
        fmt = {"safetensors": "safetensors", "zip": "torch", "pickle": "torch", "mindspore": "mindspore"}.get(kind)
        if fmt is None:
            raise EarthzooError(f"cannot tell the format of {str(path)!r}", f"name it with --from ({_format_names(model)})")
    if fmt == "safetensors":
        return load_canonical(path)
    from .frameworks import framework_module

    if fmt == "torch":
        fw = framework_module("torch", "to read PyTorch .pt files")
        return Weights(fw.load_state_file(path, _format_names(model)), model or "", {}, f"torch:{path.name}")
    if fmt == "mindspore":
        fw = framework_module("mindspore", "to read MindSpore .ckpt files")
        return Weights(fw.load_checkpoint_file(path), model or "", {}, f"mindspore:{path.name}")
    from .registry import get_registry

    wf = get_registry().weight_format(fmt)
    if model and wf.model != model:
        raise EarthzooError(f"weight format {fmt!r} is for model {wf.model!r}, not {model!r}", "pass the matching --model or --from")
    tensors, config = wf.read(str(path))
    return Weights(tensors, wf.model, dict(config), f"{fmt}:{path.name}")


def write_weights(path: str | Path, weights: Weights, fmt: str | None = None, config: Any = None) -> str:
    """Write ``weights`` atomically in ``fmt`` (default: from the suffix); returns the format used."""
    fmt = fmt or format_for_suffix(path)
    if fmt is None:
        raise EarthzooError(f"cannot tell which format to write for {str(path)!r}", "use a .safetensors, .pt or .ckpt suffix, or pass --to")
    from .frameworks import framework_module

    if fmt == "safetensors":
        save_canonical(path, weights)
    elif fmt == "torch":
        framework_module("torch", "to write PyTorch .pt files").save_state_file(path, weights.tensors)
    elif fmt == "mindspore":
        framework_module("mindspore", "to write MindSpore .ckpt files").save_checkpoint_file(path, weights.tensors)
    else:
        from .registry import get_registry

        get_registry().weight_format(fmt).write(str(path), weights.tensors, config)
    return fmt


def _format_names(model: str | None) -> str:
    from .registry import get_registry

    foreign = [f.name for f in get_registry().weight_formats.values() if model is None or f.model == model]
    return ", ".join(list(BASIC_FORMATS) + sorted(foreign))


# --------------------------------------------------------------------------- checks


def check_fits(tensors: Tensors, expected: dict[str, tuple[int, ...]], what: str) -> None:
    """Raise a one-line error naming the first tensor whose name or shape does not fit ``what``."""
    for name, shape in expected.items():
        if name not in tensors:
            raise EarthzooError(f"tensor {name!r} of {what} is missing from the weights", "convert weights made for this model and config (see --preset/--from)")
        got = tuple(np.shape(tensors[name]))
        if got != tuple(shape):
            raise EarthzooError(
                f"tensor {name!r} has shape {got} in the weights but {tuple(shape)} in {what}",
                "use weights made for this model and config, or pass the matching --preset",
            )
    extra = sorted(set(tensors) - set(expected))
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise EarthzooError(f"the weights hold tensor {extra[0]!r}{more} that {what} does not have", "use weights made for this model, or name the original format with --from")


@dataclass
class VerifyReport:
    equal: bool
    compared: int
    max_abs_diff: float
    worst: str
    missing: list[str]
    extra: list[str]
    dtype_mismatch: list[str]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def verify(a: Tensors, b: Tensors) -> VerifyReport:
    """Compare two weight sets tensor by tensor: ``equal`` means the same names,
    dtypes, shapes and bits."""
    common = sorted(set(a) & set(b))
    worst, max_diff, equal = "", 0.0, True
    dtype_mismatch = []
    for name in common:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.dtype != y.dtype:
            dtype_mismatch.append(name)
            equal = False
        if x.shape != y.shape:
            equal, diff = False, float("inf")
        else:
            equal = equal and np.array_equal(x, y)
            diff = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
        if diff > max_diff or not worst:
            worst, max_diff = name, diff
    missing, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    return VerifyReport(equal and not missing and not extra, len(common), max_diff, worst, missing, extra, dtype_mismatch)
