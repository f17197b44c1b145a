"""The demo's wall-clock plan (earthzoo.budget) on a fake clock, time-boxed training
through the real engine on ``tiny``, and the per-channel persistence problems."""

from __future__ import annotations

import pytest
from earthzoo.budget import Budget, DemoPlan, TimeBox


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_timebox_refits_the_step_count_as_steps_slow_down():
    clock = FakeClock()
    box = TimeBox(60.0, max_steps=1000, min_steps=5, clock=clock)
    clock.t += 10.0  # the first step compiles: left out of the rate once others are known
    assert box(1) == 6  # 50 s left at 10 s/step
    for done in range(2, 11):
        clock.t += 1.0
        steps = box(done)
    assert steps == 10 + 41  # 41 s left at 1 s/step
    for done in range(11, 21):  # the machine gets 4x slower: the mean rises, the plan shrinks
        clock.t += 4.0
        steps = box(done)
    assert steps < 51 and steps == 20 + int((box.deadline - clock.t) / ((clock.t - 110.0) / 19))
    clock.t = box.deadline + 5.0
    assert box(21) == 21  # past the deadline: stop now
    assert TimeBox(0.0, max_steps=100, min_steps=5, clock=clock)(1) == 5  # never fewer than min_steps
    late = TimeBox(10.0, max_steps=100, clock=clock)
    clock.t += 50.0  # a long setup does not eat the box: it starts at box(0)
    assert late(0) == 100 and late.deadline == clock.t + 10.0
    fast = TimeBox(1e6, max_steps=30, clock=clock)
    clock.t += 0.1
    assert fast(1) == 30  # never more than planned


def test_budget_shares_what_is_left_after_the_reserve():
    clock = FakeClock()
    b = Budget(600.0, clock=clock)
    with b.phase("data"):
        clock.t += 100.0
    assert b.left() == 500.0 and b.timeline == [{"phase": "data", "start_s": 0.0, "seconds": 100.0}]
    assert b.share(1.0, 3.0, reserve=100.0) == pytest.approx(100.0)  # (500 - 100) / 4
    clock.t += 1000.0
    assert b.share(1.0, 0.0, reserve=0.0) == 0.0  # overrun: nothing left to share


def test_demo_plan_cuts_training_when_the_machine_is_slower_than_planned():
    clock = FakeClock()
    sched = {"steps": 400, "train_s": 100.0, "other_s": 50.0, "ms_s": 20.0, "lr": 1e-3, "batch_size": 2}
    plan = DemoPlan(Budget(400.0, clock=clock), {"a": dict(sched), "b": dict(sched)}, ms_steps=15, cores=2, load=0.0)
    assert plan.slowness == 1.0
    cfg, box, _ = plan.training("a", "torch")
    # 400 s left, 2 x 50 s reserved, a's share of 300 s is half
    assert box.seconds == pytest.approx(150.0) and cfg.steps == 400 and cfg.lr == 1e-3 and cfg.warmup_steps == 5
    box(0)  # setup done: the box starts
    clock.t += 150.0
    box(300)
    plan.trained("a", "torch", 300, box, 160.0)
    assert plan.budget.cuts == ["a: PyTorch training cut to 300 of 400 steps (150 s of steps, its share of the time budget)"]
    cfg, box, _ = plan.training("a", "mindspore")
    assert cfg.steps == 15 and box.min_steps == 3
    clock.t += 100.0
    plan.model_done("a", 100.0)  # its other work took twice the prior
    assert plan.slowness == 2.0
    cfg, box, _ = plan.training("b", "torch")
    assert box.seconds == pytest.approx(150.0 - 2 * 50.0)  # 150 s left, 100 s reserved
    clock.t += 1000.0  # far over budget: training still gets half its planned seconds
    cfg, box, what = plan.training("b", "torch")
    assert box.seconds == pytest.approx(50.0) and "raised to 0.5 of its planned 100 s" in what
    busy = DemoPlan(Budget(400.0, clock=clock), {"a": dict(sched)}, cores=2, load=3.0)
    assert busy.slowness == 2.0  # (3 + 1) / 2: a busy CPU is expected slower from the start


