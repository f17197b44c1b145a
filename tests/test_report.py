"""earthzoo.report: the study's tables and figures from a real (tiny) bench run."""

from __future__ import annotations

import copy
import json

import pytest
from earthzoo import bench, report, scoring


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = bench.run(["fourcastnet"], ("torch", "mindspore"), "cpu", "tiny", 3, out / "runs", leads=2, n_init=2, reps=2, threads=1, show_progress=False)
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
    for ch in m["accuracy"]["channels"]:
        p = m["accuracy"]["metrics"]["persistence"][ch]["rmse"]
        m["accuracy"]["metrics"]["forecast"][ch]["rmse"] = [2 * v for v in p]
    m["persistence"] = scoring.persistence_verdict(m["accuracy"])
    rep = report.write(result, tmp_path / "r")
    assert rep["models"]["fourcastnet"]["beats_persistence"] is False
    assert "does NOT beat persistence" in open(rep["report_md"]).read()


def test_energy_field_measured_or_unavailable_with_reason():
    assert report.energy_field({})["status"] == "unavailable"
    un = report.energy_field({"inference": {"energy": {"method": "unavailable", "joules": None, "reason": "no RAPL"}}})
    assert un == {"status": "unavailable", "reason": "no RAPL", "source": ""}
    ok = report.energy_field({"inference": {"energy": {"method": "counter", "joules": 3.0, "seconds": 1.5, "mean_watts": 2.0, "efficiency_ratio": 0.5}}})
    assert ok["status"] == "measured" and ok["joules"] == 3.0 and ok["efficiency_ratio"] == 0.5
