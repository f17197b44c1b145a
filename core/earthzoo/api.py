"""The public Python API: list and describe models and backends, build and load models."""

from __future__ import annotations

from typing import Any

from .cards import BackendCard, ModelCard
from .errors import EarthzooError
from .frameworks import framework_module
from .ops import apply_custom_ops
from .registry import get_plugin_manager, get_registry
from .runtime import DeviceContext


def list_models(pattern: str = "*") -> list[str]:
    """Names of the installed models, optionally filtered by a wildcard (``'four*'``)."""
    return [c.name for c in get_registry().match_models(pattern)]


def model_card(name: str) -> ModelCard:
    return get_registry().model(name)


def list_backends(available_only: bool = False) -> list[str]:
    reg = get_registry()
    return [n for n, c in sorted(reg.backends.items()) if not available_only or c.status().available]


def select_backend(name: str = "auto", framework: str | None = None) -> BackendCard:
    """The named backend, checked to be available; ``auto`` picks the available one of
    highest priority that runs ``framework``."""
    reg = get_registry()
    if name != "auto":
        card = reg.backend(name)
        status = card.status()
        if not status.available:
            raise EarthzooError(f"backend {name!r} is not available here: {status.reason or 'no device found'}", "use --backend auto, or run on a machine with that chip")
        if framework and framework not in card.frameworks:
            raise EarthzooError(f"backend {name!r} does not run {framework}", f"use one of: {', '.join(card.frameworks)}")
        return card
    candidates = [c for c in reg.backends.values() if (framework is None or framework in c.frameworks)]
    for card in sorted(candidates, key=lambda c: -c.priority):
        if card.status().available:
            return card
    raise EarthzooError("no available backend", "install earthzoo (its CPU backend is always available)")


def setup_device(backend: str = "auto", framework: str = "torch", rank: int = 0, world_size: int = 1) -> DeviceContext:
    card = select_backend(backend, framework)
    ctx = get_plugin_manager().hook.earthzoo_setup_device(backend=card.name, framework=framework, rank=rank, world_size=world_size)
    if ctx is None:
        raise EarthzooError(f"no plugin sets up backend {card.name!r} for {framework}", f"reinstall the plugin that provides {card.name!r}")
    return ctx


def precision_plan(backend: str, framework: str, policy: str) -> Any:
    """The backend's ``runtime.PrecisionPlan`` for ``policy`` (fp32/bf16/fp16) in
    ``framework``; a one-line error where the device lacks the type or no plugin plans it."""
    name = select_backend(backend, framework).name
    plan = get_plugin_manager().hook.earthzoo_mixed_precision(backend=name, framework=framework, policy=policy)
    if plan is None:
        raise EarthzooError(f"backend {name!r} gives no precision plan for {policy}", "use --precision fp32")
    return plan


def build_model(name: str, framework: str = "torch", preset: str | None = None, config: Any = None) -> Any:
    """An untrained model in ``framework`` (through the build_model hook)."""
    card = model_card(name)
    if config is None:
        config = card.make_config(preset)
    model = get_plugin_manager().hook.earthzoo_build_model(card=card, config=config, framework=framework)
    if model is None:
        raise EarthzooError(f"no plugin builds model {name!r} in {framework}", "reinstall the model's plugin")
    return model


def check_weights_model(w: Any, name: str, path: Any) -> None:
    """Weights written for another model are refused (their names could even fit)."""
    if w.model and w.model != name:
        raise EarthzooError(f"weights {str(path)!r} are for model {w.model!r}, not {name!r}", f"use them with model {w.model!r}, or pass weights of {name!r}")


def load_model(name: str, framework: str = "torch", preset: str | None = None, weights: str | None = None, backend: str = "auto", config: dict[str, Any] | None = None) -> Any:
    """Build ``name`` in ``framework`` and, when given, load canonical ``weights``.

    With weights, the config stored in the file is used unless a ``preset`` is
    given; ``config`` sets fields over either (``{"gelu": "tanh"}``); the weights'
    names and shapes must fit the model. The model is put in inference mode on the selected backend."""
    from .weights import load_canonical

    card = model_card(name)
    fw = framework_module(framework)
    ctx = setup_device(backend, framework)
    w = load_canonical(weights) if weights else None
    if w is not None:
        check_weights_model(w, name, weights)
    config = card.config_from_dict({**(w.config if w is not None and preset is None else {}), **(config or {})}, preset)
    model = build_model(name, framework, config=config)
    if w is not None:
        fw.load_numpy_state(model, w.tensors, f"model {name!r}")
    apply_custom_ops(model, framework, ctx.backend)
    fw.prepare_for_inference(model, ctx)
    return model
