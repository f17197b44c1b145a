"""FourCastNet (AFNONet) in MindSpore: the torch module tree, line for line, with the
same parameter names and layouts, written for speed on CPU (shared MINDSPORE.md):

- patch embedding by reshape + matmul on a (C, in, p, p) ``patch_embed.proj.weight``
  instead of a stride-p Conv2d (which costs 200-380 ms on CPU);
- exact-erf GELU by formula (``nn.GELU`` defaults to tanh; ``gelu="tanh"`` selects it);
- the spectral MLP as real matmuls on (re, im) pairs: complex numbers exist only inside
  the native FFT op (or nowhere, with the DFT-by-matmul ops);
- no einsum, no roll; LayerNorm eps 1e-6 with parameters named weight/bias.

Runs in PyNative or graph mode; ``compiled(net)`` gives one jitted forward per net."""

from __future__ import annotations

import math
import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from earthzoo.errors import EarthzooError  # noqa: E402
from earthzoo.frameworks import dft_mindspore  # noqa: E402
from earthzoo.frameworks.mindspore_layers import LayerNorm, gelu_erf, init_rng  # noqa: E402
from earthzoo.frameworks.mindspore_layers import param as _param  # noqa: E402
from mindspore import nn, ops  # noqa: E402
from mindspore.common.initializer import TruncatedNormal, initializer  # noqa: E402

from .config import FourCastNetConfig  # noqa: E402


def _ops_for(config: FourCastNetConfig) -> dict:
    return dict(dft_mindspore.DFT_OPS if config.spectral == "dft" else dft_mindspore.NATIVE_OPS)


class Linear(nn.Cell):
    """torch.nn.Linear: weight (out, in), optional bias. The input is flattened to 2-D
    first: a broadcast N-D matmul becomes BatchMatMul + BroadcastTo + ReduceSum in the
    backward pass, several times slower on CPU."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = ms.Parameter(initializer(TruncatedNormal(0.02), (d_out, d_in), ms.float32), name="weight")
        self.has_bias = bias
        self.d_in, self.d_out = d_in, d_out
        if bias:
            self.bias = _param(np.zeros(d_out), "bias")
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x):
        shape = x.shape
        y = self.matmul(x.reshape(-1, self.d_in), self.weight)
        if self.has_bias:
            y = y + self.bias
        return y.reshape(shape[:-1] + (self.d_out,))


class Mlp(nn.Cell):
    def __init__(self, dim: int, hidden: int, gelu: str):
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.fc2 = Linear(hidden, dim)
        self.tanh_gelu = gelu == "tanh"
        self.gelu_tanh = ops.GeLU()  # MindSpore's GeLU kernel is the tanh approximation

    def construct(self, x):
        x = self.fc1(x)
        if self.tanh_gelu:
            x = self.gelu_tanh(x)
        else:
            x = gelu_erf(x)
        return self.fc2(x)


class AFNO2D(nn.Cell):
    """Adaptive Fourier neural operator mixing over the token grid (channels last)."""

    keep_fp32 = True  # spectral: float32 inside a mixed-precision run (earthzoo.frameworks.*.mixed_precision)

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float, hard_thresholding_fraction: float, hidden_size_factor: int = 1):
        super().__init__()
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.sparsity_threshold = sparsity_threshold
        self.hard_thresholding_fraction = hard_thresholding_fraction
        bs, f, rng = self.block_size, hidden_size_factor, init_rng()
        self.w1 = _param(0.02 * rng.standard_normal((2, num_blocks, bs, bs * f)), "w1")
        self.b1 = _param(0.02 * rng.standard_normal((2, num_blocks, bs * f)), "b1")
        self.w2 = _param(0.02 * rng.standard_normal((2, num_blocks, bs * f, bs)), "w2")
        self.b2 = _param(0.02 * rng.standard_normal((2, num_blocks, bs)), "b2")
        self.softshrink = ops.SoftShrink(float(sparsity_threshold))  # one kernel forward and backward
        self.rfft2 = dft_mindspore.native_rfft2
        self.irfft2 = dft_mindspore.native_irfft2

    def _complex_linear(self, z, w, b):
        """Block-diagonal complex matmul as one real batched matmul on z = [re, im]
        (nb, n, 2i): [re, im] @ [[w0, w1], [-w1, w0]] + [b0, b1] -> (nb, n, 2o)."""
        wr, wi = w[0], w[1]
        big = ops.concat((ops.concat((wr, wi), 2), ops.concat((-wi, wr), 2)), 1)  # (nb, 2i, 2o)
        bias = ops.transpose(b, (1, 0, 2)).reshape(b.shape[1], 1, -1)  # (nb, 1, 2o)
        return ops.bmm(z, big) + bias

    def construct(self, x):
        bias = x
        dtype = x.dtype
        x = x.astype(ms.float32)
        B, H, W, C = x.shape
        Wr = W // 2 + 1
        re, im = self.rfft2(x)
        total = H // 2 + 1
        kept = int(total * self.hard_thresholding_fraction)
        h0, h1, w1 = max(total - kept, 0), min(total + kept, H), min(kept, Wr)
        nb, bs = self.num_blocks, self.block_size
        n = B * (h1 - h0) * w1
        re_k = re[:, h0:h1, :w1].reshape(n, nb, bs)
        im_k = im[:, h0:h1, :w1].reshape(n, nb, bs)
        z = ops.transpose(ops.concat((re_k, im_k), -1), (1, 0, 2))  # (nb, n, 2bs)
        o1 = ops.relu(self._complex_linear(z, self.w1, self.b1))
        o2 = self.softshrink(self._complex_linear(o1, self.w2, self.b2))
        o2 = ops.transpose(o2, (1, 0, 2))  # (n, nb, 2bs)
        o2r = o2[:, :, :bs].reshape(B, h1 - h0, w1, C)
        o2i = o2[:, :, bs:].reshape(B, h1 - h0, w1, C)
        if w1 < Wr:  # zero the modes the original leaves out of the MLP
            zeros = ops.zeros((B, h1 - h0, Wr - w1, C), ms.float32)
            o2r, o2i = ops.concat((o2r, zeros), 2), ops.concat((o2i, zeros), 2)
        if h0 > 0 or h1 < H:
            top, bottom = ops.zeros((B, h0, Wr, C), ms.float32), ops.zeros((B, H - h1, Wr, C), ms.float32)
            o2r, o2i = ops.concat((top, o2r, bottom), 1), ops.concat((top, o2i, bottom), 1)
        x = self.irfft2(o2r, o2i, (H, W))
        return x.astype(dtype) + bias


class Block(nn.Cell):
    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        dim = config.embed_dim
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.filter = AFNO2D(dim, config.num_blocks, config.sparsity_threshold, config.hard_thresholding_fraction)
        self.norm2 = LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio), config.gelu)

    def construct(self, x):
        residual = x
        x = self.filter(self.norm1(x))  # the filter adds its own input back
        x = x + residual  # the second skip ("double skip")
        return x + self.mlp(self.norm2(x))


class Proj(nn.Cell):
    """The patch projection's parameters in Conv2d layout: weight (C, in, p, p), bias (C,)."""

    def __init__(self, d_in: int, d_out: int, p: int):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in * p * p)
        rng = init_rng()
        self.weight = _param(rng.uniform(-bound, bound, (d_out, d_in, p, p)), "weight")
        self.bias = _param(rng.uniform(-bound, bound, d_out), "bias")


