"""Energy meters: context managers that measure joules over a block of work.

Two mechanisms serve every backend: a cumulative energy counter read before and
after (RAPL, NVML total energy; wrap-around handled), and a power reading
sampled in a thread and integrated (npu-smi, hy-smi, rocm-smi, NVML power).
A meter that cannot measure reports ``method="unavailable"`` with the reason:
never a guessed number."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class EnergyReading:
    joules: float | None
    seconds: float
    mean_watts: float | None
    method: str  # "counter", "sampled" or "unavailable"
    samples: int = 0
    source: str = ""
    reason: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class EnergyMeter:
    """Base meter: ``with meter: work()`` then ``meter.reading``."""

    method = "unavailable"
    source = ""

    def __init__(self) -> None:
        self.reading: EnergyReading | None = None
        self._t0 = 0.0

    def __enter__(self) -> "EnergyMeter":
        self.reading = None
        self._t0 = time.perf_counter()
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self._t0
        self.reading = self._stop(seconds)

    def _start(self) -> None:  # pragma: no cover - overridden
        pass

    def _stop(self, seconds: float) -> EnergyReading:  # pragma: no cover - overridden
        raise NotImplementedError


class UnavailableMeter(EnergyMeter):
    """A meter that says why it cannot measure."""

    def __init__(self, reason: str, source: str = "") -> None:
        super().__init__()
        self.reason = reason
        self.source = source

    def _stop(self, seconds: float) -> EnergyReading:
        return EnergyReading(None, seconds, None, "unavailable", 0, self.source, self.reason)


class CounterMeter(EnergyMeter):
    """Reads monotonically increasing energy counters before and after, in ``scale``
    joules per unit. ``read`` returns one value or one per device (summed);
    ``wrap`` is each counter's range (one value, or one per device): a counter lower
    than at the start wrapped once. A ``read`` that returns None or raises makes the
    reading unavailable, with the reason."""

    method = "counter"

    def __init__(self, read: Callable[[], float | Sequence[float] | None], scale: float = 1.0, wrap: float | Sequence[float] | None = None, source: str = ""):
        super().__init__()
        self._read, self.scale, self.wrap, self.source = read, scale, wrap, source
        self._first: list[float] | None = None
        self._error = ""

    def _safe_read(self) -> list[float | int] | None:
        try:
            value = self._read()
        except Exception as exc:  # noqa: BLE001 - a hardware query must not break the run
            self._error = f"{type(exc).__name__}: {exc}"
            return None
        if value is None:
            self._error = "the energy counter is not supported on this device"
            return None
        values = value if isinstance(value, (list, tuple)) else [value]
        # Integer counters stay integers: a 64-bit counter as float64 loses ~4e3 units near its top.
        return [v if isinstance(v, int) else float(v) for v in values]

    def _start(self) -> None:
        self._error = ""
        self._first = self._safe_read()

    def _stop(self, seconds: float) -> EnergyReading:
        last = self._safe_read() if self._first is not None else None
        if self._first is None or last is None:
            return EnergyReading(None, seconds, None, "unavailable", 0, self.source, self._error)
        if len(last) != len(self._first):
            return EnergyReading(None, seconds, None, "unavailable", 2, self.source, "the number of energy counters changed during the run")
        wraps = list(self.wrap) if isinstance(self.wrap, (list, tuple)) else [self.wrap] * len(last)
        total = 0.0
        for first, now, wrap in zip(self._first, last, wraps):
            delta = now - first
            if delta < 0:
                if not wrap:
                    return EnergyReading(None, seconds, None, "unavailable", 2, self.source, "an energy counter went backwards and its range is unknown")
                delta += wrap
            total += delta
        joules = total * self.scale
        return EnergyReading(joules, seconds, joules / seconds if seconds > 0 else None, "counter", 2, self.source)


class SampledMeter(EnergyMeter):
    """Samples a power reading (watts) every ``interval`` seconds in a thread and
    integrates it with the trapezoid rule over the measured span."""

    method = "sampled"

    def __init__(self, read_watts: Callable[[], float | None], interval: float = 0.1, source: str = ""):
        super().__init__()
        self._read, self.interval, self.source = read_watts, interval, source
        self._samples: list[tuple[float, float]] = []
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._error = ""

    def _sample(self) -> None:
        try:
            watts = self._read()
        except Exception as exc:  # noqa: BLE001
            self._error = f"{type(exc).__name__}: {exc}"
            return
        if watts is None:
            self._error = self._error or "the power reading could not be parsed"
            return
        self._samples.append((time.perf_counter(), float(watts)))

    def _loop(self) -> None:
        while not self._stop_event.wait(self.interval):
            self._sample()

    def _start(self) -> None:
        self._samples, self._error = [], ""
        self._stop_event.clear()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _stop(self, seconds: float) -> EnergyReading:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        return integrate(self._samples, seconds, self.source, self._error)


def integrate(samples: list[tuple[float, float]], seconds: float, source: str = "", error: str = "") -> EnergyReading:
    """Trapezoid integral of (time, watts) samples; one sample counts as constant power."""
    if not samples:
        return EnergyReading(None, seconds, None, "unavailable", 0, source, error or "no power sample could be read")
    if len(samples) == 1:
        watts = samples[0][1]
        return EnergyReading(watts * seconds, seconds, watts, "sampled", 1, source)
    joules = sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in zip(samples, samples[1:]))
    span = samples[-1][0] - samples[0][0]
    mean = joules / span if span > 0 else samples[0][1]
    # The samples bracket the work; scale to the measured span so short runs are not under-counted.
    return EnergyReading(mean * seconds, seconds, mean, "sampled", len(samples), source)


def efficiency_ratio(throughput: float, power: "EnergyReading | float | None") -> float | None:
    """Energy efficiency ratio as in the study: throughput (e.g. forecast steps or
    samples per second) divided by mean power in watts, i.e. work per joule.
    None when the power is unknown (an unavailable reading): never a guess."""
    watts = power.mean_watts if isinstance(power, EnergyReading) else power
    if watts is None or watts <= 0:
        return None
    return throughput / watts
