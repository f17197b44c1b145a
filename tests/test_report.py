"""earthzoo.report: the study's tables and figures from a real (tiny) bench run."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
from earthzoo import bench, plotting, report, scoring


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = bench.run(["fourcastnet"], ("torch", "mindspore"), "cpu", "tiny", 3, out / "runs", leads=2, n_init=16, reps=2, threads=1, show_progress=False)
    return result, report.write(result, out / "report")


def test_report_files_and_figures(tiny):
    _, rep = tiny
    assert len(rep["figures"]) >= 4 and not rep["figure_errors"]
    for f in rep["figures"]:
        with open(f, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    names = " ".join(rep["figures"])
    for part in ("fig_s1_loss_fourcastnet", "fig_2_maps_fourcastnet", "fig_skill_fourcastnet", "fig_table4_inference"):
        assert part in names


def test_without_matplotlib_the_tables_are_written_and_the_figures_skipped(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    rep = report.write(tiny[0], tmp_path / "r")
    assert rep["figures"] == [] and rep["figure_errors"] == ["matplotlib is not installed, so no figure is drawn - for figures: pip install 'earthzoo[plot]'"]
    assert "## Training efficiency" in (tmp_path / "r" / "report.md").read_text() and (tmp_path / "r" / "report.json").is_file()


def test_report_json_holds_what_the_study_needs(tiny):
    result, rep = tiny
    doc = json.loads(open(rep["report_json"]).read())
    m = doc["models"]["fourcastnet"]
    assert m["parity_rel_rmse"] == result["models"]["fourcastnet"]["parity"]["rel_rmse"]
    assert set(m["time_per_step_s"]) == {"torch", "mindspore"} and all(v > 0 for v in m["time_per_step_s"].values())
    acc = m["accuracy"]
    assert acc["lead_time_hours"] == [6.0, 12.0]
    for base in ("forecast", "persistence", "climatology"):
        assert len(acc[base]["z"]["rmse"]) == 2
    for e in m["energy"].values():
        assert e["status"] in ("measured", "unavailable")
        assert e.get("reason") if e["status"] == "unavailable" else e["joules"] > 0
    assert isinstance(m["beats_persistence"], bool) and m["persistence_verdict"]
    assert doc["bench"]["machine"]["cpu_cores"] >= 1


def test_markdown_has_the_study_tables(tiny):
    _, rep = tiny
    md = open(rep["report_md"]).read()
    for heading in ("Training efficiency (study Tables 2/3)", "Inference time per forecast step (study Table 4)", "Energy (study Table S1)", "Accuracy against persistence", "Torch vs MindSpore parity"):
        assert heading in md
    assert md.count("![") == len(rep["figures"])


def test_a_model_worse_than_persistence_is_said_so(tiny, tmp_path):
    result = copy.deepcopy(tiny[0])
    m = result["models"]["fourcastnet"]
    for ch in m["accuracy"]["channels"]:  # the model's errors twice persistence's, initial time by initial time
        p = m["accuracy"]["metrics"]["persistence"][ch]
        m["accuracy"]["metrics"]["forecast"][ch]["rmse"] = [2 * v for v in p["rmse"]]
        m["accuracy"]["metrics"]["forecast"][ch]["mse_by_init"] = [[4 * v for v in row] for row in p["mse_by_init"]]
    m["persistence"] = scoring.persistence_verdict(m["accuracy"])
    assert all(r == pytest.approx(2.0) for r in m["persistence"]["rmse_ratio_vs_persistence"].values())
    rep = report.write(result, tmp_path / "r")
    assert rep["models"]["fourcastnet"]["beats_persistence"] is False
    assert "does NOT beat persistence" in open(rep["report_md"]).read()


def test_energy_field_measured_or_unavailable_with_reason():
    assert report.energy_field({})["status"] == "unavailable"
    un = report.energy_field({"inference": {"energy": {"method": "unavailable", "joules": None, "reason": "no RAPL"}}})
    assert un == {"status": "unavailable", "reason": "no RAPL", "source": ""}
    ok = report.energy_field({"inference": {"energy": {"method": "counter", "joules": 3.0, "seconds": 1.5, "mean_watts": 2.0, "efficiency_ratio": 0.5}}})
    assert ok["status"] == "measured" and ok["joules"] == 3.0 and ok["efficiency_ratio"] == 0.5


def test_verdict_table_has_units_intervals_and_where_the_model_stops(tiny):
    result, rep = tiny
    md = open(rep["report_md"]).read()
    assert "| model | channel | unit | RMSE / persistence, first lead (1) |" in md
    v = rep["models"]["fourcastnet"]["verdicts"]
    assert v["n_init"] == 16 and v["level"] == 0.9 and v["units"]["z"] == "m2 s-2"
    rows = {r[1]: r for r in report.verdict_rows("fourcastnet", v)}
    z = v["persistence"]["z"]
    assert rows["z"][2] == "m2 s-2" and rows["z"][3].startswith(f"{scoring.fmt_ratio(z['ratio'][0])} [{scoring.fmt_ratio(z['low'][0])}, {scoring.fmt_ratio(z['high'][0])}]")
    assert z["low"][0] <= z["ratio"][0] <= z["high"][0]
    assert "| fourcastnet | z | m2 s-2 |" in md  # units in the accuracy table too


def _loaded(result, before, after, phase="inference", framework="torch"):
    r = copy.deepcopy(result)
    for rec in r["records"]:
        if rec["framework"] == framework:
            rec[phase]["load"] = {"load_before_1_5_15": [before, 0.0, 0.0], "load_after_1_5_15": [after, 0.0, 0.0], "cpu_cores": 2}
    r["machine"]["load_average_1_5_15"] = [0.5, 0.5, 0.5]
    r["machine"]["cpu_cores"] = 2
    return r


def test_load_above_the_cores_is_a_warning_in_the_report(tiny, tmp_path):
    result = tiny[0]
    for rec in result["records"]:  # the real run recorded the load around both phases
        for phase in ("training", "inference"):
            load = rec[phase]["load"]
            assert len(load["load_before_1_5_15"]) == 3 and len(load["load_after_1_5_15"]) == 3 and load["cpu_cores"] >= 1
    quiet = _loaded(_loaded(result, 0.4, 1.9), 0.4, 1.9, framework="mindspore")
    quiet = _loaded(_loaded(quiet, 0.1, 0.2, "training"), 0.1, 0.2, "training", "mindspore")
    assert report.load_warnings(quiet) == []
    busy = _loaded(quiet, 1.5, 3.25)
    assert report.load_warnings(busy) == ["fourcastnet PyTorch inference: load average 1.5 -> 3.25 on 2 cores"]
    busy["machine"]["load_average_1_5_15"] = [4.0, 1.0, 1.0]
    assert report.load_warnings(busy)[0] == "at the start of the run the load average was 4 on 2 cores"
    rep = report.write(busy, tmp_path / "r")
    md = (tmp_path / "r" / "report.md").read_text()
    assert "**Warning: the timings below are unreliable**" in md and "- fourcastnet PyTorch inference: load average 1.5 -> 3.25 on 2 cores" in md
    assert json.loads((tmp_path / "r" / "report.json").read_text())["timing_warnings"] == rep["timing_warnings"] == report.load_warnings(busy)
    assert "| fourcastnet | PyTorch | inference | 1.50 | 3.25 | 2 | MindSpore |" in md
    report.write(quiet, tmp_path / "q")
    assert "Warning" not in (tmp_path / "q" / "report.md").read_text()


def test_inference_is_timed_interleaved_and_one_failure_spares_the_other(monkeypatch):
    calls = []

    class FakeStepper:  # stands in for building a model: the order of calls is what is tested
        def __init__(self, model, framework, *args):
            if framework == "broken":
                raise RuntimeError("cannot build")
            self.name, self.backend, self.warmup_s, self.device = framework, "cpu", 0.0, "cpu"
            self.fw = SimpleNamespace(peak_memory_bytes=lambda device: None)  # the CPU's answer: no device memory

        def __call__(self):
            calls.append(self.name)
            return 0.01

    monkeypatch.setattr(bench, "_Stepper", FakeStepper)
    out = bench.measure_inference("m", ("torch", "mindspore", "broken"), "tiny", reps=3)
    timed = calls[: 2 * 3]  # then a separate block per framework for energy and memory
    assert timed == ["torch", "mindspore", "mindspore", "torch", "torch", "mindspore"]
    assert calls[6:] == ["torch"] * 3 + ["mindspore"] * 3
    assert isinstance(out["broken"], RuntimeError)
    assert out["torch"]["interleaved_with"] == ["mindspore"] and out["torch"]["step_times_s"] == [0.01] * 3
    assert out["torch"]["load"]["load_before_1_5_15"] is not None


def test_colour_bar_scale_sits_in_the_label():
    assert plotting.power_of_ten([3e-5, -2e-5]) == -5 and plotting.power_of_ten([5.4e4]) == 4 and plotting.power_of_ten([0.5, 120.0]) == 0
    assert plotting.scale_label("m2 s-2", -5) == "$10^{-5}$ m2 s-2" and plotting.scale_label("", 0) == "1"
    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    im = ax.pcolormesh(np.linspace(50010.0, 50011.0, 12).reshape(3, 4))  # a narrow range far from 0: an offset by default
    cb = plotting.colorbar(fig, im, ax, "z (m2 s-2)")
    fig.canvas.draw()
    assert cb.ax.yaxis.get_offset_text().get_text() == "" and cb.ax.get_ylabel() == "z (m2 s-2)"
    plotting.integer_ticks(ax.xaxis)
    ax.set_xlim(0.8, 3.2)
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    plt.close(fig)


def test_the_cli_says_in_one_line_when_timings_were_unreliable(capsys):
    from earthzoo.cli.bench import _figure_note

    _figure_note({"figure_errors": [], "timing_warnings": ["fourcastnet PyTorch inference: load average 1.5 -> 3.25 on 2 cores", "another"]})
    _figure_note({"figure_errors": [], "timing_warnings": []})
    assert capsys.readouterr().err.splitlines() == [
        "warning: timings unreliable, the load average exceeded the cores in 2 timed phase(s) (first: fourcastnet PyTorch inference: load average 1.5 -> 3.25 on 2 cores); see report.md"
    ]
