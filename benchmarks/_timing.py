"""Wall-clock timing shared by the per-model speed scripts (they run as
``python benchmarks/NAME.py``, so this folder is on the import path)."""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time


def times_ms(fn, reps: int) -> list[float]:
    """Milliseconds of ``reps`` calls of ``fn``."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def median_ms(fn, reps: int, warmup: bool = False) -> float:
    """The median of :func:`times_ms`, after one untimed call when ``warmup``
    (graph compilation, allocator warm-up)."""
    if warmup:
        fn()
    return statistics.median(times_ms(fn, reps))


def first_call_s(fn) -> float:
    """Seconds of one call: the first call of a MindSpore graph includes its compilation."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def pin(cores: int) -> None:
    """Run this process on its first ``cores`` allowed cores, both frameworks alike:
    MindSpore's oneDNN kernels use a pool of its actor and kernel threads (2 at
    ``threads_num(1)``), which otherwise spreads onto every core."""
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])


def write_result(result: dict, path) -> None:
    """The load average at the end into ``result["machine"]``, then the JSON, written atomically."""
    from earthzoo.results import write_json

    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    write_json(result, path)


class MemoryGuard:
    """This process's peak resident memory (``peak``, MiB), sampled in a thread every
    ``interval`` s from construction; above ``limit_gib`` it prints ``message`` to
    ``file`` (default stdout) and ends the process (exit 3): this machine is shared and
    small. ``take()`` returns the peak so far and starts the next from now."""

    def __init__(self, limit_gib: float, message: str, interval: float = 0.005, file=None) -> None:
        from earthzoo.machine import rss_mb

        self._rss = rss_mb
        self.peak = rss_mb()

        def run() -> None:
            while True:
                self.peak = max(self.peak, self._rss())
                if self.peak > limit_gib * 1024:
                    print(message, file=file or sys.stdout, flush=True)
                    os._exit(3)
                time.sleep(interval)

        threading.Thread(target=run, daemon=True).start()

    def take(self) -> float:
        peak, self.peak = self.peak, self._rss()
        return peak
