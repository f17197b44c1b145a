"""One training configuration for every model and both frameworks.

The optimizer is AdamW with torch's exact semantics (decoupled decay
``p *= 1 - lr*wd`` on every parameter, bias-corrected moments, ``eps`` added
after the square root), the learning rate warms up linearly and then follows a
cosine to ``min_lr``; gradients are clipped by global norm (torch's
``clip_grad_norm_``: coefficient ``clip / (norm + 1e-6)`` capped at 1) after
``accum_steps`` micro-batches are summed. The loss is the mean squared error
averaged over ``rollout_steps`` autoregressive steps (``stage="forecast"``), or,
with ``stage="masked"``, MAE pre-training's reconstruction error on the hidden
patches (:mod:`earthzoo.training.masking`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import EarthzooError
from ..runtime import PRECISIONS

STAGES = ("forecast", "masked")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100
    batch_size: int = 2  # global batch per optimizer step and micro-batch, over all processes
    lr: float = 5e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    min_lr: float = 0.0
    grad_clip: float = 1.0  # 0 disables clipping
    accum_steps: int = 1
    rollout_steps: int = 1
    seed: int = 0
    precision: str = "fp32"
    checkpointing: bool = False  # activation checkpointing, applied by the backend's memory hook
    checkpoint_every: int = 10  # optimizer steps between checkpoints (0: only at the end)
    deterministic: bool = True
    stage: str = "forecast"  # or "masked": MAE pre-training of models that have it

    def __post_init__(self) -> None:
        checks = (
            ("steps", self.steps >= 1, "use --steps 1 or more"),
            ("batch_size", self.batch_size >= 1, "use a batch size of 1 or more"),
            ("lr", self.lr > 0 and math.isfinite(self.lr), "use a positive finite learning rate"),
            ("accum_steps", self.accum_steps >= 1, "use 1 or more accumulation steps"),
            ("rollout_steps", self.rollout_steps >= 1, "use 1 or more rollout steps"),
            ("warmup_steps", self.warmup_steps >= 0, "use 0 or more warm-up steps"),
            ("grad_clip", self.grad_clip >= 0, "use 0 (off) or a positive clipping norm"),
            ("checkpoint_every", self.checkpoint_every >= 0, "use 0 (end only) or a positive interval"),
        )
        for name, ok, fix in checks:
            if not ok:
                raise EarthzooError(f"invalid training setting {name}={getattr(self, name)!r}", fix)
        if self.stage not in STAGES:
            raise EarthzooError(f"unknown training stage {self.stage!r}", f"use one of: {', '.join(STAGES)}")
        if self.stage == "masked" and self.rollout_steps != 1:
            raise EarthzooError(
                f"masked pre-training reconstructs one state; rollout_steps={self.rollout_steps} does not apply",
                "use --rollout 1 with --stage masked",
            )
        if self.precision not in PRECISIONS:
            raise EarthzooError(f"unknown precision {self.precision!r}", f"use one of: {', '.join(PRECISIONS)}")

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer update ``step`` (0-based): linear warm-up over
        ``warmup_steps`` updates, then a half cosine from ``lr`` to ``min_lr``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(1, self.steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * t))

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# Settings that may change between a run and its --resume (they do not alter the
# optimisation path of the steps already taken... except steps, which changes the
# cosine; it is kept strict too, so that a resumed run equals an uninterrupted one).
RESUME_FREE = ("checkpoint_every",)
