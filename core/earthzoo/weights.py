"""Canonical weight files and conversion between formats.

The canonical form is a dict of NumPy arrays under the torch state_dict names,
stored as safetensors with metadata ``earthzoo.model``, ``earthzoo.config``
(JSON), ``earthzoo.format`` (= 1) and ``earthzoo.source``. Nothing here
unpickles: torch files are read with ``weights_only=True``."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EarthzooError
from .files import append_arrays, atomic_path, claim_output, dtype_name, stored
from .registry import get_registry
from .tensors import Tensors, check_fits  # noqa: F401 - check_fits is imported from here by readers

FORMAT_VERSION = "1"
# Non-parameter arrays (normalisation statistics...) ride in the same file under this
# prefix, which no module path can produce, so they never collide with parameters.
EXTRA_PREFIX = "earthzoo:"
BASIC_FORMATS = ("safetensors", "torch", "mindspore")
SUFFIX_FORMATS = {".safetensors": "safetensors", ".pt": "torch", ".pth": "torch", ".ckpt": "mindspore"}

@dataclass
class Weights:
    """A set of tensors under canonical names, with what is known of their origin.

    ``extras`` holds arrays that are not model parameters, by convention
    ``in_mean``/``in_std``/``out_mean``/``out_std`` of shape (channels,): the
    normalisation the model was trained with; an original format's arrays that
    our model has no use for ride here too (``<format>:<key>``), so writing that
    format back is bit-exact. ``attrs`` are strings an original file holds
    (description, licence, epoch). ``config_sources`` says how a reader knows each
    field of ``config`` (see earthzoo.cards.SOURCES). ``dropped`` names what the file holds that no
    format keeps (an optimizer state): convert refuses it unless told to drop it."""

    tensors: Tensors
    model: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    extras: Tensors = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    config_sources: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})


# --------------------------------------------------------------------------- recognising files
# Every kind is recognised by parsing the file's structure, never by a few leading
# bytes alone: a safetensors header length can start with any bytes (0x580 is
# "80 05", which is also how a pickle starts).

MAX_SAFETENSORS_HEADER = 100_000_000


def safetensors_header(path: str | Path) -> dict | None:
    """The parsed JSON header of a well-formed safetensors file, else None: the
    8-byte length must fit the file, the header must be a JSON object of tensor
    entries, and their data must end exactly where the file ends."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return None
        (n,) = struct.unpack("<Q", head)
        if not 2 <= n <= min(size - 8, MAX_SAFETENSORS_HEADER):
            return None
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(header, dict):
        return None
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict):
                return None
            continue
        try:
            start, stop = entry["data_offsets"]
            ok = isinstance(entry["dtype"], str) and isinstance(entry["shape"], list) and 0 <= start <= stop
        except (TypeError, KeyError, ValueError):
            return None
        if not ok:
            return None
        end = max(end, stop)
    return header if end == size - 8 - n else None


def _zip_names(path: Path) -> list[str] | None:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _is_pickle(path: Path) -> bool:
    """A (legacy torch.save) pickle stream: its first pickle parses, opcode by opcode, without running anything."""
    import pickletools

    with path.open("rb") as f:
        if f.read(1) != b"\x80":
            return False
        f.seek(0)
        try:
            for op, _, _ in pickletools.genops(f):
                if op.name == "STOP":
                    return True
        except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
            return False
    return False


def mindspore_names(path: str | Path) -> list[str] | None:
    """Parameter names of a MindSpore checkpoint, read from its structure; None when the file is not one."""
    from . import msckpt

    return msckpt.names(path)


def sniff(path: str | Path) -> str:
    """What a file is, by parsing it: "safetensors", "torch" (a torch.save zip),
    "npz" (numpy.savez), "zip" (another zip), "pickle" (legacy torch.save),
    "mindspore" (protobuf checkpoint) or "unknown". Nothing is unpickled."""
    path = Path(path)
    if safetensors_header(path) is not None:
        return "safetensors"
    names = _zip_names(path)
    if names is not None:
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "torch"
        return "npz" if names and all(n.endswith(".npy") for n in names) else "zip"
    if _is_pickle(path):
        return "pickle"
    if mindspore_names(path) is not None:
        return "mindspore"
    return "unknown"


