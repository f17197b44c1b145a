"""FourCastNet (AFNONet) in PyTorch, numerically the NVlabs original.

Same module tree and state_dict names as NVlabs ``networks/afnonet.py``: Conv2d patch
embedding, learned pos_embed, blocks of LayerNorm(eps 1e-6) -> AFNO2D filter (with
its own skip: the "double skip") -> LayerNorm -> MLP with exact-erf GELU, a head
without bias, and the "b h w (p1 p2 c) -> b c (h p1) (w p2)" unpatchify. ``norm``
is created but unused, as in the original. The spectral filter calls rfft2/irfft2
through an op table (``set_ops``), see earthzoo.frameworks.dft_torch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from earthzoo.frameworks import dft_torch
from einops import rearrange
from torch import nn

from .config import FourCastNetConfig


def _ops_for(config: FourCastNetConfig) -> dict:
    return dict(dft_torch.DFT_OPS if config.spectral == "dft" else dft_torch.NATIVE_OPS)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, gelu: str):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class AFNO2D(nn.Module):
    """Adaptive Fourier neural operator mixing over the token grid (channels last)."""

    keep_fp32 = True  # spectral: float32 inside a mixed-precision run (earthzoo.frameworks.*.mixed_precision)

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float, hard_thresholding_fraction: float, hidden_size_factor: int = 1):
        super().__init__()
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.factor = hidden_size_factor
        self.sparsity_threshold = sparsity_threshold
        self.hard_thresholding_fraction = hard_thresholding_fraction
        scale = 0.02
        bs, f = self.block_size, hidden_size_factor
        self.w1 = nn.Parameter(scale * torch.randn(2, num_blocks, bs, bs * f))
        self.b1 = nn.Parameter(scale * torch.randn(2, num_blocks, bs * f))
        self.w2 = nn.Parameter(scale * torch.randn(2, num_blocks, bs * f, bs))
        self.b2 = nn.Parameter(scale * torch.randn(2, num_blocks, bs))
        self.ops = dict(dft_torch.NATIVE_OPS)

    @staticmethod
    def _complex_linear(z, w, b):
        """Block-diagonal complex matmul as one real batched matmul on z = [re, im]
        (nb, n, 2i): [re, im] @ [[w0, w1], [-w1, w0]] + [b0, b1] -> (nb, n, 2o)."""
        wr, wi = w[0], w[1]
        big = torch.cat([torch.cat([wr, wi], 2), torch.cat([-wi, wr], 2)], 1)  # (nb, 2i, 2o)
        bias = b.transpose(0, 1).reshape(b.shape[1], 1, -1)  # (nb, 1, 2o)
        return torch.baddbmm(bias, z, big)

    def forward(self, x):
        bias = x
        dtype = x.dtype
        x = x.float()
        B, H, W, C = x.shape
        Wr = W // 2 + 1
        re, im = self.ops["rfft2"](x)
        total = H // 2 + 1
        kept = int(total * self.hard_thresholding_fraction)
        h0, h1, w1 = max(total - kept, 0), min(total + kept, H), min(kept, Wr)
        # only the kept modes go through the MLP; everything else of its output is zero.
        # Real and imaginary parts travel side by side as [re, im] on the last axis; ReLU
        # and softshrink act on each part separately, as in the original.
        nb, bs = self.num_blocks, self.block_size
        re_k = re[:, h0:h1, :w1].reshape(-1, nb, bs)
        im_k = im[:, h0:h1, :w1].reshape(-1, nb, bs)
        z = torch.cat([re_k, im_k], -1).transpose(0, 1)  # (nb, n, 2bs)
        o1 = F.relu(self._complex_linear(z, self.w1, self.b1))
        o2 = F.softshrink(self._complex_linear(o1, self.w2, self.b2), lambd=self.sparsity_threshold)
        o2 = o2.transpose(0, 1)  # (n, nb, 2bs)
        pad = (0, 0, 0, Wr - w1, h0, H - h1)
        re = F.pad(o2[..., :bs].reshape(B, h1 - h0, w1, C), pad)
        im = F.pad(o2[..., bs:].reshape(B, h1 - h0, w1, C), pad)
        x = self.ops["irfft2"](re, im, (H, W))
        return x.type(dtype) + bias


class Block(nn.Module):
    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.filter = AFNO2D(dim, config.num_blocks, config.sparsity_threshold, config.hard_thresholding_fraction)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio), config.gelu)

    def forward(self, x):
        residual = x
        x = self.filter(self.norm1(x))  # the filter adds its own input back
        x = x + residual  # ... and this is the second skip ("double skip")
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        p = config.patch_size
        self.proj = nn.Conv2d(config.in_chans, config.embed_dim, kernel_size=p, stride=p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, h*w, C)


def _drop_pole(x, config: FourCastNetConfig):
    """Accept H or H+1 rows (a grid with both poles); drop the extra southern row."""
    H, W = config.img_size
    if x.ndim != 4 or x.shape[1] != config.in_chans or x.shape[3] != W or x.shape[2] not in (H, H + 1):
        from earthzoo.errors import EarthzooError

        raise EarthzooError(f"FourCastNet input has shape {tuple(x.shape)}, expected (batch, {config.in_chans}, {H} or {H + 1}, {W})", "regrid the data or build the model with a matching config")
    return x[:, :, :H], x.shape[2] == H + 1


def _pad_pole(y, config: FourCastNetConfig):
    last = y[:, :, -1:]
    return torch.cat([y, torch.full_like(last, math.nan) if config.pole_pad == "nan" else last], 2)


class AFNONet(nn.Module):
    """FourCastNet backbone: (B, in_chans, H[+1], W) -> (B, out_chans, H[+1], W)."""

    checkpoint_modules = ("blocks",)

    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        self.config = config
        h, w = config.tokens
        self.patch_embed = PatchEmbed(config)
        self.pos_embed = nn.Parameter(torch.zeros(1, h * w, config.embed_dim))
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.depth)])
        self.norm = nn.LayerNorm(config.embed_dim, eps=1e-6)  # unused in forward, as in the original
        p = config.patch_size
        self.head = nn.Linear(config.embed_dim, config.out_chans * p * p, bias=False)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.apply(self._init_weights)
        self.set_ops(_ops_for(config))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def set_ops(self, table: dict) -> None:
        """Install op overrides (``rfft2``/``irfft2``) into every spectral filter."""
        for block in self.blocks:
            block.filter.ops.update({k: v for k, v in table.items() if k in ("rfft2", "irfft2")})

    def forward_features(self, x):
        B = x.shape[0]
        h, w = self.config.tokens
        x = self.patch_embed(x) + self.pos_embed
        x = x.reshape(B, h, w, self.config.embed_dim)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x):
        x, had_pole = _drop_pole(x, self.config)
        h, w = self.config.tokens
        p = self.config.patch_size
        y = self.head(self.forward_features(x))  # (B, h, w, p*p*c)
        y = rearrange(y, "b h w (p1 p2 c) -> b c (h p1) (w p2)", p1=p, p2=p)  # the original's unpatchify order
        return _pad_pole(y, self.config) if had_pole else y


class PeriodicPad2d(nn.Module):
    """Circular padding in longitude, zeros in latitude (PrecipNet's padding)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        x = F.pad(x, (self.pad, self.pad, 0, 0), mode="circular")
        return F.pad(x, (0, 0, self.pad, self.pad), mode="constant", value=0.0)


class PrecipNet(nn.Module):
    """The precipitation diagnostic: backbone -> periodic pad -> 3x3 conv -> ReLU."""

    checkpoint_modules = ("blocks",)

    def __init__(self, config: FourCastNetConfig):
        super().__init__()
        self.config = config
        self.backbone = AFNONet(config)
        self.ppad = PeriodicPad2d(1)
        self.conv = nn.Conv2d(config.out_chans, config.out_chans, kernel_size=3, stride=1, padding=0, bias=True)
        self.act = nn.ReLU()

    @property
    def blocks(self):
        return self.backbone.blocks

    def set_ops(self, table: dict) -> None:
        self.backbone.set_ops(table)

    def forward(self, x):
        return self.act(self.conv(self.ppad(self.backbone(x))))


def build(config: FourCastNetConfig) -> nn.Module:
    return PrecipNet(config) if config.precip else AFNONet(config)
