"""Plain descriptions of what plugins register. No framework is imported here:
anything heavy is named as a lazy "module:attribute" string."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import EarthzooError

FRAMEWORKS = ("torch", "mindspore")


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
    that training and forecasting take them from a data set by name."""

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

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["frameworks"] = list(self.frameworks)
        return d


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
    """A foreign checkpoint format of one model.

    ``reader`` names ``read(path) -> (tensors, config_overrides)`` returning numpy
    arrays under canonical (torch) names and config fields the file fixes (or an
    empty dict). ``writer``, when set, names ``write(path, tensors, config)``."""

    name: str
    model: str
    summary: str
    reader: str
    suffixes: tuple[str, ...] = ()
    writer: str = ""
    origin: str = ""

    def read(self, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return resolve(self.reader)(path)

    def write(self, path: str, tensors: dict[str, Any], config: Any) -> None:
        if not self.writer:
            raise EarthzooError(f"weight format {self.name!r} can only be read", "convert to safetensors, torch or mindspore instead")
        resolve(self.writer)(path, tensors, config)

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
