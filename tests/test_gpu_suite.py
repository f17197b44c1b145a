"""benchmarks/gpu_suite.sh and its worker: the CPU dry run at tiny (what this machine
can run of the GPU suite), the merge against the goals, and the one-line refusal
when CUDA is asked for and absent. Timings are recorded, never asserted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "benchmarks" / "gpu_suite.py"


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, str(WORKER), *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_one_model_on_cpu_then_merge_against_the_goals(tmp_path):
    out = tmp_path / "fourcastnet.json"
    res = _run("--model", "fourcastnet", "--device", "cpu", "--preset", "tiny", "--max-reps", "3", "--budget-s", "5", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    parts = json.loads(out.read_text())["parts"]
    assert sorted(parts) == ["forward_bf16", "forward_fp32", "train_step_bf16", "train_step_fp32"]
    for entry in parts.values():
        assert entry["reps"] >= 3 and 0 < entry["ms_min"] <= entry["ms_median"]
        assert entry["energy"]["method"] in ("counter", "sampled", "unavailable")
        assert (entry["joules_per_step"] is None) == (entry["energy"]["method"] == "unavailable")
    res = _run("--merge", str(tmp_path), "--out", str(tmp_path / "gpu_suite.json"))
    assert res.returncode == 0, res.stderr[-2000:]
    merged = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert merged["goals_ms_per_step"] == {"fourcastnet": 15.0, "ai_goms": 25.0, "graphcast": 150.0}
    fwd = merged["models"]["fourcastnet"]["summary"]["forward_fp32"]
    assert fwd["over_goal"] == pytest.approx(fwd["ms_median"] / 15.0)
    assert any(m.startswith("ai_goms:") for m in merged["missing"]) and any(m.startswith("graphcast:") for m in merged["missing"])
    assert "missing" in merged["parity"]


def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal cannot be shown")
    res = _run("--model", "fourcastnet", "--device", "cuda", "--preset", "tiny", "--out", str(tmp_path / "x.json"))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "--dry-run" in res.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_shell_dry_run_writes_every_stage(tmp_path):
    if shutil.which("timeout") is None:
        pytest.skip("coreutils timeout is missing")
    res = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), "--dry-run", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    merged = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert merged["missing"] == [], merged["missing"]
    for name, m in merged["parity"]["models"].items():
        assert m["forward_rel_rms"] == 0.0 and m["train_step_update_rel_rms"] == 0.0, name  # CPU against CPU


def test_out_of_memory_frees_the_failed_call_before_the_retry():
    """The checkpointed retry of a training step that ran out of memory must find the
    failed call's tensors gone: held by the exception's frames, they filled the GPU."""
    import weakref

    import torch

    sys.path.insert(0, str(WORKER.parent))
    try:
        import gpu_suite
    finally:
        sys.path.remove(str(WORKER.parent))
    seen = []

    def step():
        activations = torch.ones(1024)
        seen.append(weakref.ref(activations))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 5.94 GiB")

    entry = gpu_suite._timed_or_oom(step, "cpu", 1.0, 3, "cpu")
    assert entry == {"error": "out of memory: CUDA out of memory. Tried to allocate 5.94 GiB"}
    assert len(seen) == 1 and seen[0]() is None
