"""Writing files so that an interrupted or failed write never leaves a partial
file behind: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import EarthzooError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto
    the target, on any error remove it and leave the target untouched. The
    temporary name keeps the target's suffix, for writers that go by it."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise EarthzooError(f"output folder {str(folder)!r} does not exist", "create it first, or choose another output path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=folder)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise _write_error(target, exc) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target`` (a Zarr store, a checkpoint); on
    success it replaces ``target``, on any error it is removed and ``target`` kept."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise EarthzooError(f"output folder {str(folder)!r} does not exist", "create it first, or choose another output path")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=folder))
    except OSError as exc:
        raise _write_error(target, exc) from exc
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(target, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def stored(value: Any) -> Any:
    """``value`` as bytes can be written from it: a torchfile.FileTensor as it is (it lies in
    its file), anything else as a C-contiguous little-endian NumPy array."""
    from .torchfile import FileTensor

    if isinstance(value, FileTensor):
        return value
    import numpy as np

    a = np.asarray(value)
    return np.require(a, a.dtype.newbyteorder("<"), requirements="C")  # (ascontiguousarray would make a scalar 1-d)


def dtype_name(a: Any) -> str:
    """NumPy's name of an array's or a FileTensor's dtype, byte order aside ('float32')."""
    return getattr(a.dtype, "name", a.dtype)


def append_arrays(fd: int, pieces: Iterable[Any]) -> None:
    """Append byte strings and ``stored`` arrays to the open file ``fd``, in order: an array
    that lies in a file (torchfile.file_region) is copied file to file inside the kernel
    (see _KernelCopy), anything else written from memory. Each source file is opened once."""
    from .torchfile import file_region

    with contextlib.ExitStack() as stack:
        sources: dict[str, int] = {}
        kernel: _KernelCopy | None = None
        for piece in pieces:
            if isinstance(piece, (bytes, bytearray)):
                _write_all(fd, memoryview(piece))
                continue
            region = file_region(piece)
            if region is not None:
                if region[0] not in sources:
                    sources[region[0]] = stack.enter_context(open(region[0], "rb")).fileno()
                kernel = kernel or _KernelCopy(stack)
                if kernel.copy(sources[region[0]], region[1], fd, piece.nbytes):
                    continue
            import numpy as np

            a = np.asarray(piece)
            _write_all(fd, memoryview(a.reshape(-1).view("uint8")) if a.nbytes else memoryview(b""))


class _KernelCopy:
    """Copies file regions to the end of a file inside the kernel, as cp does: spliced
    through a 1 MiB pipe (copy_file_range splices through a 64 KiB one, and took 1.4x
    the CPU time for a paper-size checkpoint here), else by copy_file_range. A way that
    fails once is not tried again."""

    PIPE_BYTES = 1 << 20

    def __init__(self, stack: contextlib.ExitStack):
        self.ways = [way for way in ("splice", "copy_file_range") if hasattr(os, way)]
        self.pipe: tuple[int, int, int] | None = None
        if "splice" in self.ways:
            import fcntl

            r, w = os.pipe()
            stack.callback(os.close, r)
            stack.callback(os.close, w)
            try:
                size = fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, self.PIPE_BYTES)
            except OSError:  # above /proc/sys/fs/pipe-max-size: keep the size it has
                size = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
            self.pipe = (r, w, size)

    def copy(self, src: int, offset: int, fd: int, n: int) -> bool:
        """Append ``n`` bytes at ``offset`` of ``src`` to ``fd``; False, with ``fd`` where
        it was, when no way can (the caller writes them from memory)."""
        done = 0
        try:
            while self.ways and done < n:
                if self.ways[0] == "splice":
                    r, w, size = self.pipe
                    got = os.splice(src, w, min(n - done, size), offset_src=offset + done)
                    if got <= 0:
                        raise OSError("splice read nothing")
                    while got:
                        put = os.splice(r, fd, got)
                        if put <= 0:
                            raise OSError("splice wrote nothing")
                        got, done = got - put, done + put
                else:
                    got = os.copy_file_range(src, fd, n - done, offset + done)
                    if got <= 0:
                        raise OSError("copy_file_range copied nothing")
                    done += got
            return done == n
        except OSError:
            os.lseek(fd, -done, os.SEEK_CUR)  # back to where this array starts, to write it from memory
            self.ways.pop(0)  # (a pipe that failed may still hold bytes: never used again)
            return False


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def writable_dir(target: str | os.PathLike) -> Path:
    """Create the output folder ``target`` and prove it is writable, before any
    work starts, with one-line errors (a run must not fail at its last write)."""
    target = Path(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise EarthzooError(f"output {str(target)!r} is a file, not a folder", "choose a folder for the output") from exc
    except OSError as exc:
        raise _write_error(target, exc) from exc
    atomic_write_text(target / ".earthzoo-write-test", "ok\n")
    (target / ".earthzoo-write-test").unlink(missing_ok=True)
    return target


def claim_output(target: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse to replace an existing file or folder unless ``overwrite`` says so."""
    if not overwrite and os.path.lexists(target):
        raise EarthzooError(f"{str(target)!r} already exists", "pass --overwrite to replace it, or choose another output path")


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode())


def _write_error(target: Path, exc: OSError) -> EarthzooError:
    if exc.errno == errno.ENOSPC:
        return EarthzooError(f"disk full while writing {str(target)!r}", "free space or choose another output folder; nothing was written")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return EarthzooError(f"cannot write {str(target)!r}: permission denied", "choose a writable output folder")
    return EarthzooError(f"cannot write {str(target)!r}: {exc.strerror or exc}", "check the output path")


def json_text(obj: Any, indent: int = 1) -> str:
    """``obj`` as JSON, the one encoding of earthzoo's outputs (--json, bench.json,
    report.json): cards and records by their ``to_json``, arrays by ``tolist``, the
    rest as text."""
    import json

    def encode(value: Any) -> Any:
        if hasattr(value, "to_json"):
            return value.to_json()
        if hasattr(value, "tolist"):
            return value.tolist()
        return str(value)

    return json.dumps(obj, indent=indent, default=encode)


def cache_root() -> Path:
    """Where earthzoo keeps what it can make again (generated data, GraphCast graphs):
    ``$EARTHZOO_CACHE``, by default ``~/.cache/earthzoo``."""
    return Path(os.environ.get("EARTHZOO_CACHE") or Path.home() / ".cache" / "earthzoo")
