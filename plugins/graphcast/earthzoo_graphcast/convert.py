"""DeepMind GraphCast checkpoints (``graphcast.checkpoint.dump`` .npz) <-> canonical.

Keys: ``params:<haiku module path>:<w|b|scale|offset>`` (Linear w is (in, out)),
``model_config:<field>``, ``task_config:<field>[:<i>]``. Read with
``np.load(allow_pickle=False)``. The model and task config come from the file;
the grid follows from ``resolution`` (equiangular, both poles). All haiku
module paths map to our module names through one table, ``MODULES``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from earthzoo.errors import EarthzooError
from earthzoo.files import atomic_path
from earthzoo.weights import Weights

G2M, MESH, M2G = "grid2mesh_gnn/~_networks_builder/", "mesh_gnn/~_networks_builder/", "mesh2grid_gnn/~_networks_builder/"

# haiku module prefix -> our module path; "{i}" is a processor step number.
MODULES = {
    G2M + "encoder_nodes_grid_nodes": "encoder.embed_grid_nodes",
    G2M + "encoder_nodes_mesh_nodes": "encoder.embed_mesh_nodes",
    G2M + "encoder_edges_grid2mesh": "encoder.embed_edges",
    G2M + "processor_edges_0_grid2mesh": "encoder.step.edge_mlp",
    G2M + "processor_nodes_0_mesh_nodes": "encoder.step.node_mlp",
    G2M + "processor_nodes_0_grid_nodes": "encoder.grid_node_mlp",
    MESH + "encoder_edges_mesh": "embed_mesh_edges",
    MESH + "processor_edges_{i}_mesh": "processor.{i}.edge_mlp",
    MESH + "processor_nodes_{i}_mesh_nodes": "processor.{i}.node_mlp",
    M2G + "encoder_edges_mesh2grid": "decoder.embed_edges",
    M2G + "processor_edges_0_mesh2grid": "decoder.step.edge_mlp",
    M2G + "processor_nodes_0_grid_nodes": "decoder.step.node_mlp",
    M2G + "decoder_nodes_grid_nodes": "decoder.output_mlp",
}
# In the reference, mesh2grid also updates mesh nodes and discards the result:
# these parameters cannot affect the output and are not part of our model.
IGNORED = (M2G + "processor_nodes_0_mesh_nodes",)

MODEL_FIELDS = ("resolution", "mesh_size", "latent_size", "gnn_msg_steps", "hidden_layers", "radius_query_fraction_edge_length", "mesh2grid_edge_normalization_factor")
TASK_FIELDS = ("input_variables", "target_variables", "forcing_variables", "pressure_levels", "input_duration")
_PATTERNS = [(re.compile("^" + re.escape(k).replace(r"\{i\}", r"(\d+)") + "$"), v) for k, v in MODULES.items()]


def _module_name(prefix: str) -> str | None:
    for pattern, target in _PATTERNS:
        m = pattern.match(prefix)
        if m:
            return target.replace("{i}", m.group(1)) if m.groups() else target
    return None


def _canonical(module: str, leaf: str, value: np.ndarray, key: str) -> tuple[str, np.ndarray]:
    """(haiku module path, leaf) -> (torch name, array)."""
    m = re.match(r"^(.*)_mlp/~/linear_(\d+)$", module)
    if m:
        base, layer = _module_name(m.group(1)), f"linear_{m.group(2)}"
        if base and leaf in ("w", "b"):
            return f"{base}.{layer}.{'weight' if leaf == 'w' else 'bias'}", (value.T if leaf == "w" else value)
    m = re.match(r"^(.*)_layer_norm$", module)
    if m:
        base = _module_name(m.group(1))
        if base and leaf in ("scale", "offset"):
            return f"{base}.layer_norm.{'weight' if leaf == 'scale' else 'bias'}", value
    raise EarthzooError(f"unknown parameter {key!r} in the GraphCast checkpoint", "this reader knows the GraphCast (v0.1) module layout; check the file is a DeepMind GraphCast checkpoint")


def _scalar(a: np.ndarray) -> Any:
    v = a.item() if a.shape == () else a.tolist()
    return v


def read_npz(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """(params by haiku key, model_config, task_config) of a DeepMind checkpoint."""
    try:
        z = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EarthzooError(f"{str(path)!r} is not a readable .npz file ({exc})", "pass a DeepMind GraphCast checkpoint (.npz)") from exc
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise EarthzooError(f"{str(path)!r} is a single .npy array, not a GraphCast checkpoint", "pass the .npz written by graphcast.checkpoint.dump")
    params: dict[str, np.ndarray] = {}
    model_cfg: dict[str, Any] = {}
    task_lists: dict[str, dict[int, Any]] = {}
    task_cfg: dict[str, Any] = {}
    with z:
        for key in z.files:
            try:
                arr = z[key]
            except ValueError as exc:  # object arrays need pickle, which we never allow
                raise EarthzooError(f"{str(path)!r} entry {key!r} needs pickle to load", "re-save the checkpoint with plain arrays (graphcast.checkpoint.dump writes none)") from exc
            parts = key.split(":")
            if parts[0] == "params" and len(parts) == 3:
                params[key] = np.asarray(arr, np.float32)
            elif parts[0] == "model_config" and len(parts) == 2:
                model_cfg[parts[1]] = _scalar(arr)
            elif parts[0] == "task_config" and len(parts) == 3:
                task_lists.setdefault(parts[1], {})[int(parts[2])] = _scalar(arr)
            elif parts[0] == "task_config" and len(parts) == 2:
                task_cfg[parts[1]] = _scalar(arr)
    if not params:
        raise EarthzooError(f"{str(path)!r} holds no 'params:' entries", "pass a DeepMind GraphCast checkpoint (.npz written by graphcast.checkpoint.dump)")
    for name, items in task_lists.items():
        task_cfg[name] = tuple(items[i] for i in sorted(items))
    for name in ("input_variables", "target_variables", "forcing_variables", "pressure_levels"):
        task_cfg.setdefault(name, ())
    return params, model_cfg, task_cfg


def config_from_checkpoint(model_cfg: dict[str, Any], task_cfg: dict[str, Any]) -> dict[str, Any]:
    """Config fields the checkpoint fixes, including the grid its resolution implies."""
    out: dict[str, Any] = {}
    for f in MODEL_FIELDS:
        if f in model_cfg:
            out[f] = model_cfg[f]
    out.setdefault("mesh2grid_edge_normalization_factor", None)
    for f in ("mesh_size", "latent_size", "gnn_msg_steps", "hidden_layers"):
        if f in out:
            out[f] = int(out[f])
    for f in ("resolution", "radius_query_fraction_edge_length"):
        if f in out:
            out[f] = float(out[f])
    for f in TASK_FIELDS:
        if f in task_cfg:
            v = task_cfg[f]
            out[f] = tuple(int(x) for x in v) if f == "pressure_levels" else (tuple(str(x) for x in v) if isinstance(v, tuple) else str(v))
    if "resolution" in out:
        res = out["resolution"]
        out["n_lat"], out["n_lon"] = int(round(180.0 / res)) + 1, int(round(360.0 / res))
    out["residual"] = False  # the checkpoint holds the core predictor
    return out


FORMAT = "deepmind-graphcast"  # prefix of the checkpoint's arrays our model does not use, kept as extras
ATTRS = ("description", "license")


def read(path: str | Path) -> Weights:
    """The weight-format reader: canonical tensors, the config the file fixes, and
    what our model does not use (the discarded mesh2grid mesh-node update, the
    description and licence), kept so that writing the format back is bit-exact."""
    params, model_cfg, task_cfg = read_npz(path)
    tensors: dict[str, np.ndarray] = {}
    extras: dict[str, np.ndarray] = {}
    for key, value in params.items():
        _, module, leaf = key.split(":")
        if module.startswith(IGNORED):
            extras[f"{FORMAT}:{key}"] = value
            continue
        name, arr = _canonical(module, leaf, value, key)
        tensors[name] = np.ascontiguousarray(arr)
    config = config_from_checkpoint(model_cfg, task_cfg)
    sources = {**dict.fromkeys(config, "file"), "n_lat": "derived", "n_lon": "derived", "residual": "format"}
    with np.load(str(path), allow_pickle=False) as z:
        attrs = {k: str(z[k]) for k in ATTRS if k in z.files}
    return Weights(tensors, "graphcast", config, extras=extras, attrs=attrs, config_sources=sources)


# our module path -> haiku module prefix, the inverse of MODULES (processor steps numbered)
def _haiku_module(ours: str) -> str:
    for haiku, target in MODULES.items():
        m = re.match("^" + re.escape(target).replace(r"\{i\}", r"(\d+)") + "$", ours)
        if m:
            return haiku.replace("{i}", m.group(1)) if m.groups() else haiku
    raise EarthzooError(f"parameter module {ours!r} has no place in DeepMind's GraphCast layout", "write these weights as safetensors instead")


def _haiku_key(name: str) -> tuple[str, bool]:
    """(DeepMind key, transpose?) of a canonical parameter name."""
    m = re.match(r"^(.*)\.linear_(\d+)\.(weight|bias)$", name)
    if m:
        return f"params:{_haiku_module(m.group(1))}_mlp/~/linear_{m.group(2)}:{'w' if m.group(3) == 'weight' else 'b'}", m.group(3) == "weight"
    m = re.match(r"^(.*)\.layer_norm\.(weight|bias)$", name)
    if m:
        return f"params:{_haiku_module(m.group(1))}_layer_norm:{'scale' if m.group(2) == 'weight' else 'offset'}", False
    raise EarthzooError(f"parameter {name!r} has no place in DeepMind's GraphCast layout", "write these weights as safetensors instead")


def write(path: str | Path, weights: Weights, config: Any = None, overwrite: bool = False) -> dict:
    """Write DeepMind's checkpoint layout (what ``graphcast.checkpoint.load`` reads):
    params with Linear w as (in, out), model_config and task_config entries, and the
    description and licence when the weights carry them."""
    if config is not None and getattr(config, "residual", False):
        raise EarthzooError("a residual GraphCast (residual=True) is not DeepMind's core predictor", "write it as safetensors, torch or mindspore")
    arrays: dict[str, np.ndarray] = {}
    for name, value in weights.tensors.items():
        key, transpose = _haiku_key(name)
        arrays[key] = np.ascontiguousarray(value.T if transpose else value)
    kept = [k for k in weights.extras if k.startswith(FORMAT + ":params:")]
    arrays.update({k[len(FORMAT) + 1 :]: weights.extras[k] for k in kept})
    if config is not None:
        for f in MODEL_FIELDS:
            v = getattr(config, f, None)
            if v is not None:
                arrays[f"model_config:{f}"] = np.array(v)
        for f in TASK_FIELDS:
            v = getattr(config, f, None)
            if isinstance(v, (tuple, list)):
                arrays.update({f"task_config:{f}:{i}": np.array(x) for i, x in enumerate(v)})
            elif v is not None:
                arrays[f"task_config:{f}"] = np.array(v)
    placed = [k for k in ATTRS if k in weights.attrs]
    arrays.update({k: np.array(weights.attrs[k]) for k in placed})
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)
    return {"placed": kept + placed}


def sniff(path: str | Path) -> bool:
    """An .npz (zip of .npy) with DeepMind's 'params:' and 'model_config:' entries."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.startswith("params:") for n in names) and any(n.startswith("model_config:") for n in names)


def check_matches(file_config: dict[str, Any], config: Any) -> None:
    """A one-line error naming the first field where the checkpoint's config
    differs from the requested one (grid, variables, levels, model size)."""
    for f in ("n_lat", "n_lon") + TASK_FIELDS + ("mesh_size", "latent_size", "gnn_msg_steps", "hidden_layers"):
        if f not in file_config:
            continue
        want, have = getattr(config, f), file_config[f]
        if isinstance(want, (list, tuple)):
            want, have = tuple(want), tuple(have)
        if want != have:
            what = "grid" if f in ("n_lat", "n_lon") else ("task config" if f in TASK_FIELDS else "model config")
            raise EarthzooError(f"the GraphCast checkpoint's {what} has {f}={_show(have)} but the requested config has {f}={_show(want)}",
                                "use the checkpoint's own config (omit the preset) or a checkpoint trained for this grid and these variables")


def _show(v: Any) -> str:
    return "(" + ", ".join(map(str, v)) + ")" if isinstance(v, tuple) else str(v)


def read_for(path: str | Path, config: Any) -> dict[str, np.ndarray]:
    """Canonical tensors of a checkpoint that must fit ``config`` exactly."""
    w = read(path)
    check_matches(w.config, config)
    return w.tensors
