"""Weight conversion: any known format in, validated against the model, any format
out; and the shape reading that original-checkpoint readers share."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError
from .registry import get_registry
from .weights import Tensors, check_fits, config_to_dict, read_weights, verify, write_weights


def count_blocks(tensors: Tensors, prefix: str) -> int:
    """How many ``<prefix>N.`` blocks a state_dict holds (``prefix`` e.g. 'blocks')."""
    return len({m.group(1) for k in tensors if (m := re.match(rf"^{re.escape(prefix)}\.(\d+)\.", k))})


def afno_encoder_fields(tensors: Tensors, prefix: str, embed: int, patch: int, tokens: int) -> dict[str, Any]:
    """Config fields that the tensor shapes of a FourCastNet-style (AFNO) encoder fix,
    for the FourCastNet and AI-GOMS readers: ``num_blocks`` and ``mlp_ratio`` from the
    first block, and ``img_size`` when the token grid is the usual 1:2 lat-lon (else
    the preset decides)."""
    out: dict[str, Any] = {}
    w1 = tensors.get(f"{prefix}blocks.0.filter.w1")
    if w1 is not None:
        out["num_blocks"] = int(w1.shape[1])
    fc1 = tensors.get(f"{prefix}blocks.0.mlp.fc1.weight")
    if fc1 is not None:
        out["mlp_ratio"] = float(fc1.shape[0]) / float(embed)
    h = math.isqrt(tokens // 2)
    if 2 * h * h == tokens:
        out["img_size"] = [h * int(patch), 2 * h * int(patch)]
    return out


def model_shapes(name: str, config: Any) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``name`` at ``config``, from whichever framework
    is installed (torch builds on the meta device, allocating nothing)."""
    from .api import build_model
    from .frameworks import framework_module

    errors = []
    for framework in get_registry().model(name).frameworks:
        try:
            fw = framework_module(framework)
        except EarthzooError as exc:
            errors.append(str(exc))
            continue
        return fw.shapes_of(lambda framework=framework: build_model(name, framework, config=config))
    raise EarthzooError(f"cannot check weights of {name!r}: no framework is installed ({'; '.join(errors)})", "pip install torch==2.13.0")


def load_statistics(means: str | None, stds: str | None) -> dict[str, np.ndarray]:
    """Normalisation from .npy files such as FourCastNet's global_means.npy /
    global_stds.npy (shape (1, C, 1, 1) or (C,)), as per-channel vectors."""
    if (means is None) != (stds is None):
        raise EarthzooError("--means and --stds come together", "pass both files, or neither")
    if means is None:
        return {}
    out = {}
    for key, path in (("in_mean", means), ("in_std", stds)):
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EarthzooError(f"cannot read normalisation file {path!r} ({exc})", "pass a .npy file saved with numpy.save") from exc
        out[key] = np.asarray(arr, dtype=np.float32).reshape(-1)
    if out["in_mean"].shape != out["in_std"].shape:
        raise EarthzooError(f"means {out['in_mean'].shape} and stds {out['in_std'].shape} have different lengths", "pass the statistics of the same channels")
    if np.any(out["in_std"] <= 0):
        raise EarthzooError(f"{stds!r} holds a standard deviation <= 0", "check the statistics file")
    out["out_mean"], out["out_std"] = out["in_mean"], out["in_std"]
    return out


def convert(src: str, dst: str, model: str, src_format: str | None = None, dst_format: str | None = None, preset: str | None = None, check: bool = False, means: str | None = None, stds: str | None = None) -> dict:
    """Read ``src``, check it fits ``model``, write ``dst`` atomically; optionally read
    ``dst`` back and compare tensor by tensor. ``means``/``stds`` (.npy) are stored as
    the weights' normalisation (canonical safetensors only). Returns a report."""
    card = get_registry().model(model)
    if Path(src).resolve() == Path(dst).resolve():
        raise EarthzooError("source and destination are the same file", "write the converted weights to a new path")
    weights = read_weights(src, src_format, model)
    if weights.model and weights.model != model:
        raise EarthzooError(f"{src!r} holds weights of model {weights.model!r}, not {model!r}", f"pass --model {weights.model}")
    config = card.config_from_dict(weights.config, preset)
    check_fits(weights.tensors, model_shapes(model, config), f"model {model!r} ({preset or 'config from the file'})")
    weights.model, weights.config = model, config_to_dict(config)
    weights.extras.update(load_statistics(means, stds))
    used = write_weights(dst, weights, dst_format, config)
    report: dict = {"src": str(src), "dst": str(dst), "model": model, "to": used, "tensors": len(weights.tensors), "parameters": int(sum(v.size for v in weights.tensors.values()))}
    if check:
        back = read_weights(dst, used, model)
        result = verify(weights.tensors, back.tensors)
        report["verify"] = result.to_json()
        if not result.equal:
            Path(dst).unlink(missing_ok=True)
            raise EarthzooError(f"verification failed: {result.worst!r} differs by {result.max_abs_diff:g} after writing {dst!r} (removed)", "report this as a bug in the format's writer")
    return report
