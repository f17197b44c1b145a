"""The batch-memory check (earthzoo.training.memory): real measurements of the
activations, fakes only for the device's memory queries (no GPU here)."""

from __future__ import annotations

import numpy as np
import pytest
from earthzoo.errors import EarthzooError
from earthzoo.training import memory

GiB = 1024**3


def test_host_available_reads_this_machine():
    free = memory.host_available()
    assert free is None or 0 < free < 1 << 50


def test_cuda_free_memory_is_the_device_count(monkeypatch):
    import torch

    # fake device queries: torch's accelerator API, which CUDA, ROCm and torch_npu answer alike
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: torch.device("cuda"))
    monkeypatch.setattr(torch.accelerator, "get_memory_info", lambda device=None: (1 * GiB, 80 * GiB))
    monkeypatch.setattr(memory, "host_available", lambda: 500 * GiB)
    with pytest.raises(EarthzooError, match=r"needs about 2 GiB \(estimated\), more than the 1 GiB free on cuda:0"):
        memory.check(2 * GiB, 0, "cuda:0", "torch", "a batch", "smaller")
    assert memory.check(GiB // 2, 0, "cuda:0", "torch", "a batch", "smaller")["free_bytes"] == GiB


def test_unknown_device_checks_the_host_arrays_only(monkeypatch):
    monkeypatch.setattr(memory, "host_available", lambda: 4 * GiB)
    assert memory.check(100 * GiB, GiB, "Ascend", "mindspore", "a batch", "smaller")["measured"] == "unknown"
    with pytest.raises(EarthzooError, match="needs about 8 GiB of host memory for its arrays"):
        memory.check(100 * GiB, 8 * GiB, "Ascend", "mindspore", "a batch", "smaller")


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_activations_are_measured_in_both_frameworks(framework):
    from earthzoo.api import build_model
    from earthzoo.frameworks import framework_module

    framework_module(framework).seed_everything(0)
    model = build_model("fourcastnet", framework, preset="tiny")
    one = memory.activation_bytes(model, framework, np.zeros((1, 5, 32, 64), np.float32))
    two = memory.activation_bytes(model, framework, np.zeros((2, 5, 32, 64), np.float32))
    assert one[0] > 5 * 32 * 64 * 4 and one[1] <= one[0]
    assert two == (2 * one[0], 2 * one[1])  # linear in the batch, as the estimate assumes
