"""Atomic writes: a failed write leaves neither a partial file nor a changed target."""

from __future__ import annotations

import os

import pytest
from earthzoo.errors import EarthzooError
from earthzoo.files import atomic_path, atomic_write_text


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            assert tmp.suffix == ".json" and tmp.parent == tmp_path
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_unwritable_folder_is_a_clear_error(tmp_path, monkeypatch):
    import errno
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(EarthzooError, match="permission denied - choose a writable output folder"):
        atomic_write_text(tmp_path / "x.txt", "data")


def test_disk_full_is_a_clear_error(tmp_path, monkeypatch):
    import errno

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(EarthzooError, match="disk full while writing"):
        atomic_write_text(tmp_path / "x.txt", "data")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_on_success_and_keeps_the_old_folder_on_failure(tmp_path):
    from earthzoo.files import atomic_dir

    target = tmp_path / "store.zarr"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("2")
            raise RuntimeError("interrupted")
    assert (target / "a").read_text() == "1"
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]
