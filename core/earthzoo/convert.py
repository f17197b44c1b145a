"""Weight conversion: any known format in, validated against the model, any format
out; and the shape reading that original-checkpoint readers share."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cards import ModelCard, OriginalCheckpoint, resolve
from .errors import EarthzooError
from .files import claim_output
from .pins import framework_pip
from .registry import get_registry
from .weights import Tensors, check_fits, config_to_dict, detect_format, load_canonical, read_weights, target_format, verify, write_weights

if TYPE_CHECKING:
    import numpy as np


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
    is installed (torch builds on the meta device, allocating nothing), or from the
    card's framework-free ``shapes`` function when it names one."""
    from .api import build_model
    from .frameworks import framework_module

    if get_registry().model(name).shapes:
        return {k: tuple(v) for k, v in resolve(get_registry().model(name).shapes)(config).items()}
    errors = []
    for framework in get_registry().model(name).frameworks:
        try:
            fw = framework_module(framework)
        except EarthzooError as exc:
            errors.append(str(exc))
            continue
        return fw.shapes_of(lambda framework=framework: build_model(name, framework, config=config))
    raise EarthzooError(f"cannot check weights of {name!r}: no framework is installed ({'; '.join(errors)})", f"pip install {framework_pip('torch')}")


def identify_original(card: ModelCard, fmt: str, tensors: Tensors, name: str | None = None) -> OriginalCheckpoint | None:
    """Which of ``card``'s originals a file read as ``fmt`` is: the entry of that
    format whose tensor count and preset shapes fit ``tensors``; None when none
    does. With ``name`` the file must be that entry: a one-line error says how it differs."""
    candidates = [card.original(name)] if name else [o for o in card.originals if o.format == fmt]
    for o in candidates:
        problem = ""
        if o.format != fmt:
            problem = f"is a {fmt} file, {o.name!r} is {o.format}"
        elif len(tensors) != o.tensors:
            problem = f"holds {len(tensors)} tensors, {o.name!r} has {o.tensors}"
        else:
            try:
                check_fits(tensors, model_shapes(card.name, card.make_config(o.preset)), f"{o.name!r} (preset {o.preset!r})")
            except EarthzooError as exc:
                problem = f"does not fit its shapes: {exc.problem}"
        if not problem:
            return o
        if name:
            raise EarthzooError(f"the file {problem}", f"check the download (expected {o.file or o.name} from {o.origin})")
    return None


def training_checkpoint_rest(rest: dict[str, Any], known: tuple[str, ...] = ()) -> tuple[dict[str, str], list[str]]:
    """The other top-level entries of a FourCastNet-layout training checkpoint (see
    earthzoo.frameworks.torch.load_training_checkpoint) as (attrs, dropped): ``iters``
    and ``epoch`` are kept; an optimizer state and unknown entries are named as what a
    conversion would drop (``known`` entries are the reader's own)."""
    attrs, dropped = {}, []
    for key, value in rest.items():
        if key in known:
            continue
        if key in ("iters", "epoch") and isinstance(value, int):
            attrs[key] = str(value)
        elif key == "optimizer_state_dict":
            if value:
                dropped.append("an optimizer state ('optimizer_state_dict')")
        else:
            dropped.append(f"the entry {key!r}")
    return attrs, dropped


def load_statistics(means: str | None, stds: str | None) -> dict[str, np.ndarray]:
    """Normalisation from .npy files such as FourCastNet's global_means.npy /
    global_stds.npy (shape (1, C, 1, 1) or (C,)), as per-channel vectors."""
    if (means is None) != (stds is None):
        raise EarthzooError("--means and --stds come together", "pass both files, or neither")
    if means is None:
        return {}
    import numpy as np

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


