"""The original AI-GOMS checkpoint layout <-> canonical (torch state_dict names).

The original trains with DDP and saves FourCastNet-style checkpoints: ``torch.save``
of {'iters', 'epoch', 'model_state': {'module.<name>': tensor}, 'optimizer_state_dict'}.
It is read with ``torch.load(weights_only=True)`` (no code is unpickled). Our writer
adds a 'config' entry of plain values so the file rebuilds the same model; without
it, the config is inferred from the tensor shapes."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from earthzoo.errors import EarthzooError
from earthzoo.files import atomic_path

from .config import PAPER_DEPTHS, AIGOMSConfig

DDP_PREFIX = "module."


def _torch():
    try:
        import torch
    except ImportError as exc:
        from earthzoo.errors import missing_dependency

        raise missing_dependency("torch", "torch==2.13.0", "to read AI-GOMS checkpoints") from exc
    return torch


def infer_config(tensors: dict[str, np.ndarray]) -> dict:
    """Config fields the tensor shapes fix; an error when the set is not a Masked_Ocean."""
    prefix = "backbone." if "backbone.patch_embed.proj.weight" in tensors else ""
    need = [f"{prefix}patch_embed.proj.weight", f"{prefix}decoder_pred.weight", f"{prefix}decoder_embed.weight", f"{prefix}pos_embed"]
    missing = [k for k in need if k not in tensors]
    if missing:
        raise EarthzooError(
            f"the checkpoint has no tensor {missing[0]!r}, so it is not an AI-GOMS Masked_Ocean",
            "pass the right --model, or name the checkpoint's format with --from",
        )
    embed, in_chans, p, _ = tensors[need[0]].shape
    dec, out_chans = tensors[need[1]].shape[:2]
    tokens = tensors[need[3]].shape[1]

    def count(name):
        return len({m.group(1) for k in tensors if (m := re.match(rf"^{re.escape(prefix)}{name}\.(\d+)\.", k))})

    out = {
        "patch_size": int(p),
        "embed_dim": int(embed),
        "decoder_embed_dim": int(dec),
        "depth": count("blocks"),
        "decoder_depth": count("decoder_blocks"),
        "residual": f"{prefix}residual_log_scale" in tensors,  # the original's checkpoints have none
    }
    n_depth, rest = divmod(int(out_chans) - 1, 4)
    if rest or int(in_chans) != int(out_chans) + 6:
        raise EarthzooError(
            f"the checkpoint maps {in_chans} to {out_chans} channels, not 4 x depths + 1 ocean channels (+ 6 inputs)",
            "check that this is an AI-GOMS checkpoint",
        )
    if n_depth == len(PAPER_DEPTHS):
        out["depths"] = list(PAPER_DEPTHS)
    w1 = tensors.get(f"{prefix}blocks.0.filter.w1")
    if w1 is not None:
        out["num_blocks"] = int(w1.shape[1])
    fc1 = tensors.get(f"{prefix}blocks.0.mlp.fc1.weight")
    if fc1 is not None:
        out["mlp_ratio"] = float(fc1.shape[0]) / float(embed)
    h = math.isqrt(tokens // 2)
    if 2 * h * h == tokens:  # the usual 1:2 lat-lon token grid; otherwise the preset decides
        out["img_size"] = [h * int(p), 2 * h * int(p)]
    head = tensors.get("head.fc2.weight")
    if prefix and head is not None:
        out["head_hidden"] = int(head.shape[1])
        if head.shape[0] == p * p:
            out["task"] = "wave"
        else:
            out["task"] = "downscale"
            out["scale"] = int(round(math.sqrt(head.shape[0] / out_chans) / int(p)))
    return out


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def read_original(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """An AI-GOMS training checkpoint (or a bare, possibly 'module.'-prefixed state_dict)."""
    torch = _torch()
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise EarthzooError(f"weights file {str(path)!r} does not exist", "check the path") from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise EarthzooError(
            f"{str(path)!r} is not a loadable torch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})",
            "check the file, or name its format with --from",
        ) from exc
    state = obj.get("model_state", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EarthzooError(
            f"{str(path)!r} holds no AI-GOMS 'model_state' of tensors", "pass an AI-GOMS training checkpoint, or another --from"
        )
    tensors = {(k[len(DDP_PREFIX) :] if k.startswith(DDP_PREFIX) else k): v.detach().cpu().numpy().copy() for k, v in state.items()}
    config = infer_config(tensors)
    stored = obj.get("config") if isinstance(obj, dict) else None
    if isinstance(stored, dict):
        names = {f.name for f in dataclasses.fields(AIGOMSConfig)}
        config.update({k: v for k, v in stored.items() if k in names})
    return tensors, config


def write_original(path: str, tensors: dict[str, np.ndarray], config=None) -> None:
    """Write the original training-checkpoint layout (empty optimizer state, 'module.'
    keys) plus a 'config' of plain values; loadable by the original's load_state_dict."""
    torch = _torch()
    state = {DDP_PREFIX + k: torch.from_numpy(np.array(v, copy=True)) for k, v in tensors.items()}
    obj = {"iters": 0, "epoch": 0, "model_state": state, "optimizer_state_dict": {}}
    if config is not None:
        values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        obj["config"] = {k: _plain(v) for k, v in values.items()}
    with atomic_path(path) as tmp:
        torch.save(obj, str(tmp))
