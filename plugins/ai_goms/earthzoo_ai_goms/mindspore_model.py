"""AI-GOMS in MindSpore: the torch module tree with the same parameter names and
layouts (see torch_model.py for the architecture), written for CPU per shared
MINDSPORE.md: the layers are core's (earthzoo.frameworks.mindspore_layers: 2-D
matmul Linear, exact-erf GELU by formula, patch embedding by reshape + matmul,
the AFNO1D filter with complex numbers only at the FFT boundary), with MAE's xavier
initialisation; the ConvTranspose2d head as reshape + matmul on torch-layout weights,
token gathers by ``ops.gather`` on flattened (batch * token) rows."""

from __future__ import annotations

import math
import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from earthzoo.errors import EarthzooError  # noqa: E402
from earthzoo.frameworks import mindspore_layers as layers  # noqa: E402
from earthzoo.frameworks.mindspore_layers import AFNO1D, AFNOBlock, LayerNorm, Linear, Mlp, PatchEmbed, init_rng, set_layer_ops  # noqa: E402
from earthzoo.frameworks.mindspore_layers import param as _param  # noqa: E402
from mindspore import nn, ops  # noqa: E402

from .common import sincos_pos_embed_2d  # noqa: E402
from .config import AIGOMSConfig  # noqa: E402


def _block(dim: int, config: AIGOMSConfig) -> AFNOBlock:
    """FourCastNet's block (double skip) with the AFNO1D filter, MAE's xavier initialisation."""
    return AFNOBlock(dim, AFNO1D(dim, config.num_blocks, config.sparsity_threshold), config.mlp_ratio, init="xavier")


class ConvTranspose(nn.Cell):
    """ConvTranspose2d(d_in, d_out, p, stride p) on a token grid by one matmul, with
    torch's weight (d_in, d_out, p, p) and bias (d_out,): tokens (B, h*w, d_in) -> (B, d_out, h*p, w*p).
    Matmul and bias by the op table's ``linear()`` where it has one (``layers.Linear``)."""

    OPS = ("linear",)

    def __init__(self, d_in: int, d_out: int, p: int, grid: tuple[int, int]):
        super().__init__()
        rng = init_rng()
        bound = 1.0 / math.sqrt(d_out * p * p)
        self.weight = _param(rng.uniform(-bound, bound, (d_in, d_out, p, p)), "weight")
        self.bias = _param(rng.uniform(-bound, bound, d_out), "bias")
        self.d_in, self.d_out, self.p = d_in, d_out, p
        self.h, self.w = grid
        self.fused = None

    def set_ops(self, table: dict) -> None:
        self.fused = layers.fused_linear(table, self.fused)

    def construct(self, x):
        B, p, h, w, c = x.shape[0], self.p, self.h, self.w, self.d_out
        weight = self.weight.reshape(self.d_in, c * p * p)
        if self.fused is not None:  # the bias on every (c, p, p) column: no bias add over the output
            bias = ops.broadcast_to(self.bias.reshape(c, 1), (c, p * p)).reshape(c * p * p)
            y = self.fused(x.reshape(B * h * w, self.d_in), layers.transpose(weight, (1, 0)), bias)
        else:
            y = ops.matmul(x, weight)  # (B, L, c*p*p)
        y = layers.transpose(y.reshape(B, h, w, c, p, p), (0, 3, 1, 4, 2, 5)).reshape(B, c, h * p, w * p)
        return y if self.fused is not None else ops.bias_add(y, self.bias)


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
        self.patch_embed = PatchEmbed(config.in_chans, E, config.patch_size, config.tokens, init="xavier")
        self.pos_embed = _param(sincos_pos_embed_2d(E, config.tokens), "pos_embed", requires_grad=False)
        self.blocks = nn.CellList([_block(E, config) for _ in range(config.depth)])
        self.norm = LayerNorm(E, eps=1e-6)
        self.decoder_embed = Linear(E, D, init="xavier")
        self.mask_token = _param(0.02 * init_rng().standard_normal((1, 1, D)), "mask_token")
        self.decoder_pos_embed = _param(sincos_pos_embed_2d(D, config.tokens), "decoder_pos_embed", requires_grad=False)
        self.decoder_blocks = nn.CellList([_block(D, config) for _ in range(config.decoder_depth)])
        self.decoder_norm = LayerNorm(D, eps=1e-6)
        self.decoder_pred = ConvTranspose(D, config.out_chans, config.patch_size, config.tokens)
        self.residual = bool(config.residual)
        if self.residual:  # an untrained residual model is persistence (see config.AIGOMSConfig)
            self.residual_log_scale = _param(np.full(config.out_chans, math.log(config.residual_scale)), "residual_log_scale")
            self.decoder_pred.weight.set_data(ms.Tensor(np.zeros(self.decoder_pred.weight.shape, np.float32)))
            self.decoder_pred.bias.set_data(ms.Tensor(np.zeros(self.decoder_pred.bias.shape, np.float32)))

    def set_ops(self, table: dict) -> None:
        """Install op overrides (``rfft``/``irfft``, ``complex_linear``; ``layer_norm``, ``bias_add``, ``linear``, ``gelu``) into every shared layer."""
        set_layer_ops(self, table)

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
            # broadcast_to first: a broadcasting Mul keeps a buffer of 4x y's size in MindSpore's CPU graphs (issue 19)
            y = x[:, :P] + ops.broadcast_to(ops.exp(self.residual_log_scale).reshape(1, P, 1, 1), y.shape) * y
        return y

    def forward_masked(self, x, ids_keep, ids_restore):
        """Masked pre-training: encode the visible tokens only, reconstruct everything."""
        return self.forward_decoder(self.forward_encoder(x, ids_keep), ids_restore)


def pixel_shuffle_tokens(y, s: int, out: int):
    """(B, h, w, out*s*s) channels-last -> (B, out, h*s, w*s), the PixelShuffle order."""
    B, h, w, _ = y.shape
    return layers.transpose(y.reshape(B, h, w, out, s, s), (0, 3, 1, 4, 2, 5)).reshape(B, out, h * s, w * s)


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
        self.head = Mlp(config.embed_dim, config.head_hidden, self.out * self.factor * self.factor, init="xavier")

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



def compiled(net: MaskedOcean):
    """A graph-mode forecast step for ``net`` (earthzoo.frameworks.mindspore_layers.compiled),
    with the input check in Python."""
    return layers.compiled(net, net.forecast_step, lambda shape: _check_input(shape, net.config))
