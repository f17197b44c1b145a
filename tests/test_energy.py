"""The two meter mechanisms every backend shares: counters and sampled power."""

from __future__ import annotations

import pytest
from earthzoo.energy import CounterMeter, SampledMeter, integrate


def test_counter_meter_missing_counter_is_unavailable_with_reason():
    meter = CounterMeter(lambda: None, source="nvml")
    with meter:
        pass
    assert meter.reading.method == "unavailable" and meter.reading.joules is None
    assert "not supported" in meter.reading.reason


def test_counter_meter_backwards_without_range_refuses_to_guess():
    values = iter([100.0, 50.0])
    meter = CounterMeter(lambda: next(values))
    with meter:
        pass
    assert meter.reading.method == "unavailable" and "went backwards" in meter.reading.reason


def test_counter_meter_read_error_is_reported():
    def boom():
        raise OSError("permission denied")

    meter = CounterMeter(boom)
    with meter:
        pass
    assert meter.reading.method == "unavailable" and "permission denied" in meter.reading.reason


def test_integrate_trapezoid_and_single_sample():
    r = integrate([(0.0, 100.0), (1.0, 200.0), (2.0, 200.0)], seconds=2.0)
    assert r.joules == pytest.approx(350.0) and r.mean_watts == pytest.approx(175.0) and r.samples == 3
    one = integrate([(0.0, 50.0)], seconds=0.5)
    assert one.joules == pytest.approx(25.0)
    none = integrate([], seconds=1.0, error="hy-smi not found")
    assert none.method == "unavailable" and none.reason == "hy-smi not found"


def test_sampled_meter_integrates_a_constant_power():
    meter = SampledMeter(lambda: 80.0, interval=0.01)
    with meter:
        import time

        time.sleep(0.05)
    assert meter.reading.method == "sampled" and meter.reading.samples >= 2
    assert meter.reading.mean_watts == pytest.approx(80.0)
    assert meter.reading.joules == pytest.approx(80.0 * meter.reading.seconds)