def convert(src: str, dst: str, model: str, src_format: str | None = None, dst_format: str | None = None, preset: str | None = None, check: bool = False,
            means: str | None = None, stds: str | None = None, config: dict[str, Any] | None = None, overwrite: bool = False, drop_extras: bool = False, original: str | None = None) -> dict:
    """Read ``src``, check it fits ``model``, write ``dst`` atomically; optionally read
    ``dst`` back and compare tensors, extras and attrs. ``config`` sets fields over
    the file's and the preset's; ``means``/``stds`` (.npy) become the weights'
    normalisation. Extras the target has no place for go to a sidecar file, or are
    dropped with ``drop_extras``. Returns a report, with each config field's source, and
    which of the card's original checkpoints ``src`` is (``original`` names the one it
    must be, and its preset is then the default)."""
    card = get_registry().model(model)
    if Path(src).resolve() == Path(dst).resolve():
        raise EarthzooError("source and destination are the same file", "write the converted weights to a new path")
    claim_output(dst, overwrite)
    used = dst_format or target_format(dst, model)
    src_format = src_format or detect_format(src, model)
    weights = read_weights(src, src_format, model, lazy=True)
    if weights.model and weights.model != model:
        raise EarthzooError(f"{src!r} holds weights of model {weights.model!r}, not {model!r}", f"pass --model {weights.model}")
    if weights.dropped and not drop_extras:
        raise EarthzooError(f"{src!r} holds {weights.dropped[0]}, which no weight format keeps", "pass --drop-extras to convert without it")
    fmt = weights.source.partition(":")[0]
    known = identify_original(card, fmt, weights.tensors, original) if original or card.originals else None
    preset = preset or (known.preset if original else None)
    cfg, sources = card.config_with_sources(weights.config, weights.config_sources, preset, config)
    check_fits(weights.tensors, model_shapes(model, cfg), f"model {model!r} ({preset or 'config from the file'})")
    if known is not None:
        weights.notes.append(f"this is the original checkpoint {known.name!r} ({known.file or known.name} from {known.origin}; licence {known.licence}; preset {known.preset!r})")
    weights.model, weights.config = model, config_to_dict(cfg)
    weights.extras.update(load_statistics(means, stds))
    written = write_weights(dst, weights, used, cfg, overwrite=overwrite, drop_extras=drop_extras)
    report: dict = {
        "src": str(src), "dst": str(dst), "model": model, "from": src_format, "to": written["format"],
        "tensors": len(weights.tensors), "parameters": int(sum(v.size for v in weights.tensors.values())),
        "config": {k: {"value": v, "source": sources[k]} for k, v in weights.config.items()},
        "extras": sorted(weights.extras), "attrs": sorted(weights.attrs), "files": written["files"], "sidecar": written["sidecar"],
        "dropped": weights.dropped + written["dropped"], "notes": weights.notes + written["notes"],
        "original": dataclasses.asdict(known) if known is not None else None,
    }
    if check:
        back = read_weights(dst, written["format"], model)
        keep = lambda d: {k: v for k, v in d.items() if k not in written["dropped"]}  # noqa: E731
        tensors, extras = verify(weights.tensors, back.tensors), verify(keep(weights.extras), back.extras)
        attrs_equal = all(back.attrs.get(k) == v for k, v in keep(weights.attrs).items())  # a format may add its own (NVlabs' iters)
        config_equal = "config" in written["dropped"] or _plain(back.config) == _plain(weights.config)
        equal = tensors.equal and extras.equal and attrs_equal and config_equal
        report["verify"] = {**tensors.to_json(), "equal": equal, "extras": extras.to_json(), "extras_compared": sorted(back.extras),
                            "attrs_compared": sorted(back.attrs), "attrs_equal": attrs_equal, "config_equal": config_equal}
        if not equal:
            for f in written["files"]:
                Path(f).unlink(missing_ok=True)
            bad = tensors if not tensors.equal else extras
            what = f"{bad.worst!r} differs by {bad.max_abs_diff:g}" if not bad.equal else ("the attrs differ" if not attrs_equal else "the config differs")
            raise EarthzooError(f"verification failed: {what} after writing {dst!r} (removed)", "report this as a bug in the format's writer")
    return report


def describe_config(report: dict) -> list[str]:
    """One line per config source, for people: which fields were read, inferred or assumed."""
    groups: dict[str, list[str]] = {}
    for name, item in report["config"].items():
        groups.setdefault(item["source"], []).append(f"{name}={_show(item['value'])}")
    lines = []
    for source, fields in groups.items():
        hint = " (not in the file: set with --config KEY=VALUE if wrong)" if source.startswith("assumed") else ""
        lines.append(f"  {source}{hint}: {', '.join(fields)}")
    return lines


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, sort_keys=True))


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def weights_round_trip(model: str, weights: str, folder: Path, preset: str) -> dict[str, Any]:
    """canonical -> MindSpore checkpoint -> canonical, each step verified tensor by tensor."""
    ckpt = folder / "weights_mindspore.ckpt"
    back = folder / "weights_roundtrip.safetensors"
    to_ms = convert(weights, str(ckpt), model, dst_format="mindspore", check=True)
    to_canon = convert(str(ckpt), str(back), model, src_format="mindspore", dst_format="safetensors", preset=preset, check=True)
    final = verify(load_canonical(weights).tensors, load_canonical(back).tensors)
    return {
        "mindspore_checkpoint": str(ckpt),
        "round_trip": str(back),
        "tensors": to_ms["tensors"],
        "parameters": to_ms["parameters"],
        "equal": final.equal,
        "verify": final.to_json(),
        "steps": [to_ms.get("verify"), to_canon.get("verify")],
    }
