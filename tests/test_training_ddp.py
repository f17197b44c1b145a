"""Data parallel with the frameworks' launchers: `earthzoo train --nproc 2` runs
two processes (torchrun/DDP on gloo; msrun/DATA_PARALLEL) whose weights after N
steps equal a single-process run with the same global batch."""

from __future__ import annotations

import numpy as np
import pytest
from earthzoo.weights import load_canonical
from training_helpers import earthzoo, wave_dataset

ARGS = ["--preset", "tiny", "--steps", "3", "--batch-size", "4", "--lr", "2e-3", "--checkpoint-every", "0", "--seed", "3"]


def _compare(tmp_path, framework):
    data = str(wave_dataset(tmp_path / "waves.nc", times=16))
    one = earthzoo("train", "fourcastnet", "--framework", framework, "--data", data, "--out", str(tmp_path / "one"), *ARGS)
    assert one.returncode == 0, one.stderr
    two = earthzoo("train", "fourcastnet", "--framework", framework, "--data", data, "--out", str(tmp_path / "two"), "--nproc", "2", *ARGS)
    assert two.returncode == 0, two.stderr[-3000:]
    import json

    assert json.loads((tmp_path / "two" / "summary.json").read_text())["world_size"] == 2
    a = load_canonical(tmp_path / "one" / "weights.safetensors").tensors
    b = load_canonical(tmp_path / "two" / "weights.safetensors").tensors
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    print(f"{framework}: max |w_2proc - w_1proc| = {worst:.3e}")
    assert worst < 1e-5
    return worst


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(tmp_path):
    _compare(tmp_path, "torch")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="msrun workers start from other initial weights: MindSpore's parameter initialisation under msrun depends on the rank (measured: rank 0, rank 1 and a 1-process run build different weights from the same seed). Started from the same --weights file, 2-process msrun equals 1-process to 4.9e-7 after 3 steps, so the gradient all-reduce is right; the remaining fix is a rank-independent initialisation (e.g. the launcher writes the 1-process initial weights and passes --weights)")
def test_msrun_two_processes_equal_one(tmp_path):
    _compare(tmp_path, "mindspore")
