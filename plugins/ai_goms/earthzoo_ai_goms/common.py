"""Framework-free pieces shared by both implementations: the fixed 2-D sin-cos
position embeddings and the MAE masking indices (so both frameworks mask the same
tokens from the same noise)."""

from __future__ import annotations

import numpy as np


def _sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_pos_embed_2d(dim: int, grid: tuple[int, int]) -> np.ndarray:
    """MAE's fixed 2-D sin-cos embedding, (1, h*w, dim) float32: half the channels
    encode the column (longitude) index, half the row (latitude) index."""
    h, w = grid
    gw, gh = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    emb = np.concatenate([_sincos_1d(dim // 2, gw), _sincos_1d(dim // 2, gh)], axis=1)
    return emb[None].astype(np.float32)


def mask_indices(noise: np.ndarray, mask_ratio: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From per-token noise (B, L): the kept token ids (B, keep), the restore order
    (B, L) and the binary mask (B, L; 1 = hidden), as MAE's random_masking: the tokens
    with the smallest noise are kept. A stable argsort makes the result unique."""
    noise = np.asarray(noise)
    B, L = noise.shape
    keep = int(L * (1 - mask_ratio))
    ids_shuffle = np.argsort(noise, axis=1, kind="stable")
    ids_restore = np.argsort(ids_shuffle, axis=1, kind="stable")
    mask = np.ones((B, L), np.float32)
    mask[:, :keep] = 0
    mask = np.take_along_axis(mask, ids_restore, axis=1)
    return ids_shuffle[:, :keep].astype(np.int64), ids_restore.astype(np.int64), mask


def patch_ocean_fraction(ocean_mask: np.ndarray, patch: int) -> np.ndarray:
    """Fraction of ocean points in each patch, (h*w,), row-major tokens."""
    m = np.asarray(ocean_mask, np.float32)
    H, W = m.shape
    return m.reshape(H // patch, patch, W // patch, patch).mean(axis=(1, 3)).reshape(-1)
