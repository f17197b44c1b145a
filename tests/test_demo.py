"""`earthzoo demo` end to end on a reduced budget, and `earthzoo bench --compare`."""

from __future__ import annotations

import json
import os

import pytest
from earthzoo.cli import main


def test_bench_compare_prints_ratios(tmp_path, capsys):
    def res(step, backend):
        return {"machine": {"cpu_model": backend}, "records": [{"model": "fourcastnet", "framework": "torch", "preset": "small", "backend": backend, "inference": {"step_time_s_median": step}}]}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(res(0.4, "cpu")))
    b.write_text(json.dumps(res(0.1, "cuda")))
    assert main(["bench", "--compare", str(a), str(b), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["ratio_b_over_a"] == pytest.approx(0.25)
    assert main(["bench", "--compare", str(a), str(tmp_path / "nope.json")]) == 2


def test_demo_rejects_unknown_models_and_no_time(capsys):
    assert main(["demo", "--models", "nosuch"]) == 2
    assert main(["demo", "--minutes", "0"]) == 2
    err = capsys.readouterr().err
    assert "unknown model" in err and "no time" in err


def test_the_cli_quiets_mindspore_logs_unless_asked(monkeypatch, capsys):
    """MindSpore reads GLOG_v when imported: the CLI sets errors-only first, keeps a
    user's own GLOG_v, and leaves it alone with --verbose."""
    monkeypatch.delenv("GLOG_v", raising=False)
    assert main(["demo", "--models", "nosuch"]) == 2
    assert os.environ["GLOG_v"] == "3"
    monkeypatch.delenv("GLOG_v")
    assert main(["--verbose", "demo", "--models", "nosuch"]) == 2
    assert "GLOG_v" not in os.environ
    monkeypatch.setenv("GLOG_v", "1")
    assert main(["demo", "--models", "nosuch"]) == 2
    assert os.environ["GLOG_v"] == "1"


@pytest.mark.slow
def test_demo_end_to_end_reduced(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--preset", "tiny", "--minutes", "0.1", "--ms-steps", "2", "--models", "fourcastnet"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("report: ") and str(out / "report" / "report.md") in printed[0] and "of a 0.1 min budget" in printed[0]
    assert printed[1].startswith("fourcastnet: ")
    # 6 s cannot hold the run: the overrun is said, and any training cut too
    assert any(line.startswith("over budget: ") for line in printed)
    steps = doc_steps(out)
    assert (steps < 800) == any(line.startswith(f"cut: fourcastnet: PyTorch training cut to {steps} of 800 steps") for line in printed)
    doc = json.loads((out / "report" / "report.json").read_text())
    m = doc["models"]["fourcastnet"]
    assert m["parity_rel_rmse"] is not None and m["weights_round_trip_equal"] is True
    beats = doc["bench"]["models"]["fourcastnet"]["persistence"]["beats_persistence"]
    assert (("problem: fourcastnet: torch: does not beat persistence" in "\n".join(printed)) == (not beats)) and ("no problems recorded" in printed) == (not m["problems"])
    phases = [e["phase"] for e in doc["bench"]["budget"]["timeline"]]
    assert phases[:3] == ["data fourcastnet", "train fourcastnet torch", "train fourcastnet mindspore"]
    assert "## Time budget" in (out / "report" / "report.md").read_text()
    assert len(list((out / "report").glob("*.png"))) >= 4
    # both frameworks train from the same initial weights and batches: their first losses agree
    bench = json.loads((out / "bench.json").read_text())
    first = {r["framework"]: r["training"]["loss"][0] for r in bench["records"]}
    assert abs(first["mindspore"] - first["torch"]) <= 1e-4 * abs(first["torch"]), first


def doc_steps(out) -> int:
    return json.loads((out / "bench.json").read_text())["budget"]["plan"]["training"][0]["steps"]
