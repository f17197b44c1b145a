"""What the model card names about the data (NumPy only): an example input, the
rollout rule and the channels read and predicted.

An AI-GOMS input is (batch, ocean + 5 forcings + orography, H, W). The example
ocean has smooth fields on ocean points and 0 on land (how the data sources fill
land); its forcings move with the step so a rollout sees new forcings each day.

``data_spec``: the ocean state t*, s*, u*, v* by depth then ssh (prognostic, one
time), the five atmospheric forcings at the input time, and orography; trained and
scored over ocean points only. The names are the synthetic ocean's (``t_0m`` ...
``ssh``). ``residual_loss``: AI-GOMS predicts the change of the state (output = input
+ scale * net), and in the plain MSE of normalised states u and v (one-day change
~0.02-0.26 std) drown T (~0.0024 std), so T never beat persistence; weighting each
channel by (std / residual_std)^2 scores the changes on one scale. ``data_init``
starts the residual scale of each channel at the std of its daily change, so the
network predicts every change in units of its own size (one start scale for all
channels left u and v, whose changes are ~100x T's, at persistence)."""

from __future__ import annotations

import numpy as np
from earthzoo.cards import DataSpec

from .config import FORCINGS, STATIC


def _grid(config):
    H, W = config.img_size
    lat = np.linspace(np.pi / 2, -np.pi / 2, H)[:, None]
    lon = np.linspace(0, 2 * np.pi, W, endpoint=False)[None, :]
    return lat, lon


def example_ocean_mask(config) -> np.ndarray:
    """A (H, W) bool mask, True over ocean: two smooth 'continents' and polar land."""
    lat, lon = _grid(config)
    land = np.cos(lat) * np.cos(2 * lon) > 0.55
    land |= np.abs(lat) > np.deg2rad(80)
    return ~land


def example_orography(config) -> np.ndarray:
    lat, lon = _grid(config)
    return np.where(example_ocean_mask(config), 0.0, 0.5 + 0.5 * np.cos(lat) * np.cos(2 * lon)).astype(np.float32)


def example_forcings(config, batch: int, step: int) -> np.ndarray:
    """Normalised atmospheric forcings (batch, 5, H, W) at ``step`` (days): travelling waves."""
    lat, lon = _grid(config)
    out = np.empty((batch, len(FORCINGS), *config.img_size), np.float32)
    for b in range(batch):
        for c in range(len(FORCINGS)):
            k = 1 + (c + b) % 3
            out[b, c] = np.cos(lat) * np.sin(k * lon - 0.3 * step + c) + 0.2 * np.sin(3 * lat + 0.1 * step * (c + 1))
    return out


def example_input(config, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A normalised input at step 0: smooth ocean fields plus noise, 0 on land."""
    rng = np.random.default_rng(seed)
    lat, lon = _grid(config)
    ocean = example_ocean_mask(config)
    x = np.empty((batch, config.out_chans, *config.img_size), np.float32)
    for b in range(batch):
        for c in range(config.out_chans):
            k, phase = rng.integers(1, 4), rng.uniform(0, 2 * np.pi)
            x[b, c] = np.cos(lat) * np.sin(k * lon + phase) + 0.3 * rng.standard_normal(config.img_size)
    x *= ocean
    oro = np.broadcast_to(example_orography(config), (batch, 1, *config.img_size))
    return np.concatenate([x, example_forcings(config, batch, 0), oro], axis=1).astype(np.float32)


def assemble(ocean: np.ndarray, forcings: np.ndarray, orography: np.ndarray) -> np.ndarray:
    """The model input: concat(ocean state, forcings, orography) on the channel axis."""
    return np.concatenate([ocean, forcings, orography], axis=1).astype(np.float32)


def next_input(x: np.ndarray, y: np.ndarray, step: int, config) -> np.ndarray:
    """concat(predicted ocean state, the next step's forcings, the input's orography).
    A fine-tuning module's output is not a state: its input is held fixed."""
    if y.shape[1] != config.out_chans or y.shape[2:] != x.shape[2:]:
        return x
    return assemble(y, example_forcings(config, x.shape[0], step), x[:, -1:])


def data_spec(config) -> DataSpec:
    return DataSpec(prognostic=tuple(config.variables), forcing=FORCINGS, static=STATIC, history=1, masked=True, residual_loss=True)


def data_init(config, change_std, state) -> dict:
    """``residual_log_scale`` = log of each channel's one-step change std (normalised units)."""
    if not config.residual or config.task != "forecast":
        return {}
    return {"residual_log_scale": np.log(np.maximum(np.asarray(change_std, np.float64), 1e-6)).astype(np.float32)}
