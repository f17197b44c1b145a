"""rfft / irfft and rfft2 / irfft2 as matrix products in PyTorch, for any model and backend.

The op contract (shared with ``dft_mindspore`` and with the native versions below):
``rfft2(x) -> (re, im)`` transforms axes (1, 2) of a channels-last (B, H, W, C)
tensor with ``norm="ortho"``; ``irfft2(re, im, s) -> x`` inverts it to (B, H, W, C)
with ``s = (H, W)``. ``rfft(x) -> (re, im)`` and ``irfft(re, im, n) -> x`` do the
same over axis 1 of a (B, N, C) token sequence (AI-GOMS's AFNO1D). Real and imaginary parts travel as separate real tensors, so
models built on this contract need no complex arithmetic. ``DFT_OPS`` is what a
backend's ``earthzoo_custom_ops`` returns to switch a model to the matmul path."""

from __future__ import annotations

import torch

from ..spectral import irfft2_matrices, irfft_matrix, rfft2_matrices, rfft_matrix

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


def _matrix_1d(kind: str, n: int, like: torch.Tensor) -> torch.Tensor:
    key = (kind, n, 0, like.dtype, like.device)
    if key not in _CACHE:
        m = rfft_matrix(n) if kind == "r1" else irfft_matrix(n)
        _CACHE[key] = (torch.from_numpy(m).to(like.device, like.dtype),)
    return _CACHE[key][0]


def rfft(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real DFT over axis 1 of (B, N, C), ortho norm, by one matmul."""
    k = x.shape[1] // 2 + 1
    p = torch.matmul(_matrix_1d("r1", x.shape[1], x), x)  # (B, 2K, C): [re; im]
    return p[:, :k], p[:, k:]


def irfft(re: torch.Tensor, im: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`rfft` to (B, n, C), by one matmul."""
    return torch.matmul(_matrix_1d("i1", int(n), re), torch.cat([re, im], 1))


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


def native_rfft(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.fft.rfft(x, dim=1, norm="ortho")
    return z.real, z.imag


def native_irfft(re: torch.Tensor, im: torch.Tensor, n: int) -> torch.Tensor:
    return torch.fft.irfft(torch.complex(re, im), n=int(n), dim=1, norm="ortho")


NATIVE_OPS = {"rfft": native_rfft, "irfft": native_irfft, "rfft2": native_rfft2, "irfft2": native_irfft2}
DFT_OPS = {"rfft": rfft, "irfft": irfft, "rfft2": rfft2, "irfft2": irfft2}
