"""AI-GOMS in PyTorch: the Masked_Ocean backbone and two fine-tuning modules.

Masked_Ocean is an MAE whose transformer blocks are FourCastNet blocks with an
AFNO1D filter (rfft over the flattened token sequence, all modes kept):
patch_embed (Conv p x p, stride p) + fixed sin-cos pos_embed -> [random masking in
pre-training] -> blocks -> norm -> decoder_embed -> [mask tokens, unshuffle] +
fixed decoder_pos_embed -> decoder_blocks -> decoder_norm -> (B, dec, h, w) ->
decoder_pred = ConvTranspose2d(dec, out, p, stride p).

Masked pre-training runs through the common engine (``earthzoo train --stage
masked``): the masking indices come from NumPy (earthzoo.training.masking), so
PyTorch and MindSpore hide the same tokens, and the loss covers the hidden
patches' ocean points only."""

from __future__ import annotations

import math

import torch
from earthzoo.errors import EarthzooError
from earthzoo.frameworks.torch_layers import AFNO1D, AFNOBlock, Mlp, PatchEmbed, set_spectral_ops
from einops import rearrange
from torch import nn

from .common import sincos_pos_embed_2d
from .config import AIGOMSConfig


def _block(dim: int, config: AIGOMSConfig) -> AFNOBlock:
    """FourCastNet's block (double skip) with the AFNO1D filter."""
    return AFNOBlock(dim, AFNO1D(dim, config.num_blocks, config.sparsity_threshold), config.mlp_ratio)


def _check_input(x, config: AIGOMSConfig) -> None:
    H, W = config.img_size
    if x.ndim != 4 or x.shape[1] != config.in_chans or tuple(x.shape[2:]) != (H, W):
        raise EarthzooError(
            f"AI-GOMS input has shape {tuple(x.shape)}, expected (batch, {config.in_chans}, {H}, {W}): {config.out_chans} ocean channels + 5 forcings + orography",
            "regrid the data or build the model with a matching config",
        )


class MaskedOcean(nn.Module):
    """The AI-GOMS backbone: (B, in_chans, H, W) -> (B, out_chans, H, W)."""

    checkpoint_modules = ("blocks", "decoder_blocks")

    def __init__(self, config: AIGOMSConfig):
        super().__init__()
        self.config = config
        E, D = config.embed_dim, config.decoder_embed_dim
        self.patch_embed = PatchEmbed(config.in_chans, E, config.patch_size)
        self.pos_embed = nn.Parameter(torch.from_numpy(sincos_pos_embed_2d(E, config.tokens)), requires_grad=False)
        self.blocks = nn.ModuleList([_block(E, config) for _ in range(config.depth)])
        self.norm = nn.LayerNorm(E, eps=1e-6)
        self.decoder_embed = nn.Linear(E, D)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, D))
        self.decoder_pos_embed = nn.Parameter(torch.from_numpy(sincos_pos_embed_2d(D, config.tokens)), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([_block(D, config) for _ in range(config.decoder_depth)])
        self.decoder_norm = nn.LayerNorm(D, eps=1e-6)
        p = config.patch_size
        self.decoder_pred = nn.ConvTranspose2d(D, config.out_chans, kernel_size=p, stride=p)
        if config.residual:
            self.residual_log_scale = nn.Parameter(torch.full((config.out_chans,), math.log(config.residual_scale)))
        self._init_weights()

    def _init_weights(self):
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.config.residual:  # an untrained residual model is persistence
            nn.init.zeros_(self.decoder_pred.weight)
            nn.init.zeros_(self.decoder_pred.bias)

    def set_ops(self, table: dict) -> None:
        """Install op overrides (``rfft``/``irfft``) into every spectral filter."""
        set_spectral_ops(self, table)

    def forward_encoder(self, x, ids_keep=None):
        """Tokens (B, L or keep, E) after ``norm``; ``ids_keep`` (B, keep) selects the visible tokens."""
        _check_input(x, self.config)
        x = self.patch_embed(x) + self.pos_embed
        if ids_keep is not None:
            x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward_decoder(self, latent, ids_restore=None):
        x = self.decoder_embed(latent)
        B, D = x.shape[0], x.shape[-1]
        if ids_restore is not None:
            L = ids_restore.shape[1]
            tokens = self.mask_token.expand(B, L - x.shape[1], D)
            x = torch.cat([x, tokens], 1)
            x = torch.gather(x, 1, ids_restore.unsqueeze(-1).expand(-1, -1, D))
        x = x + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        x = self.decoder_norm(x)
        h, w = self.config.tokens
        return self.decoder_pred(rearrange(x, "b (h w) d -> b d h w", h=h, w=w))

    def forward(self, x):
        """A forecast step (no masking); with ``residual``, input ocean state + scaled change."""
        y = self.forward_decoder(self.forward_encoder(x))
        if self.config.residual:
            P = self.config.out_chans
            y = x[:, :P] + torch.exp(self.residual_log_scale).reshape(1, P, 1, 1) * y
        return y

    def forward_masked(self, x, ids_keep, ids_restore):
        """Masked pre-training: encode the visible tokens only, reconstruct everything."""
        return self.forward_decoder(self.forward_encoder(x, ids_keep), ids_restore)


def pixel_shuffle_tokens(y, s: int, out: int):
    """(B, h, w, out*s*s) channels-last -> (B, out, h*s, w*s), the PixelShuffle order."""
    return rearrange(y, "b h w (c s1 s2) -> b c (h s1) (w s2)", c=out, s1=s, s2=s)


class FineTune(nn.Module):
    """A fine-tuning module on the frozen backbone latent (encoder output):

    - task "downscale": the token sub-region ``config.region`` at ``scale`` x the global
      resolution, all ocean channels, by a PixelShuffle head (factor patch * scale);
    - task "wave": significant wave height (1 channel) on the global grid."""

    checkpoint_modules = ("blocks", "decoder_blocks")

    def __init__(self, config: AIGOMSConfig):
        super().__init__()
        self.config = config
        self.backbone = MaskedOcean(config)
        self.backbone.requires_grad_(False)
        p = config.patch_size
        self.factor = p * config.scale if config.task == "downscale" else p
        self.out = config.out_chans if config.task == "downscale" else 1
        self.head = Mlp(config.embed_dim, config.head_hidden, self.out * self.factor * self.factor)  # Linear -> GELU -> Linear

    @property
    def blocks(self):
        return self.backbone.blocks

    @property
    def decoder_blocks(self):
        return self.backbone.decoder_blocks

    def set_ops(self, table: dict) -> None:
        self.backbone.set_ops(table)

    def forward(self, x):
        h, w = self.config.tokens
        latent = self.backbone.forward_encoder(x)
        latent = rearrange(latent, "b (h w) e -> b h w e", h=h, w=w)
        if self.config.task == "downscale":
            r0, r1, c0, c1 = self.config.region
            latent = latent[:, r0:r1, c0:c1]
        return pixel_shuffle_tokens(self.head(latent), self.factor, self.out)


def build(config: AIGOMSConfig) -> nn.Module:
    return MaskedOcean(config) if config.task == "forecast" else FineTune(config)
