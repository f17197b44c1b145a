"""``earthzoo bench`` (measure models in each framework, compare results from two
machines) and ``earthzoo demo`` (the whole study on embedded data: train, convert,
forecast in both frameworks, evaluate, benchmark, report). Nothing heavy is
imported until a command runs."""

from __future__ import annotations

import sys

import click

from . import app
from .output import emit_json, table


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _frameworks(value: str) -> tuple[str, ...]:
    from ..errors import EarthzooError

    fws = tuple(f.strip() for f in value.split(",") if f.strip())
    bad = [f for f in fws if f not in ("torch", "mindspore")]
    if bad or not fws:
        raise EarthzooError(f"unknown framework(s) {bad or value!r}", "use --frameworks torch,mindspore (or one of them)")
    return fws


def _compare(a: str, b: str, as_json: bool) -> None:
    from ..results import compare, load_result

    ra, rb = load_result(a), load_result(b)
    rows = compare(ra, rb)
    if as_json:
        emit_json({"a": {"file": a, "machine": ra.get("machine")}, "b": {"file": b, "machine": rb.get("machine")}, "rows": rows})
        return
    if not rows:
        _say("no (model, framework, preset) is measured in both files")
        return
    ma, mb = ra.get("machine", {}), rb.get("machine", {})
    table(
        f"A = {a} ({ma.get('cpu_model', '?')}, {rows[0]['a_backend']})  vs  B = {b} ({mb.get('cpu_model', '?')}, {rows[0]['b_backend']})",
        ["model", "framework", "preset", "metric", "A", "B", "B/A"],
        [(r["model"], r["framework"], r["preset"], r["metric"], _g(r["a"]), _g(r["b"]), _g(r["ratio_b_over_a"])) for r in rows],
    )


def _figure_note(rep: dict) -> None:
    """One line when figures were not drawn (e.g. no matplotlib): the report is written
    all the same; and one when the load exceeded the cores while timing."""
    if rep["figure_errors"]:
        _say(f"note: {len(rep['figure_errors'])} figure problem(s), the first: {rep['figure_errors'][0]}")
    if rep.get("timing_warnings"):
        _say(f"warning: timings unreliable, the load average exceeded the cores in {len(rep['timing_warnings'])} timed phase(s) (first: {rep['timing_warnings'][0]}); see report.md")


def _g(v) -> str:
    return "-" if v is None else f"{v:.4g}"


@app.command()
@click.argument("models", nargs=-1)
@click.option("--frameworks", default="torch,mindspore", show_default=True, help="Comma-separated frameworks to measure.")
@click.option("--backend", default="auto", show_default=True, help="Backend name (earthzoo backends) or auto.")
@click.option("--preset", default="small", show_default=True, help="Model preset; tiny and small train on the embedded data of that size.")
@click.option("--train-steps", type=int, default=20, show_default=True, help="Optimizer steps timed in each framework (0: skip training).")
@click.option("--leads", type=int, default=None, help="Forecast steps scored (default 8 for atmosphere, 5 for ocean).")
@click.option("--reps", type=int, default=5, show_default=True, help="Timed inference calls (median) after 2 warm-up calls.")
@click.option("--threads", type=int, default=None, help="CPU threads for both frameworks (default: each framework's own).")
@click.option("--out", "out", default=None, type=click.Path(file_okay=False), help="Folder for runs, forecasts and bench.json (default: the --report folder, else earthzoo-bench).")
@click.option("--report", "report_dir", default=None, type=click.Path(file_okay=False), help="Also write the report (Markdown, JSON, figures) here.")
@click.option("--compare", "compare_files", nargs=2, default=None, help="Compare two bench JSON files (A B) instead of measuring: B/A ratios.")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON for machines.")
def bench(models, frameworks, backend, preset, train_steps, leads, reps, threads, out, report_dir, compare_files, as_json) -> None:
    """Measure MODELS (default: every installed model) in each framework: training and
    inference time, memory, energy, accuracy vs persistence/climatology, parity."""
    if compare_files:
        _compare(compare_files[0], compare_files[1], as_json)
        return
    from pathlib import Path

    from .. import bench as b
    from ..api import list_models
    from ..errors import EarthzooError
    from ..files import writable_dir

    fws = _frameworks(frameworks)
    known = list_models()
    names = list(models) or known
    bad = [m for m in names if m not in known]
    if bad:
        raise EarthzooError(f"unknown model(s) {', '.join(bad)}", f"use one of: {', '.join(known)}")
    if train_steps < 0:
        raise EarthzooError(f"--train-steps {train_steps} is negative", "use 0 (no training) or more")
    out = out or report_dir or "earthzoo-bench"
    for option, value in (("--reps", reps), ("--leads", leads), ("--threads", threads)):
        if value is not None and value < 1:
            raise EarthzooError(f"{option} must be at least 1, got {value}", f"pass {option} 1 or more")
    for folder in (out, report_dir):  # before hours of measuring, not at the last write
        if folder:
            writable_dir(folder)
    result = b.run(names, fws, backend, preset, train_steps, out, leads, reps=reps, threads=threads, show_progress=not as_json, log=_say)
    path = b.write_json(result, Path(out) / "bench.json")
    if report_dir:
        from ..report import write

        _figure_note(write(result, report_dir))
    if as_json:
        emit_json(result)
        return
    table(f"earthzoo bench ({preset}, {result['records'][0]['backend'] if result['records'] else backend})", ["model", "framework", "status", "train s/step", "infer s/step", "peak RSS MiB", "energy"], [_row(r) for r in result["records"]])
    _say(f"wrote {path}" + (f" and the report in {report_dir}" if report_dir else ""))


