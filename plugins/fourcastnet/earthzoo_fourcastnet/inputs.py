"""Example inputs and the rollout rule named on the model card (NumPy only)."""

from __future__ import annotations

import numpy as np


def example_input(config, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A normalised input (batch, in_chans, H, W): smooth large-scale fields plus noise,
    so the spectrum is not flat."""
    rng = np.random.default_rng(seed)
    H, W = config.img_size
    lat = np.linspace(np.pi / 2, -np.pi / 2, H)[:, None]
    lon = np.linspace(0, 2 * np.pi, W, endpoint=False)[None, :]
    x = np.empty((batch, config.in_chans, H, W), np.float32)
    for b in range(batch):
        for c in range(config.in_chans):
            k, phase = rng.integers(1, 4), rng.uniform(0, 2 * np.pi)
            x[b, c] = np.cos(lat) * np.sin(k * lon + phase) + 0.3 * rng.standard_normal((H, W))
    return x


def next_input(x: np.ndarray, y: np.ndarray, step: int, config) -> np.ndarray:
    """The forecast is the next input when the model predicts every input channel;
    otherwise (PrecipNet, or fewer outputs) the input is held fixed."""
    return y if y.shape == x.shape else x


def data_spec(config):
    """The card's ``data_spec``: see FourCastNetConfig.data_spec."""
    return config.data_spec()
