"""``torch.save`` files read without importing torch, as NumPy arrays.

A torch.save file is a zip: ``<root>/data.pkl`` pickles the object, and each tensor
storage is a member ``<root>/data/<key>`` of raw little-endian bytes. The pickle is
read by an Unpickler that resolves only the names torch uses to rebuild tensors
(storages, ``_rebuild_tensor_v2``, ``_rebuild_parameter``, OrderedDict) to this
module's own functions: no pickled code runs, as with ``torch.load(weights_only=True)``.
Storages are views into a memory map of the file, so reading costs no copy until an
array is used. Anything else (a legacy non-zip file, bfloat16, another global)
returns None and callers fall back to torch itself.

Read lazily (``load(..., lazy=True)`` or inside ``lazy_tensors()``), a contiguous
tensor is a FileTensor: its dtype, shape and place in the file, without NumPy, so a
conversion that only looks at shapes and copies bytes never imports NumPy (about a
fifth of a whole conversion's time)."""

from __future__ import annotations

import collections
import contextlib
import contextvars
import math
import mmap
import pickle
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

from .errors import EarthzooError

STORAGES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
}
ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
_LAZY = contextvars.ContextVar("earthzoo_torchfile_lazy", default=False)


class _Unsupported(Exception):
    pass


class _FileMap(mmap.mmap):
    """A read-only map of a file that knows the file, so that writers can copy an
    array's bytes file to file in the kernel (see file_region)."""

    path: str


class FileTensor:
    """A tensor that lies, C-contiguous and little-endian, in a mapped file: ``dtype``
    (a NumPy dtype name), ``shape`` and ``offset``. ``np.asarray`` gives a read-only
    view of the file; writers copy its bytes file to file (see file_region)."""

    __slots__ = ("map", "offset", "dtype", "shape")

    def __init__(self, map: _FileMap, offset: int, dtype: str, shape: tuple[int, ...]):
        self.map, self.offset, self.dtype, self.shape = map, offset, dtype, shape

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * ITEMSIZE[self.dtype]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        a = np.frombuffer(self.map, dtype=self.dtype, count=self.size, offset=self.offset).reshape(self.shape)
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def __repr__(self) -> str:
        return f"FileTensor({self.dtype}, {self.shape}, {self.map.path}@{self.offset})"


def file_region(a: Any) -> tuple[str, int] | None:
    """(file, byte offset) of a FileTensor, or of a C-contiguous array that views a file
    this module mapped; else None."""
    if isinstance(a, FileTensor):
        return a.map.path, a.offset
    import numpy as np

    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer keeps a memoryview of the map
        base = base.obj
    if not isinstance(base, _FileMap) or not a.flags.c_contiguous:
        return None
    start = np.frombuffer(base, dtype=np.uint8, count=1).ctypes.data
    return base.path, a.ctypes.data - start


@contextlib.contextmanager
def lazy_tensors() -> Iterator[None]:
    """Within it, ``load`` (and the readers built on it) returns FileTensors."""
    token = _LAZY.set(True)
    try:
        yield
    finally:
        _LAZY.reset(token)


class _Storage:
    """A storage's bytes: a region of the mapped file."""

    __slots__ = ("map", "start", "dtype", "numel")

    def __init__(self, map: _FileMap, start: int, dtype: str, numel: int):
        self.map, self.start, self.dtype, self.numel = map, start, dtype, numel

    def array(self):
        import numpy as np

        return np.frombuffer(self.map, dtype=self.dtype, count=self.numel, offset=self.start)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    size, stride = tuple(size), tuple(stride)
    if offset < 0:
        raise _Unsupported("a negative storage offset")
    contiguous, step = [], 1
    for n in reversed(size):
        contiguous.insert(0, step)
        step *= n
    if isinstance(storage, _Storage) and (tuple(contiguous) == stride or 0 in size or not size):  # the usual case: it stays in its file
        if offset + step > storage.numel:
            raise ValueError("a tensor outside its storage")
        return FileTensor(storage.map, storage.start + offset * ITEMSIZE[storage.dtype], storage.dtype, size)
    import numpy as np

    storage = storage.array() if isinstance(storage, _Storage) else storage
    if not size:
        return storage[offset : offset + 1].reshape(())  # (ValueError when outside the storage)
    if tuple(contiguous) == stride or 0 in size:
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


def load(path: str | Path, lazy: bool | None = None) -> Any | None:
    """The object a torch.save zip holds, tensors as read-only NumPy arrays that view
    the file (FileTensors when ``lazy``, by default inside ``lazy_tensors()``); None
    when this reader cannot (then use torch.load with weights_only)."""
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
        cache: dict[str, Any] = {}

        def storage(key: str, dtype: str, numel: int):
            info = zf.getinfo(f"{root}data/{key}")
            if numel * ITEMSIZE[dtype] > info.file_size:
                raise ValueError(f"storage {key} is shorter than its {numel} elements")
            if info.compress_type == zipfile.ZIP_STORED and mm is not None:
                name_len, extra_len = struct.unpack("<HH", mm[info.header_offset + 26 : info.header_offset + 30])
                return _Storage(mm, info.header_offset + 30 + name_len + extra_len, dtype, numel)
            import numpy as np

            if key not in cache:
                cache[key] = np.frombuffer(zf.read(info), dtype=np.uint8)
            return cache[key].view(dtype)[:numel]

        try:
            got = _Reader(zf.read(pkl), storage).load()
        except (_Unsupported, pickle.UnpicklingError, ValueError, KeyError, TypeError, EOFError, AttributeError):
            return None
    return got if (_LAZY.get() if lazy is None else lazy) else arrays(got)


def arrays(obj: Any) -> Any:
    """``obj`` (a dict, list or tuple, nested) with every FileTensor as the NumPy view it stands for."""
    if isinstance(obj, FileTensor):
        import numpy as np

        return np.asarray(obj)
    if isinstance(obj, dict):
        return type(obj)((k, arrays(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(arrays(v) for v in obj)
    return obj


def load_object(path: str | Path, fix: str) -> Any:
    """The object in a torch.save file with tensors as NumPy arrays: by this reader,
    else by ``torch.load(weights_only=True)``; a foreign file is a one-line error."""
    got = load(path)
    if got is not None:
        return got
    from .frameworks import framework_module

    return framework_module("torch", "to read this torch file (bfloat16 tensors or the legacy format)").load_object(path, fix)


def _all_arrays(obj: Any) -> bool:
    numpy = sys.modules.get("numpy")  # (no NumPy imported: no ndarray can exist)
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, FileTensor) or (numpy is not None and isinstance(v, numpy.ndarray)) for v in obj.values())


def load_state_file(path: str | Path, formats: str = "") -> dict[str, Any]:
    """A plain torch state_dict file (``torch.save`` of name -> tensor)."""
    obj = load_object(path, "check the file, or name its original format with --from")
    if not _all_arrays(obj):
        keys = ", ".join(list(obj)[:4]) if isinstance(obj, dict) else type(obj).__name__
        raise EarthzooError(f"{str(path)!r} is not a plain state_dict (it holds: {keys})", f"name its original format with --from ({formats})" if formats else "name its original format with --from")
    return dict(obj)


DDP_PREFIX = "module."


def load_training_checkpoint(path: str | Path, model: str, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
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
