"""``torch.save`` files read without importing torch, as NumPy arrays.

A torch.save file is a zip: ``<root>/data.pkl`` pickles the object, and each tensor
storage is a member ``<root>/data/<key>`` of raw little-endian bytes. The pickle is
read by an Unpickler that resolves only the names torch uses to rebuild tensors
(storages, ``_rebuild_tensor_v2``, ``_rebuild_parameter``, OrderedDict) to this
module's own functions: no pickled code runs, as with ``torch.load(weights_only=True)``.
Storages are views into a memory map of the file, so reading costs no copy until an
array is used. Anything else (a legacy non-zip file, bfloat16, another global)
returns None and callers fall back to torch itself."""

from __future__ import annotations

import collections
import mmap
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError

STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _Unsupported(Exception):
    pass


class _FileMap(mmap.mmap):
    """A read-only map of a file that knows the file, so that writers can copy an
    array's bytes file to file in the kernel (see file_region)."""

    path: str


def file_region(a: np.ndarray) -> tuple[str, int] | None:
    """(file, byte offset) of a C-contiguous array that views a file this module
    mapped, else None."""
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer keeps a memoryview of the map
        base = base.obj
    if not isinstance(base, _FileMap) or not a.flags.c_contiguous:
        return None
    start = np.frombuffer(base, dtype=np.uint8, count=1).ctypes.data
    return base.path, a.ctypes.data - start


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    size, stride = tuple(size), tuple(stride)
    if offset < 0:
        raise _Unsupported("a negative storage offset")
    if not size:
        return storage[offset : offset + 1].reshape(())  # (ValueError when outside the storage)
    contiguous, step = [], 1
    for n in reversed(size):
        contiguous.insert(0, step)
        step *= n
    if tuple(contiguous) == stride or 0 in size:  # the usual case: a view that keeps its file (see file_region)
        return storage[offset : offset + step].reshape(size)  # (a short storage fails to reshape: ValueError)
    span = 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or min(stride, default=0) < 0 or len(stride) != len(size) or offset + span > storage.size:
        raise _Unsupported("a tensor outside its storage")  # never read past the file's bytes
    base = storage[offset : offset + span]
    return np.lib.stride_tricks.as_strided(base, shape=size, strides=tuple(s * storage.itemsize for s in stride), writeable=False)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *rest):
    return data


class _Reader(pickle.Unpickler):
    def __init__(self, data: bytes, storage):
        super().__init__(__import__("io").BytesIO(data))
        self._storage = storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in STORAGES:
            return STORAGES[name]
        raise _Unsupported(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise _Unsupported(repr(pid)[:40])
        _, dtype, key, _, numel = pid[:5]
        return self._storage(str(key), dtype, int(numel))


def load(path: str | Path) -> Any | None:
    """The object a torch.save zip holds, tensors as read-only NumPy arrays that view
    the file; None when this reader cannot (then use torch.load with weights_only)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None
    with zf, path.open("rb") as fh:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl")), None)
        if pkl is None:
            return None
        root = pkl[: -len("data.pkl")]
        if f"{root}byteorder" in names and zf.read(f"{root}byteorder").strip() != b"little":
            return None
        mm = _FileMap(fh.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else None
        if mm is not None:
            mm.path = str(path)
        cache: dict[str, np.ndarray] = {}

        def storage(key: str, dtype, numel: int) -> np.ndarray:
            if key not in cache:
                info = zf.getinfo(f"{root}data/{key}")
                if info.compress_type != zipfile.ZIP_STORED or mm is None:
                    raw = np.frombuffer(zf.read(info), dtype=np.uint8)
                else:
                    name_len, extra_len = struct.unpack("<HH", mm[info.header_offset + 26 : info.header_offset + 30])
                    start = info.header_offset + 30 + name_len + extra_len
                    raw = np.frombuffer(mm, dtype=np.uint8, count=info.file_size, offset=start)
                cache[key] = raw
            return cache[key].view(dtype)[:numel]

        try:
            return _Reader(zf.read(pkl), storage).load()
        except (_Unsupported, pickle.UnpicklingError, ValueError, KeyError, TypeError, EOFError, AttributeError):
            return None


def load_object(path: str | Path, fix: str) -> Any:
    """The object in a torch.save file with tensors as NumPy arrays: by this reader,
    else by ``torch.load(weights_only=True)``; a foreign file is a one-line error."""
    got = load(path)
    if got is not None:
        return got
    from .frameworks import framework_module

    return framework_module("torch", "to read this torch file (bfloat16 tensors or the legacy format)").load_object(path, fix)


def _all_arrays(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, np.ndarray) for v in obj.values())


def load_state_file(path: str | Path, formats: str = "") -> dict[str, np.ndarray]:
    """A plain torch state_dict file (``torch.save`` of name -> tensor)."""
    obj = load_object(path, "check the file, or name its original format with --from")
    if not _all_arrays(obj):
        keys = ", ".join(list(obj)[:4]) if isinstance(obj, dict) else type(obj).__name__
        raise EarthzooError(f"{str(path)!r} is not a plain state_dict (it holds: {keys})", f"name its original format with --from ({formats})" if formats else "name its original format with --from")
    return dict(obj)


DDP_PREFIX = "module."


def load_training_checkpoint(path: str | Path, model: str, source: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The FourCastNet training-checkpoint layout, which AI-GOMS shares: ``{'iters',
    'epoch', 'model_state': {'module.<name>': tensor}, 'optimizer_state_dict', ...}``,
    or a bare, possibly 'module.'-prefixed state_dict. Returns the tensors under their
    names without the DDP prefix, and the file's other top-level entries."""
    obj = load_object(path, "check the file, or name its format with --from")
    state = obj.get("model_state", obj) if isinstance(obj, dict) else None
    if not _all_arrays(state):
        raise EarthzooError(f"{str(path)!r} holds no {model} 'model_state' of tensors", f"pass {source}, or another --from")
    tensors = {(k[len(DDP_PREFIX) :] if k.startswith(DDP_PREFIX) else k): v for k, v in state.items()}
    rest = {k: v for k, v in obj.items() if k != "model_state"} if state is not obj else {}
    return tensors, rest
