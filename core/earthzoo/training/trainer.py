"""The training run shared by every model and both frameworks: build, resume,
loop, log, checkpoint. The engines do the framework-specific work."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import EarthzooError
from ..files import atomic_write_text
from . import checkpoint as ckpt_mod
from . import masking
from .config import TrainConfig
from .data import ArrayData, BatchPlan, SpecData, training_data
from .memory import check_training

LOG = "train_log.jsonl"


def world_from_env(framework: str) -> tuple[int, int]:
    """(rank, world) of this process as set by torchrun or msrun; (0, 1) otherwise."""
    if framework == "torch" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"])
    if framework == "mindspore" and int(os.environ.get("MS_WORKER_NUM", "1")) > 1:
        return -1, int(os.environ["MS_WORKER_NUM"])  # rank known after communication.init()
    return 0, 1


def _identity_next(x, y, step, config):
    return y


def make_engine(framework: str, model: Any, cfg: TrainConfig, ctx: Any, card: Any, model_config: Any, layout: Any = None):
    from ..api import precision_plan
    from ..cards import resolve
    from ..registry import get_plugin_manager
    from ..runtime import MemoryPlan

    pm = get_plugin_manager()
    plan = precision_plan(ctx.backend, framework, cfg.precision)
    memory: list[str] = []
    if cfg.checkpointing:
        memory = (
            pm.hook.earthzoo_memory_schedule(
                backend=ctx.backend, framework=framework, model=model, plan=MemoryPlan(activation_checkpointing=True)
            )
            or []
        )
    next_input = resolve(card.next_input) if card.next_input else _identity_next
    if framework == "torch":
        from .engine_torch import TorchEngine as Engine
    else:
        from .engine_mindspore import MindSporeEngine as Engine
    engine = Engine(model, cfg, ctx, next_input, plan, model_config, layout=layout)
    engine.memory_applied = memory
    return engine


def _dist(framework: str):
    if framework == "torch":
        from . import engine_torch as m
    else:
        from . import engine_mindspore as m
    return m


def train(
    model_name: str,
    *,
    framework: str = "torch",
    preset: str | None = None,
    data: str | ArrayData | SpecData,
    out: str | os.PathLike,
    cfg: TrainConfig,
    resume: bool = False,
    backend: str = "auto",
    weights: str | None = None,
    show_progress: bool = True,
    on_step: Callable[[dict], None] | None = None,
    replan: Callable[[int], int] | None = None,
    save_initial: bool = False,
) -> dict[str, Any]:
    """Train ``model_name`` on ``data`` (a data source name, a NetCDF/Zarr path or
    in-memory :class:`ArrayData` / :class:`SpecData`) for ``cfg.steps`` optimizer updates, writing
    logs, checkpoints and final canonical weights to ``out``. Returns a summary.
    ``replan(steps_done)``, called with 0 before the first step and then after each,
    returns the run's new step count (a wall-clock budget, one process:
    :class:`earthzoo.budget.TimeBox`): the run ends there and the learning-rate
    schedule follows it. ``save_initial`` also writes the weights the run starts from
    (:data:`INITIAL_WEIGHTS` in ``out``), so another framework can start from them."""
    from ..api import build_model, check_weights_model, model_card, setup_device
    from ..frameworks import framework_module
    from ..ops import apply_custom_ops
    from ..weights import config_to_dict, load_canonical

    card = model_card(model_name)
    model_config = card.make_config(preset)
    preset = preset or card.presets[0]
    # The checks of the arguments and the data (channels, grid, length, batch size) need no framework: they come first.
    start_weights = load_canonical(weights) if weights else None
    if start_weights is not None:
        check_weights_model(start_weights, model_name, weights)
    dataset = data if isinstance(data, (ArrayData, SpecData)) else training_data(data, card, model_config, cfg.rollout_steps)
    data_id = data if isinstance(data, str) else f"arrays:{dataset.description}:{len(dataset)}"
    if cfg.batch_size > len(dataset):
        raise EarthzooError(
            f"--batch-size {cfg.batch_size} is larger than the {len(dataset)} training samples of {dataset.description}",
            f"use --batch-size {len(dataset)} or less, or more data (a batch would hold samples twice)",
        )
    fw = framework_module(framework)
    rank, world = world_from_env(framework)
    ctx = setup_device(backend, framework, max(rank, 0), world)
    dist = _dist(framework)
    dist.init_distributed(ctx)
    if rank < 0:
        from mindspore.communication import get_rank

        ctx.rank = rank = get_rank()
    main = rank == 0

    out = Path(out)
    found = ckpt_mod.latest(out) if out.is_dir() else None
    if found is not None and not resume:
        raise EarthzooError(
            f"output {str(out)!r} already holds a training run (checkpoint {found.name})",
            "add --resume to continue it, or choose a new --out",
        )

    fw.seed_everything(cfg.seed)
    model = build_model(model_name, framework, config=model_config)
    apply_custom_ops(model, framework, ctx.backend)
    meta = {
        "model": model_name,
        "preset": preset,
        "framework": framework,
        "model_config": json.loads(json.dumps(config_to_dict(model_config))),
        "data": data_id,
        "train_config": cfg.to_json(),
        "world_size": world,
    }
    if start_weights is not None:
        fw.load_numpy_state(model, start_weights.tensors, f"model {model_name!r} ({preset})")
    elif card.data_init and not (resume and found is not None):
        _init_from_data(fw, model, card, model_config, dataset)
    sample = dataset.get(np.arange(1))
    memory_check = check_training(model, framework, ctx.device, sample, cfg.batch_size // world, cfg.rollout_steps, cfg.checkpointing)
    if main:  # only now: a refused run leaves no folder and no empty log behind
        ckpt_mod.prepare_output(out)
    if world > 1 and not weights:
        _start_from_rank0(fw, model, out, main, dist, model_name, meta)
    elif save_initial and main:
        _save_initial(fw, model, out, model_name, meta)
    layout = getattr(dataset, "layout", None)
    if cfg.stage == "masked":
        masking.check_model(model, model_config, model_name)
    engine = make_engine(framework, model, cfg, ctx, card, model_config, layout)

    start = 0
    if resume and found is not None:
        state = ckpt_mod.load(found)
        ckpt_mod.check_compatible(state.meta, meta, str(out))
        engine.load_weights(state.weights)
        engine.load_optimizer_state(state.optimizer)
        engine.set_rng_state(state.rng_arrays, state.rng_meta)
        start = state.step
    elif resume and main:
        print(f"note: no checkpoint in {str(out)!r}; starting from step 0", flush=True)

    plan = BatchPlan(len(dataset), cfg.batch_size, cfg.accum_steps, cfg.seed, rank, world)
    log_path = out / LOG
    if main:
        _truncate_log(log_path, start)
    last_good = found if start else None
    history: list[dict] = []
    t_start = time.perf_counter()
    bar = _progress(f"train {model_name} ({framework})", cfg.steps) if (main and show_progress) else contextlib.nullcontext(None)
    compiling = framework == "mindspore" and main and show_progress  # the first step builds the graph, silently
    with bar as advance, log_path.open("a") if main else contextlib.nullcontext() as log:
        if advance and start:
            advance(start)
        step = start
        if replan is not None:
            cfg = cfg.replace(steps=max(start + 1, int(replan(0))))
        while step < cfg.steps:
            batches = [dataset.get(plan.indices(step, a)) for a in range(cfg.accum_steps)]
            if cfg.stage == "masked":
                ocean = layout.mask if layout is not None else None
                batches = [
                    masking.masked_batch(
                        b[0], masking.reconstruction_target(b[0], layout), model_config, ocean, cfg.seed, step, a, (rank, world)
                    )
                    for a, b in enumerate(batches)
                ]
            lr = cfg.lr_at(step)
            t0 = time.perf_counter()
            with _ticking(f"compiling the MindSpore graph of {model_name} (first step)") if compiling and step == start else contextlib.nullcontext():
                loss = engine.step(batches, lr)
            dt = time.perf_counter() - t0
            if not np.isfinite(loss):
                kept = f"the last good checkpoint {str(last_good)!r} is kept" if last_good else "no checkpoint was written yet"
                raise EarthzooError(
                    f"training loss became {loss} at step {step + 1}; stopped ({kept})",
                    "lower --lr, check the data for bad values, then --resume from the last good checkpoint",
                )
            rec = {"step": step + 1, "loss": loss, "lr": lr, "samples_per_s": cfg.batch_size * cfg.accum_steps / dt, "step_time_s": dt}
            history.append(rec)
            if replan is not None:
                steps = max(step + 1, int(replan(step + 1)))
                if steps != cfg.steps:
                    cfg = cfg.replace(steps=steps)
                    meta["train_config"] = cfg.to_json()
            if main:
                log.write(json.dumps(rec) + "\n")
                log.flush()
                if advance:
                    advance(1, total=cfg.steps, loss=loss, lr=lr)
                if on_step:
                    on_step(rec)
            due = (cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0) or step + 1 == cfg.steps
            if due:
                if main:
                    log.flush()
                    arrays, rng_meta = engine.rng_state()
                    last_good = ckpt_mod.save(
                        out,
                        ckpt_mod.Checkpoint(step + 1, engine.weights(), engine.optimizer_state(), arrays, meta, rng_meta, dataset.stats),
                    )
                dist.barrier()
            step += 1

    summary: dict[str, Any] = {
        "model": model_name,
        "framework": framework,
        "preset": preset,
        "steps": cfg.steps,
        "resumed_from": start,
        "world_size": world,
        "out": str(out),
        "seconds": time.perf_counter() - t_start,
        "memory": engine.memory_applied,
        "memory_check": memory_check,
    }
    if main:
        from ..weights import Weights, save_canonical

        final = engine.weights()
        save_canonical(
            out / "weights.safetensors",
            Weights(final, model_name, meta["model_config"], f"earthzoo train {framework} {cfg.steps} steps", dataset.stats),
        )
        records = read_log(log_path)
        summary["final_loss"] = records[-1]["loss"] if records else None
        summary["weights"] = str(out / "weights.safetensors")
        summary["log"] = str(log_path)
        try:
            summary["plot"] = str(plot_loss(records, out / "loss_curve.png", f"{model_name} ({framework}, {preset})"))
        except EarthzooError as exc:  # plotting is optional: the weights and summary are the job
            from ..plotting import plot_skipped

            summary["plot"] = None
            summary["plot_skipped"] = plot_skipped(exc)
            print(summary["plot_skipped"], file=sys.stderr)
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    dist.finish_distributed()
    return summary


def _init_from_data(fw: Any, model: Any, card: Any, model_config: Any, dataset: Any) -> None:
    """Set the parameters the card's ``data_init`` derives from the training data."""
    from ..cards import resolve
    from .data import change_std

    scale = change_std(dataset)
    state = fw.state_to_numpy(model)
    values = resolve(card.data_init)(model_config, scale, state) if scale is not None else {}
    if values:
        state.update({k: np.asarray(v, state[k].dtype).reshape(state[k].shape) for k, v in values.items()})
        fw.load_numpy_state(model, state, f"model {card.name!r} initialised from its data")


