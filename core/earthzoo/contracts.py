"""The contracts between core and the plugins, as code: what a model plugin's
config, card functions and models offer, and what each framework module
(``earthzoo.frameworks.torch`` / ``.mindspore``) offers. tests/test_contracts.py
checks every registered model and both framework modules against these Protocols,
and that docs/writing-a-plugin.md lists what :func:`markdown` writes from them.

A leaf module: nothing here imports a framework or another earthzoo module."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

# --------------------------------------------------------------------------- a model plugin


@runtime_checkable
class ModelConfig(Protocol):
    """The card's ``config`` class: a dataclass of JSON-friendly fields."""

    @classmethod
    def preset(cls, name: str) -> Any:
        """The config at a named preset (the card's ``presets``)."""


@runtime_checkable
class Builder(Protocol):
    """A card's ``builders[framework]``."""

    def __call__(self, config: Any) -> Any:
        """An untrained model (a torch.nn.Module or mindspore.nn.Cell) at ``config``."""


@runtime_checkable
class ExampleInput(Protocol):
    """The card's ``example_input``."""

    def __call__(self, config: Any, batch: int, seed: int) -> Any:
        """A float32 NumPy input (batch, in_channels, lat, lon), the same for a seed in both frameworks."""


@runtime_checkable
class NextInput(Protocol):
    """The card's ``next_input`` (optional; default: the output itself)."""

    def __call__(self, x: Any, y: Any, step: int, config: Any) -> Any:
        """Step+1's input from the last input ``x`` and output ``y`` (NumPy)."""


@runtime_checkable
class DataSpecOf(Protocol):
    """The card's ``data_spec`` (optional)."""

    def __call__(self, config: Any) -> Any:
        """The ``earthzoo.cards.DataSpec``: the channels the model reads and predicts, by name."""


