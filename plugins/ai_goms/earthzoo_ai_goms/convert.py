"""The original AI-GOMS checkpoint layout <-> canonical (torch state_dict names).

The original trains with DDP and saves FourCastNet-style checkpoints: ``torch.save``
of {'iters', 'epoch', 'model_state': {'module.<name>': tensor}, 'optimizer_state_dict'}.
It is read with ``torch.load(weights_only=True)`` (no code is unpickled). Our writer
adds a 'config' entry of plain values so the file rebuilds the same model; without
it, the config is inferred from the tensor shapes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from earthzoo import torchfile
from earthzoo.convert import afno_encoder_fields, count_blocks, training_checkpoint_rest
from earthzoo.errors import EarthzooError
from earthzoo.frameworks import framework_module
from earthzoo.weights import Weights, pickle_strings

from .config import PAPER_DEPTHS, AIGOMSConfig


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

    out = {
        "patch_size": int(p),
        "embed_dim": int(embed),
        "decoder_embed_dim": int(dec),
        "depth": count_blocks(tensors, f"{prefix}blocks"),
        "decoder_depth": count_blocks(tensors, f"{prefix}decoder_blocks"),
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
    out.update(afno_encoder_fields(tensors, prefix, int(embed), int(p), int(tokens)))
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


def read_original(path: str) -> Weights:
    """An AI-GOMS training checkpoint (or a bare, possibly 'module.'-prefixed state_dict)."""
    tensors, rest = torchfile.load_training_checkpoint(path, "AI-GOMS", "an AI-GOMS training checkpoint")
    config = infer_config(tensors)
    sources = dict.fromkeys(config, "shapes")
    stored = rest.get("config")
    if isinstance(stored, dict):
        names = {f.name for f in dataclasses.fields(AIGOMSConfig)}
        kept = {k: v for k, v in stored.items() if k in names}
        config.update(kept)
        sources.update(dict.fromkeys(kept, "file"))
    attrs, dropped = training_checkpoint_rest(rest, known=("config",))
    return Weights(tensors, "ai_goms", config, attrs=attrs, config_sources=sources, dropped=dropped)


def write_original(path: str, weights: Weights, config=None, overwrite: bool = False) -> dict:
    """Write the original training-checkpoint layout (empty optimizer state, 'module.'
    keys) plus a 'config' of plain values; loadable by the original's load_state_dict."""
    entries: dict = {k: int(weights.attrs[k]) for k in ("iters", "epoch") if k in weights.attrs}
    placed = list(entries)
    if config is not None:
        values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        entries["config"] = {k: _plain(v) for k, v in values.items()}
        placed.append("config")
    framework_module("torch", "to write AI-GOMS training checkpoints (torch pickles)").save_training_checkpoint(path, weights.tensors, **entries)
    return {"placed": placed}


def sniff(path: str) -> bool:
    """A torch zip whose pickle holds a Masked_Ocean's tensor names in the training layout: under
    'model_state', or with DDP 'module.' keys (a plain state_dict is format "torch")."""
    names = pickle_strings(path)
    return ("model_state" in names or any(n.startswith("module.") for n in names)) and any(n.endswith("decoder_pred.weight") for n in names) and any(n.endswith("patch_embed.proj.weight") for n in names)
