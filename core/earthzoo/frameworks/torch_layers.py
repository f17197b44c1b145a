"""PyTorch building blocks shared by the model plugins (FourCastNet, AI-GOMS): the
MLP, the patch embedding and the AFNO spectral filters. Their MindSpore twins in
``mindspore_layers`` carry the same parameter names, so one state_dict fits both.

The filters look their FFTs up in an op table (``set_ops``; contract in
``dft_torch``), so a backend can swap in DFT-by-matmul."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from . import dft_torch


class Mlp(nn.Module):
    """fc1 -> GELU (exact erf, or "tanh") -> fc2; ``d_out`` defaults to ``d_in``."""

    def __init__(self, d_in: int, hidden: int, d_out: int | None = None, gelu: str = "erf"):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.act = nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.fc2 = nn.Linear(hidden, d_in if d_out is None else d_out)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class PatchEmbed(nn.Module):
    """A stride-p p x p convolution: (B, in, H, W) -> tokens (B, h*w, embed), computed as
    one matmul over the patches (the Conv2d holds the weights): oneDNN's stride-p
    convolution runs at a third of the CPU's matmul rate (paper-size FourCastNet's, one
    thread: 1.33 s as a convolution, 0.41 s as a matmul)."""

    def __init__(self, in_chans: int, embed_dim: int, p: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=p, stride=p)

    def forward(self, x):
        p = self.proj.kernel_size[0]
        if x.shape[-2] % p or x.shape[-1] % p:  # the convolution drops the ragged edge
            return rearrange(self.proj(x), "b c h w -> b (h w) c")
        patches = rearrange(x, "b c (h p) (w q) -> b (h w) (c p q)", p=p, q=p)
        return F.linear(patches, self.proj.weight.reshape(self.proj.out_channels, -1), self.proj.bias)


class SpectralFilter(nn.Module):
    """An AFNO filter's weights and its mode mixing: a block-diagonal complex 2-layer MLP
    (ReLU between, softshrink after), w1/b1/w2/b2 as (2 = re/im, blocks, in, out).
    Subclasses name the op-table entries they use in ``OPS``."""

    keep_fp32 = True  # spectral: float32 inside a mixed-precision run (earthzoo.frameworks.*.mixed_precision)
    OPS: tuple[str, ...] = ()

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float, hidden_size_factor: int = 1):
        super().__init__()
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.sparsity_threshold = sparsity_threshold
        bs, f = self.block_size, hidden_size_factor
        self.w1 = nn.Parameter(0.02 * torch.randn(2, num_blocks, bs, bs * f))
        self.b1 = nn.Parameter(0.02 * torch.randn(2, num_blocks, bs * f))
        self.w2 = nn.Parameter(0.02 * torch.randn(2, num_blocks, bs * f, bs))
        self.b2 = nn.Parameter(0.02 * torch.randn(2, num_blocks, bs))
        self.ops = {k: dft_torch.NATIVE_OPS[k] for k in self.OPS}

    def set_ops(self, table: dict) -> None:
        self.ops.update({k: v for k, v in table.items() if k in self.OPS})

    @staticmethod
    def _complex_linear(z, w, b):
        """Block-diagonal complex matmul as one real batched matmul on z = [re, im]
        (nb, n, 2i): [re, im] @ [[w0, w1], [-w1, w0]] + [b0, b1] -> (nb, n, 2o)."""
        wr, wi = w[0], w[1]
        big = torch.cat([torch.cat([wr, wi], 2), torch.cat([-wi, wr], 2)], 1)  # (nb, 2i, 2o)
        bias = b.transpose(0, 1).reshape(b.shape[1], 1, -1)  # (nb, 1, 2o)
        return torch.baddbmm(bias, z, big)

    def mix(self, re, im):
        """Modes (n, C) as real and imaginary parts -> the MLP's output (n, nb, 2bs) as
        [re, im] on the last axis; ReLU and softshrink act on each part separately."""
        nb, bs = self.num_blocks, self.block_size
        z = torch.cat([re.reshape(-1, nb, bs), im.reshape(-1, nb, bs)], -1).transpose(0, 1)  # (nb, n, 2bs)
        o1 = F.relu(self._complex_linear(z, self.w1, self.b1))
        o2 = F.softshrink(self._complex_linear(o1, self.w2, self.b2), lambd=self.sparsity_threshold)
        return o2.transpose(0, 1)


class AFNO2D(SpectralFilter):
    """Adaptive Fourier neural operator mixing over a token grid (B, H, W, C), FourCastNet's:
    rfft2, the MLP on the kept modes (``hard_thresholding_fraction``), irfft2, + input."""

    OPS = ("rfft2", "irfft2")

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float, hard_thresholding_fraction: float, hidden_size_factor: int = 1):
        super().__init__(dim, num_blocks, sparsity_threshold, hidden_size_factor)
        self.factor = hidden_size_factor
        self.hard_thresholding_fraction = hard_thresholding_fraction

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
        # only the kept modes go through the MLP; everything else of its output is zero
        o2 = self.mix(re[:, h0:h1, :w1], im[:, h0:h1, :w1])
        bs = self.block_size
        pad = (0, 0, 0, Wr - w1, h0, H - h1)
        re = F.pad(o2[..., :bs].reshape(B, h1 - h0, w1, C), pad)
        im = F.pad(o2[..., bs:].reshape(B, h1 - h0, w1, C), pad)
        x = self.ops["irfft2"](re, im, (H, W))
        return x.type(dtype) + bias


class AFNO1D(SpectralFilter):
    """Adaptive Fourier mixing along a token sequence (B, N, C), AI-GOMS's: rfft over N,
    the MLP on every mode, irfft, + input."""

    OPS = ("rfft", "irfft")

    def forward(self, x):
        bias = x
        dtype = x.dtype
        x = x.float()
        B, N, C = x.shape
        re, im = self.ops["rfft"](x)  # (B, K, C) each
        K = re.shape[1]
        o2 = self.mix(re, im)
        bs = self.block_size
        x = self.ops["irfft"](o2[..., :bs].reshape(B, K, C), o2[..., bs:].reshape(B, K, C), N)
        return x.type(dtype) + bias


class AFNOBlock(nn.Module):
    """FourCastNet's block around a spectral filter: norm1 -> filter (which adds its own
    input back) -> + input (the second, "double" skip) -> + mlp(norm2(x)); LayerNorms eps 1e-6.
    The filter is built by the caller (AFNO2D or AFNO1D)."""

    def __init__(self, dim: int, filter: SpectralFilter, mlp_ratio: float, gelu: str = "erf"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.filter = filter
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), gelu=gelu)

    def forward(self, x):
        x = self.filter(self.norm1(x)) + x
        return x + self.mlp(self.norm2(x))


def set_spectral_ops(model: nn.Module, table: dict) -> None:
    """A model's ``set_ops``: the table's FFT entries into every spectral filter."""
    for m in model.modules():
        if isinstance(m, SpectralFilter):
            m.set_ops(table)
