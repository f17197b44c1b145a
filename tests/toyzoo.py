"""A toy model plugin for core's tests: a residual channel-mixing network in both
frameworks with identical parameter names. Registered in-process by the tests;
test_plugin_install.py also pip-installs a copy as a real third-party package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from earthzoo.cards import ModelCard, WeightFormat
from earthzoo.plugins import hookimpl


@dataclass(frozen=True)
class ToyConfig:
    channels: int = 3
    depth: int = 2
    lat: int = 8
    lon: int = 16
    tag: str = ""  # free text, unused by the model: tests pad it to move a weights file's header length

    @classmethod
    def preset(cls, name: str) -> "ToyConfig":
        return {"tiny": cls(), "small": cls(channels=4, depth=3, lat=16, lon=32)}[name]


def build_torch(cfg: ToyConfig):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = nn.LayerNorm(c, eps=1e-6)
            self.fc = nn.Linear(c, c)

        def forward(self, h):
            return h + self.fc(torch.tanh(self.norm(h)))

    class ToyNet(nn.Module):
        checkpoint_modules = ("blocks",)

        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block(cfg.channels) for _ in range(cfg.depth)])
            self.scale = nn.Parameter(torch.ones(cfg.channels))
            self.ops = {}

        def set_ops(self, table):
            self.ops = dict(table)

        def forward(self, x):
            h = x.permute(0, 2, 3, 1)
            for block in self.blocks:
                h = block(h)
            return (h * self.scale).permute(0, 3, 1, 2)

    return ToyNet()


def build_mindspore(cfg: ToyConfig):
    import mindspore as ms
    from mindspore import nn, ops

    class LayerNorm(nn.Cell):
        def __init__(self, c):
            super().__init__()
            self.weight = ms.Parameter(ms.Tensor(np.ones(c, np.float32)), name="weight")
            self.bias = ms.Parameter(ms.Tensor(np.zeros(c, np.float32)), name="bias")

        def construct(self, h):
            mean = h.mean(-1, keep_dims=True)
            var = ((h - mean) ** 2).mean(-1, keep_dims=True)
            return (h - mean) / ops.sqrt(var + 1e-6) * self.weight + self.bias

    class Linear(nn.Cell):
        def __init__(self, c):
            super().__init__()
            self.weight = ms.Parameter(ms.Tensor(np.zeros((c, c), np.float32)), name="weight")
            self.bias = ms.Parameter(ms.Tensor(np.zeros(c, np.float32)), name="bias")

        def construct(self, h):
            return ops.matmul(h, self.weight.T) + self.bias

    class Block(nn.Cell):
        def __init__(self, c):
            super().__init__()
            self.norm = LayerNorm(c)
            self.fc = Linear(c)

        def construct(self, h):
            return h + self.fc(ops.tanh(self.norm(h)))

    class ToyNet(nn.Cell):
        checkpoint_modules = ("blocks",)

        def __init__(self):
            super().__init__()
            self.blocks = nn.CellList([Block(cfg.channels) for _ in range(cfg.depth)])
            self.scale = ms.Parameter(ms.Tensor(np.ones(cfg.channels, np.float32)), name="scale")

        def construct(self, x):
            h = x.transpose(0, 2, 3, 1)
            for block in self.blocks:
                h = block(h)
            return (h * self.scale).transpose(0, 3, 1, 2)

    return ToyNet()


def example_input(cfg: ToyConfig, batch: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, cfg.channels, cfg.lat, cfg.lon)).astype(np.float32)


def read_toy_npz(path: str):
    """A 'foreign' format for the tests: an .npz whose keys use '/' instead of '.'."""
    with np.load(path, allow_pickle=False) as f:
        return {k.replace("/", "."): f[k] for k in f.files}, {}


CARD = ModelCard(
    name="toy",
    summary="Residual channel-mixing toy model for core tests",
    config="toyzoo:ToyConfig",
    builders={"torch": "toyzoo:build_torch", "mindspore": "toyzoo:build_mindspore"},
    presets=("tiny", "small"),
    variables=("a", "b", "c"),
    example_input="toyzoo:example_input",
    weight_formats=("toy-npz",),
)


@hookimpl
def earthzoo_register_models(register):
    register(CARD)


@hookimpl
def earthzoo_register_weight_formats(register):
    register(WeightFormat(name="toy-npz", model="toy", summary="slash-separated npz", reader="toyzoo:read_toy_npz", suffixes=(".npz",)))
