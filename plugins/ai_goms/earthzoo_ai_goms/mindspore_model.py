"""AI-GOMS in MindSpore: the torch module tree with the same parameter names and
layouts (see torch_model.py for the architecture), written for CPU per shared
MINDSPORE.md: patch embedding and the ConvTranspose2d head as reshape + matmul on
torch-layout weights, exact-erf GELU by formula, complex numbers only at the FFT
boundary, token gathers by ``ops.gather`` on flattened (batch * token) rows."""

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

from .common import sincos_pos_embed_2d  # noqa: E402
from .config import AIGOMSConfig  # noqa: E402


def _xavier(rng, d_out: int, d_in: int, shape=None):
    bound = math.sqrt(6.0 / (d_in + d_out))
    return rng.uniform(-bound, bound, shape or (d_out, d_in))


class Linear(nn.Cell):
    """torch.nn.Linear: weight (out, in), bias (out,)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.weight = _param(_xavier(init_rng(), d_out, d_in), "weight")
        self.bias = _param(np.zeros(d_out), "bias")

    def construct(self, x):
        return ops.matmul(x, self.weight.T) + self.bias


class Mlp(nn.Cell):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.fc2 = Linear(hidden, dim)

    def construct(self, x):
        return self.fc2(gelu_erf(self.fc1(x)))


def _softshrink(x, lambd: float):
    return x - ops.clip_by_value(x, -lambd, lambd)


class AFNO1D(nn.Cell):
    """Adaptive Fourier mixing along the token sequence (B, N, C); rfft/irfft from the op table."""

    keep_fp32 = True  # spectral: float32 inside a mixed-precision run (earthzoo.frameworks.*.mixed_precision)

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float):
        super().__init__()
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.sparsity_threshold = sparsity_threshold
        bs, rng = self.block_size, init_rng()
        self.w1 = _param(0.02 * rng.standard_normal((2, num_blocks, bs, bs)), "w1")
        self.b1 = _param(0.02 * rng.standard_normal((2, num_blocks, bs)), "b1")
        self.w2 = _param(0.02 * rng.standard_normal((2, num_blocks, bs, bs)), "w2")
        self.b2 = _param(0.02 * rng.standard_normal((2, num_blocks, bs)), "b2")
        self.rfft = dft_mindspore.native_rfft
        self.irfft = dft_mindspore.native_irfft

    def _complex_linear(self, re, im, w, b):
        """Block-diagonal complex matmul as one real batched matmul: [re, im] @ [[w0, w1], [-w1, w0]]."""
        z = ops.transpose(ops.concat((re, im), -1), (1, 0, 2))  # (nb, n, 2i)
        wr, wi = w[0], w[1]
        big = ops.concat((ops.concat((wr, wi), 2), ops.concat((-wi, wr), 2)), 1)  # (nb, 2i, 2o)
        out = ops.transpose(ops.bmm(z, big), (1, 0, 2))  # (n, nb, 2o)
        o = w.shape[-1]
        return out[:, :, :o] + b[0], out[:, :, o:] + b[1]

    def construct(self, x):
        bias = x
        dtype = x.dtype
        x = x.astype(ms.float32)
        B, N, C = x.shape
        re, im = self.rfft(x)  # (B, K, C) each
        K = re.shape[1]
        re = re.reshape(B * K, self.num_blocks, self.block_size)
        im = im.reshape(B * K, self.num_blocks, self.block_size)
        o1r, o1i = self._complex_linear(re, im, self.w1, self.b1)
        o2r, o2i = self._complex_linear(ops.relu(o1r), ops.relu(o1i), self.w2, self.b2)
        o2r = _softshrink(o2r, self.sparsity_threshold).reshape(B, K, C)
        o2i = _softshrink(o2i, self.sparsity_threshold).reshape(B, K, C)
        x = self.irfft(o2r, o2i, N)
        return x.astype(dtype) + bias


class Block(nn.Cell):
    """FourCastNet block (double skip) with the AFNO1D filter."""

    def __init__(self, dim: int, config: AIGOMSConfig):
        super().__init__()
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.filter = AFNO1D(dim, config.num_blocks, config.sparsity_threshold)
        self.norm2 = LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))

    def construct(self, x):
        residual = x
        x = self.filter(self.norm1(x)) + residual
        return x + self.mlp(self.norm2(x))


class Proj(nn.Cell):
    """The patch projection's parameters in Conv2d layout: weight (E, in, p, p), bias (E,)."""

    def __init__(self, d_in: int, d_out: int, p: int):
        super().__init__()
        rng = init_rng()
        self.weight = _param(_xavier(rng, d_out, d_in * p * p, (d_out, d_in, p, p)), "weight")
        bound = 1.0 / math.sqrt(d_in * p * p)
        self.bias = _param(rng.uniform(-bound, bound, d_out), "bias")


