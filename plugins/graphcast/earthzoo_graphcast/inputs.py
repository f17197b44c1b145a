"""What the model card names about the data (NumPy only): an example input and the
rollout rule (GraphCast names no data_spec: its channels follow the config's task),
and the start of the output layer from the data (data_init)."""

from __future__ import annotations

import numpy as np

from .config import GraphCastConfig


def example_input(config: GraphCastConfig, batch: int = 1, seed: int = 0):
    """A normalised random input (B, C_in, lat, lon), float32; static channels equal across the batch."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, config.in_channels, config.n_lat, config.n_lon)).astype(np.float32)
    for i, (kind, *_rest) in enumerate(config.input_channels()):
        if kind == "static":
            x[:, i] = x[0, i]
    return x


def next_input(x, y, step: int, config: GraphCastConfig):
    """Step+1's input: input times shift by one, the newest time of each target
    comes from the prediction; static fields, forcings and non-target inputs keep
    their last values (no forcing model here)."""
    chans = config.input_channels()
    pos = {(k, v, t, lev): i for i, (k, v, t, lev) in enumerate(chans)}
    out_pos = {key: i for i, key in enumerate(config.output_channels())}
    last = config.input_times - 1
    new = np.array(x, copy=True)
    for i, (kind, var, t, lev) in enumerate(chans):
        if kind != "input":
            continue
        if t < last:
            new[:, i] = x[:, pos[(kind, var, t + 1, lev)]]
        elif (var, lev) in out_pos:
            new[:, i] = y[:, out_pos[(var, lev)]]
    return new


def data_init(config: GraphCastConfig, change_std, state) -> dict:
    """A residual GraphCast's last output layer scaled, per target channel, to the std
    of that channel's normalised one-step change: the untrained model adds changes of
    the right size to the input (GraphCast's residual normalisation) instead of O(1)
    noise, several times persistence's error on the slowly changing channels."""
    if not config.residual or len(change_std) != config.out_channels:
        return {}
    last = f"decoder.output_mlp.linear_{config.hidden_layers}"
    s = np.asarray(change_std, np.float32)
    return {f"{last}.weight": state[f"{last}.weight"] * s[:, None], f"{last}.bias": state[f"{last}.bias"] * s}
