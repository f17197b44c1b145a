"""Wall-clock timing shared by the per-model speed scripts (they run as
``python benchmarks/NAME.py``, so this folder is on the import path)."""

from __future__ import annotations

import statistics
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


def write_result(result: dict, path) -> None:
    """The load average at the end into ``result["machine"]``, then the JSON, written atomically."""
    import os

    from earthzoo.results import write_json

    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    write_json(result, path)
