"""Masked pre-training (MAE) for the engines, framework-free: which tokens each
sample hides and where the reconstruction loss looks.

A model takes part when it has ``forward_masked(x, ids_keep, ids_restore)`` and
its config a ``patch_size`` and a ``mask_ratio`` (AI-GOMS's Masked_Ocean). The
trainer draws the masks here in NumPy from (seed, step, micro-batch), so both
frameworks hide the same tokens and a resumed run hides what an uninterrupted
one would. The loss is MAE's: the squared error of the reconstructed input state
over the hidden patches only, and over ocean points only for masked data, so
neither visible patches nor land reach it."""

from __future__ import annotations

from typing import Any

import numpy as np
from einops import repeat

from ..errors import EarthzooError


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


def check_model(model: Any, model_config: Any, name: str) -> None:
    """A clear error when a model has no masked pre-training stage."""
    if not callable(getattr(model, "forward_masked", None)) or not all(hasattr(model_config, a) for a in ("patch_size", "mask_ratio")):
        raise EarthzooError(
            f"model {name!r} has no masked pre-training stage (it needs forward_masked and a config with patch_size and mask_ratio)",
            "train it with --stage forecast",
        )
    if not 0.0 < float(model_config.mask_ratio) < 1.0:
        raise EarthzooError(
            f"model {name!r} has mask_ratio {model_config.mask_ratio}; masked pre-training needs a ratio in (0, 1)",
            "use a preset with a mask ratio such as 0.5",
        )


def masked_batch(
    x: np.ndarray,
    target: np.ndarray,
    model_config: Any,
    ocean: np.ndarray | None,
    seed: int,
    step: int,
    micro: int,
    rows: tuple[int, int] = (0, 1),
) -> tuple[np.ndarray, ...]:
    """(x, target, ids_keep, ids_restore, weight) for one micro-batch: the tokens
    hidden in each sample (noise from ``seed``, ``step``, ``micro``) and ``weight``
    (B, 1, H, W) float32, nonzero on the hidden patches' ocean points only and
    scaled so that the loss is ``sum(weight * (prediction - target)**2)``: the mean
    squared error over those points and the target's channels.

    This process holds share ``rows[0]`` of ``rows[1]`` of the global micro-batch:
    the masks are drawn and the weights normalised for the whole of it (times the
    process count, as data parallelism averages the processes' losses), so K
    processes hide, and average, what one process would."""
    B, _, H, W = x.shape
    p = int(model_config.patch_size)
    h, w = H // p, W // p
    rank, world = rows
    noise = np.random.default_rng([seed, step, micro, 0x4D41]).random((B * world, h * w))
    keep, restore, hidden = mask_indices(noise, float(model_config.mask_ratio))
    weight = repeat(hidden, "b (h w) -> b 1 (h p1) (w p2)", h=h, p1=p, p2=p).astype(np.float32)  # each hidden token's pixels
    if ocean is not None:
        weight = weight * np.asarray(ocean, np.float32)[None, None]
    weight = weight * (world / max(float(weight.sum()) * target.shape[1], 1.0))
    mine = slice(rank * B, (rank + 1) * B)
    return x, target, keep[mine], restore[mine], np.ascontiguousarray(weight[mine], np.float32)


def reconstruction_target(x: np.ndarray, layout: Any) -> np.ndarray:
    """The state the model reconstructs: the input's last prognostic frame (all of
    ``x`` for a model without a data layout, whose inputs are its outputs)."""
    if layout is None:
        return x
    hp = layout.history * layout.prognostic
    return np.ascontiguousarray(x[:, hp - layout.prognostic : hp])
