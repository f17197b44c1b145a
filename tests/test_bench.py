"""earthzoo.bench: machine description, timing helpers, verdicts, compare, and one
real run of FourCastNet tiny in both frameworks on the embedded data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from earthzoo import bench
from earthzoo.energy import CounterMeter
from earthzoo.errors import EarthzooError


def test_machine_describes_cpu_memory_and_versions():
    m = bench.machine()
    assert m["cpu_cores"] >= 1 and m["cpu_model"]
    assert m["memory_gib"] is None or m["memory_gib"] > 0
    assert set(m["versions"]) == {"earthzoo", "torch", "mindspore", "numpy"}
    assert m["versions"]["numpy"] == np.__version__


def test_rss_peak_sees_an_allocation():
    with bench.RssPeak(interval=0.001) as rss:
        a = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        a += 1
        del a
    assert rss.peak - rss.start > 40


def test_energy_json_with_a_counter_gives_the_efficiency_ratio():
    ticks = iter([1_000_000, 3_000_000])  # a fake RAPL counter in microjoules: 2 J
    meter = CounterMeter(lambda: next(ticks), scale=1e-6, source="fake")
    with meter:
        pass
    e = bench._energy_json(meter.reading, 10.0, "steps")
    assert math.isclose(e["joules"], 2.0)
    assert math.isclose(e["efficiency_ratio"], 10.0 / e["seconds"] / e["mean_watts"])


def test_energy_json_unavailable_keeps_the_reason():
    meter = bench.energy_meter("no-such-backend")
    with meter:
        pass
    e = bench._energy_json(meter.reading, 1.0, "steps")
    assert e["method"] == "unavailable" and e["reason"] and e["efficiency_ratio"] is None


def test_test_inits_are_held_out_and_inside_the_data():
    idx = bench.test_inits(70, 100, 8, 4)
    assert len(idx) == 4 and idx[0] == 70 and idx[-1] == 100 - 1 - 8
    with pytest.raises(EarthzooError, match="too short"):
        bench.test_inits(95, 100, 8, 4)


def _acc(f_rmse, p_rmse):
    return {"channels": ["z", "u"], "lead_time_hours": [6.0, 12.0], "metrics": {"forecast": {c: {"rmse": f_rmse[c]} for c in f_rmse}, "persistence": {c: {"rmse": p_rmse[c]} for c in p_rmse}}}


def test_persistence_verdict_says_when_the_model_is_worse():
    good = bench.persistence_verdict(_acc({"z": [1, 2], "u": [1, 2]}, {"z": [2, 3], "u": [4, 4]}))
    assert good["beats_persistence"] and math.isclose(good["mean_ratio"], (0.5 + 0.25) / 2)
    bad = bench.persistence_verdict(_acc({"z": [1, 2], "u": [5, 2]}, {"z": [2, 3], "u": [4, 4]}))
    assert not bad["beats_persistence"] and "NOT" in bad["verdict"] and "u" in bad["verdict"]


def test_compare_matches_records_and_gives_ratios(tmp_path):
    def res(step, backend):
        return {"machine": {}, "records": [{"model": "m", "framework": "torch", "preset": "tiny", "backend": backend, "inference": {"step_time_s_median": step}}]}

    rows = bench.compare(res(2.0, "cpu"), res(0.5, "cuda"))
    assert [r["metric"] for r in rows] == ["inference step (s)"]
    assert rows[0]["ratio_b_over_a"] == 0.25 and rows[0]["b_backend"] == "cuda"
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"not": "bench"}))
    with pytest.raises(EarthzooError, match="not an earthzoo bench result"):
        bench.load_result(p)
    with pytest.raises(EarthzooError, match="does not exist"):
        bench.load_result(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return bench.run(["fourcastnet"], ("torch", "mindspore"), "cpu", "tiny", 3, out, leads=2, n_init=2, reps=2, threads=1, show_progress=False), out


def test_run_records_every_framework_with_measurements(tiny_run):
    result, out = tiny_run
    assert result["schema"] == bench.SCHEMA
    recs = {r["framework"]: r for r in result["records"]}
    assert set(recs) == {"torch", "mindspore"}
    for r in recs.values():
        assert r["status"] == "ok", r["problems"]
        t, i = r["training"], r["inference"]
        assert t["steps"] == 3 and len(t["loss"]) == 3 and t["step_time_s_median"] > 0
        assert t["epoch_time_s"] >= t["step_time_s_median"]
        assert i["reps"] == 2 and len(i["step_times_s"]) == 2 and i["step_time_s_median"] == float(np.median(i["step_times_s"]))
        assert i["peak_rss_mb"] > 0
        e = i["energy"]
        assert (e["joules"] is not None) or (e["method"] == "unavailable" and e["reason"])
        acc = r["accuracy"]
        assert acc["lead_time_hours"] == [6.0, 12.0] and set(acc["metrics"]) == {"forecast", "persistence", "climatology"}
    m = result["models"]["fourcastnet"]
    # same weights and initial states: the two frameworks' forecasts agree closely
    assert m["parity"]["rel_rmse"] < 1e-3
    assert m["conversion"]["equal"]
    assert json.loads(bench.write_json(result, out / "b.json").read_text())["records"]


def test_run_reports_a_model_that_cannot_train_and_goes_on(tmp_path, monkeypatch):
    # hand FourCastNet the ocean data: it cannot train on it, and the run says so and goes on
    real = bench.embedded_data
    monkeypatch.setattr(bench, "embedded_data", lambda card, preset, folder: real(type(card)(**{**card.__dict__, "kind": "ocean"}), preset, folder))
    result = bench.run(["fourcastnet"], ("torch",), "cpu", "tiny", 2, tmp_path, leads=1, n_init=1, reps=1, threads=1, show_progress=False)
    rec = result["records"][0]
    assert rec["status"] == "partial" and "training" not in rec and "accuracy" not in rec
    assert rec["problems"][0].startswith("training:")
    assert rec["inference"]["weights"] == "random init" and rec["inference"]["step_time_s_median"] > 0
    problems = result["models"]["fourcastnet"]["problems"]
    assert any("no trained weights" in p for p in problems) and any(p.startswith("torch: training:") for p in problems)
