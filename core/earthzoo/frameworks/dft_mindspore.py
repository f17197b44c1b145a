"""rfft / irfft and rfft2 / irfft2 as matrix products in MindSpore, for any model and backend.

Same contract as ``dft_torch``: ``rfft2(x) -> (re, im)`` over axes (1, 2) of a
channels-last (B, H, W, C) tensor, ortho norm; ``irfft2(re, im, s) -> x``;
``rfft(x)`` / ``irfft(re, im, n)`` over axis 1 of (B, N, C). Only
``ops.matmul``, slicing and ``ops.concat`` are used (all with CPU kernels and
gradients; see shared MINDSPORE.md), so it also runs inside graph mode. The
native versions build complex numbers only at the FFT call."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import ops  # noqa: E402

from ..spectral import irfft2_matrices, irfft_matrix, rfft2_matrices, rfft_matrix  # noqa: E402

_CACHE: dict[tuple, tuple[ms.Tensor, ms.Tensor]] = {}


def _matrices(kind: str, h: int, w: int, dtype) -> tuple[ms.Tensor, ms.Tensor]:
    key = (kind, h, w, dtype)
    if key not in _CACHE:
        if kind == "r":
            m = rfft2_matrices(h, w)
            over_w = np.concatenate([m["cw"], m["sw"]], 0)
        else:
            m = irfft2_matrices(h, w)
            over_w = np.concatenate([m["cw"], m["sw"]], 1)
        over_h = np.concatenate([m["ch"], m["sh"]], 0)
        _CACHE[key] = (ms.Tensor(over_w).astype(dtype), ms.Tensor(over_h).astype(dtype))
    return _CACHE[key]


def _matrix_1d(kind: str, n: int, dtype) -> ms.Tensor:
    key = (kind, n, 0, dtype)
    if key not in _CACHE:
        _CACHE[key] = (ms.Tensor(rfft_matrix(n) if kind == "r1" else irfft_matrix(n)).astype(dtype),)
    return _CACHE[key][0]


def rfft(x):
    """Real DFT over axis 1 of (B, N, C), ortho norm, by one matmul."""
    k = x.shape[1] // 2 + 1
    p = ops.matmul(_matrix_1d("r1", x.shape[1], x.dtype), x)  # (B, 2K, C): [re; im]
    return p[:, :k], p[:, k:]


def irfft(re, im, n):
    """Inverse of :func:`rfft` to (B, n, C), by one matmul."""
    return ops.matmul(_matrix_1d("i1", int(n), re.dtype), ops.concat((re, im), 1))


def rfft2(x):
    """Real 2-D DFT over axes (1, 2) of (B, H, W, C), ortho norm, by two matmuls."""
    b, h, w, c = x.shape
    wr = w // 2 + 1
    over_w, over_h = _matrices("r", h, w, x.dtype)
    a = ops.matmul(over_w, x)  # (B, H, 2wr, C)
    p = ops.matmul(over_h, a.reshape(b, h, 2 * wr * c)).reshape(b, 2 * h, 2 * wr, c)
    re = p[:, :h, :wr] - p[:, h:, wr:]
    im = p[:, :h, wr:] + p[:, h:, :wr]
    return re, im


def irfft2(re, im, s):
    """Inverse of :func:`rfft2` to (B, H, W, C) with ``s = (H, W)``, by two matmuls."""
    h, w = int(s[0]), int(s[1])
    b, _, wr, c = re.shape
    over_w, over_h = _matrices("i", h, w, re.dtype)
    p = ops.matmul(over_h, ops.concat((re, im), 2).reshape(b, h, 2 * wr * c)).reshape(b, 2 * h, 2 * wr, c)
    y = ops.concat((p[:, :h, :wr] - p[:, h:, wr:], p[:, :h, wr:] + p[:, h:, :wr]), 2)
    return ops.matmul(over_w, y)


def native_rfft2(x):
    """The same contract through ops.rfft2 (complex only inside this function)."""
    z = ops.rfft2(x, dim=(1, 2), norm="ortho")
    return ops.real(z), ops.imag(z)


def native_irfft2(re, im, s):
    return ops.irfft2(ops.Complex()(re, im), s=(int(s[0]), int(s[1])), dim=(1, 2), norm="ortho")


def native_rfft(x):
    z = ops.rfft(x, dim=1, norm="ortho")
    return ops.real(z), ops.imag(z)


def native_irfft(re, im, n):
    return ops.irfft(ops.Complex()(re, im), n=int(n), dim=1, norm="ortho")


NATIVE_OPS = {"rfft": native_rfft, "irfft": native_irfft, "rfft2": native_rfft2, "irfft2": native_irfft2}
DFT_OPS = {"rfft": rfft, "irfft": irfft, "rfft2": rfft2, "irfft2": irfft2}