INITIAL_WEIGHTS = "initial-weights.safetensors"


def _save_initial(fw: Any, model: Any, out: Path, model_name: str, meta: dict) -> None:
    from ..weights import Weights, save_canonical

    save_canonical(out / INITIAL_WEIGHTS, Weights(fw.state_to_numpy(model), model_name, meta["model_config"], "initialisation"))


def _start_from_rank0(fw: Any, model: Any, out: Path, main: bool, dist: Any, model_name: str, meta: dict) -> None:
    """Give every rank rank 0's initial weights. MindSpore's initialisers draw
    differently in each msrun worker even with one seed, and data parallelism is
    only right when all replicas start equal (DDP broadcasts; this does the same
    through a file, which suits one machine)."""
    from ..weights import load_canonical

    if main:
        _save_initial(fw, model, out, model_name, meta)
    dist.barrier()
    fw.load_numpy_state(model, load_canonical(out / INITIAL_WEIGHTS).tensors, f"model {model_name!r}")


def _progress(description: str, total: int):
    from ..cli.output import progress

    return progress(description, total)


def _ticking(description: str):
    from ..cli.output import ticking

    return ticking(description)


def read_log(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _truncate_log(path: Path, start: int) -> None:
    """Keep only the log lines of steps already taken (a resumed run rewrites the rest)."""
    records = [r for r in read_log(path) if r["step"] <= start]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def plot_loss(records: list[dict], target: Path, title: str) -> Path:
    from ..plotting import loss_figure

    return loss_figure({"loss": ([r["step"] for r in records], [r["loss"] for r in records])}, title, target, dpi=100)
