"""What BackendPlugin does for every backend: answers only for its own name, checks
the precision policy before the backend plans it, and applies activation
checkpointing before the backend's own memory schedule."""

from __future__ import annotations

import pytest
import torch
from earthzoo.backends.base import BackendPlugin
from earthzoo.cards import BackendCard, BackendStatus
from earthzoo.errors import EarthzooError
from earthzoo.runtime import MemoryPlan, PrecisionPlan


class Chip(BackendPlugin):
    def __init__(self):
        super().__init__(BackendCard(name="chip", summary="a test chip", frameworks=("torch",), probe=lambda: BackendStatus(True)))
        self.asked: list[str] = []

    def precision_plan(self, framework, policy):
        self.asked.append(policy)
        return PrecisionPlan(policy)

    def memory_schedule(self, framework, model, plan):
        return ["fraction noted"] if plan.memory_fraction else []


class Blocks(torch.nn.Module):
    checkpoint_modules = ("blocks",)

    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(2, 2) for _ in range(3))


def test_the_precision_policy_is_checked_before_the_backend_is_asked():
    chip = Chip()
    assert chip.earthzoo_mixed_precision(backend="chip", framework="torch", policy="bf16").policy == "bf16"
    with pytest.raises(EarthzooError, match="unknown precision 'int8'.*fp32, bf16, fp16"):
        chip.earthzoo_mixed_precision(backend="chip", framework="torch", policy="int8")
    assert chip.asked == ["bf16"]
    assert chip.earthzoo_mixed_precision(backend="other", framework="torch", policy="int8") is None


def test_checkpointing_is_applied_before_the_backends_own_schedule():
    chip, model = Chip(), Blocks()
    applied = chip.earthzoo_memory_schedule(backend="chip", framework="torch", model=model, plan=MemoryPlan(activation_checkpointing=True, memory_fraction=0.5))
    assert applied == ["activation checkpointing on 3 blocks (torch.utils.checkpoint)", "fraction noted"]
    assert all(getattr(b.forward, "earthzoo_checkpointed", False) for b in model.blocks)
    assert chip.earthzoo_memory_schedule(backend="chip", framework="torch", model=Blocks(), plan=MemoryPlan()) == []
    assert chip.earthzoo_memory_schedule(backend="other", framework="torch", model=model, plan=MemoryPlan()) is None
