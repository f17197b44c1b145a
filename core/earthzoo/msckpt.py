"""MindSpore checkpoint files read and written without MindSpore.

A ``.ckpt`` is one protobuf message ``Checkpoint { repeated Value value = 1; }`` with
``Value { string tag = 1; TensorProto tensor = 2; }`` and ``TensorProto { repeated
int64 dims = 1; string tensor_type = 2; bytes tensor_content = 3; }`` (MindSpore's
checkpoint.proto). Walking that by hand recognises a file by its structure, reads it
without importing MindSpore (seconds saved, any suffix) and streams writes. Anything
else in a file (a dtype without a NumPy twin, another field) returns None, and callers
fall back to MindSpore's own loader."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .errors import EarthzooError
from .files import append_arrays, atomic_path, dtype_name, stored
from .pins import framework_pip

if TYPE_CHECKING:
    import numpy as np

# MindSpore's tensor_type -> NumPy's dtype name
DTYPES = {
    "Float16": "float16", "Float32": "float32", "Float64": "float64", "Bool": "bool",
    "Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64",
    "UInt8": "uint8", "UInt16": "uint16", "UInt32": "uint32", "UInt64": "uint64",
}
NAMES = {v: k for k, v in DTYPES.items()}


def _varint(buf, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i
        if shift > 63:
            raise ValueError("varint too long")


def _encode(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def names(path: str | Path) -> list[str] | None:
    """Parameter names, read by seeking from record to record (the tensors are not read); None when not a checkpoint."""
    path = Path(path)
    size = path.stat().st_size
    out = []
    with path.open("rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            buf = f.read(32)
            try:
                key, i = _varint(buf, 0)
                length, i = _varint(buf, i)
                if key != 0x0A or pos + i + length > size or buf[i] != 0x0A:
                    return None
                n, j = _varint(buf, i + 1)
                f.seek(pos + j)
                out.append(f.read(n).decode())
            except (IndexError, ValueError, UnicodeDecodeError):
                return None
            pos += i + length
    return out or None


def read(path: str | Path) -> dict[str, np.ndarray] | None:
    """name -> array of every parameter, or None when the file holds anything this reader does not know."""
    data = memoryview(Path(path).read_bytes())
    out: dict[str, np.ndarray] = {}
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            length, pos = _varint(data, pos)
            if key != 0x0A:
                return None
            name, array = _value(data[pos : pos + length])
            if name is None:
                return None
            out[name] = array
            pos += length
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return out or None


def _value(buf: memoryview) -> tuple[str | None, np.ndarray | None]:
    name, tensor, pos = None, None, 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        length, pos = _varint(buf, pos)
        if key == 0x0A:
            name = bytes(buf[pos : pos + length]).decode()
        elif key == 0x12:
            tensor = _tensor(buf[pos : pos + length])
        else:
            return None, None
        pos += length
    return (name, tensor) if tensor is not None else (None, None)


def _tensor(buf: memoryview) -> np.ndarray | None:
    dims, kind, content, pos = [], None, b"", 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        if key == 0x08:  # dims, one varint each
            d, pos = _varint(buf, pos)
            dims.append(d)
            continue
        length, pos = _varint(buf, pos)
        if key == 0x0A:  # dims, packed
            end, dims = pos + length, dims
            while pos < end:
                d, pos = _varint(buf, pos)
                dims.append(d)
            continue
        if key == 0x12:
            kind = bytes(buf[pos : pos + length]).decode()
        elif key == 0x1A:
            content = buf[pos : pos + length]
        else:
            return None
        pos += length
    if kind not in DTYPES:
        return None
    import numpy as np

    array = np.frombuffer(content, dtype=np.dtype(DTYPES[kind]).newbyteorder("<"))
    if array.size != int(np.prod(dims)):
        return None
    return array.reshape(dims).astype(DTYPES[kind], copy=True)


def write(f: BinaryIO, tensors: dict[str, np.ndarray]) -> None:
    """Stream ``tensors`` to an open binary file as a checkpoint MindSpore's load_checkpoint
    reads: each record's few header bytes, then its tensor's bytes (file to file when
    the tensor lies in a file, see earthzoo.files.append_arrays)."""
    pieces: list = []
    for name, value in tensors.items():
        a = stored(value)
        if dtype_name(a) not in NAMES:
            raise ValueError(f"dtype {a.dtype} has no MindSpore checkpoint name")
        kind = NAMES[dtype_name(a)].encode()
        head = b"".join(b"\x08" + _encode(d) for d in a.shape) + b"\x12" + _encode(len(kind)) + kind + b"\x1a" + _encode(a.nbytes)
        tensor_len = len(head) + a.nbytes
        tag = name.encode()
        value_head = b"\x0a" + _encode(len(tag)) + tag + b"\x12" + _encode(tensor_len)
        pieces += [b"\x0a" + _encode(len(value_head) + tensor_len) + value_head + head, a]
    f.flush()
    append_arrays(f.fileno(), pieces)


def load(path: str | Path) -> dict[str, np.ndarray]:
    """Every parameter of a checkpoint: by this reader, else by MindSpore's (a dtype such as BFloat16)."""
    got = read(path)
    if got is not None:
        return got
    try:
        import mindspore as ms
    except ImportError as exc:
        raise EarthzooError(f"{str(path)!r} is not a MindSpore checkpoint this reader knows, and MindSpore is not installed to try", f"pip install {framework_pip('mindspore')}") from exc
    try:
        params = ms.load_checkpoint(str(path)) if str(path).endswith(".ckpt") else None
    except Exception:  # noqa: BLE001 - MindSpore raises several types for foreign files
        params = None
    if not params:
        raise EarthzooError(f"{str(path)!r} is not a readable MindSpore checkpoint", "check the file, or name its format with --from")
    return {k: (v.float().asnumpy() if str(v.dtype) == "BFloat16" else v.asnumpy()).copy() for k, v in params.items()}


def save(path: str | Path, tensors: dict[str, np.ndarray]) -> None:
    """Write a checkpoint atomically, streaming the tensors (any suffix)."""
    # "r+b", not "wb": the temporary file is new and empty, and truncating it makes ext4 flush it on close
    with atomic_path(path) as tmp, tmp.open("r+b", buffering=0) as f:
        write(f, tensors)
