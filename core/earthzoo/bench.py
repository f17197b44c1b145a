"""Measurement for every model, framework and backend in one form: training time
per step and per epoch of the embedded data, inference time per forecast step
(warm-up, device synchronisation, median of several), throughput, peak memory,
energy through the backend's meter (or "unavailable" with the reason), and the
run that strings them together with the accuracy and parity of the forecasts.

One JSON record per (model, framework, backend, preset), plus a machine
description, so results from different machines can be put side by side.
The other concerns have their own modules: the machine and its load
(:mod:`earthzoo.machine`), accuracy and verdicts (:mod:`earthzoo.scoring`),
result files and comparison (:mod:`earthzoo.results`), the weight round trip
(:func:`earthzoo.convert.weights_round_trip`). ``earthzoo bench`` and
``earthzoo demo`` are the callers; frameworks are imported only when a
measurement runs."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .budget import Budget, DemoPlan, demo_schedule
from .convert import weights_round_trip
from .errors import EarthzooError
from .files import writable_dir
from .machine import LoadWatch, RssPeak, machine
from .results import write_json  # noqa: F401 - the callers' bench.write_json
from .scoring import forecast_and_score, persistence_verdict, splits

SCHEMA = "earthzoo-bench/1"
SOURCES = {"atmosphere": "synthetic-atmosphere", "ocean": "synthetic-ocean"}
DATA_SIZES = ("tiny", "small")
REPORT_S = 20.0  # writing the report and figures after a budgeted run, seconds on a quiet 2-core CPU


def energy_meter(backend: str):
    """The backend's meter (through the earthzoo_energy_meter hook), or one that says why not."""
    from .energy import UnavailableMeter
    from .plugins import get_plugin_manager

    meter = get_plugin_manager().hook.earthzoo_energy_meter(backend=backend)
    return meter if meter is not None else UnavailableMeter(f"backend {backend!r} provides no energy meter")


def _energy_json(reading: Any, work: float, unit: str) -> dict[str, Any]:
    from .energy import efficiency_ratio

    d = reading.to_json() if reading is not None else {"method": "unavailable", "reason": "no reading was taken"}
    seconds = d.get("seconds") or 0.0
    ratio = efficiency_ratio(work / seconds, reading) if reading is not None and seconds > 0 else None
    d["efficiency_ratio"] = ratio
    d["efficiency_unit"] = f"{unit} per joule (throughput / mean watts)"
    if d.get("method") == "unavailable":
        d["reason"] = d.get("reason") or "the meter could not measure"
    return d


def backend_name(backend: str, framework: str) -> str:
    from .api import select_backend

    return select_backend(backend, framework).name


def set_threads(threads: int | None, frameworks: tuple[str, ...]) -> None:
    """The same CPU thread count for both frameworks (MindSpore's own default is 25
    threads; with earthzoo's kernels they take the threads, ``split_threads``)."""
    if not threads:
        return
    if "torch" in frameworks:
        import torch

        torch.set_num_threads(threads)
    if "mindspore" in frameworks:
        from .frameworks import mindspore as mfw
        from .frameworks.mindspore_cpu_kernels import split_threads

        mfw.set_device("CPU")
        split_threads(threads)


# --------------------------------------------------------------------------- data


def source_for(card: Any) -> str:
    if card.kind not in SOURCES:
        raise EarthzooError(f"model {card.name!r} is of kind {card.kind!r}, with no embedded data source", "benchmark it on a NetCDF/Zarr file instead")
    return SOURCES[card.kind]


def embedded_data(card: Any, preset: str, folder: Path) -> Path:
    """The embedded data set sized for ``preset`` (tiny data for every other preset), as
    an internal-form NetCDF in ``folder`` (written once; the generator caches too, with
    progress). The file, not the cache, is the truth: forecasts are written the same way."""
    from .cli.output import progress, ticking
    from .data import open_source, write_dataset

    source = source_for(card)
    size = preset if preset in DATA_SIZES else "tiny"
    path = folder / f"{source}-{size}.nc"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with progress(f"data {source} ({size}; generated once, then cached)", None) as advance:
            ds = open_source(source, size=size, progress=lambda done, total: advance(1, total=total))
        with ticking(f"data {source} ({size}): writing {path.name}"):
            write_dataset(ds.load(), path)
    return path