class PatchEmbed(nn.Cell):
    """Stride-p convolution by reshape + matmul: (B, in, H, W) -> (B, h*w, C)."""

    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        self.p = config.patch_size
        self.h, self.w = config.tokens
        self.in_chans, self.embed_dim = config.in_chans, config.embed_dim
        self.proj = Proj(config.in_chans, config.embed_dim, self.p)
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x):
        B, p, h, w = x.shape[0], self.p, self.h, self.w
        x = x.reshape(B, self.in_chans, h, p, w, p)
        x = ops.transpose(x, (0, 2, 4, 1, 3, 5)).reshape(B * h * w, self.in_chans * p * p)
        weight = self.proj.weight.reshape(self.embed_dim, self.in_chans * p * p)
        return (self.matmul(x, weight) + self.proj.bias).reshape(B, h * w, self.embed_dim)


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
        self.patch_embed = PatchEmbed(config)
        self.pos_embed = ms.Parameter(initializer(TruncatedNormal(0.02), (1, self.h * self.w, config.embed_dim), ms.float32), name="pos_embed")
        self.blocks = nn.CellList([Block(config) for _ in range(config.depth)])
        self.norm = LayerNorm(config.embed_dim, eps=1e-6)  # unused in forward, as in the original
        self.head = Linear(config.embed_dim, config.out_chans * self.p * self.p, bias=False)
        self.set_ops(_ops_for(config))

    def set_ops(self, table: dict) -> None:
        """Install op overrides (``rfft2``/``irfft2``) into every spectral filter."""
        for block in self.blocks:
            for name in ("rfft2", "irfft2"):
                if name in table:
                    setattr(block.filter, name, table[name])

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
        y = ops.transpose(y.reshape(B, self.h, self.w, p, p, c), (0, 5, 1, 3, 2, 4)).reshape(B, c, self.h * p, self.w * p)
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
        return self.conv(x, self.weight) + self.bias.reshape(1, -1, 1, 1)


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
    """A graph-mode forward for ``net`` (one jitted callable per net, kept on the net and
    reused; MindSpore compiles once per input shape), with the input check in Python."""
    forward = net.__dict__.get("_earthzoo_compiled")
    if forward is None:
        jitted = ms.jit(net.construct)

        def forward(x):
            check_input(tuple(x.shape), net.config)
            return jitted(x)

        object.__setattr__(net, "_earthzoo_compiled", forward)
    return forward
