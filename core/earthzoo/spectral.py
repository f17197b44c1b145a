"""Framework-free DFT matrices for FFT-by-matmul (``rfft``/``irfft`` and
``rfft2``/``irfft2`` with ``norm="ortho"``), for chips and frameworks without a fast
or differentiable FFT.

The transforms act on axis 1 (1-D) or axes (1, 2) (2-D) of a channels-last array
((B, N, C) or (B, H, W, C)), the layouts of AFNO-style spectral filters, and keep
real and imaginary parts as separate real
arrays so that no complex number is ever formed. The matrices are built in float64
and cast once, so the matmul path matches the FFT to ~1e-7 in fp32."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _angles(n_out: int, n_in: int, n: int) -> np.ndarray:
    k = np.arange(n_out, dtype=np.int64)[:, None]
    m = np.arange(n_in, dtype=np.int64)[None, :]
    return 2.0 * np.pi * ((k * m) % n) / n  # the modulo keeps the angles small and exact


@lru_cache(maxsize=64)
def _rfft_f64(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The real-to-half-spectrum kernels (n//2+1, n): exp(-i angle) / sqrt(n)."""
    a = _angles(n // 2 + 1, n, n)  # row l applied to a length-n signal
    return np.cos(a) / np.sqrt(n), -np.sin(a) / np.sqrt(n)


@lru_cache(maxsize=64)
def _irfft_f64(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The half-spectrum-to-real kernels (n, n//2+1): exp(+i angle) / sqrt(n), with the
    Hermitian weights (bins 1..ceil(n/2)-1 stand for two); the c2r step keeps only the
    real part, so the imaginary parts of bin 0 (and of the Nyquist bin) drop out as in irfft."""
    k = n // 2 + 1
    a = _angles(n, k, n)  # output sample m from half-spectrum bin l
    weight = np.full(k, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    return np.cos(a) * weight / np.sqrt(n), -np.sin(a) * weight / np.sqrt(n)


@lru_cache(maxsize=64)
def _rfft2_f64(h: int, w: int) -> tuple[np.ndarray, ...]:
    ah = _angles(h, h, h)  # (h, h)
    sh = np.sqrt(h)
    return (*_rfft_f64(w), np.cos(ah) / sh, -np.sin(ah) / sh)


@lru_cache(maxsize=64)
def _irfft2_f64(h: int, w: int) -> tuple[np.ndarray, ...]:
    ah = _angles(h, h, h)
    sh = np.sqrt(h)
    return (np.cos(ah) / sh, np.sin(ah) / sh, *_irfft_f64(w))


def rfft_matrix(n: int, dtype=np.float32) -> np.ndarray:
    """(2K, N) with K = N//2+1, for ``rfft(x)`` over axis 1 of (B, N, C), ortho norm:
    ``m @ x`` stacks the real parts (rows :K) over the imaginary parts (rows K:)."""
    return np.concatenate(_rfft_f64(int(n)), 0).astype(dtype)


def irfft_matrix(n: int, dtype=np.float32) -> np.ndarray:
    """(N, 2K), for ``x = irfft(X, n)`` over axis 1, ortho norm: ``x = m @ [X_re; X_im]``."""
    return np.concatenate(_irfft_f64(int(n)), 1).astype(dtype)


def rfft2_matrices(h: int, w: int, dtype=np.float32) -> dict[str, np.ndarray]:
    """Matrices for ``X = rfft2(x)`` over (H, W), ortho norm, as real products.

    With x (B, H, W, C): ``A_re = cw @ x``, ``A_im = sw @ x`` (over W, matrices
    (W//2+1, W)); then over H with (H, H) matrices ``ch``/``sh``:
    ``X_re = ch @ A_re - sh @ A_im``, ``X_im = ch @ A_im + sh @ A_re``."""
    cw, sw, ch, sh = _rfft2_f64(int(h), int(w))
    return {k: v.astype(dtype) for k, v in zip(("cw", "sw", "ch", "sh"), (cw, sw, ch, sh))}


def irfft2_matrices(h: int, w: int, dtype=np.float32) -> dict[str, np.ndarray]:
    """Matrices for ``x = irfft2(X, s=(H, W))``, ortho norm, as real products.

    Over H (complex, (H, H)): ``Y_re = ch @ X_re - sh @ X_im``, ``Y_im = ch @ X_im + sh @ X_re``;
    then over W (complex-to-real, (W, W//2+1)): ``x = cw @ Y_re + sw @ Y_im``."""
    ch, sh, cw, sw = _irfft2_f64(int(h), int(w))
    return {k: v.astype(dtype) for k, v in zip(("ch", "sh", "cw", "sw"), (ch, sh, cw, sw))}


def rfft2_numpy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference implementation of the matmul path in NumPy (used in tests)."""
    _, h, w, _ = x.shape
    m = rfft2_matrices(h, w, np.float64)
    a_re = np.einsum("lw,bhwc->bhlc", m["cw"], x)
    a_im = np.einsum("lw,bhwc->bhlc", m["sw"], x)
    re = np.einsum("kh,bhlc->bklc", m["ch"], a_re) - np.einsum("kh,bhlc->bklc", m["sh"], a_im)
    im = np.einsum("kh,bhlc->bklc", m["ch"], a_im) + np.einsum("kh,bhlc->bklc", m["sh"], a_re)
    return re, im
