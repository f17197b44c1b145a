"""Foreign FourCastNet checkpoints <-> canonical (torch state_dict names).

- "nvlabs-fourcastnet": the NVlabs training checkpoint, ``torch.save`` of
  {'iters', 'epoch', 'model_state', 'optimizer_state_dict'} with DDP 'module.' keys,
  read with ``torch.load(weights_only=True)`` (no code is unpickled).
- "mindearth-afnonet": MindEarth's AFNONet MindSpore checkpoint. The same network with
  renamed parameters, an unused high-frequency Dense per block, and tanh-GELU, which
  the reader returns as ``gelu="tanh"`` so the model reproduces it exactly.

Readers return ``(tensors, config_overrides)``; the overrides are what the tensor
shapes fix (channels, patch, width, depth, blocks, and the grid when it is 2:1)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from earthzoo.convert import afno_encoder_fields, count_blocks
from earthzoo.errors import EarthzooError
from earthzoo.frameworks import framework_module

# MindEarth name -> canonical name, applied in order (the one rename table of this plugin)
MINDEARTH_RENAMES = (
    (r"^forward_features\.", ""),
    (r"^layer\.(\d+)\.", r"blocks.\1."),
    (r"\.layer_norm\.", ".norm1."),
    (r"\.ffn_norm\.", ".norm2."),
    (r"^encoder_norm\.", "norm."),
    (r"\.gamma$", ".weight"),
    (r"\.beta$", ".bias"),
)
MINDEARTH_UNUSED = re.compile(r"^forward_features\.layer\.\d+\.filter\.w\.weight$")


def infer_config(tensors: dict[str, np.ndarray]) -> dict:
    """Config fields the tensor shapes fix; an error when the set is not an AFNONet."""
    prefix = "backbone." if "backbone.patch_embed.proj.weight" in tensors else ""
    need = [f"{prefix}patch_embed.proj.weight", f"{prefix}head.weight", f"{prefix}pos_embed"]
    missing = [k for k in need if k not in tensors]
    if missing:
        raise EarthzooError(f"the checkpoint has no tensor {missing[0]!r}, so it is not a FourCastNet AFNONet", "pass the right --model, or name the checkpoint's format with --from")
    embed, in_chans, p, _ = tensors[need[0]].shape
    head = tensors[need[1]].shape[0]
    tokens = tensors[need[2]].shape[1]
    depth = count_blocks(tensors, f"{prefix}blocks")
    out = {"in_chans": int(in_chans), "patch_size": int(p), "embed_dim": int(embed), "out_chans": int(head // (p * p)), "depth": depth}
    out.update(afno_encoder_fields(tensors, prefix, int(embed), int(p), int(tokens)))
    if prefix:
        out["precip"] = True
    return out


def read_nvlabs(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """An NVlabs training checkpoint (or a bare, possibly 'module.'-prefixed state_dict)."""
    tensors, _ = framework_module("torch", "to read NVlabs FourCastNet checkpoints (torch pickles)").load_training_checkpoint(path, "FourCastNet", "an NVlabs FourCastNet training checkpoint")
    return tensors, infer_config(tensors)


def write_nvlabs(path: str, tensors: dict[str, np.ndarray], config=None) -> None:
    """Write the NVlabs training-checkpoint layout (empty optimizer state), loadable by
    the original code with ``model.load_state_dict`` after its 'module.' handling."""
    framework_module("torch", "to write NVlabs FourCastNet checkpoints (torch pickles)").save_training_checkpoint(path, tensors)


def mindearth_to_canonical(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename MindEarth parameters to canonical names, dropping its unused high-frequency Dense."""
    out = {}
    for name, value in params.items():
        if MINDEARTH_UNUSED.match(name):
            continue
        new = name
        for pattern, repl in MINDEARTH_RENAMES:
            new = re.sub(pattern, repl, new)
        out[new] = np.asarray(value, dtype=np.float32)
    return out


def read_mindearth(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """A MindEarth AFNONet checkpoint (MindSpore protobuf .ckpt)."""
    try:
        import mindspore as ms
    except ImportError as exc:
        from earthzoo.errors import missing_dependency

        raise missing_dependency("mindspore", "mindspore==2.10.0 'numpy<2'", "to read MindEarth checkpoints") from exc
    if not Path(path).is_file():
        raise EarthzooError(f"weights file {str(path)!r} does not exist", "check the path")
    try:
        params = ms.load_checkpoint(str(path))
    except Exception as exc:  # noqa: BLE001
        raise EarthzooError(f"{str(path)!r} is not a readable MindSpore checkpoint ({type(exc).__name__})", "pass a MindEarth AFNONet .ckpt, or another --from") from exc
    if not any(k.startswith("forward_features.") for k in params):
        raise EarthzooError(f"{str(path)!r} has no 'forward_features.*' parameters, so it is not a MindEarth AFNONet", "name the checkpoint's format with --from")
    tensors = mindearth_to_canonical({k: v.asnumpy().copy() for k, v in params.items()})
    return tensors, {**infer_config(tensors), "gelu": "tanh"}
