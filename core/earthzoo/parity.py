"""Torch <-> MindSpore parity for any model: one set of canonical weights, the same
input, one step and an N-step rollout in each framework, compared step by step.

Each framework rolls out on its own outputs (through the card's ``next_input``), so
the per-step errors show how differences grow, as they would in a real forecast."""

from __future__ import annotations

from typing import Any

import numpy as np

from .api import build_model, model_card
from .cards import resolve
from .errors import EarthzooError
from .frameworks import framework_module


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Max abs error and RMSE relative to the RMS of ``a``, over points finite in both;
    points finite in one array only count as an infinite error."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape:
        raise EarthzooError(f"outputs differ in shape: {a64.shape} vs {b64.shape}", "the two implementations do not build the same model; report this as a bug")
    fa, fb = np.isfinite(a64), np.isfinite(b64)
    if np.any(fa != fb):
        return {"max_abs_err": float("inf"), "rel_rmse": float("inf")}
    if not fa.any():
        return {"max_abs_err": 0.0, "rel_rmse": 0.0}
    d = a64[fa] - b64[fa]
    rms = float(np.sqrt(np.mean(a64[fa] ** 2)))
    return {"max_abs_err": float(np.max(np.abs(d))), "rel_rmse": float(np.sqrt(np.mean(d**2)) / rms) if rms > 0 else float(np.sqrt(np.mean(d**2)))}


def parity(model: str, preset: str | None = None, steps: int = 1, weights: str | None = None, batch: int = 1, seed: int = 0, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build ``model`` in torch and MindSpore from the same canonical weights (``weights``,
    or torch's random init at ``seed``), run ``steps`` autoregressive steps from the card's
    example input, and report the worst and per-step max abs error and relative RMSE.
    ``config`` sets config fields over the weights' or the preset's."""
    from .weights import load_canonical

    if steps < 1:
        raise EarthzooError(f"--steps must be at least 1, got {steps}", "pass --steps 1 or more")
    if batch < 1:
        raise EarthzooError(f"--batch must be at least 1, got {batch} (an empty input compares as a max error of 0)", "pass --batch 1 or more")
    card = model_card(model)
    for framework in ("torch", "mindspore"):
        if framework not in card.builders:
            raise EarthzooError(f"model {model!r} has no {framework} implementation, so there is nothing to compare", "parity needs both frameworks")
    if not card.example_input:
        raise EarthzooError(f"model {model!r} names no example_input on its card", "add example_input to the model card")
    need = "by parity, which runs the model in torch and MindSpore"
    tfw, mfw = framework_module("torch", need), framework_module("mindspore", need)
    w = load_canonical(weights) if weights else None
    if w is not None and w.model and w.model != model:
        raise EarthzooError(f"weights {weights!r} are for model {w.model!r}, not {model!r}", f"run: earthzoo parity {w.model} --weights {weights}")
    config = card.config_from_dict({**(w.config if w is not None and preset is None else {}), **(config or {})}, preset)
    tfw.seed_everything(seed)
    tmodel = build_model(model, "torch", config=config)
    if w is not None:
        tfw.load_numpy_state(tmodel, w.tensors, f"model {model!r}")
    tensors = tfw.state_to_numpy(tmodel)
    mmodel = build_model(model, "mindspore", config=config)
    mfw.load_numpy_state(mmodel, tensors, f"model {model!r} (MindSpore)")
    t_forward, m_forward = tfw.inference_function(tmodel), mfw.inference_function(mmodel)
    next_input = resolve(card.next_input) if card.next_input else (lambda x, y, step, cfg: y)

    x0 = np.asarray(resolve(card.example_input)(config, batch, seed), dtype=np.float32)
    xt, xm = x0, x0.copy()
    per_step = []
    for step in range(1, steps + 1):
        yt, ym = t_forward(xt), m_forward(xm)
        per_step.append({"step": step, **compare(yt, ym)})
        if step < steps:
            xt = np.asarray(next_input(xt, yt, step, config), dtype=np.float32)
            xm = np.asarray(next_input(xm, ym, step, config), dtype=np.float32)
    return {
        "model": model,
        "preset": preset or ("from weights" if w is not None else card.presets[0]),
        "steps": steps,
        "max_abs_err": max(s["max_abs_err"] for s in per_step),
        "rel_rmse": max(s["rel_rmse"] for s in per_step),
        "one_step": {k: per_step[0][k] for k in ("max_abs_err", "rel_rmse")},
        "per_step": per_step,
        "weights": weights or f"torch random init (seed {seed})",
        "batch": batch,
        "parameters": int(sum(v.size for v in tensors.values())),
    }
