"""The data AI-GOMS reads and predicts, by channel name (the card's ``data_spec``):
the ocean state t*, s*, u*, v* by depth then ssh (prognostic, one time), the five
atmospheric forcings at the input time, and orography; trained and scored over
ocean points only. The names are the synthetic ocean's (``t_0m`` ... ``ssh``)."""

from __future__ import annotations

from earthzoo.cards import DataSpec

from .config import FORCINGS, STATIC


def data_spec(config) -> DataSpec:
    return DataSpec(prognostic=tuple(config.variables), forcing=FORCINGS, static=STATIC, history=1, masked=True)
