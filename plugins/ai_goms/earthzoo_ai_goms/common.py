"""Framework-free pieces shared by both implementations: the fixed 2-D sin-cos
position embeddings. (The MAE masking indices are the engines':
earthzoo.training.masking.)"""

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