class PatchEmbed(nn.Cell):
    """Stride-p convolution by reshape + matmul: (B, in, H, W) -> (B, h*w, E)."""

    def __init__(self, config: AIGOMSConfig):
        super().__init__()
        self.p = config.patch_size
        self.h, self.w = config.tokens
        self.in_chans, self.embed_dim = config.in_chans, config.embed_dim
        self.proj = Proj(config.in_chans, config.embed_dim, self.p)

    def construct(self, x):
        B, p, h, w = x.shape[0], self.p, self.h, self.w
        x = x.reshape(B, self.in_chans, h, p, w, p)
        x = ops.transpose(x, (0, 2, 4, 1, 3, 5)).reshape(B * h * w, self.in_chans * p * p)
        weight = self.proj.weight.reshape(self.embed_dim, self.in_chans * p * p)
        return (ops.matmul(x, weight.T) + self.proj.bias).reshape(B, h * w, self.embed_dim)


class ConvTranspose(nn.Cell):
    """ConvTranspose2d(d_in, d_out, p, stride p) on a token grid by one matmul, with
    torch's weight (d_in, d_out, p, p) and bias (d_out,): tokens (B, h*w, d_in) -> (B, d_out, h*p, w*p)."""

    def __init__(self, d_in: int, d_out: int, p: int, grid: tuple[int, int]):
        super().__init__()
        rng = init_rng()
        bound = 1.0 / math.sqrt(d_out * p * p)
        self.weight = _param(rng.uniform(-bound, bound, (d_in, d_out, p, p)), "weight")
        self.bias = _param(rng.uniform(-bound, bound, d_out), "bias")
        self.d_in, self.d_out, self.p = d_in, d_out, p
        self.h, self.w = grid

    def construct(self, x):
        B, p, h, w, c = x.shape[0], self.p, self.h, self.w, self.d_out
        y = ops.matmul(x, self.weight.reshape(self.d_in, c * p * p))  # (B, L, c*p*p)
        y = ops.transpose(y.reshape(B, h, w, c, p, p), (0, 3, 1, 4, 2, 5)).reshape(B, c, h * p, w * p)
        return y + self.bias.reshape(1, c, 1, 1)


def _check_input(shape, config: AIGOMSConfig) -> None:
    _check_shape(tuple(shape), config.in_chans, config.out_chans, tuple(config.img_size))


@ops.constexpr
def _check_shape(shape, in_chans, out_chans, hw) -> None:
    """Runs in Python also when the step is compiled (ms.jit), on the static shape."""
    H, W = hw
    if len(shape) != 4 or shape[1] != in_chans or tuple(shape[2:]) != (H, W):
        raise EarthzooError(
            f"AI-GOMS input has shape {tuple(shape)}, expected (batch, {in_chans}, {H}, {W}): {out_chans} ocean channels + 5 forcings + orography",
            "regrid the data or build the model with a matching config",
        )


def _gather_tokens(x, ids):
    """x (B, L, D), ids (B, K) int -> (B, K, D): each batch row picks its own tokens."""
    B, L, D = x.shape
    K = ids.shape[1]
    offsets = ms.Tensor((np.arange(B, dtype=np.int64) * L).reshape(B, 1))
    flat = (ids.astype(ms.int64) + offsets).reshape(B * K)
    return ops.gather(x.reshape(B * L, D), flat, 0).reshape(B, K, D)


