"""Core's own hook implementations, always registered: the default model builder,
the CPU backend, core's data sources and the basic weight formats."""

from __future__ import annotations

from pathlib import Path

from .backends.cpu import plugin as _cpu
from .cards import WeightFormat, resolve
from .data.sources import earthzoo_register_datasources  # noqa: F401 - core's data sources
from .errors import EarthzooError
from .frameworks import framework_module
from .hookspecs import hookimpl

# The CPU backend's hooks answer as part of this module (one "earthzoo.builtin" record);
# pluggy takes bound methods as hook implementations like functions.
earthzoo_register_backends = _cpu.earthzoo_register_backends
earthzoo_setup_device = _cpu.earthzoo_setup_device
earthzoo_custom_ops = _cpu.earthzoo_custom_ops
earthzoo_mixed_precision = _cpu.earthzoo_mixed_precision
earthzoo_memory_schedule = _cpu.earthzoo_memory_schedule
earthzoo_energy_meter = _cpu.earthzoo_energy_meter


@hookimpl(trylast=True)
def earthzoo_build_model(card, config, framework):
    """Import the card's builder for ``framework`` and call it with the config."""
    if framework not in card.builders:
        raise EarthzooError(f"model {card.name!r} has no {framework} implementation", f"use one of: {', '.join(card.frameworks)}")
    framework_module(framework)  # a clear error when the framework is not installed
    return resolve(card.builders[framework])(config)


# The basic formats every model's weights can be written in besides canonical safetensors
# (which earthzoo.weights reads itself), registered as plugins register theirs so that
# earthzoo.weights has no branch per framework. ``model`` "" serves any model.
WEIGHT_FORMATS = (
    WeightFormat(name="torch", model="", summary="a torch.save state_dict (name -> tensor)", reader="earthzoo.builtin:read_torch",
                 suffixes=(".pt", ".pth"), writer="earthzoo.builtin:write_torch", framework="torch"),
    WeightFormat(name="mindspore", model="", summary="a MindSpore checkpoint (earthzoo.msckpt: no MindSpore needed for the usual dtypes)", reader="earthzoo.builtin:read_mindspore",
                 suffixes=(".ckpt",), writer="earthzoo.builtin:write_mindspore"),
)


@hookimpl
def earthzoo_register_weight_formats(register):
    for fmt in WEIGHT_FORMATS:
        register(fmt)


def read_torch(path: str):
    from .torchfile import load_state_file

    return load_state_file(path), {}


def write_torch(path: str, weights, config, overwrite: bool = False) -> None:
    framework_module("torch", "to write PyTorch .pt files").save_state_file(Path(path), weights.tensors)


def read_mindspore(path: str):
    from . import msckpt

    return msckpt.load(path), {}


def write_mindspore(path: str, weights, config, overwrite: bool = False) -> None:
    from . import msckpt

    msckpt.save(path, weights.tensors)