@runtime_checkable
class ParameterShapes(Protocol):
    """The card's ``shapes`` (optional)."""

    def __call__(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Every parameter's shape at ``config``, without a framework."""


@runtime_checkable
class Model(Protocol):
    """What a builder returns, in either framework.

    It maps (batch, in_channels, lat, lon) to (batch, out_channels, lat, lon), and its
    parameter names equal the torch state_dict's in both frameworks."""

    checkpoint_modules: tuple[str, ...]
    """Attribute names of the units of activation checkpointing / recompute: lists of
    repeated blocks, or single modules (a block list or a module holding large activations)."""


@runtime_checkable
class OpTableModel(Protocol):
    """A model whose spectral or message-passing operators are looked up by name."""

    def set_ops(self, table: dict[str, Callable]) -> None:
        """Use ``table``'s operators (``rfft2``, ``scatter_sum``...) in place of the native ones."""


@runtime_checkable
class MaskedModel(Protocol):
    """A model that pre-trains MAE-style (``earthzoo train --stage masked``); its config has ``patch_size`` and ``mask_ratio``."""

    def forward_masked(self, x: Any, ids_keep: Any, ids_restore: Any) -> Any:
        """Encode the kept tokens only and return the reconstructed state."""


# --------------------------------------------------------------------------- a framework module


@runtime_checkable
class FrameworkModule(Protocol):
    """`earthzoo.frameworks.framework_module(name)`: the same functions in both frameworks.

    ``device`` is a ``runtime.DeviceContext``'s ``device``: what it names is the backend's business."""

    NAME: str
    """"torch" or "mindspore"."""

    def to_numpy(self, x: Any) -> Any:
        """A tensor as a NumPy array (a copy)."""

    def from_numpy(self, a: Any) -> Any:
        """A NumPy array as a tensor."""

    def seed_everything(self, seed: int) -> None:
        """Seed Python's, NumPy's and the framework's generators."""

    def expected_shapes(self, model: Any) -> dict[str, tuple[int, ...]]:
        """The model's parameter names and shapes."""

    def state_to_numpy(self, model: Any) -> dict[str, Any]:
        """The model's parameters as canonical NumPy arrays."""

    def load_numpy_state(self, model: Any, tensors: dict[str, Any], what: str = "the model") -> None:
        """Load canonical arrays; names and shapes must fit exactly."""

    def shapes_of(self, build: Callable[[], Any]) -> dict[str, tuple[int, ...]]:
        """Parameter shapes of the model ``build()`` makes, allocating as little as the framework allows."""

    def synchronize(self, device: str) -> None:
        """Wait for the device's queued work."""

    def peak_memory_bytes(self, device: str) -> int | None:
        """Peak device memory held by tensors in this process; None where the framework cannot tell."""

    def free_memory_bytes(self, device: str) -> int | None:
        """Free device memory; None where the framework cannot tell (the host's is read elsewhere)."""

    def checkpoint_units(self, model: Any) -> Iterable[Any]:
        """The blocks the model names in ``checkpoint_modules`` (each list flattened)."""

    def enable_activation_checkpointing(self, model: Any) -> list[str]:
        """Recompute each block's activations in backward; returns what was applied."""

    def keeps_fp32(self, module: Any) -> bool:
        """Whether a submodule stays float32 in a low-precision run."""

    def mixed_precision(self, model: Any, plan: Any) -> Any:
        """Prepare the model for a ``runtime.PrecisionPlan``."""

    def prepare_for_inference(self, model: Any, ctx: Any) -> Any:
        """The model on ``ctx``'s device, in inference mode."""

    def inference_function(self, model: Any, plan: Any = None) -> Callable[[Any], Any]:
        """A NumPy -> NumPy forward without autograd."""


MODEL_PLUGIN = (ModelConfig, Builder, ExampleInput, NextInput, DataSpecOf, ParameterShapes, Model, OpTableModel, MaskedModel)
ALL = (*MODEL_PLUGIN, FrameworkModule)


# --------------------------------------------------------------------------- checking

_MISSING = object()


def members(protocol: type) -> list[str]:
    """The names a Protocol asks for: its annotated attributes and its methods, in order."""
    names = list(protocol.__dict__.get("__annotations__", {}))
    names += [n for n, v in protocol.__dict__.items() if (callable(v) or isinstance(v, classmethod)) and (not n.startswith("_") or n == "__call__")]
    return names


def _parameters(protocol: type, name: str) -> list[inspect.Parameter]:
    """The parameters a caller passes to ``protocol.name`` (without self/cls)."""
    params = list(inspect.signature(getattr(protocol, name)).parameters.values())
    return params if isinstance(protocol.__dict__[name], classmethod) else params[1:]


def signature(protocol: type, name: str) -> str:
    """``name(a, b, c=...)`` as a caller writes it; the bare name for an attribute."""
    if name not in protocol.__dict__:
        return name
    return f"{name}({', '.join(p.name + ('=...' if p.default is not p.empty else '') for p in _parameters(protocol, name))})"


def problems(obj: Any, protocol: type) -> list[str]:
    """What ``obj`` lacks of ``protocol``, in words: a missing member, or a function that
    cannot be called the way the Protocol calls it (its required arguments by position,
    its optional ones by name). Empty when ``obj`` conforms."""
    found = []
    for name in members(protocol):
        have = obj if name == "__call__" else getattr(obj, name, _MISSING)
        if have is _MISSING:
            found.append(f"{signature(protocol, name)} is missing")
            continue
        if name not in protocol.__dict__:
            continue  # an attribute: its presence is the contract
        if not callable(have):
            found.append(f"{name} is not callable")
            continue
        try:
            have_sig = inspect.signature(have)
        except (TypeError, ValueError):
            continue  # a builtin without a signature: only its presence can be checked
        params = _parameters(protocol, name)
        required = [p.name for p in params if p.default is p.empty]
        optional = {p.name: None for p in params if p.default is not p.empty}
        try:
            have_sig.bind(*required, **optional)
        except TypeError as exc:
            found.append(f"{signature(protocol, name)} cannot be called so: {name}{have_sig} ({exc})")
    return found


def markdown() -> str:
    """The contracts as the Markdown list in docs/writing-a-plugin.md."""
    lines = []
    for protocol in ALL:
        doc = (protocol.__doc__ or "").strip().splitlines()[0].replace("``", "`").rstrip(".")
        lines.append(f"- `{protocol.__name__}` ({doc}): " + ", ".join(f"`{signature(protocol, n)}`" for n in members(protocol)))
    return "\n".join(lines)