# --------------------------------------------------------------------------- training


def measure_training(
    model: str,
    framework: str,
    preset: str,
    data: str,
    out: Path,
    steps: int,
    backend: str = "auto",
    batch_size: int = 2,
    seed: int = 0,
    show_progress: bool = True,
    cfg: Any = None,
    replan: Callable[[int], int] | None = None,
    weights: str | None = None,
) -> dict[str, Any]:
    """Train ``steps`` updates (or by ``cfg``, ending where ``replan`` says: a time
    box) with the engine and time them: the median step (the first step, which
    compiles MindSpore's graph, is left out), the time of one pass over the training
    samples, throughput, peak memory and energy. The run starts from ``weights``
    when given and keeps its own initial weights (``initial_weights``) for the next
    framework."""
    from .frameworks import framework_module
    from .training import TrainConfig, train
    from .training.trainer import INITIAL_WEIGHTS, read_log

    name = backend_name(backend, framework)
    cfg = cfg or TrainConfig(steps=steps, batch_size=batch_size, seed=seed, checkpoint_every=0, lr=5e-4, warmup_steps=min(5, max(0, steps // 10)))
    batch_size = cfg.batch_size
    meter = energy_meter(name)
    with RssPeak() as rss, LoadWatch() as load, meter:
        summary = train(model, framework=framework, preset=preset, data=data, out=out, cfg=cfg, backend=backend, weights=weights, show_progress=show_progress, replan=replan, save_initial=weights is None)
    log = read_log(out / "train_log.jsonl")
    steps = len(log)
    times = [r["step_time_s"] for r in log]
    steady = times[1:] if len(times) > 1 else times
    step_s = statistics.median(steady)
    samples = _train_samples(data)
    per_epoch_steps = math.ceil(samples / batch_size)
    device = _device(framework, name)
    fw = framework_module(framework)
    peak_dev = fw.peak_memory_bytes(device)

    return {
        "steps": steps,
        "planned_steps": cfg.steps,
        "lr": cfg.lr,
        "batch_size": batch_size,
        "step_time_s_median": step_s,
        "step_time_s_min": min(steady),
        "first_step_s": times[0],
        "samples_per_epoch": samples,
        "epoch_time_s": step_s * per_epoch_steps,
        "samples_per_s": batch_size / step_s,
        "wall_s": summary["seconds"],
        "wall_per_step_s": summary["seconds"] / max(1, steps),
        "steps_total_s": float(sum(times)),
        "final_loss": summary.get("final_loss"),
        "loss": [r["loss"] for r in log],
        "weights": summary.get("weights"),
        "initial_weights": weights or str(out / INITIAL_WEIGHTS),
        "log": summary.get("log"),
        "load": load.to_json(),
        "peak_rss_mb": rss.peak,
        "rss_growth_mb": rss.peak - rss.start,
        "device_peak_bytes": peak_dev,
        "energy": _energy_json(meter.reading, batch_size * len(times), "samples"),
    }


def _train_samples(data: str) -> int:
    from .training.data import open_source

    tr = splits(open_source(data))["train"]
    return max(1, (tr.stop - tr.start) - 1)


def _device(framework: str, backend: str) -> str:
    from .api import setup_device

    return str(setup_device(backend, framework).device)


# --------------------------------------------------------------------------- inference


class _Stepper:
    """One framework's forecast step on the example input, built and warmed up
    (``warmup`` calls: graph compilation), each call closed by a device synchronize."""

    def __init__(self, model: str, framework: str, preset: str, weights: str | None, backend: str, batch: int, warmup: int, seed: int, show_progress: bool = False) -> None:
        from .api import build_model, load_model, model_card, setup_device
        from .cards import resolve
        from .cli.output import ticking
        from .frameworks import framework_module

        card = model_card(model)
        self.backend = backend_name(backend, framework)
        ctx = setup_device(self.backend, framework)
        self.fw = framework_module(framework)
        self.device = str(ctx.device)
        if weights:
            net = load_model(model, framework, weights=weights, backend=self.backend)
            from .weights import load_canonical

            config = card.config_from_dict(load_canonical(weights).config)
        else:
            config = card.make_config(preset)
            self.fw.seed_everything(seed)
            net = self.fw.prepare_for_inference(build_model(model, framework, config=config), ctx)
        self.x = np.asarray(resolve(card.example_input)(config, batch, seed), np.float32)
        self.step = self.fw.inference_function(net)
        self.sync = ctx.synchronize if getattr(ctx, "synchronize", None) else (lambda: self.fw.synchronize(self.device))
        t0 = time.perf_counter()
        what = f"time {model} ({framework}): {max(1, warmup)} warm-up call(s)" + (", compiling the graph" if framework == "mindspore" else "")
        with ticking(what) if show_progress else contextlib.nullcontext():
            for _ in range(max(1, warmup)):
                self.step(self.x)
            self.sync()
        self.warmup_s = time.perf_counter() - t0

    def __call__(self) -> float:
        t = time.perf_counter()
        self.step(self.x)
        self.sync()
        return time.perf_counter() - t


def measure_inference(
    model: str, frameworks: tuple[str, ...], preset: str, weights: str | None = None, backend: str = "auto", batch: int = 1, warmup: int = 2, reps: int = 5, seed: int = 0, show_progress: bool = False
) -> dict[str, dict[str, Any] | Exception]:
    """Time one forecast step in each framework, interleaved: round k calls every
    framework once (the order alternating between rounds), so a change of load
    during the phase falls on all frameworks alike; the median is the figure, as in
    the study's Table 4, with the load average before and after. Energy and peak
    memory come from a separate block of ``reps`` calls per framework (a meter
    cannot split interleaved calls). A framework that fails gets its exception
    in place of its record; the others are still timed."""
    from .cli.output import progress

    out: dict[str, Any] = {}
    steppers: dict[str, _Stepper] = {}
    for fw in frameworks:
        try:
            steppers[fw] = _Stepper(model, fw, preset, weights, backend, batch, warmup, seed, show_progress)
        except Exception as exc:  # noqa: BLE001 - recorded as that framework's problem
            out[fw] = exc
    times: dict[str, list[float]] = {fw: [] for fw in steppers}
    shown = progress(f"time {model} ({', '.join(steppers)}, interleaved)", reps) if show_progress else contextlib.nullcontext()
    with LoadWatch() as load, shown as advance:
        for k in range(reps):
            for fw in list(steppers)[:: 1 if k % 2 == 0 else -1]:
                if fw in out:
                    continue
                try:
                    times[fw].append(steppers[fw]())
                except Exception as exc:  # noqa: BLE001
                    out[fw] = exc
            if advance:
                advance(1)
    for fw, st in steppers.items():
        if fw in out:
            continue
        try:
            meter = energy_meter(st.backend)
            with RssPeak() as rss, meter:
                for _ in range(reps):
                    st()
        except Exception as exc:  # noqa: BLE001
            out[fw] = exc
            continue
        med = statistics.median(times[fw])
        out[fw] = {
            "batch": batch,
            "warmup": warmup,
            "reps": reps,
            "warmup_s": st.warmup_s,
            "interleaved_with": [f for f in frameworks if f != fw and f in steppers],
            "step_time_s_median": med,
            "step_time_s_min": min(times[fw]),
            "step_times_s": times[fw],
            "steps_per_s": 1.0 / med,
            "samples_per_s": batch / med,
            "load": load.to_json(),
            "peak_rss_mb": rss.peak,
            "device_peak_bytes": st.fw.peak_memory_bytes(st.device),
            "energy": _energy_json(meter.reading, float(reps), "forecast steps"),
        }
    return {fw: out[fw] for fw in frameworks}


# --------------------------------------------------------------------------- the run


def record(model: str, framework: str, backend: str, preset: str) -> dict[str, Any]:
    return {"model": model, "framework": framework, "backend": backend, "preset": preset, "status": "ok", "problems": []}


def _fail(rec: dict[str, Any], what: str, exc: BaseException) -> None:
    msg = str(exc) if isinstance(exc, EarthzooError) else f"{type(exc).__name__}: {str(exc)[:300]}"
    rec["problems"].append(f"{what}: {msg}")
    rec["status"] = "partial" if rec.get("inference") or rec.get("training") else "failed"


def run(
    models: list[str],
    frameworks: tuple[str, ...] = ("torch", "mindspore"),
    backend: str = "auto",
    preset: str = "small",
    train_steps: int | None = 20,
    out: str | os.PathLike = "bench",
    leads: int | None = None,
    n_init: int = 16,
    reps: int = 5,
    threads: int | None = None,
    budget: Budget | None = None,
    ms_train_steps: int | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure each model in each framework; train in torch first (its weights drive
    inference, forecasts and parity in every framework). With a ``budget`` (the demo)
    every model trains on its card's demo schedule (:func:`demo_schedule`) and each
    training phase is fitted to its share of the wall time left (earthzoo.budget);
    without, ``train_steps`` steps. Returns {schema, machine, records, models, budget}."""
    from .api import model_card

    say = log or (lambda s: None)
    out = writable_dir(out)
    set_threads(threads, frameworks)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": {"frameworks": list(frameworks), "backend": backend, "preset": preset, "train_steps": train_steps, "budget_s": budget.seconds if budget else None, "threads": threads, "reps": reps},
        "records": [],
        "models": {},
    }
    cards = {m: model_card(m) for m in models}
    plan = DemoPlan(budget, {m: demo_schedule(c) for m, c in cards.items()}, ms_train_steps or 15, after_s=REPORT_S) if budget else None
    data_for: dict[str, str | Exception] = {}
    for model, card in cards.items():  # every data set first: a first run generates them, which the plan cannot shorten
        try:
            with _phase(budget, f"data {model}"):
                data_for[model] = str(embedded_data(card, preset, out / "data"))
        except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the others
            data_for[model] = exc
    for model, card in cards.items():
        mdir = out / model
        mdir.mkdir(parents=True, exist_ok=True)
        recs = {fw: record(model, fw, backend_name(backend, fw), preset) for fw in frameworks}
        summary: dict[str, Any] = {"model": model, "preset": preset, "kind": card.kind, "time_step": card.time_step, "problems": []}
        result["models"][model] = summary
        weights = None
        data = data_for[model] if isinstance(data_for[model], str) else None
        if data is None:
            for r in recs.values():
                _fail(r, "data", data_for[model])
            summary["problems"].append(recs[frameworks[0]]["problems"][-1])
            say(f"{model}: {summary['problems'][-1]}")
        else:
            summary["data"] = data
        t_model, torch_s = budget.elapsed() if budget else 0.0, 0.0
        start = None
        if data is not None and (train_steps or plan):
            for fw in frameworks:
                if recs[fw]["problems"] or (fw != "torch" and "torch" in frameworks and weights is None):
                    if not recs[fw]["problems"]:
                        recs[fw]["problems"].append("training: not run (PyTorch training failed first, see its problem)")
                    continue
                try:
                    if plan:
                        cfg, box, what = plan.training(model, fw)
                        say(f"{model}: training in {fw} for {box.seconds:.0f} s at most after its setup ({what})")
                        with budget.phase(f"train {model} {fw}") as ph:
                            recs[fw]["training"] = measure_training(model, fw, preset, data, mdir / f"train_{fw}", cfg.steps, backend, show_progress=show_progress, cfg=cfg, replan=box, weights=start)
                        plan.trained(model, fw, recs[fw]["training"]["steps"], box, budget.elapsed() - ph["start_s"])
                        torch_s += box.steps_s if fw == "torch" else 0.0
                    else:
                        say(f"{model}: training {train_steps} steps in {fw}")
                        recs[fw]["training"] = measure_training(model, fw, preset, data, mdir / f"train_{fw}", train_steps, backend, show_progress=show_progress, weights=start)
                    if fw == "torch" or weights is None:
                        weights = recs[fw]["training"]["weights"]
                        start = recs[fw]["training"]["initial_weights"]  # the other frameworks start where this one did
                        summary["weights_from"] = fw
                except Exception as exc:  # noqa: BLE001
                    _fail(recs[fw], "training", exc)
                    say(f"{model} ({fw}): {recs[fw]['problems'][-1]}")
        if weights and "mindspore" in frameworks:
            try:
                with _phase(budget, f"convert {model}"):
                    summary["conversion"] = weights_round_trip(model, weights, mdir, preset)
            except Exception as exc:  # noqa: BLE001
                summary["problems"].append(f"weight conversion: {exc}")
        say(f"{model}: timing inference in {' and '.join(frameworks)}, interleaved")
        with _phase(budget, f"time {model}"):
            timed = measure_inference(model, frameworks, preset, weights, backend, reps=reps, show_progress=show_progress)
        for fw in frameworks:
            try:
                if isinstance(timed[fw], Exception):
                    raise timed[fw]
                recs[fw]["inference"] = timed[fw]
                recs[fw]["inference"]["weights"] = "trained" if weights else "random init"
                if recs[fw]["status"] == "failed":
                    recs[fw]["status"] = "partial"
            except Exception as exc:  # noqa: BLE001
                _fail(recs[fw], "inference", exc)
        if weights and data:
            n_leads = leads or (8 if card.kind == "atmosphere" else 5)
            try:
                say(f"{model}: forecasts and scores ({n_leads} steps)")
                with _phase(budget, f"forecast {model}"):
                    fs = forecast_and_score(model, weights, frameworks, data, mdir, n_leads, n_init, backend, show_progress)
                summary["inits"] = fs["inits"]
                summary["forecast_files"] = fs["forecast_files"]
                summary["truth"] = data
                if "parity" in fs:
                    summary["parity"] = fs["parity"]
                for fw, acc in fs["accuracy"].items():
                    recs[fw]["accuracy"] = acc
                    recs[fw]["persistence"] = persistence_verdict(acc)
                    summary["problems"] += persistence_problems(fw, recs[fw]["persistence"])
                first = fs["accuracy"].get("torch") or next(iter(fs["accuracy"].values()))
                summary["accuracy"] = first
                summary["persistence"] = persistence_verdict(first)
            except Exception as exc:  # noqa: BLE001
                summary["problems"].append(f"forecast/evaluate: {exc if isinstance(exc, EarthzooError) else repr(exc)[:300]}")
        elif not weights:
            summary["problems"].append("no trained weights: accuracy and forecast parity were not measured")
        if plan:
            plan.model_done(model, budget.elapsed() - t_model - torch_s)
        for fw in frameworks:
            summary["problems"] += [f"{fw}: {p}" for p in recs[fw]["problems"]]
            result["records"].append(recs[fw])
    if budget:
        result["budget"] = {**budget.to_json(), "plan": plan.to_json() if plan else None}
    return result


def _phase(budget: Budget | None, name: str):
    return budget.phase(name) if budget else contextlib.nullcontext()


def persistence_problems(framework: str, verdict: dict[str, Any]) -> list[str]:
    """A problem naming every channel (with its RMSE ratio) on which the forecast does
    not beat persistence at the first lead (by the verdict's bootstrap call where it has
    one, else by the ratio); none when it beats it on all."""
    hours = verdict["lead_hours"]
    at = f"{hours[-1]:g} h" if hours else "the first lead"
    calls = {ch: c["calls"][0] for ch, c in verdict.get("channels", {}).get("persistence", {}).items() if c.get("calls")}

    def beaten(ch: str, r: float | None) -> bool:
        return calls[ch] == "beats" if ch in calls else r is not None and r < 1

    worse = [f"{ch} ({'n/a' if r is None else f'{r:.3f}'}{'' if calls.get(ch, 'beats') == 'beats' else ', ' + calls[ch]})" for ch, r in verdict["rmse_ratio_vs_persistence"].items() if not beaten(ch, r)]
    return [f"{framework}: does not beat persistence at {at} on {len(worse)} channel(s): {', '.join(worse)} (RMSE / persistence RMSE)"] if worse else []