def _row(r: dict) -> tuple:
    t, i = r.get("training") or {}, r.get("inference") or {}
    e = i.get("energy") or {}
    energy = f"{e['joules']:.3g} J" if e.get("joules") is not None else f"unavailable ({e.get('reason', 'not measured')[:50]})"
    return (r["model"], r["framework"], r["status"], _g(t.get("step_time_s_median")), _g(i.get("step_time_s_median")), _g(i.get("peak_rss_mb")), energy)


@app.command()
@click.option("--out", "out", default="earthzoo-demo", show_default=True, type=click.Path(file_okay=False), help="Folder for data, runs, forecasts and the report.")
@click.option("--minutes", type=float, default=9.5, show_default=True, help="Wall-clock budget of the whole demo; training is fitted to it as the run goes, and what it cuts is said.")
@click.option("--ms-steps", type=int, default=15, show_default=True, help="MindSpore training steps per model (its time per step and loss curve).")
@click.option("--preset", default="small", show_default=True, help="CPU-sized preset of every model.")
@click.option("--models", "models", default=None, help="Comma-separated models (default: every installed model).")
@click.option("--threads", type=int, default=1, show_default=True, help="CPU threads for both frameworks (1: OpenMP barriers stall when other work shares a small CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the report summary as JSON at the end.")
def demo(out, minutes, ms_steps, preset, models, threads, as_json) -> None:
    """The study on this machine: for every installed model train in PyTorch, convert
    the weights to MindSpore and back, forecast in both frameworks from the same
    initial states, score against persistence and climatology, benchmark, report."""
    from pathlib import Path

    from .. import bench as b
    from ..api import list_models
    from ..budget import Budget
    from ..errors import EarthzooError
    from ..report import write

    budget = Budget(minutes * 60)
    known = list_models()
    names = [m.strip() for m in models.split(",")] if models else known
    bad = [m for m in names if m not in known]
    if bad:
        raise EarthzooError(f"unknown model(s) {', '.join(bad)}", f"use one of: {', '.join(known)}")
    if minutes <= 0:
        raise EarthzooError(f"--minutes {minutes} leaves no time to train", "use a positive number of minutes, e.g. --minutes 9")
    if ms_steps < 1:
        raise EarthzooError(f"--ms-steps {ms_steps} leaves MindSpore untrained", "use 1 or more (3 or more gives a time per step)")
    _say(f"earthzoo demo: {', '.join(names)} at preset {preset!r} in {minutes:g} min of wall time; output in {out}")
    result = b.run(names, ("torch", "mindspore"), "cpu", preset, None, out, None, n_init=16, reps=5, threads=threads, budget=budget, ms_train_steps=ms_steps, show_progress=True, log=_say)
    b.write_json(result, Path(out) / "bench.json")
    with budget.phase("report"):
        rep = write(result, Path(out) / "report")
    _figure_note(rep)
    wall = budget.elapsed()
    cuts = budget_lines(result.get("budget") or {}, wall)
    if as_json:
        emit_json({"wall_s": wall, "budget": result.get("budget"), "budget_notes": cuts, **rep})
        return
    print(f"report: {rep['report_md']} (and report.json, {len(rep['figures'])} figures) in {wall / 60:.1f} min of a {minutes:g} min budget")
    for line in summary_lines(rep["models"]) + cuts:
        print(line)


def budget_lines(budget: dict, wall: float) -> list[str]:
    """What the time budget cut, and whether the run kept it."""
    lines = [f"cut: {c}" for c in budget.get("cuts", [])]
    if budget.get("budget_s") and wall > budget["budget_s"]:
        lines.append(f"over budget: {wall:.0f} s for {budget['budget_s']:.0f} s (slowness {(budget.get('plan') or {}).get('slowness', '?')}x a quiet 2-core CPU)")
    return lines


def summary_lines(models: dict) -> list[str]:
    """One line per model (verdict, worst channel against persistence at the first
    lead, parity, time per step), then the problems, one line each."""
    lines = []
    for name, s in models.items():
        tps = s["time_per_step_s"]
        speed = ", ".join(f"{fw} {v:.3g} s/step" for fw, v in tps.items() if v is not None) or "no timing"
        ratio = ""
        acc = s.get("accuracy")
        if acc:
            r = {c: acc["forecast"][c]["rmse"][0] / acc["persistence"][c]["rmse"][0] for c in acc["channels"] if acc["forecast"][c]["rmse"][0] is not None and acc["persistence"][c]["rmse"][0]}
            worst = max(r, key=r.get) if r else None
            ratio = f"RMSE/persistence at {acc['lead_time_hours'][0]:g} h: mean {sum(r.values()) / len(r):.2f}, worst {worst} {r[worst]:.3f}; " if r else ""
        par = f"parity rel {s['parity_rel_rmse']:.1e}; " if s.get("parity_rel_rmse") is not None else ""
        status = "beats persistence on every channel" if s.get("beats_persistence") else ("does NOT beat persistence on every channel" if s.get("beats_persistence") is False else "NOT trained/evaluated")
        lines.append(f"{name}: {status}; {ratio}{par}{speed}")
    problems = [f"problem: {name}: {p.splitlines()[0][:200]}" for name, s in models.items() for p in s["problems"]]
    return lines + (problems or ["no problems recorded"])
