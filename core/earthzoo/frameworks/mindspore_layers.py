"""MindSpore building blocks that keep torch's parameter names and numerics, shared by
the model plugins (their MindSpore cells mirror the torch modules name for name)."""

from __future__ import annotations

import math
import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import nn, ops  # noqa: E402

SQRT_HALF = 1.0 / math.sqrt(2.0)


def param(array, name: str, requires_grad: bool = True) -> ms.Parameter:
    """A float32 Parameter named as torch names it (``weight``, ``bias``...)."""
    return ms.Parameter(ms.Tensor(np.asarray(array, dtype=np.float32)), name=name, requires_grad=requires_grad)


def init_rng() -> np.random.Generator:
    """The generator for a parameter's initial values, seeded from NumPy's global
    state (which ``seed_everything`` sets): a bare ``np.random.default_rng()``
    draws from the OS, so one --seed gave different weights and losses run to run."""
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


def gelu_erf(x):
    """torch's exact GELU; ``nn.GELU()`` defaults to the tanh approximation. The
    formula is faster on CPU than ``nn.GELU(approximate=False)``."""
    return 0.5 * x * (1.0 + ops.erf(x * SQRT_HALF))


class LayerNorm(nn.Cell):
    """LayerNorm over the last axis with torch's parameter names (``nn.LayerNorm``
    names them gamma/beta and defaults to eps 1e-7)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = param(np.ones(dim), "weight")
        self.bias = param(np.zeros(dim), "bias")
        self.layer_norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x):
        return self.layer_norm(x, self.weight, self.bias)[0]
