"""A wall-clock budget planned as it goes (``earthzoo demo``): the run's work is
split into phases; each training phase gets a share of the time still left after
reserving what the remaining fixed phases (forecasts, timings, conversion) are
expected to take, and stops at its share by re-measuring its step time after every
step (:class:`TimeBox`), so a machine that slows down midway cuts training instead
of overrunning. Every phase's wall time and every cut are recorded for the report.

The clock is injectable so the planning is tested without waiting."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

Clock = Callable[[], float]


class TimeBox:
    """The step count of one training phase fitted to ``seconds`` of wall time from
    its first step (``box(0)``, called when the run's setup is done; the setup is
    the plan's other work): after each step the steps still to run are the time
    left over the mean time of the steps so far (the first left out once there are
    others: it compiles MindSpore's graph and warms caches), between ``min_steps``
    and ``max_steps``. ``steps_s``: the wall time of the steps."""

    def __init__(self, seconds: float, max_steps: int, min_steps: int = 1, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.seconds = max(0.0, seconds)
        self.start = clock()
        self.deadline = self.start + self.seconds
        self.max_steps, self.min_steps = max(1, max_steps), max(1, min(min_steps, max_steps))
        self.first_done: float | None = None
        self.steps = self.max_steps
        self.steps_s = 0.0

    def __call__(self, done: int) -> int:
        now = self.clock()
        if done == 0:  # the first step starts now
            self.start, self.deadline, self.first_done = now, now + self.seconds, None
            return self.steps
        self.steps_s = now - self.start
        if done == 1 or self.first_done is None:
            self.first_done = now
            per_step = now - self.start
        else:
            per_step = (now - self.first_done) / (done - 1)
        left = self.deadline - now
        more = 0 if left <= 0 else (int(left / per_step) if per_step > 0 else self.max_steps)
        self.steps = max(self.min_steps, done, min(self.max_steps, done + max(0, more)))
        return self.steps


class Budget:
    """The run's wall time: ``seconds`` in all from construction. ``share`` gives a
    training phase its part of what is left; ``phase`` times a block into the
    timeline; ``cut`` records work left out or shortened, said in the summary."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self.seconds = float(seconds)
        self.clock = clock
        self.start = clock()
        self.timeline: list[dict[str, Any]] = []
        self.cuts: list[str] = []

    def elapsed(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def share(self, weight: float, weights_after: float, reserve: float) -> float:
        """Seconds for a phase of ``weight`` when phases of ``weights_after`` in all
        still follow and ``reserve`` seconds must stay for the fixed work after it."""
        free = max(0.0, self.left() - reserve)
        total = weight + weights_after
        return free * weight / total if total > 0 else 0.0

    def cut(self, what: str) -> None:
        self.cuts.append(what)

    @contextmanager
    def phase(self, name: str) -> Iterator[dict[str, Any]]:
        entry: dict[str, Any] = {"phase": name, "start_s": round(self.elapsed(), 2)}
        try:
            yield entry
        finally:
            entry["seconds"] = round(max(0.0, self.elapsed() - entry["start_s"]), 2)
            self.timeline.append(entry)

    def spent(self, prefix: str) -> float:
        """Wall time of the recorded phases whose name starts with ``prefix``."""
        return sum(e["seconds"] for e in self.timeline if e["phase"].startswith(prefix))

    def to_json(self) -> dict[str, Any]:
        return {"budget_s": self.seconds, "elapsed_s": round(self.elapsed(), 2), "timeline": self.timeline, "cuts": self.cuts}


# --------------------------------------------------------------------------- the demo's plan

DEMO_DEFAULTS: dict[str, Any] = {"steps": 300, "train_s": 60.0, "other_s": 60.0, "ms_s": 30.0, "lr": 5e-4, "batch_size": 2}
PLAN_KEYS = ("steps", "train_s", "other_s", "ms_s")


def demo_schedule(card: Any) -> dict[str, Any]:
    """The card's ``demo`` settings over :data:`DEMO_DEFAULTS`: the planned PyTorch
    step count, the planner's priors in seconds on a quiet 2-core CPU (``train_s``:
    PyTorch training, the model's weight in the budget; ``other_s``: everything else
    the demo does with it; ``ms_s``: MindSpore training) and TrainConfig fields."""
    return {**DEMO_DEFAULTS, **(getattr(card, "demo", None) or {})}


class DemoPlan:
    """Training time for each model from a :class:`Budget`: PyTorch training gets
    the model's share (``train_s`` weights) of the time left after reserving the
    other work of this and later models and ``after_s`` (the report), priors x the
    slowness measured so far, but never under ``floor`` x ``train_s``: a busy machine
    still trains, overrunning the budget by that much and saying so; MindSpore trains up to ``ms_steps`` within ``ms_s`` x slowness. A
    phase that stops short of its planned steps is a cut (``Budget.cuts``)."""

    def __init__(self, budget: Budget, schedules: dict[str, dict[str, Any]], ms_steps: int = 15, min_steps: int = 20, cores: int | None = None, load: float | None = None, after_s: float = 0.0, floor: float = 0.5) -> None:
        import os

        self.budget, self.schedules, self.ms_steps, self.min_steps, self.after_s = budget, schedules, ms_steps, min_steps, after_s
        self.floor = floor
        self.pending = list(schedules)
        self.measured: dict[str, float] = {}
        cores = cores or os.cpu_count() or 1
        load = os.getloadavg()[0] if load is None and hasattr(os, "getloadavg") else (load or 0.0)
        # a busy CPU shares its cores with (load + this run): the first guess of how much slower than
        # quiet, at most 3x (the load average also counts niced and waiting jobs); measured from then on
        self.slowness = self.initial_slowness = min(3.0, max(1.0, (load + 1.0) / cores))
        self.phases: list[dict[str, Any]] = []

    def reserve(self, model: str) -> float:
        return self.slowness * (self.after_s + sum(self.schedules[m]["other_s"] for m in self.pending[self.pending.index(model) :]))

    def training(self, model: str, framework: str) -> tuple[Any, TimeBox, str]:
        """(TrainConfig, TimeBox, what in words) for ``model``'s training in ``framework``."""
        from .training import TrainConfig

        sch = self.schedules[model]
        fields = {k: v for k, v in sch.items() if k not in PLAN_KEYS}
        if framework == "torch":
            after = self.pending[self.pending.index(model) + 1 :]
            share = self.budget.share(sch["train_s"], sum(self.schedules[m]["train_s"] for m in after), self.reserve(model))
            seconds = max(share, self.floor * sch["train_s"])
            steps, least = int(sch["steps"]), min(self.min_steps, int(sch["steps"]))
            what = f"its share of the {self.budget.left():.0f} s left, {self.reserve(model):.0f} s kept for the rest" + (f", raised to {self.floor:g} of its planned {sch['train_s']:g} s" if seconds > share else "") + f"; up to {steps} steps"
        else:
            seconds = self.slowness * sch["ms_s"]
            steps, least = self.ms_steps, min(3, self.ms_steps)
            what = f"up to {steps} steps for its time per step and loss curve"
        warmup = min(int(fields.pop("warmup_steps", 5)), max(0, steps // 10))
        cfg = TrainConfig(**{"checkpoint_every": 0, "warmup_steps": warmup, **fields, "steps": steps})
        return cfg, TimeBox(seconds, steps, least, self.budget.clock), what

    def trained(self, model: str, framework: str, steps: int, box: TimeBox, seconds: float) -> None:
        planned = box.max_steps
        entry = {"model": model, "framework": framework, "steps": steps, "planned_steps": planned, "seconds": round(seconds, 1), "steps_s": round(box.steps_s, 1), "box_s": round(box.seconds, 1)}
        self.phases.append(entry)
        if steps < planned:
            fw = {"torch": "PyTorch", "mindspore": "MindSpore"}.get(framework, framework)
            # the recorded (rounded) seconds: 17.46 s is recorded as 17.5, which the line must call 18, not 17
            self.budget.cut(f"{model}: {fw} training cut to {steps} of {planned} steps ({entry['steps_s']:.0f} s of steps, its share of the time budget)")

    def model_done(self, model: str, other_seconds: float) -> None:
        """``other_seconds``: the model's wall time besides PyTorch training's steps; updates the slowness."""
        self.measured[model] = other_seconds
        self.pending.remove(model)
        prior = sum(self.schedules[m]["other_s"] for m in self.measured)
        if prior > 0:
            self.slowness = min(10.0, max(0.2, sum(self.measured.values()) / prior))

    def to_json(self) -> dict[str, Any]:
        return {"initial_slowness": round(self.initial_slowness, 3), "slowness": round(self.slowness, 3), "training": self.phases, "other_s_measured": {k: round(v, 1) for k, v in self.measured.items()}, "schedules": self.schedules}
