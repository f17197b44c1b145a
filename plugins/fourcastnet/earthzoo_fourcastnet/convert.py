"""Foreign FourCastNet checkpoints <-> canonical (torch state_dict names).

- "nvlabs-fourcastnet": the NVlabs training checkpoint, ``torch.save`` of
  {'iters', 'epoch', 'model_state', 'optimizer_state_dict'} with DDP 'module.' keys,
  read with ``torch.load(weights_only=True)`` (no code is unpickled).
  Normalisation lives beside it as global_means.npy / global_stds.npy (1, C, 1, 1).
- "mindearth-afnonet": MindEarth's AFNONet MindSpore checkpoint. The same network with
  renamed parameters, an unused high-frequency Dense per block, and tanh-GELU, which
  the reader returns as ``gelu="tanh"`` so the model reproduces it exactly.

Readers return Weights whose config holds what the tensor shapes fix (channels,
patch, width, depth, blocks, and the grid when it is 2:1), each marked as inferred;
everything else is the preset's, and conversions report it as assumed.
Both formats are also written, bit-exact on a round trip."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from earthzoo import msckpt, torchfile
from earthzoo.convert import afno_encoder_fields, count_blocks, training_checkpoint_rest
from earthzoo.errors import EarthzooError
from earthzoo.files import atomic_path, claim_output
from earthzoo.frameworks import framework_module
from earthzoo.weights import Weights, mindspore_names, pickle_strings
from einops import rearrange

if TYPE_CHECKING:
    import numpy as np

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


STATS_FILES = ("global_means.npy", "global_stds.npy")  # the NVlabs layout keeps these beside the checkpoint
MINDEARTH = "mindearth-afnonet"  # prefix of the MindEarth-only parameters kept as extras


def read_nvlabs(path: str) -> Weights:
    """An NVlabs training checkpoint (or a bare, possibly 'module.'-prefixed state_dict),
    with global_means.npy / global_stds.npy from beside it when they fit its channels."""
    tensors, rest = torchfile.load_training_checkpoint(path, "FourCastNet", "an NVlabs FourCastNet training checkpoint")
    config = infer_config(tensors)
    attrs, dropped = training_checkpoint_rest(rest)
    w = Weights(tensors, "fourcastnet", config, attrs=attrs, config_sources=dict.fromkeys(config, "shapes"), dropped=dropped)
    w.extras, w.notes = _read_stats(Path(path).parent, config)
    return w


def _read_stats(folder: Path, config: dict) -> tuple[dict[str, np.ndarray], list[str]]:
    files = [folder / name for name in STATS_FILES]
    if not all(f.is_file() for f in files):
        return {}, []
    import numpy as np

    mean, std = (np.load(f, allow_pickle=False) for f in files)
    channels = {config["in_chans"], config["out_chans"]}
    if mean.size != std.size or channels != {mean.size}:
        return {}, [f"{STATS_FILES[0]} / {STATS_FILES[1]} beside the checkpoint hold {mean.size} / {std.size} channels, the model {'/'.join(map(str, sorted(channels)))}: not used (pass the model's channels with --means/--stds)"]
    mean, std = mean.reshape(-1), std.reshape(-1)
    return {"in_mean": mean, "in_std": std, "out_mean": mean.copy(), "out_std": std.copy()}, [f"normalisation read from {STATS_FILES[0]} / {STATS_FILES[1]} beside the checkpoint"]


def write_nvlabs(path: str, weights: Weights, config=None, overwrite: bool = False) -> dict:
    """Write the NVlabs training-checkpoint layout (empty optimizer state), loadable by
    the original code with ``model.load_state_dict`` after its 'module.' handling, and
    the normalisation as global_means.npy / global_stds.npy (1, C, 1, 1) beside it
    when inputs and outputs share it (as the original's do)."""
    import numpy as np

    ex = weights.extras
    stats = all(k in ex for k in ("in_mean", "in_std", "out_mean", "out_std")) and np.array_equal(ex["in_mean"], ex["out_mean"]) and np.array_equal(ex["in_std"], ex["out_std"])
    files = [Path(path).parent / name for name in STATS_FILES] if stats else []
    for f in files:
        claim_output(f, overwrite)
    entries = {k: int(weights.attrs[k]) for k in ("iters", "epoch") if k in weights.attrs}
    framework_module("torch", "to write NVlabs FourCastNet checkpoints (torch pickles)").save_training_checkpoint(path, weights.tensors, **entries)
    for f, key in zip(files, ("in_mean", "in_std")):
        with atomic_path(f) as tmp, tmp.open("wb") as fh:
            np.save(fh, rearrange(ex[key], "c -> 1 c 1 1"))
    return {"placed": list(entries) + (["in_mean", "in_std", "out_mean", "out_std"] if stats else []), "files": [str(f) for f in files]}


def sniff_nvlabs(path: str) -> bool:
    """A torch zip whose pickle holds an AFNONet's (not AI-GOMS's) tensor names in the training
    layout: under 'model_state', or with DDP 'module.' keys (a plain state_dict is format "torch")."""
    names = pickle_strings(path)
    return ("model_state" in names or "module.patch_embed.proj.weight" in names) and any(n.endswith("patch_embed.proj.weight") for n in names) and any(n.endswith("head.weight") for n in names) and not any(n.endswith("decoder_pred.weight") for n in names)


def sniff_mindearth(path: str) -> bool:
    names = mindspore_names(path) or []
    return "head.weight" in names and any(n.startswith("forward_features.layer.") for n in names)


def mindearth_to_canonical(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename MindEarth parameters to canonical names, dropping its unused high-frequency Dense."""
    import numpy as np

    out = {}
    for name, value in params.items():
        if MINDEARTH_UNUSED.match(name):
            continue
        new = name
        for pattern, repl in MINDEARTH_RENAMES:
            new = re.sub(pattern, repl, new)
        out[new] = np.asarray(value, dtype=np.float32)
    return out


def canonical_to_mindearth(name: str) -> str:
    """The MindEarth name of a canonical FourCastNet parameter (inverse of MINDEARTH_RENAMES)."""
    if name == "head.weight":
        return name
    new = re.sub(r"^blocks\.(\d+)\.", r"layer.\1.", name)
    new = re.sub(r"^norm\.", "encoder_norm.", new).replace(".norm1.", ".layer_norm.").replace(".norm2.", ".ffn_norm.")
    if re.search(r"(^|\.)(layer_norm|ffn_norm|encoder_norm)\.", new):
        new = re.sub(r"\.weight$", ".gamma", re.sub(r"\.bias$", ".beta", new))
    return "forward_features." + new


def read_mindearth(path: str) -> Weights:
    """A MindEarth AFNONet checkpoint (MindSpore protobuf .ckpt). Its unused
    high-frequency Dense weights are kept as extras so writing it back is bit-exact."""
    params = _load_mindspore(path)
    if not any(k.startswith("forward_features.") for k in params):
        raise EarthzooError(f"{str(path)!r} has no 'forward_features.*' parameters, so it is not a MindEarth AFNONet", "name the checkpoint's format with --from")
    tensors = mindearth_to_canonical(params)
    config = infer_config(tensors)
    sources = {**dict.fromkeys(config, "shapes"), "gelu": "format"}
    extras = {f"{MINDEARTH}:{k}": v for k, v in params.items() if MINDEARTH_UNUSED.match(k)}
    return Weights(tensors, "fourcastnet", {**config, "gelu": "tanh"}, extras=extras, config_sources=sources)


def write_mindearth(path: str, weights: Weights, config=None, overwrite: bool = False) -> dict:
    """Write MindEarth's AFNONet checkpoint: renamed parameters plus its unused
    high-frequency Dense weights when the weights carry them (MindEarth leaves them
    at their initial values otherwise; they do not affect the output)."""
    if config is not None and getattr(config, "precip", False):
        raise EarthzooError("MindEarth's AFNONet has no PrecipNet head", "write the precip model as safetensors, torch or nvlabs-fourcastnet")
    params = {canonical_to_mindearth(k): v for k, v in weights.tensors.items()}
    kept = [k for k in weights.extras if k.startswith(MINDEARTH + ":")]
    params.update({k[len(MINDEARTH) + 1 :]: weights.extras[k] for k in kept})
    msckpt.save(path, params)
    notes = []
    if config is not None and getattr(config, "gelu", "tanh") != "tanh":
        notes.append(f"MindEarth's AFNONet computes the tanh GELU; these weights are configured for gelu={config.gelu!r}, so MindEarth's outputs will differ from theirs by about 1e-4")
    return {"placed": kept, "notes": notes}


def _load_mindspore(path: str) -> dict[str, np.ndarray]:
    if not Path(path).is_file():
        raise EarthzooError(f"weights file {str(path)!r} does not exist", "check the path")
    return msckpt.load(path)
