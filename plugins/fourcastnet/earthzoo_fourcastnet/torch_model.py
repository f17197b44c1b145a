"""FourCastNet (AFNONet) in PyTorch, numerically the NVlabs original.

Same module tree and state_dict names as NVlabs ``networks/afnonet.py``: Conv2d patch
embedding, learned pos_embed, blocks of LayerNorm(eps 1e-6) -> AFNO2D filter (with
its own skip: the "double skip") -> LayerNorm -> MLP with exact-erf GELU, a head
without bias, and the "b h w (p1 p2 c) -> b c (h p1) (w p2)" unpatchify. ``norm``
is created but unused, as in the original. The MLP, patch embedding and AFNO2D filter
are core's (earthzoo.frameworks.torch_layers); the filter calls rfft2/irfft2 through
an op table (``set_ops``), see earthzoo.frameworks.dft_torch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from earthzoo.frameworks import dft_torch
from earthzoo.frameworks.torch_layers import AFNO2D, AFNOBlock, PatchEmbed, set_spectral_ops
from einops import rearrange
from torch import nn

from .config import FourCastNetConfig


def _ops_for(config: FourCastNetConfig) -> dict:
    return dict(dft_torch.DFT_OPS if config.spectral == "dft" else dft_torch.NATIVE_OPS)


def _block(config: FourCastNetConfig) -> AFNOBlock:
    filt = AFNO2D(config.embed_dim, config.num_blocks, config.sparsity_threshold, config.hard_thresholding_fraction)
    return AFNOBlock(config.embed_dim, filt, config.mlp_ratio, gelu=config.gelu)


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
        self.patch_embed = PatchEmbed(config.in_chans, config.embed_dim, config.patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, h * w, config.embed_dim))
        self.blocks = nn.ModuleList([_block(config) for _ in range(config.depth)])
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
        set_spectral_ops(self, table)

    def forward_features(self, x):
        h, w = self.config.tokens
        x = rearrange(self.patch_embed(x) + self.pos_embed, "b (h w) c -> b h w c", h=h, w=w)
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
