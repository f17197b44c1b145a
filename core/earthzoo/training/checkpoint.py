"""Training checkpoints that an interrupted run can always resume from.

A checkpoint is a folder ``OUT/checkpoints/step-NNNNNN`` with

- ``weights.safetensors``: canonical weights (earthzoo.weights, torch names,
  normalisation statistics as extras) - loadable by ``earthzoo forecast``;
- ``optimizer.safetensors``: AdamW moments by parameter name and RNG arrays,
  framework-neutral;
- ``state.json``: step (= data position: the batch plan is a function of the
  step), RNG metadata, the model, preset, model config, data and training config.

It is written into a temporary folder and renamed into place; only then is the
pointer ``OUT/checkpoint.json`` replaced (atomically) to name it. A kill at any
moment leaves the previous checkpoint named by the pointer intact."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EarthzooError
from ..files import _write_error, atomic_dir, atomic_write_text, writable_dir
from ..weights import Weights, load_canonical, save_canonical

POINTER = "checkpoint.json"
KEEP = 2


@dataclass
class Checkpoint:
    step: int
    weights: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    rng_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # identity of the run: model, preset, configs, data
    rng_meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def prepare_output(out: str | os.PathLike) -> Path:
    """Create the output folder and prove it is writable, with one-line errors."""
    return writable_dir(out)


def save(out: str | os.PathLike, ckpt: Checkpoint) -> Path:
    out = Path(out)
    root = out / "checkpoints"
    name = f"step-{ckpt.step:06d}"
    final = root / name
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(root, exc) from exc
    with atomic_dir(final) as tmp:
        save_canonical(tmp / "weights.safetensors", Weights(ckpt.weights, ckpt.meta.get("model", ""), ckpt.meta.get("model_config", {}), f"earthzoo train step {ckpt.step}", ckpt.extras))
        _save_arrays(tmp / "optimizer.safetensors", ckpt)
        state = {"step": ckpt.step, "optimizer_step": int(ckpt.optimizer.get("step", 0)), "rng": ckpt.rng_meta, **ckpt.meta}
        atomic_write_text(tmp / "state.json", json.dumps(state, indent=1, sort_keys=True))
    atomic_write_text(out / POINTER, json.dumps({"latest": f"checkpoints/{name}", "step": ckpt.step}) + "\n")
    _prune(root, keep=KEEP, current=name)
    return final


def _save_arrays(path: Path, ckpt: Checkpoint) -> None:
    from safetensors.numpy import save as st_save

    tensors = {}
    for kind in ("exp_avg", "exp_avg_sq"):
        for k, v in ckpt.optimizer.get(kind, {}).items():
            tensors[f"{kind}/{k}"] = np.ascontiguousarray(v)
    for k, v in ckpt.rng_arrays.items():
        tensors[f"rng/{k}"] = np.ascontiguousarray(v)
    if not tensors:
        tensors["empty"] = np.zeros(1, np.float32)
    path.write_bytes(st_save(tensors, metadata={"earthzoo.optimizer_step": str(int(ckpt.optimizer.get("step", 0)))}))


def _prune(root: Path, keep: int, current: str) -> None:
    done = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".part"))
    for p in done[:-keep]:
        if p.name != current:
            shutil.rmtree(p, ignore_errors=True)


def latest(out: str | os.PathLike) -> Path | None:
    pointer = Path(out) / POINTER
    if not pointer.exists():
        return None
    try:
        rel = json.loads(pointer.read_text())["latest"]
    except (ValueError, KeyError) as exc:
        raise EarthzooError(f"{str(pointer)!r} is corrupt", "delete it to resume from scratch, or start a new --out") from exc
    path = Path(out) / rel
    if not (path / "state.json").exists():
        raise EarthzooError(f"checkpoint {str(path)!r} named by {POINTER} is missing", "start a new --out, or restore the folder")
    return path


def load(path: Path) -> Checkpoint:
    from safetensors import safe_open

    state = json.loads((path / "state.json").read_text())
    w = load_canonical(path / "weights.safetensors")
    opt: dict[str, Any] = {"step": int(state.get("optimizer_step", 0)), "exp_avg": {}, "exp_avg_sq": {}}
    rng: dict[str, np.ndarray] = {}
    with safe_open(str(path / "optimizer.safetensors"), framework="numpy") as f:
        for key in f.keys():
            kind, _, name = key.partition("/")
            if kind in ("exp_avg", "exp_avg_sq"):
                opt[kind][name] = f.get_tensor(key)
            elif kind == "rng":
                rng[name] = f.get_tensor(key)
    meta = {k: v for k, v in state.items() if k not in ("step", "optimizer_step", "rng")}
    return Checkpoint(int(state["step"]), w.tensors, opt, rng, meta, state.get("rng", {}), w.extras)


IDENTITY = ("model", "preset", "framework", "model_config", "data", "train_config")


def check_compatible(found: dict[str, Any], wanted: dict[str, Any], out: str) -> None:
    """A resume folder must come from the same model, preset, data and settings."""
    diffs = []
    for key in IDENTITY:
        a, b = found.get(key), wanted.get(key)
        if key == "train_config" and isinstance(a, dict) and isinstance(b, dict):
            from .config import RESUME_FREE

            fields = sorted(k for k in set(a) | set(b) if k not in RESUME_FREE and a.get(k) != b.get(k))
            diffs += [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in fields]
        elif key == "model_config" and isinstance(a, dict) and isinstance(b, dict):
            fields = sorted(k for k in set(a) | set(b) if json.dumps(a.get(k)) != json.dumps(b.get(k)))
            diffs += [f"model config {k} {a.get(k)!r} vs {b.get(k)!r}" for k in fields]
        elif a != b:
            diffs.append(f"{key} {a!r} vs {b!r}")
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise EarthzooError(f"--resume folder {out!r} holds another run ({shown})", "resume with the same model, preset, data and settings, or choose a new --out")
