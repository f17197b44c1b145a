"""Shared helpers of the training/forecast tests: a small internal-form dataset
file that fits FourCastNet ``tiny`` (5 channels, 33x64 with both poles), made of
travelling waves so that there is something to learn, and subprocess runners."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from earthzoo.data.form import make_dataset, regular_lat, regular_lon


def wave_dataset(path: str | os.PathLike, times: int = 40, channels: int = 5, nlat: int = 33, nlon: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lat = regular_lat(nlat)
    lon = regular_lon(nlon)
    la = np.deg2rad(lat)[:, None]
    lo = np.deg2rad(lon)[None, :]
    f = np.empty((times, channels, nlat, nlon), np.float32)
    for c in range(channels):
        k, speed, amp = int(rng.integers(1, 4)), rng.uniform(0.1, 0.4), rng.uniform(0.5, 2.0)
        for t in range(times):
            f[t, c] = 10 * c + amp * np.cos(la) * np.sin(k * lo - speed * t) + 0.05 * rng.standard_normal((nlat, nlon))
    names = ["z", "u", "v", "vort", "div", "t2m", "msl", "sp"][:channels]  # FourCastNet tiny reads z, u, v, vort, div by name
    ds = make_dataset(f, np.datetime64("2020-01-01") + np.arange(times) * np.timedelta64(6, "h"), names, lat, lon)
    path = Path(path)
    ds.to_netcdf(path)
    return path


def earthzoo(*args: str, env: dict | None = None, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    e = dict(os.environ, GLOG_v="3", **(env or {}))
    return subprocess.run([sys.executable, "-m", "earthzoo", *args], capture_output=True, text=True, env=e, timeout=timeout, **kw)


def kill_at_checkpoint(cmd: list[str], out: Path, step: int = 4, env: dict | None = None, timeout: float = 300) -> None:
    """Run the training command ``cmd`` (writing to ``out``) and SIGKILL it as soon as
    checkpoint ``step`` exists: a real mid-run death for the resume tests."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + timeout
    while not (out / "checkpoints" / f"step-{step:06d}").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "weights.safetensors").exists()  # it really died mid-way