class MaskedOcean(nn.Cell):
    """The AI-GOMS backbone: (B, in_chans, H, W) -> (B, out_chans, H, W)."""

    checkpoint_modules = ("blocks", "decoder_blocks")

    def __init__(self, config: AIGOMSConfig):
        super().__init__()
        self.config = config
        E, D = config.embed_dim, config.decoder_embed_dim
        self.h, self.w = config.tokens
        self.in_chans, self.out_chans, self.hw = config.in_chans, config.out_chans, tuple(config.img_size)
        self.patch_embed = PatchEmbed(config)
        self.pos_embed = _param(sincos_pos_embed_2d(E, config.tokens), "pos_embed", requires_grad=False)
        self.blocks = nn.CellList([Block(E, config) for _ in range(config.depth)])
        self.norm = LayerNorm(E, eps=1e-6)
        self.decoder_embed = Linear(E, D)
        self.mask_token = _param(0.02 * init_rng().standard_normal((1, 1, D)), "mask_token")
        self.decoder_pos_embed = _param(sincos_pos_embed_2d(D, config.tokens), "decoder_pos_embed", requires_grad=False)
        self.decoder_blocks = nn.CellList([Block(D, config) for _ in range(config.decoder_depth)])
        self.decoder_norm = LayerNorm(D, eps=1e-6)
        self.decoder_pred = ConvTranspose(D, config.out_chans, config.patch_size, config.tokens)
        self.residual = bool(config.residual)
        if self.residual:  # an untrained residual model is persistence (see config.AIGOMSConfig)
            self.residual_log_scale = _param(np.full(config.out_chans, math.log(config.residual_scale)), "residual_log_scale")
            self.decoder_pred.weight.set_data(ms.Tensor(np.zeros(self.decoder_pred.weight.shape, np.float32)))
            self.decoder_pred.bias.set_data(ms.Tensor(np.zeros(self.decoder_pred.bias.shape, np.float32)))

    def set_ops(self, table: dict) -> None:
        """Install op overrides (``rfft``/``irfft``) into every spectral filter."""
        for block in [*self.blocks, *self.decoder_blocks]:
            for name in ("rfft", "irfft"):
                if name in table:
                    setattr(block.filter, name, table[name])

    def forward_encoder(self, x, ids_keep=None):
        _check_shape(x.shape, self.in_chans, self.out_chans, self.hw)
        return self.encode(x, ids_keep)

    def encode(self, x, ids_keep=None):
        """The encoder without the Python shape check (traceable in graph mode)."""
        x = self.patch_embed(x) + self.pos_embed
        if ids_keep is not None:
            x = _gather_tokens(x, ids_keep)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward_decoder(self, latent, ids_restore=None):
        x = self.decoder_embed(latent)
        B, D = x.shape[0], x.shape[-1]
        if ids_restore is not None:
            L = ids_restore.shape[1]
            tokens = ops.broadcast_to(self.mask_token, (B, L - x.shape[1], D))
            x = _gather_tokens(ops.concat((x, tokens), 1), ids_restore)
        x = x + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))

    def construct(self, x):
        """A forecast step (no masking); with ``residual``, input ocean state + scaled change."""
        return self._residual(x, self.forward_decoder(self.forward_encoder(x)))

    def forecast_step(self, x):
        return self._residual(x, self.forward_decoder(self.encode(x)))

    def _residual(self, x, y):
        if self.residual:
            P = self.out_chans
            y = x[:, :P] + ops.exp(self.residual_log_scale).reshape(1, P, 1, 1) * y
        return y

    def forward_masked(self, x, ids_keep, ids_restore):
        """Masked pre-training: encode the visible tokens only, reconstruct everything."""
        return self.forward_decoder(self.forward_encoder(x, ids_keep), ids_restore)


def pixel_shuffle_tokens(y, s: int, out: int):
    """(B, h, w, out*s*s) channels-last -> (B, out, h*s, w*s), the PixelShuffle order."""
    B, h, w, _ = y.shape
    return ops.transpose(y.reshape(B, h, w, out, s, s), (0, 3, 1, 4, 2, 5)).reshape(B, out, h * s, w * s)


class Head(nn.Cell):
    def __init__(self, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.fc1 = Linear(d_in, hidden)
        self.fc2 = Linear(hidden, d_out)

    def construct(self, x):
        return self.fc2(gelu_erf(self.fc1(x)))


class FineTune(nn.Cell):
    """A fine-tuning module on the frozen backbone latent (see torch_model.FineTune)."""

    checkpoint_modules = ("blocks", "decoder_blocks")

    def __init__(self, config: AIGOMSConfig):
        super().__init__()
        self.config = config
        self.backbone = MaskedOcean(config)
        for p in self.backbone.get_parameters():
            p.requires_grad = False
        p = config.patch_size
        self.factor = p * config.scale if config.task == "downscale" else p
        self.out = config.out_chans if config.task == "downscale" else 1
        self.downscale = config.task == "downscale"
        self.region = tuple(config.region)
        self.h, self.w = config.tokens
        self.head = Head(config.embed_dim, config.head_hidden, self.out * self.factor * self.factor)

    @property
    def blocks(self):
        return self.backbone.blocks

    @property
    def decoder_blocks(self):
        return self.backbone.decoder_blocks

    def set_ops(self, table: dict) -> None:
        self.backbone.set_ops(table)

    def construct(self, x):
        latent = self.backbone.forward_encoder(x)
        latent = latent.reshape(latent.shape[0], self.h, self.w, latent.shape[-1])
        if self.downscale:
            r0, r1, c0, c1 = self.region
            latent = latent[:, r0:r1, c0:c1]
        return pixel_shuffle_tokens(self.head(latent), self.factor, self.out)


def build(config: AIGOMSConfig) -> nn.Cell:
    return MaskedOcean(config) if config.task == "forecast" else FineTune(config)


_COMPILED: dict[int, object] = {}


def compiled(net: MaskedOcean):
    """A graph-mode forecast step for ``net`` (one jitted callable per net; MindSpore
    compiles once per input shape), with the input check in Python."""
    key = id(net)
    if key not in _COMPILED:
        jitted = ms.jit(net.forecast_step)

        def forward(x):
            _check_input(tuple(x.shape), net.config)
            return jitted(x)

        _COMPILED[key] = forward
    return _COMPILED[key]