def test_training_ends_where_the_time_box_says_and_the_schedule_follows(tmp_path):
    """The real engine on FourCastNet tiny, a clock that advances 1 s per step: a
    10 s box ends the run after 10 steps, the cosine is the 10-step one."""
    from earthzoo.training import TrainConfig, train
    from earthzoo.training.trainer import read_log
    from training_helpers import wave_dataset

    data = str(wave_dataset(tmp_path / "w.nc", times=24))
    clock = FakeClock()

    def one_second_per_step(done):
        clock.t += 1.0
        return box(done)

    box = TimeBox(10.0, max_steps=500, clock=clock)
    cfg = TrainConfig(steps=500, batch_size=2, lr=1e-3, warmup_steps=2, checkpoint_every=0)
    summary = train("fourcastnet", framework="torch", preset="tiny", data=data, out=tmp_path / "run", cfg=cfg, show_progress=False, replan=one_second_per_step)
    log = read_log(tmp_path / "run" / "train_log.jsonl")
    assert summary["steps"] == len(log) == 10 and (tmp_path / "run" / "weights.safetensors").exists()
    ten = cfg.replace(steps=10)
    assert [r["lr"] for r in log[-3:]] == pytest.approx([ten.lr_at(s) for s in (7, 8, 9)])


def test_persistence_problems_name_every_channel_not_beaten():
    verdict = {"lead_hours": [24.0], "rmse_ratio_vs_persistence": {"t_0m": 0.5, "u_0m": 1.002, "ssh": 1.0, "v_0m": None}}
    (p,) = bench_module().persistence_problems("torch", verdict)
    assert p.startswith("torch: does not beat persistence at 24 h on 3 channel(s)") and "u_0m (1.002)" in p and "ssh (1.000)" in p and "v_0m (n/a)" in p
    assert "t_0m" not in p
    assert bench_module().persistence_problems("torch", {"lead_hours": [6.0], "rmse_ratio_vs_persistence": {"z": 0.9}}) == []


def bench_module():
    from earthzoo import bench

    return bench


def test_budgeted_run_records_its_plan_cuts_and_problems_from_the_numbers(tmp_path):
    """A whole budgeted run (FourCastNet tiny, PyTorch only) given almost no time:
    training gets its floor (half the card's planned seconds) and says what it cut, every phase is in the timeline,
    and the per-channel persistence problems are exactly the channels that the
    measured bootstrap verdict does not call "beats" at the first lead."""
    bench = bench_module()
    result = bench.run(["fourcastnet"], ("torch",), "cpu", "tiny", None, tmp_path, leads=1, n_init=2, reps=1, threads=1, budget=Budget(1.0), show_progress=False)
    b = result["budget"]
    (t,) = b["plan"]["training"]
    from earthzoo.api import model_card
    from earthzoo.budget import demo_schedule

    plan = demo_schedule(model_card("fourcastnet"))
    assert t["planned_steps"] == plan["steps"] == 800 and t["box_s"] == plan["train_s"] / 2  # the card's plan; the floor
    if t["steps"] < 800:
        assert b["cuts"] == [f"fourcastnet: PyTorch training cut to {t['steps']} of 800 steps ({t['steps_s']:.0f} s of steps, its share of the time budget)"]
    else:
        assert b["cuts"] == []
    assert [e["phase"] for e in b["timeline"]] == ["data fourcastnet", "train fourcastnet torch", "time fourcastnet", "forecast fourcastnet"]
    rec = result["records"][0]
    assert rec["training"]["steps"] == t["steps"] >= 20 and rec["training"]["lr"] == 1e-3 and rec["training"]["batch_size"] == 4
    calls = rec["persistence"]["channels"]["persistence"]
    worse = [c for c, v in calls.items() if v["calls"][0] != "beats"]
    listed = [p for p in result["models"]["fourcastnet"]["problems"] if "persistence" in p]
    assert len(listed) == (1 if worse else 0) and all(f"{c} (" in listed[0] for c in worse)
