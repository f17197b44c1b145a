"""What a measurement ran on and under which conditions: the machine description
stored with every bench result, the load average around each timed phase (a
timing taken while the load exceeded the cores is flagged in the report), and the
peak resident memory of a block."""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path
from typing import Any

from .entrypoints import installed_version


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 2)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on (versions read from package metadata: no framework import)."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "load_average_1_5_15": load_average(),
        "python": platform.python_version(),
        "versions": {d: installed_version(d) for d in ("earthzoo", "torch", "mindspore", "numpy")},
    }


def rss_mb() -> float:
    """This process's resident memory now, MiB."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class RssPeak:
    """Highest resident set size (MiB) of this process while the block runs, sampled
    in a thread: ru_maxrss would only show the peak of importing two frameworks."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = self.peak = 0.0

    def __enter__(self) -> "RssPeak":
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


class LoadWatch:
    """The load average before and after a timed block, and the core count it is
    compared with: a load above the cores means the timing shared the CPU."""

    def __enter__(self) -> "LoadWatch":
        self.before = load_average()
        self.after: list[float] | None = None
        return self

    def __exit__(self, *exc) -> None:
        self.after = load_average()

    def to_json(self) -> dict[str, Any]:
        return {"load_before_1_5_15": self.before, "load_after_1_5_15": self.after, "cpu_cores": os.cpu_count()}
