"""Measurement for every model, framework and backend in one form: training time
per step and per epoch of the embedded data, inference time per forecast step
(warm-up, device synchronisation, median of several), throughput, peak memory,
energy through the backend's meter (or "unavailable" with the reason), accuracy
by lead against persistence and climatology, and torch-vs-MindSpore parity of
forecasts from the same initial states.

One JSON record per (model, framework, backend, preset), plus a machine
description, so results from different machines can be put side by side
(:func:`compare`). ``earthzoo bench`` and ``earthzoo demo`` are the callers;
frameworks are imported only when a measurement runs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .budget import Budget, DemoPlan, demo_schedule
from .errors import EarthzooError
from .files import atomic_write_text, json_text, writable_dir

SCHEMA = "earthzoo-bench/1"
SOURCES = {"atmosphere": "synthetic-atmosphere", "ocean": "synthetic-ocean"}
DATA_SIZES = ("tiny", "small")
REPORT_S = 20.0  # writing the report and figures after a budgeted run, seconds on a quiet 2-core CPU


# --------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 2)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on (versions read from package metadata: no framework import)."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("earthzoo", "torch", "mindspore", "numpy")},
    }


# --------------------------------------------------------------------------- helpers


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class RssPeak:
    """Highest resident set size (MiB) of this process while the block runs, sampled
    in a thread: ru_maxrss would only show the peak of importing two frameworks."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = self.peak = 0.0

    def __enter__(self) -> "RssPeak":
        self.start = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


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
    """The same CPU thread count for both frameworks (MindSpore's own default is 25 threads)."""
    if not threads:
        return
    if "torch" in frameworks:
        import torch

        torch.set_num_threads(threads)
    if "mindspore" in frameworks:
        import mindspore as ms

        from .frameworks import mindspore as mfw

        mfw.set_device("CPU")
        try:
            ms.device_context.cpu.op_tuning.threads_num(threads)
        except Exception:  # noqa: BLE001 - may only be set once per process
            pass


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
) -> dict[str, Any]:
    """Train ``steps`` updates (or by ``cfg``, ending where ``replan`` says: a time
    box) with the engine and time them: the median step (the first step, which
    compiles MindSpore's graph, is left out), the time of one pass over the training
    samples, throughput, peak memory and energy."""
    from .frameworks import framework_module
    from .training import TrainConfig, train
    from .training.trainer import read_log

    name = backend_name(backend, framework)
    cfg = cfg or TrainConfig(steps=steps, batch_size=batch_size, seed=seed, checkpoint_every=0, lr=5e-4, warmup_steps=min(5, max(0, steps // 10)))
    batch_size = cfg.batch_size
    meter = energy_meter(name)
    with RssPeak() as rss, meter:
        summary = train(model, framework=framework, preset=preset, data=data, out=out, cfg=cfg, backend=backend, show_progress=show_progress, replan=replan)
    log = read_log(out / "train_log.jsonl")
    steps = len(log)
    times = [r["step_time_s"] for r in log]
    steady = times[1:] if len(times) > 1 else times
    step_s = statistics.median(steady)
    samples = _train_samples(data)
    per_epoch_steps = math.ceil(samples / batch_size)
    device = _device(framework, name)
    fw = framework_module(framework)
    peak_dev = fw.peak_memory_bytes(device) if hasattr(fw, "peak_memory_bytes") else None

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
        "log": summary.get("log"),
        "peak_rss_mb": rss.peak,
        "rss_growth_mb": rss.peak - rss.start,
        "device_peak_bytes": peak_dev,
        "energy": _energy_json(meter.reading, batch_size * len(times), "samples"),
    }


def splits(ds: Any) -> dict[str, slice]:
    """The engine's train/valid/test split of a data set (earthzoo.data.time_splits)."""
    from .data import time_splits

    return time_splits(ds["time"].values)


def _train_samples(data: str) -> int:
    from .training.data import open_source

    tr = splits(open_source(data))["train"]
    return max(1, (tr.stop - tr.start) - 1)


def _device(framework: str, backend: str) -> str:
    from .api import setup_device

    return str(setup_device(backend, framework).device)


# --------------------------------------------------------------------------- inference


def measure_inference(model: str, framework: str, preset: str, weights: str | None = None, backend: str = "auto", batch: int = 1, warmup: int = 2, reps: int = 5, seed: int = 0, show_progress: bool = False) -> dict[str, Any]:
    """Time one forecast step: ``warmup`` calls (compilation), then ``reps`` calls each
    closed by a device synchronize; the median is the figure, as in the study's Table 4."""
    from .api import build_model, load_model, model_card, setup_device
    from .cards import resolve
    from .cli.output import progress, ticking
    from .frameworks import framework_module

    card = model_card(model)
    name = backend_name(backend, framework)
    ctx = setup_device(name, framework)
    fw = framework_module(framework)
    if weights:
        net = load_model(model, framework, weights=weights, backend=name)
        from .weights import load_canonical

        config = card.config_from_dict(load_canonical(weights).config)
    else:
        config = card.make_config(preset)
        fw.seed_everything(seed)
        net = fw.prepare_for_inference(build_model(model, framework, config=config), ctx)
    x = np.asarray(resolve(card.example_input)(config, batch, seed), np.float32)
    step = fw.inference_function(net)
    sync = ctx.synchronize if getattr(ctx, "synchronize", None) else (lambda: fw.synchronize(str(ctx.device)))
    t0 = time.perf_counter()
    what = f"time {model} ({framework}): {max(1, warmup)} warm-up call(s)" + (", compiling the graph" if framework == "mindspore" else "")
    with ticking(what) if show_progress else contextlib.nullcontext():
        for _ in range(max(1, warmup)):
            step(x)
        sync()
    warm_s = time.perf_counter() - t0
    meter = energy_meter(name)
    times = []
    with RssPeak() as rss, meter, progress(f"time {model} ({framework})", reps) if show_progress else contextlib.nullcontext() as advance:
        for _ in range(reps):
            t = time.perf_counter()
            step(x)
            sync()
            times.append(time.perf_counter() - t)
            if advance:
                advance(1, s_per_step=times[-1])
    med = statistics.median(times)
    return {
        "batch": batch,
        "warmup": warmup,
        "reps": reps,
        "warmup_s": warm_s,
        "step_time_s_median": med,
        "step_time_s_min": min(times),
        "step_times_s": times,
        "steps_per_s": 1.0 / med,
        "samples_per_s": batch / med,
        "peak_rss_mb": rss.peak,
        "device_peak_bytes": fw.peak_memory_bytes(str(ctx.device)) if hasattr(fw, "peak_memory_bytes") else None,
        "energy": _energy_json(meter.reading, float(reps), "forecast steps"),
    }


# --------------------------------------------------------------------------- accuracy and parity


def test_inits(held_out_start: int, n_times: int, leads: int, count: int) -> list[int]:
    """Initial-time indices from the held-out part (from ``held_out_start``) whose
    forecasts stay inside the data, evenly spaced."""
    first, last = held_out_start, n_times - 1 - leads
    if last < first:
        raise EarthzooError(f"the held-out data ({n_times - held_out_start} times) is too short for {leads} forecast steps", "use fewer --leads")
    idx = np.unique(np.linspace(first, last, num=min(count, last - first + 1)).round().astype(int))
    return [int(i) for i in idx]


def forecast_and_score(model: str, weights: str, frameworks: tuple[str, ...], data: str, out: Path, leads: int, n_init: int = 4, backend: str = "auto", show_progress: bool = True) -> dict[str, Any]:
    """Forecast from the same held-out initial states in each framework, score each
    against the truth with persistence and climatology baselines (climatology of the
    training part), and compare the frameworks' forecasts lead by lead."""
    from .data import climatology, read_dataset
    from .metrics import evaluate
    from .parity import compare
    from .training.data import open_source
    from .training.forecast import forecast

    truth = open_source(data)
    sp = splits(truth)
    inits = test_inits(sp["valid"].start, truth.sizes["time"], leads, n_init)
    clim = climatology(truth, split=sp["train"])
    result: dict[str, Any] = {"inits": inits, "leads": leads, "forecast_files": {}, "accuracy": {}}
    arrays = {}
    for fwk in frameworks:
        path = out / f"forecast_{fwk}.nc"
        forecast(model, weights=weights, framework=fwk, init=data, steps=leads, out=str(path), init_indices=inits, backend=backend, show_progress=show_progress)
        fc = read_dataset(path, load=True)  # the per-variable file, stacked
        arrays[fwk] = fc["fields"].values
        result["forecast_files"][fwk] = str(path)
        # score on the forecast's rows (a model may drop the data's southern pole row)
        rows = fc["lat"].values
        result["accuracy"][fwk] = evaluate(fc, truth.sel(lat=rows), clim.sel(lat=rows))
    if "torch" in arrays and "mindspore" in arrays:
        a, b = arrays["torch"], arrays["mindspore"]
        per_lead = [compare(a[:, k], b[:, k]) for k in range(a.shape[1])]
        result["parity"] = {**compare(a, b), "per_lead": per_lead, "what": "torch vs MindSpore forecasts (physical units) from the same weights and initial states"}
    return result


def persistence_verdict(acc: dict[str, Any], short_leads: int = 1) -> dict[str, Any]:
    """Does the forecast beat persistence at the first ``short_leads`` leads? Ratio of
    RMSEs forecast/persistence per channel (below 1 = better), and a one-line verdict."""
    m = acc["metrics"]
    ratios = {}
    for ch in acc["channels"]:
        f, p = m["forecast"][ch]["rmse"][:short_leads], m["persistence"][ch]["rmse"][:short_leads]
        vals = [fi / pi for fi, pi in zip(f, p) if fi is not None and pi]
        ratios[ch] = float(np.mean(vals)) if vals else None
    known = [r for r in ratios.values() if r is not None]
    worse = [ch for ch, r in ratios.items() if r is not None and r >= 1]
    beats = bool(known) and not worse
    hours = acc["lead_time_hours"][:short_leads]
    lead_txt = f"{hours[-1]:g} h" if hours else "the first lead"
    if beats:
        verdict = f"beats persistence on every channel up to {lead_txt} (mean RMSE ratio {np.mean(known):.3f})"
    else:
        verdict = f"does NOT beat persistence up to {lead_txt} on {', '.join(worse) or 'any channel'} (mean RMSE ratio {np.mean(known) if known else float('nan'):.3f})"
    return {"beats_persistence": beats, "rmse_ratio_vs_persistence": ratios, "mean_ratio": float(np.mean(known)) if known else None, "lead_hours": hours, "verdict": verdict}


def weights_round_trip(model: str, weights: str, folder: Path, preset: str) -> dict[str, Any]:
    """canonical -> MindSpore checkpoint -> canonical, each step verified tensor by tensor."""
    from .convert import convert
    from .weights import load_canonical, verify

    ckpt = folder / "weights_mindspore.ckpt"
    back = folder / "weights_roundtrip.safetensors"
    to_ms = convert(weights, str(ckpt), model, dst_format="mindspore", check=True)
    to_canon = convert(str(ckpt), str(back), model, src_format="mindspore", dst_format="safetensors", preset=preset, check=True)
    final = verify(load_canonical(weights).tensors, load_canonical(back).tensors)
    return {
        "mindspore_checkpoint": str(ckpt),
        "round_trip": str(back),
        "tensors": to_ms["tensors"],
        "parameters": to_ms["parameters"],
        "equal": final.equal,
        "verify": final.to_json(),
        "steps": [to_ms.get("verify"), to_canon.get("verify")],
    }


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
    n_init: int = 4,
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
                            recs[fw]["training"] = measure_training(model, fw, preset, data, mdir / f"train_{fw}", cfg.steps, backend, show_progress=show_progress, cfg=cfg, replan=box)
                        plan.trained(model, fw, recs[fw]["training"]["steps"], box, budget.elapsed() - ph["start_s"])
                        torch_s += box.steps_s if fw == "torch" else 0.0
                    else:
                        say(f"{model}: training {train_steps} steps in {fw}")
                        recs[fw]["training"] = measure_training(model, fw, preset, data, mdir / f"train_{fw}", train_steps, backend, show_progress=show_progress)
                    if fw == "torch" or weights is None:
                        weights = recs[fw]["training"]["weights"]
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
        for fw in frameworks:
            try:
                say(f"{model}: timing inference in {fw} (2 warm-up calls, then {reps})")
                with _phase(budget, f"time {model} {fw}"):
                    recs[fw]["inference"] = measure_inference(model, fw, preset, weights, backend, reps=reps, show_progress=show_progress)
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
    """A problem naming every channel (with its RMSE ratio) on which the forecast is
    not better than persistence at the first lead; none when it beats it on all."""
    hours = verdict["lead_hours"]
    at = f"{hours[-1]:g} h" if hours else "the first lead"
    worse = [f"{ch} ({'n/a' if r is None else f'{r:.3f}'})" for ch, r in verdict["rmse_ratio_vs_persistence"].items() if r is None or r >= 1]
    return [f"{framework}: does not beat persistence at {at} on {len(worse)} channel(s): {', '.join(worse)} (RMSE / persistence RMSE)"] if worse else []


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic_write_text(path, json_text(result))
    return path




# --------------------------------------------------------------------------- compare


def load_result(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise EarthzooError(f"benchmark file {str(p)!r} does not exist", "pass a JSON written by earthzoo bench --json or a benchmarks/ script") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise EarthzooError(f"cannot read benchmark file {str(p)!r} ({type(exc).__name__})", "pass a JSON written by earthzoo bench --json") from exc
    if not isinstance(d, dict) or "records" not in d:
        raise EarthzooError(f"{str(p)!r} is not an earthzoo bench result (no 'records')", "pass a JSON written by earthzoo bench --json or earthzoo demo (report.json)")
    return d


METRICS = (
    ("train step (s)", ("training", "step_time_s_median")),
    ("epoch (s)", ("training", "epoch_time_s")),
    ("inference step (s)", ("inference", "step_time_s_median")),
    ("peak RSS (MiB)", ("inference", "peak_rss_mb")),
)


def _get(rec: dict, keys: tuple[str, ...]) -> float | None:
    v: Any = rec
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return float(v) if isinstance(v, (int, float)) else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Side-by-side rows for records present in both results, matched by (model,
    framework, preset); ``ratio`` = B / A (below 1: B is faster or smaller)."""
    index = {(r["model"], r["framework"], r["preset"]): r for r in b["records"]}
    rows = []
    for ra in a["records"]:
        rb = index.get((ra["model"], ra["framework"], ra["preset"]))
        if rb is None:
            continue
        for label, keys in METRICS:
            va, vb = _get(ra, keys), _get(rb, keys)
            if va is None and vb is None:
                continue
            rows.append(
                {
                    "model": ra["model"],
                    "framework": ra["framework"],
                    "preset": ra["preset"],
                    "metric": label,
                    "a": va,
                    "b": vb,
                    "a_backend": ra["backend"],
                    "b_backend": rb["backend"],
                    "ratio_b_over_a": (vb / va) if va and vb is not None else None,
                }
            )
    return rows
