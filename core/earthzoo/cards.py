"""Plain descriptions of what plugins register. No framework is imported here:
anything heavy is named as a lazy "module:attribute" string."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .data.lexicon import lookup
from .errors import EarthzooError

FRAMEWORKS = ("torch", "mindspore")
# How a config field's value is known: the keys weight readers put in ``Weights.config_sources``,
# then what ModelCard.config_with_sources adds.
SOURCES = {"file": "read from file", "sidecar": "read from the .extras.npz beside the file", "shapes": "inferred from tensor shapes", "derived": "derived from other fields of the file", "format": "fixed by the format"}


def resolve(ref: str) -> Any:
    """Import the object named by ``"package.module:attr"``."""
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


@dataclass(frozen=True)
class DataSpec:
    """Which channels of a data set a model reads and predicts, by name.

    The model's input is the ``prognostic`` channels at ``history`` times (oldest
    first), then the ``forcing`` channels at the current time, then the ``static``
    channels; its output is the ``prognostic`` channels one step later. ``masked``
    models (ocean) score and train over the data's ``ocean_mask`` points only.
    ``residual_loss`` trains on the MSE of one-step changes normalised by their
    std (``NormStats.residual_std``; GraphCast's loss) instead of the MSE of
    normalised states: each channel's squared error is weighted by
    (std / residual_std)^2, scaled to mean 1, so slowly changing channels count
    as much as fast ones. Off by default."""

    prognostic: tuple[str, ...]
    forcing: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    history: int = 1
    masked: bool = False
    residual_loss: bool = False

    @property
    def in_channels(self) -> int:
        return self.history * len(self.prognostic) + len(self.forcing) + len(self.static)

    @property
    def out_channels(self) -> int:
        return len(self.prognostic)


@dataclass(frozen=True)
class OriginalCheckpoint:
    """A published (original) checkpoint of a model: what it is called and where it
    comes from, its licence, the ``preset`` it was made at, the weight ``format`` that
    reads it and how many ``tensors`` that reader finds in it. ``file``: its file name
    as published. A downloaded file is recognised by format, tensor count and the
    preset's shapes (:func:`earthzoo.convert.identify_original`)."""

    name: str
    origin: str
    licence: str
    preset: str
    format: str
    tensors: int
    file: str = ""


@dataclass(frozen=True)
class ModelCard:
    """What a model is, where it comes from and how to build it in each framework.

    ``config`` names a dataclass with a classmethod ``preset(name)``; ``builders``
    maps a framework to a function ``build(config) -> model``. Every model maps a
    normalised input (batch, in_channels, lat, lon) to the next state
    (batch, out_channels, lat, lon). ``example_input`` names
    ``f(config, batch, seed) -> np.ndarray``; ``next_input`` names
    ``f(x, y, step, config) -> np.ndarray`` that builds step+1's input from the
    last input and output (default: the output itself). ``data_spec`` names
    ``f(config) -> DataSpec``: the data channels the model reads and predicts, so
    that training and forecasting take them from a data set by name. ``shapes``
    optionally names ``f(config) -> {name: shape}``, the parameters without building
    the model, so that converting weights needs no framework. ``data_init`` optionally
    names ``f(config, change_std, state) -> {parameter: array}``: parameters a fresh
    training run sets from its data (``state``: the initial ones), given the per-channel std of the normalised one-step change
    (:func:`earthzoo.training.data.change_std`), e.g. a residual model's output scale.
    ``demo``: how ``earthzoo demo`` trains it within its time budget (planned steps,
    priors in seconds, TrainConfig fields; :func:`earthzoo.budget.demo_schedule`)."""

    name: str
    summary: str
    config: str
    builders: dict[str, str]
    presets: tuple[str, ...] = ("tiny", "small", "paper")
    variables: tuple[str, ...] = ()
    grid: str = ""
    time_step: str = ""
    weight_formats: tuple[str, ...] = ()
    paper: str = ""
    licence: str = ""
    source: str = ""
    kind: str = "atmosphere"
    example_input: str = ""
    next_input: str = ""
    data_spec: str = ""
    originals: tuple[OriginalCheckpoint, ...] = ()
    shapes: str = ""
    data_init: str = ""
    demo: dict[str, Any] = field(default_factory=dict)

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(self.builders)

    def spec(self, config: Any) -> DataSpec | None:
        """The model's :class:`DataSpec` at ``config``, or None when the card names none."""
        return resolve(self.data_spec)(config) if self.data_spec else None

    def config_class(self) -> type:
        return resolve(self.config)

    def make_config(self, preset: str | None = None, **overrides: Any) -> Any:
        """The config dataclass at ``preset`` (default: the first preset) with overrides."""
        preset = preset or self.presets[0]
        if preset not in self.presets:
            raise EarthzooError(
                f"model {self.name!r} has no preset {preset!r}",
                f"use one of: {', '.join(self.presets)}",
            )
        cfg = self.config_class().preset(preset)
        return self._replace(cfg, overrides) if overrides else cfg

    def config_from_dict(self, values: dict[str, Any], preset: str | None = None) -> Any:
        """A config from its JSON form: a full stored config, or the fields a
        checkpoint fixes on top of ``preset`` (lists become tuples)."""
        return self._replace(self.make_config(preset), values)

    def config_with_sources(self, values: dict[str, Any], sources: dict[str, str] | None = None, preset: str | None = None, overrides: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        """The config from ``preset``, then ``values`` (from a weights file, each known
        as ``sources[field]``: a key of SOURCES), then ``overrides``
        (the user's --config); and where each field's value came from, in words."""
        base = preset or self.presets[0]
        cfg = self._replace(self._replace(self.make_config(preset), values), overrides or {})
        given = f"preset {base!r} (--preset)" if preset else f"assumed: default of preset {base!r}"
        origin = {f.name: given for f in dataclasses.fields(cfg)}
        origin.update({k: SOURCES.get((sources or {}).get(k, "file"), "read from file") for k in values})
        origin.update({k: "set with --config" for k in overrides or {}})
        return cfg, origin

    def parse_config(self, pairs: Iterable[str]) -> dict[str, Any]:
        """``KEY=VALUE`` strings (the CLI's --config) as typed config fields: the type
        is the preset's value's (tuples are comma-separated; an empty value is ())."""
        cfg = self.make_config()
        fields = {f.name for f in dataclasses.fields(cfg)}
        out: dict[str, Any] = {}
        for pair in pairs:
            key, eq, text = pair.partition("=")
            key = key.strip()
            if not eq or not key:
                raise EarthzooError(f"--config {pair!r} is not KEY=VALUE", "write it as --config depth=12")
            if key not in fields:
                raise EarthzooError(f"model {self.name!r} has no config field {key!r}", f"use one of: {', '.join(sorted(fields))}")
            out[key] = _parse_value(key, text, getattr(cfg, key))
        return out

    def _replace(self, cfg: Any, values: dict[str, Any]) -> Any:
        if not isinstance(values, dict):
            raise EarthzooError(f"config for {self.name!r} is a {type(values).__name__}, not a mapping of fields", "re-convert the weights (the file's earthzoo.config is damaged)")
        names = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise EarthzooError(
                f"config for {self.name!r} has unknown fields {unknown}",
                "the weights were written for another model or a newer version",
            )
        return dataclasses.replace(cfg, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def original(self, name: str) -> OriginalCheckpoint:
        """The original checkpoint called ``name`` on this card."""
        for o in self.originals:
            if o.name == name:
                return o
        known = ", ".join(o.name for o in self.originals) or "none"
        raise EarthzooError(f"model {self.name!r} knows no original checkpoint {name!r} (it knows: {known})", f"see `earthzoo models {self.name} --json`")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["frameworks"] = list(self.frameworks)
        # what each named variable is, from the lexicon (units, CF standard_name, other tools' names)
        d["variable_info"] = [dataclasses.asdict(v) for v in map(lookup, self.variables) if v.long_name != v.name or v.units != "1"]
        return d


def _parse_value(key: str, text: str, like: Any) -> Any:
    """``text`` as a value of the type of ``like`` (one config field's --config value)."""
    text = text.strip()
    try:
        if isinstance(like, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(like, (int, float, str)):
            return type(like)(text)
        if isinstance(like, (tuple, list)):
            items = [t.strip() for t in text.split(",")] if text else []
            kind = type(like[0]) if like else _guess
            return tuple(kind(t) for t in items)
        return _guess(text) if text else None
    except ValueError as exc:
        what = {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(type(like), "comma-separated values")
        raise EarthzooError(f"--config {key}={text!r}: {key} takes {what}", f"e.g. --config {key}={_show(like)}") from exc


def _guess(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


@dataclass(frozen=True)
class BackendStatus:
    """What a backend's probe found: never an exception, always an answer."""

    available: bool
    devices: tuple[str, ...] = ()
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendCard:
    """A chip backend. ``probe`` must be fast and must never raise; ``priority``
    orders ``--backend auto`` (higher wins among the available ones)."""

    name: str
    summary: str
    frameworks: tuple[str, ...]
    probe: Callable[[], BackendStatus]
    priority: int = 0
    energy_method: str = "unavailable"

    def status(self) -> BackendStatus:
        """The probe's answer; a probe that raises anyway is reported as unavailable."""
        try:
            return self.probe()
        except Exception as exc:  # noqa: BLE001 - a probe must never break the caller
            return BackendStatus(False, reason=f"probe failed: {type(exc).__name__}: {exc}")

    def to_json(self) -> dict[str, Any]:
        st = self.status()
        return {
            "name": self.name,
            "summary": self.summary,
            "available": st.available,
            "devices": list(st.devices),
            "reason": st.reason,
            "frameworks": list(self.frameworks),
            "energy_method": self.energy_method,
            "priority": self.priority,
            "details": st.details,
        }


@dataclass(frozen=True)
class WeightFormat:
    """A foreign checkpoint format of one model, or of any model when ``model`` is ""
    (core's ``torch`` and ``mindspore`` formats, registered by earthzoo.builtin).

    ``reader`` names ``read(path)`` returning an earthzoo.weights.Weights (tensors
    under canonical (torch) names, the config fields the file fixes with how each is
    known, extras, attrs) or a pair ``(tensors, config_fields)``. ``writer``, when
    set, names ``write(path, weights, config, overwrite) -> {"placed": names of the
    extras/attrs it stored, "files": other files it wrote, "notes": [...]}``; what it
    does not place goes to a sidecar. A file is this format when ``sniff`` (naming
    ``f(path) -> bool``, which reads as little as it can) says so; a format without
    one is recognised by its ``suffixes``.
    ``framework``: the one the writer imports ("" for none; readers import none), so
    that ``earthzoo doctor`` can say whether writing the format is possible here."""

    name: str
    model: str
    summary: str
    reader: str
    suffixes: tuple[str, ...] = ()
    writer: str = ""
    origin: str = ""
    framework: str = ""
    sniff: str = ""

    def read(self, path: str) -> Any:
        return resolve(self.reader)(path)

    def write(self, path: str, weights: Any, config: Any, overwrite: bool = False) -> dict[str, Any] | None:
        if not self.writer:
            raise EarthzooError(f"weight format {self.name!r} can only be read", "convert to safetensors, torch or mindspore instead")
        return resolve(self.writer)(path, weights, config, overwrite)

    def sniffs(self, path: str) -> bool:
        """Whether ``sniff`` recognises the file; a sniff that fails says no."""
        try:
            return bool(self.sniff and resolve(self.sniff)(path))
        except Exception:  # noqa: BLE001 - a sniff must never break detection
            return False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DataSourceCard:
    """A data source: embedded synthetic data or a reader of a real archive.

    ``opener`` names ``open(path=None, **options) -> xarray.Dataset`` in the
    internal form (dims time, channel, lat, lon; CF coordinates)."""

    name: str
    summary: str
    opener: str
    kind: str = "atmosphere"
    embedded: bool = False
    variables: tuple[str, ...] = ()
    time_step: str = ""

    def open(self, path: str | None = None, **options: Any) -> Any:
        return resolve(self.opener)(path, **options)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
