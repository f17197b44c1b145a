"""``earthzoo parity``: the same weights and input through PyTorch and MindSpore."""

from __future__ import annotations

import click

from ..registry import get_registry
from . import app
from .output import emit_json, table


@app.command()
@click.argument("model")
@click.option("--preset", default=None, help="Config preset (default: the weights' config, else the model's first preset).")
@click.option("--steps", default=1, show_default=True, type=int, help="Autoregressive steps to compare.")
@click.option("--weights", default=None, help="Canonical .safetensors weights (default: torch random init).")
@click.option("--batch", default=1, show_default=True, type=int, help="Batch size of the example input.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random init and the input.")
@click.option("--config", "config_pairs", multiple=True, metavar="KEY=VALUE", help="Set a config field over the weights' or the preset's (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def parity(model: str, preset: str | None, steps: int, weights: str | None, batch: int, seed: int, config_pairs: tuple[str, ...], as_json: bool) -> None:
    """Compare MODEL in PyTorch and MindSpore: one step and an N-step rollout, per-step errors."""
    from ..parity import parity as run

    config = get_registry().model(model).parse_config(config_pairs)
    report = run(model, preset=preset, steps=steps, weights=weights, batch=batch, seed=seed, config=config)
    if as_json:
        emit_json(report)
        return
    table(f"earthzoo parity {model} ({report['preset']})", ["step", "max abs err", "rel rmse"], [(s["step"], f"{s['max_abs_err']:.3g}", f"{s['rel_rmse']:.3g}") for s in report["per_step"]])
