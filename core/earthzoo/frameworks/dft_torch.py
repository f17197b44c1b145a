"""rfft2 / irfft2 as matrix products in PyTorch, for any model and backend.

The op contract (shared with ``dft_mindspore`` and with the native versions below):
``rfft2(x) -> (re, im)`` transforms axes (1, 2) of a channels-last (B, H, W, C)
tensor with ``norm="ortho"``; ``irfft2(re, im, s) -> x`` inverts it to (B, H, W, C)
with ``s = (H, W)``. Real and imaginary parts travel as separate real tensors, so
models built on this contract need no complex arithmetic. ``DFT_OPS`` is what a
backend's ``earthzoo_custom_ops`` returns to switch a model to the matmul path."""

from __future__ import annotations

import torch

from ..spectral import irfft2_matrices, rfft2_matrices

_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _matrices(kind: str, h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked constant matrices on ``like``'s device and dtype, built once per shape."""
    key = (kind, h, w, like.dtype, like.device)
    if key not in _CACHE:
        if kind == "r":
            m = rfft2_matrices(h, w)
            over_w = torch.cat([torch.from_numpy(m["cw"]), torch.from_numpy(m["sw"])], 0)  # (2wr, W)
        else:
            m = irfft2_matrices(h, w)
            over_w = torch.cat([torch.from_numpy(m["cw"]), torch.from_numpy(m["sw"])], 1)  # (W, 2wr)
        over_h = torch.cat([torch.from_numpy(m["ch"]), torch.from_numpy(m["sh"])], 0)  # (2H, H)
        _CACHE[key] = (over_w.to(like.device, like.dtype), over_h.to(like.device, like.dtype))
    return _CACHE[key]


def rfft2(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real 2-D DFT over axes (1, 2) of (B, H, W, C), ortho norm, by two matmuls."""
    b, h, w, c = x.shape
    wr = w // 2 + 1
    over_w, over_h = _matrices("r", h, w, x)
    a = torch.matmul(over_w, x)  # (B, H, 2wr, C): [re; im] along W
    p = torch.matmul(over_h, a.reshape(b, h, 2 * wr * c)).reshape(b, 2 * h, 2 * wr, c)
    re = p[:, :h, :wr] - p[:, h:, wr:]
    im = p[:, :h, wr:] + p[:, h:, :wr]
    return re, im


def irfft2(re: torch.Tensor, im: torch.Tensor, s: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`rfft2` to (B, H, W, C) with ``s = (H, W)``, by two matmuls."""
    h, w = int(s[0]), int(s[1])
    b, _, wr, c = re.shape
    over_w, over_h = _matrices("i", h, w, re)
    p = torch.matmul(over_h, torch.cat([re, im], 2).reshape(b, h, 2 * wr * c)).reshape(b, 2 * h, 2 * wr, c)
    y = torch.cat([p[:, :h, :wr] - p[:, h:, wr:], p[:, :h, wr:] + p[:, h:, :wr]], 2)  # (B, H, 2wr, C)
    return torch.matmul(over_w, y)


def native_rfft2(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same contract through torch.fft (complex only inside this function)."""
    z = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
    return z.real, z.imag


def native_irfft2(re: torch.Tensor, im: torch.Tensor, s: tuple[int, int]) -> torch.Tensor:
    return torch.fft.irfft2(torch.complex(re, im), s=tuple(s), dim=(1, 2), norm="ortho")


NATIVE_OPS = {"rfft2": native_rfft2, "irfft2": native_irfft2}
DFT_OPS = {"rfft2": rfft2, "irfft2": irfft2}
