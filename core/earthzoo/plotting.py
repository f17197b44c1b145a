"""The one place matplotlib is set up: pyplot on the Agg backend (or the one-line
error naming the extra that adds it), atomic PNG writes, one style per framework
that stays distinguishable when curves overlap, the loss-curve figure the trainer
and the report both draw, and colour-bar scales written in the label."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EarthzooError
from .files import atomic_path

PLOT_INSTALL = "pip install 'earthzoo[plot]'"
FW_LABEL = {"torch": "PyTorch", "mindspore": "MindSpore"}
# colour, line style and marker all differ: overlapping curves stay readable, in grey print too
FW_STYLE = {"torch": {"color": "tab:red", "ls": "-", "marker": "o", "lw": 1.6}, "mindspore": {"color": "tab:blue", "ls": "--", "marker": "x", "lw": 1.2}}


def pyplot():
    """matplotlib's pyplot (Agg), or the one-line error naming the extra that adds it:
    plotting is optional, so a finished job skips its figures instead of failing."""
    try:
        import matplotlib
    except ImportError:
        raise EarthzooError("matplotlib is not installed, so no figure is drawn", f"for figures: {PLOT_INSTALL}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_skipped(exc: EarthzooError) -> str:
    """The one-line note a job prints when it skips its figures."""
    return f"note: plot skipped ({exc})"


def save(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically and free it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    pyplot().close(fig)
    return path


def fw_style(framework: str, n_points: int = 0) -> dict[str, Any]:
    """The framework's line style; no markers on long curves (a few scattered markers
    on a noisy loss curve read as outliers), the line styles still differ."""
    st = dict(FW_STYLE.get(framework, {"ls": "-", "marker": "."}))
    if n_points > 40:
        st.pop("marker", None)
    return st


def integer_ticks(axis: Any) -> None:
    """Whole-number ticks (optimizer steps, lead indices)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plain_numbers(axis: Any) -> None:
    """Tick labels as plain numbers: no offset or exponent tucked at the axis end
    (a ratio of 0.99996 reads as 0.99996, not as 1e-5+9.999e-1)."""
    from matplotlib.ticker import ScalarFormatter

    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


def loss_figure(curves: dict[str, tuple[list[int], list[float]]], title: str, path: Path, dpi: int = 110) -> Path:
    """Training loss per optimizer step, one curve per framework (or per label):
    integer step ticks, a log axis when every loss is positive."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, (steps, loss) in curves.items():
        ax.plot(steps, loss, ms=4, label=f"{FW_LABEL.get(label, label)} ({len(loss)} steps)", **fw_style(label, len(loss)))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (MSE of normalised fields, 1)")
    integer_ticks(ax.xaxis)
    if curves and all(len(v) and min(v) > 0 for _, v in curves.values()):
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    fig.tight_layout()
    return save(fig, path, dpi)


def power_of_ten(values: Any) -> int:
    """The exponent that brings ``values`` to readable numbers (0 when they already
    are, between 0.01 and 10 000 in magnitude)."""
    a = np.asarray(values, np.float64)
    big = float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 0.0
    if big == 0.0 or 1e-2 <= big < 1e4:
        return 0
    return int(math.floor(math.log10(big)))


def scale_label(unit: str, exponent: int) -> str:
    """A colour-bar label that carries its scale: '10$^{-5}$ m2 s-2' means the ticks
    are in units of 1e-5 m2 s-2."""
    unit = unit or "1"
    return unit if exponent == 0 else f"$10^{{{exponent}}}$ {unit}"


def colorbar(fig: Any, im: Any, ax: Any, label: str) -> Any:
    """A colour bar with plain tick numbers (no offset or exponent tucked above it)."""
    cb = fig.colorbar(im, ax=ax, shrink=0.9)
    plain_numbers(cb.ax.yaxis)
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return cb
