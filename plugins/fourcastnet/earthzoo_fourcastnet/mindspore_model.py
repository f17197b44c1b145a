"""FourCastNet (AFNONet) in MindSpore: the torch module tree, line for line, with the
same parameter names and layouts, written for speed on CPU (shared MINDSPORE.md). The
layers (Linear, Mlp with exact-erf or ``gelu="tanh"`` GELU, patch embedding by reshape
+ matmul on a (C, in, p, p) ``patch_embed.proj.weight``, the AFNO2D filter as real
matmuls on (re, im) pairs, LayerNorm eps 1e-6 named weight/bias) are core's
(earthzoo.frameworks.mindspore_layers); no einsum, no roll.

Runs in PyNative or graph mode; ``compiled(net)`` gives one jitted forward per net."""

from __future__ import annotations

import math
import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
from earthzoo.errors import EarthzooError  # noqa: E402
from earthzoo.frameworks import dft_mindspore  # noqa: E402
from earthzoo.frameworks import mindspore_layers as layers  # noqa: E402
from earthzoo.frameworks.mindspore_layers import AFNO2D, AFNOBlock, LayerNorm, Linear, PatchEmbed, init_rng, set_layer_ops  # noqa: E402
from earthzoo.frameworks.mindspore_layers import param as _param  # noqa: E402
from mindspore import nn, ops  # noqa: E402
from mindspore.common.initializer import TruncatedNormal, initializer  # noqa: E402

from .config import FourCastNetConfig  # noqa: E402


def _ops_for(config: FourCastNetConfig) -> dict:
    return dict(dft_mindspore.DFT_OPS if config.spectral == "dft" else dft_mindspore.NATIVE_OPS)


def _block(config: FourCastNetConfig) -> AFNOBlock:
    filt = AFNO2D(config.embed_dim, config.num_blocks, config.sparsity_threshold, config.hard_thresholding_fraction)
    return AFNOBlock(config.embed_dim, filt, config.mlp_ratio, gelu=config.gelu)


def check_input(shape, config: FourCastNetConfig) -> bool:
    """Whether the input carries the extra pole row; a one-line error for a wrong shape."""
    H, W = config.img_size
    if len(shape) != 4 or shape[1] != config.in_chans or shape[3] != W or shape[2] not in (H, H + 1):
        raise EarthzooError(f"FourCastNet input has shape {tuple(shape)}, expected (batch, {config.in_chans}, {H} or {H + 1}, {W})", "regrid the data or build the model with a matching config")
    return shape[2] == H + 1


class AFNONet(nn.Cell):
    """FourCastNet backbone: (B, in_chans, H[+1], W) -> (B, out_chans, H[+1], W)."""

    checkpoint_modules = ("blocks",)

    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        self.config = config
        self.h, self.w = config.tokens
        self.img_h = config.img_size[0]
        self.p, self.out_chans, self.embed_dim = config.patch_size, config.out_chans, config.embed_dim
        self.nan_pole = config.pole_pad == "nan"
        self.patch_embed = PatchEmbed(config.in_chans, config.embed_dim, config.patch_size, config.tokens)
        self.pos_embed = ms.Parameter(initializer(TruncatedNormal(0.02), (1, self.h * self.w, config.embed_dim), ms.float32), name="pos_embed")
        self.blocks = nn.CellList([_block(config) for _ in range(config.depth)])
        self.norm = LayerNorm(config.embed_dim, eps=1e-6)  # unused in forward, as in the original
        self.head = Linear(config.embed_dim, config.out_chans * self.p * self.p, bias=False)
        self.set_ops(_ops_for(config))

    def set_ops(self, table: dict) -> None:
        """Install op overrides (``rfft2``/``irfft2``, ``complex_linear``; ``layer_norm``, ``bias_add``, ``linear``, ``gelu``) into every shared layer."""
        set_layer_ops(self, table)

    def forward_features(self, x):
        x = self.patch_embed(x) + self.pos_embed
        x = x.reshape(x.shape[0], self.h, self.w, self.embed_dim)
        for block in self.blocks:
            x = block(x)
        return x

    def construct(self, x):
        has_pole = x.shape[2] == self.img_h + 1
        if has_pole:
            x = x[:, :, : self.img_h]
        B, p, c = x.shape[0], self.p, self.out_chans
        y = self.head(self.forward_features(x))
        y = layers.transpose(y.reshape(B, self.h, self.w, p, p, c), (0, 5, 1, 3, 2, 4)).reshape(B, c, self.h * p, self.w * p)
        if has_pole:
            last = y[:, :, -1:]
            y = ops.concat((y, ops.full_like(last, float("nan")) if self.nan_pole else last), 2)
        return y


class PeriodicPad2d(nn.Cell):
    """Circular padding in longitude (slicing + concat, no roll), zeros in latitude."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def construct(self, x):
        p = self.pad
        x = ops.concat((x[:, :, :, -p:], x, x[:, :, :, :p]), 3)
        z = ops.zeros((x.shape[0], x.shape[1], p, x.shape[3]), x.dtype)
        return ops.concat((z, x, z), 2)


class Conv2d(nn.Cell):
    """A valid 3x3 convolution with torch's parameter names and layout."""

    def __init__(self, d_in: int, d_out: int, k: int):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in * k * k)
        rng = init_rng()
        self.weight = _param(rng.uniform(-bound, bound, (d_out, d_in, k, k)), "weight")
        self.bias = _param(rng.uniform(-bound, bound, d_out), "bias")
        self.conv = ops.Conv2D(out_channel=d_out, kernel_size=k, pad_mode="valid")

    def construct(self, x):
        return ops.bias_add(self.conv(x, self.weight), self.bias)


class PrecipNet(nn.Cell):
    """The precipitation diagnostic: backbone -> periodic pad -> 3x3 conv -> ReLU."""

    checkpoint_modules = ("blocks",)

    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        self.config = config
        self.backbone = AFNONet(config)
        self.ppad = PeriodicPad2d(1)
        self.conv = Conv2d(config.out_chans, config.out_chans, 3)

    @property
    def blocks(self):
        return self.backbone.blocks

    def set_ops(self, table: dict) -> None:
        self.backbone.set_ops(table)

    def construct(self, x):
        return ops.relu(self.conv(self.ppad(self.backbone(x))))


def build(config: FourCastNetConfig) -> nn.Cell:
    return PrecipNet(config) if config.precip else AFNONet(config)



def compiled(net: nn.Cell):
    """A graph-mode forward for ``net`` (earthzoo.frameworks.mindspore_layers.compiled),
    with the input check in Python."""
    return layers.compiled(net, check=lambda shape: check_input(shape, net.config))
