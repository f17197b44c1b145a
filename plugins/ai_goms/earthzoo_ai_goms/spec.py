"""The data AI-GOMS reads and predicts, by channel name (the card's ``data_spec``):
the ocean state t*, s*, u*, v* by depth then ssh (prognostic, one time), the five
atmospheric forcings at the input time, and orography; trained and scored over
ocean points only. The names are the synthetic ocean's (``t_0m`` ... ``ssh``).

``residual_loss``: AI-GOMS predicts the change of the state (output = input +
scale * net), and in the plain MSE of normalised states u and v (one-day change
~0.02-0.26 std) drown T (~0.0024 std), so T never beat persistence; weighting
each channel by (std / residual_std)^2 scores the changes on one scale.
``data_init`` starts the residual scale of each channel at the std of its daily
change, so the network predicts every change in units of its own size (one start
scale for all channels left u and v, whose changes are ~100x T's, at persistence)."""

from __future__ import annotations

from earthzoo.cards import DataSpec

from .config import FORCINGS, STATIC


def data_spec(config) -> DataSpec:
    return DataSpec(prognostic=tuple(config.variables), forcing=FORCINGS, static=STATIC, history=1, masked=True, residual_loss=True)


def data_init(config, change_std, state) -> dict:
    """``residual_log_scale`` = log of each channel's one-step change std (normalised units)."""
    import numpy as np

    if not config.residual or config.task != "forecast":
        return {}
    return {"residual_log_scale": np.log(np.maximum(np.asarray(change_std, np.float64), 1e-6)).astype(np.float32)}