def pickle_strings(path: str | Path) -> frozenset[str]:
    """The string constants of a torch.save zip's pickle (its dict keys: 'model_state',
    parameter names...), read opcode by opcode without unpickling; empty when the
    file is no torch zip. For plugins' ``sniff`` functions."""
    path = Path(path)
    st = path.stat()
    return _pickle_strings(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _pickle_strings(path: str, size: int, mtime: int) -> frozenset[str]:
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            member = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if member is None:
                return frozenset()
            data = z.read(member)
        return frozenset(arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str) and "UNICODE" in op.name)
    except Exception:  # noqa: BLE001 - a file that does not parse holds no names
        return frozenset()


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise EarthzooError(f"weights file {str(path)!r} does not exist", "check the path")
    if path.is_dir():
        raise EarthzooError(f"weights path {str(path)!r} is a folder, not a file", "name the weights file itself")
    return path


# --------------------------------------------------------------------------- canonical safetensors


# safetensors dtype names of the NumPy dtypes (by name) canonical files hold
ST_DTYPES = {"float32": "F32", "float16": "F16", "float64": "F64", "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
             "uint16": "U16", "uint32": "U32", "uint64": "U64", "bool": "BOOL"}


def save_canonical(path: str | Path, weights: Weights) -> None:
    """Write canonical safetensors atomically, streaming each tensor to the file (no
    copy of the whole set in memory; tensors that lie in a file are copied file to
    file): the header is JSON padded with spaces to a multiple of 8 bytes, as the
    safetensors library writes it."""
    metadata = {
        "earthzoo.model": weights.model,
        "earthzoo.config": json.dumps(weights.config, sort_keys=True),
        "earthzoo.format": FORMAT_VERSION,
        "earthzoo.source": weights.source,
    }
    if weights.attrs:
        metadata["earthzoo.attrs"] = json.dumps(weights.attrs, sort_keys=True)
    arrays = sorted({**weights.tensors, **{EXTRA_PREFIX + k: v for k, v in weights.extras.items()}}.items())
    header: dict[str, Any] = {"__metadata__": metadata}
    offset, pieces = 0, []
    for name, value in arrays:
        a = stored(value)
        if dtype_name(a) not in ST_DTYPES:
            raise EarthzooError(f"tensor {name!r} has dtype {a.dtype}, which safetensors cannot hold here", "cast it to a float or integer type first")
        header[name] = {"dtype": ST_DTYPES[dtype_name(a)], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        pieces.append(a)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    # "r+b", not "wb": the temporary file is new and empty, and truncating it makes ext4 flush it on close
    with atomic_path(path) as tmp, tmp.open("r+b", buffering=0) as f:
        append_arrays(f.fileno(), [struct.pack("<Q", len(raw)) + raw, *pieces])


def load_canonical(path: str | Path) -> Weights:
    """Read a canonical safetensors file, with a clear error for anything else."""
    from safetensors import safe_open

    path = _require_file(path)
    kind = sniff(path)
    if kind in ("torch", "pickle"):
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
        attrs = json.loads(meta.get("earthzoo.attrs") or "{}")
    except json.JSONDecodeError as exc:
        raise EarthzooError(f"{str(path)!r} has a corrupt earthzoo metadata entry", "re-convert the weights") from exc
    extras = {k[len(EXTRA_PREFIX):]: tensors.pop(k) for k in [k for k in tensors if k.startswith(EXTRA_PREFIX)]}
    return Weights(tensors, meta.get("earthzoo.model", ""), config, meta.get("earthzoo.source", ""), extras, attrs, {k: "file" for k in config})


# --------------------------------------------------------------------------- sidecar of extras
# Formats with no place for extras or the config (a plain torch state_dict, a
# MindSpore checkpoint) get them in ``<file>.extras.npz`` beside the file, read back
# with it: arrays under their names, attrs as "attr:<name>" and the config as JSON.

ATTR_PREFIX = "attr:"
CONFIG_KEY = "earthzoo.config"


def sidecar_path(path: str | Path) -> Path:
    return Path(f"{path}.extras.npz")


def write_sidecar(path: str | Path, extras: Tensors, attrs: dict[str, str], config: dict[str, Any] | None) -> None:
    """The file numpy.savez would write: one .npy per entry in a zip. Text entries are
    written here (a 0-d unicode array), so that a conversion with no arrays to keep
    does not import NumPy."""
    import zipfile

    texts = {ATTR_PREFIX + k: str(v) for k, v in attrs.items()}
    if config is not None:
        texts[CONFIG_KEY] = json.dumps(config, sort_keys=True)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as z:
        for key, value in extras.items():
            import numpy as np

            with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
        for key, text in texts.items():
            z.writestr(f"{key}.npy", _npy_text(text))


def _npy_text(text: str) -> bytes:
    """``np.save`` of ``np.array(text)``: the .npy format 1.0 header (padded to 64 bytes) and UTF-32 characters."""
    n = max(len(text), 1)
    header = f"{{'descr': '<U{n}', 'fortran_order': False, 'shape': (), }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + text.encode("utf-32-le").ljust(4 * n, b"\0")


def read_sidecar(path: str | Path) -> tuple[Tensors, dict[str, str], dict[str, Any] | None]:
    import numpy as np

    try:
        with np.load(str(path), allow_pickle=False) as z:
            items = {k: z[k] for k in z.files}
        config = json.loads(str(items.pop(CONFIG_KEY))) if CONFIG_KEY in items else None
    except (OSError, ValueError) as exc:
        raise EarthzooError(f"cannot read the extras file {str(path)!r} ({exc})", "restore it from where the weights came from, or delete it to go without") from exc
    attrs = {k[len(ATTR_PREFIX):]: str(v) for k, v in items.items() if k.startswith(ATTR_PREFIX)}
    return {k: v for k, v in items.items() if not k.startswith(ATTR_PREFIX)}, attrs, config


# --------------------------------------------------------------------------- any format


def format_for_suffix(path: str | Path) -> str | None:
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def _registered(model: str | None) -> list:
    """The formats registered for ``model`` (all models' when None); not the basic ones, which serve any model."""
    return [f for _, f in sorted(get_registry().weight_formats.items()) if f.model and (not model or f.model == model)]


def detect_format(path: str | Path, model: str | None = None) -> str:
    """The format of an existing file, by content: safetensors by its parsed header;
    a registered format whose ``sniff`` recognises the file; else the basic format
    its structure shows (torch, mindspore) together with registered formats that
    declare its suffix and have no sniff. More than one candidate is an error."""
    path = _require_file(path)
    kind = sniff(path)
    if kind == "safetensors":
        return "safetensors"
    formats = _registered(model)
    candidates = [f.name for f in formats if f.sniff and f.sniffs(str(path))]
    if not candidates:
        basic = {"torch": "torch", "pickle": "torch", "mindspore": "mindspore"}.get(kind)
        candidates = [f.name for f in formats if not f.sniff and path.suffix.lower() in f.suffixes] + ([basic] if basic else [])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise EarthzooError(f"cannot tell the format of {str(path)!r} (its content is {kind})", f"name it with --from ({_format_names(model)})")
    raise EarthzooError(f"{str(path)!r} could be any of: {', '.join(candidates)}", "name one with --from")


def target_format(path: str | Path, model: str | None = None) -> str:
    """The format to write ``path`` in, from its suffix: the basic format of that
    suffix and every writable registered format of ``model`` that declares it."""
    suffix = Path(path).suffix.lower()
    candidates = [SUFFIX_FORMATS[suffix]] if suffix in SUFFIX_FORMATS else []
    candidates += [f.name for f in _registered(model) if f.writer and suffix in f.suffixes]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise EarthzooError(f"cannot tell which format to write for {str(path)!r}", f"use a .safetensors, .pt or .ckpt suffix, or pass --to ({_format_names(model)})")
    raise EarthzooError(f"{str(path)!r} could be written as any of: {', '.join(candidates)}", "name one with --to")


def read_weights(path: str | Path, fmt: str | None = None, model: str | None = None, lazy: bool = False) -> Weights:
    """Read weights in any known format into the canonical form, with the extras
    of a sidecar ``<file>.extras.npz`` when there is one.

    ``fmt`` is "safetensors", "torch", "mindspore" or a registered format; None
    detects it from the file's content (see detect_format). With ``lazy``, tensors
    of torch files stay in the file as torchfile.FileTensors (for a conversion, which
    looks at their shapes and copies their bytes)."""
    from . import torchfile

    path = _require_file(path)
    fmt = fmt or detect_format(path, model)
    with torchfile.lazy_tensors() if lazy else contextlib.nullcontext():
        return _read_weights(path, fmt, model)


def _read_weights(path: Path, fmt: str, model: str | None) -> Weights:
    if fmt == "safetensors":
        return load_canonical(path)
    wf = get_registry().weight_format(fmt)  # torch and mindspore too: earthzoo.builtin registers them
    if model and wf.model and wf.model != model:
        raise EarthzooError(f"weight format {fmt!r} is for model {wf.model!r}, not {model!r}", "pass the matching --model or --from")
    owner = wf.model or model or ""
    got = wf.read(str(path))
    if isinstance(got, Weights):
        w = got
        w.model, w.source = owner, w.source or f"{fmt}:{path.name}"
    else:
        tensors, config = got
        w = Weights(tensors, owner, dict(config), f"{fmt}:{path.name}", config_sources={k: "file" for k in config})
    side = sidecar_path(path)
    if side.exists():
        extras, attrs, config = read_sidecar(side)
        w.extras = {**extras, **w.extras}
        w.attrs = {**attrs, **w.attrs}
        if config:  # what the weights were made as, written beside a format that cannot say
            w.config.update(config)
            w.config_sources.update(dict.fromkeys(config, "sidecar"))
        w.notes.append(f"extras{' and config' if config else ''} read from {side.name}")
    return w


def write_weights(path: str | Path, weights: Weights, fmt: str | None = None, config: Any = None, overwrite: bool = False, drop_extras: bool = False) -> dict[str, Any]:
    """Write ``weights`` atomically in ``fmt`` (default: from the suffix). Extras,
    attrs and the config the format has no place for go to the sidecar
    ``<file>.extras.npz``, or are dropped with ``drop_extras``. Nothing is overwritten without ``overwrite``.
    Returns {"format", "files", "sidecar", "dropped", "notes"}."""
    fmt = fmt or target_format(path, weights.model)
    side = sidecar_path(path)
    claim_output(path, overwrite)
    if fmt != "safetensors":  # (a canonical file is never read with a sidecar)
        claim_output(side, overwrite)
    placed: set[str] = set()
    notes: list[str] = []
    more: list[str] = []
    from .torchfile import arrays

    if fmt not in ("safetensors", "mindspore"):  # these two stream FileTensors (see read_weights' lazy); other writers get arrays
        weights = dataclasses.replace(weights, tensors=arrays(weights.tensors))

    if fmt == "safetensors":
        save_canonical(path, weights)
        placed = set(weights.extras) | set(weights.attrs) | {"config"}
    else:
        result = get_registry().weight_format(fmt).write(str(path), weights, config, overwrite) or {}
        placed, notes, more = set(result.get("placed", ())), list(result.get("notes", ())), list(result.get("files", ()))
    rest = {k: v for k, v in weights.extras.items() if k not in placed}
    rest_attrs = {k: v for k, v in weights.attrs.items() if k not in placed}
    config_rest = weights.config if weights.config and "config" not in placed else None
    files, dropped, sidecar = [str(path), *more], [], None
    if fmt != "safetensors":
        side.unlink(missing_ok=True)  # claimed above: a stale sidecar would be read back with the new file
    if rest or rest_attrs or config_rest:
        if drop_extras:
            dropped = sorted(rest) + sorted(rest_attrs) + (["config"] if config_rest else [])
        else:
            write_sidecar(side, rest, rest_attrs, config_rest)
            sidecar = str(side)
            files.append(sidecar)
    return {"format": fmt, "files": files, "sidecar": sidecar, "dropped": dropped, "notes": notes}


def _format_names(model: str | None) -> str:
    return ", ".join(list(BASIC_FORMATS) + [f.name for f in _registered(model)])


# --------------------------------------------------------------------------- checks


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
    import numpy as np

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
