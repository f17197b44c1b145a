"""``earthzoo train`` and ``earthzoo forecast``: one command for every model in
both frameworks. Nothing heavy is imported until a command runs."""

from __future__ import annotations

import sys

import click

from ..errors import EarthzooError
from ..registry import get_registry
from . import app
from .output import emit_json

FRAMEWORK = click.Choice(["torch", "mindspore"])


@app.command()
@click.argument("model")
@click.option("--framework", type=FRAMEWORK, default="torch", show_default=True)
@click.option("--preset", default=None, help="Model preset (default: the card's first, usually tiny).")
@click.option("--data", "data", required=True, help="Data source name (earthzoo data list) or a NetCDF/Zarr file in the internal form.")
@click.option("--steps", type=int, default=100, show_default=True, help="Optimizer updates.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder: log, checkpoints, weights, plot.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--checkpointing", is_flag=True, help="Activation checkpointing (through the backend's memory hook).")
@click.option("--nproc", type=int, default=1, show_default=True, help="Data-parallel processes (torchrun / msrun).")
@click.option("--backend", default="auto", show_default=True)
@click.option("--batch-size", type=int, default=2, show_default=True, help="Global batch per micro-batch: at most the number of training samples; refused, with the estimate and the free memory, when it cannot fit.")
@click.option("--lr", type=float, default=5e-4, show_default=True)
@click.option("--weight-decay", type=float, default=0.05, show_default=True)
@click.option("--warmup", type=int, default=0, show_default=True, help="Linear warm-up steps before the cosine.")
@click.option("--grad-clip", type=float, default=1.0, show_default=True, help="Global-norm clip (0: off).")
@click.option("--accum", type=int, default=1, show_default=True, help="Gradient-accumulation micro-batches per update.")
@click.option("--rollout", type=int, default=1, show_default=True, help="Autoregressive steps in the loss.")
@click.option("--stage", type=click.Choice(["forecast", "masked"]), default="forecast", show_default=True, help="masked: MAE pre-training (models with forward_masked, e.g. ai_goms): reconstruct hidden patches; then train --stage forecast --weights OUT/weights.safetensors.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=int, default=10, show_default=True)
@click.option("--weights", default=None, help="Start from these canonical weights instead of a fresh initialisation.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def train(model, framework, preset, data, steps, out, resume, precision, checkpointing, nproc, backend, batch_size, lr, weight_decay, warmup, grad_clip, accum, rollout, stage, seed, checkpoint_every, weights, as_json) -> None:
    """Train MODEL on --data for --steps updates, in torch (eager) or MindSpore (graph mode)."""
    from ..training.config import TrainConfig

    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup_steps=warmup, grad_clip=grad_clip, accum_steps=accum, rollout_steps=rollout, stage=stage, seed=seed, precision=precision, checkpointing=checkpointing, checkpoint_every=checkpoint_every)
    if nproc > 1:
        from ..training.distributed import launch, strip_nproc

        args = strip_nproc(sys.argv[sys.argv.index("train") :] if "train" in sys.argv else [])
        if not args:
            raise EarthzooError("--nproc needs the command line of this process to relaunch it", "run it as `earthzoo train ... --nproc K`")
        launch(framework, nproc, args, out)
        if as_json:
            import json
            from pathlib import Path

            emit_json(json.loads((Path(out) / "summary.json").read_text()))
        return
    from ..training.trainer import train as run_train

    summary = run_train(model, framework=framework, preset=preset, data=data, out=out, cfg=cfg, resume=resume, backend=backend, weights=weights, show_progress=not as_json)
    if as_json and summary.get("weights"):
        emit_json(summary)
    elif summary.get("weights"):
        click.echo(f"trained {model} ({framework}) for {steps} steps: final loss {summary['final_loss']:.4g}; weights {summary['weights']}; log {summary['log']}" + (f"; plot {summary['plot']}" if summary.get("plot") else ""))


@app.command()
@click.argument("model")
@click.option("--weights", required=True, help="Canonical weights (safetensors), e.g. OUT/weights.safetensors from earthzoo train.")
@click.option("--framework", type=FRAMEWORK, default="torch", show_default=True)
@click.option("--init", "init", required=True, help="Data source name or NetCDF/Zarr file holding the initial state(s).")
@click.option("--steps", type=int, default=8, show_default=True, help="Autoregressive steps (lead times).")
@click.option("--out", "out", required=True, help="Output file: .nc (NetCDF) or .zarr.")
@click.option("--init-index", "init_index", multiple=True, type=int, help="Time index(es) of the initial state in --init (default: 0, the first); negative ones count from the end as in Python (-1: the last time). Repeat for a batch of forecasts.")
@click.option("--backend", default="auto", show_default=True)
@click.option("--config", "config_pairs", multiple=True, metavar="KEY=VALUE", help="Set a model config field over the weights' (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True, help="Run the model in bf16/fp16 (the backend's plan); the file is float32.")
@click.option("--compile", "compile_", is_flag=True, help="torch only: run the model through torch.compile (compiling takes up to a minute at paper size; then about 0.9x the time on CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print a summary as JSON.")
def forecast(model, weights, framework, init, steps, out, init_index, backend, config_pairs, overwrite, precision, compile_, as_json) -> None:
    """Roll MODEL forward --steps steps from initial states in --init; write CF NetCDF/Zarr."""
    from ..training.forecast import forecast as run_forecast

    config = get_registry().model(model).parse_config(config_pairs)
    summary = run_forecast(model, weights=weights, framework=framework, init=init, steps=steps, out=out, init_indices=list(init_index) or None, backend=backend, show_progress=not as_json, config=config, overwrite=overwrite, precision=precision, compile=compile_)
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"forecast {model} ({framework}): {summary['inits']} initial state(s) x {steps} steps -> {summary['out']}")
