"""What the model card names about the data (NumPy only): an example input, the
rollout rule and the channels read and predicted."""

from __future__ import annotations

import numpy as np
from earthzoo.cards import DataSpec


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


def data_spec(config) -> DataSpec | None:
    """The channels read and predicted, by name: ``variables`` when they name every
    input and output channel (a forecaster), else None (data are taken in order)."""
    if config.variables and len(config.variables) == config.in_chans == config.out_chans and not config.precip:
        return DataSpec(prognostic=tuple(config.variables))
    return None
