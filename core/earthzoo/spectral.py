"""Framework-free DFT matrices for FFT-by-matmul (``rfft2``/``irfft2`` with
``norm="ortho"``), for chips and frameworks without a fast or differentiable FFT.

The transforms act on axes (1, 2) of a channels-last array (B, H, W, C), the layout
of AFNO-style spectral filters, and keep real and imaginary parts as separate real
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
def _rfft2_f64(h: int, w: int) -> tuple[np.ndarray, ...]:
    wr = w // 2 + 1
    aw = _angles(wr, w, w)  # (wr, w): row l applied to a length-w signal
    ah = _angles(h, h, h)  # (h, h)
    sw, sh = np.sqrt(w), np.sqrt(h)
    # forward kernels exp(-i angle) / sqrt(n)
    return (np.cos(aw) / sw, -np.sin(aw) / sw, np.cos(ah) / sh, -np.sin(ah) / sh)


@lru_cache(maxsize=64)
def _irfft2_f64(h: int, w: int) -> tuple[np.ndarray, ...]:
    wr = w // 2 + 1
    ah = _angles(h, h, h)
    sh, sw = np.sqrt(h), np.sqrt(w)
    aw = _angles(w, wr, w)  # (w, wr): output sample n from half-spectrum bin l
    weight = np.full(wr, 2.0)  # Hermitian symmetry: bins 1..ceil(w/2)-1 stand for two
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    # inverse kernels exp(+i angle) / sqrt(n); the c2r step keeps only the real part,
    # so the imaginary parts of bin 0 (and of the Nyquist bin) drop out as in irfft
    return (np.cos(ah) / sh, np.sin(ah) / sh, np.cos(aw) * weight / sw, -np.sin(aw) * weight / sw)


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
