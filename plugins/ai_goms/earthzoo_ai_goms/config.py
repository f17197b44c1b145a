"""AI-GOMS configuration: one dataclass, presets, and the channel orders.

The channel order is the original's: ocean T, S, U, V at each depth (all t* first,
then s*, u*, v*), then SSH; the inputs append the 5 atmospheric forcings and
orography. ``task`` selects the backbone ("forecast", also used for masked
pre-training) or a fine-tuning module on its frozen latent ("downscale", "wave")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from earthzoo.errors import EarthzooError

PAPER_DEPTHS = (0, 6, 10, 20, 30, 50, 70, 100, 125, 150, 200, 250, 300, 400, 500)
FORCINGS = ("u10", "v10", "t2m", "msl", "sp")
STATIC = ("orography",)
TASKS = ("forecast", "downscale", "wave")


def ocean_channels(depths) -> tuple[str, ...]:
    """The predicted channels in AI-GOMS order: t*, s*, u*, v* by depth, then ssh."""
    return tuple(f"{v}_{int(d)}m" for v in "tsuv" for d in depths) + ("ssh",)


@dataclass(frozen=True)
class AIGOMSConfig:
    """Masked_Ocean hyper-parameters (names follow the MAE/FourCastNet arguments).

    - ``mask_ratio``: the fraction of tokens hidden in masked pre-training; forecasts
      (``forward``) never mask.
    - ``region``: the downscaling sub-region in token rows/columns (r0, r1, c0, c1);
      ``scale`` its resolution factor over the global grid (3: 1/4 deg -> 1/12 deg).
    - ``head_hidden``: width of a fine-tuning head.
    - ``residual``: forecast the change. The output's ocean channels are the input's
      (the last history step, normalised) + ``exp(residual_log_scale)`` (a learnable
      per-channel parameter, started at ``residual_scale``) x the network's output,
      with ``decoder_pred`` initialised to zero, so an untrained model is persistence.
      Daily ocean changes are tiny next to the field's spread (in the synthetic ocean,
      normalised T changes ~0.002 a day), so an absolute-state model starts ~100x
      worse than persistence. On for ``tiny``/``small``; off for ``paper``: the original
      (Ocean_AI_model) predicts the absolute next state, and its 113.9 M parameters
      have no scale. Masked pre-training (``forward_masked``) always reconstructs the
      absolute state. ``residual_scale`` is in normalised units; the ideal per channel
      is NormStats.residual_std / std, which the engine does not pass to the model."""

    img_size: tuple[int, int] = (32, 64)
    depths: tuple[int, ...] = (0, 10, 50, 200)  # the synthetic ocean's tiny levels
    patch_size: int = 4
    embed_dim: int = 32
    depth: int = 2
    decoder_embed_dim: int = 64
    decoder_depth: int = 1
    num_blocks: int = 4
    mlp_ratio: float = 4.0
    sparsity_threshold: float = 0.01
    mask_ratio: float = 0.5
    task: str = "forecast"
    region: tuple[int, int, int, int] = (2, 4, 4, 8)
    scale: int = 3
    head_hidden: int = 32
    residual: bool = True
    residual_scale: float = 0.01

    def __post_init__(self) -> None:
        h, w = self.img_size
        p = self.patch_size
        if h % p or w % p:
            raise EarthzooError(
                f"img_size {tuple(self.img_size)} is not divisible by patch_size {p}",
                "choose a grid whose sides are multiples of the patch size",
            )
        for name, dim in (("embed_dim", self.embed_dim), ("decoder_embed_dim", self.decoder_embed_dim)):
            if dim % self.num_blocks:
                raise EarthzooError(
                    f"{name} {dim} is not divisible by num_blocks {self.num_blocks}", f"choose {name} as a multiple of num_blocks"
                )
            if dim % 4:
                raise EarthzooError(
                    f"{name} {dim} is not a multiple of 4 (the 2-D sin-cos position embedding needs it)",
                    f"choose {name} as a multiple of 4",
                )
        if not 0.0 <= self.mask_ratio < 1.0:
            raise EarthzooError(f"mask_ratio {self.mask_ratio} is outside [0, 1)", "use a ratio such as 0.5 or 0.75")
        if self.task not in TASKS:
            raise EarthzooError(f"unknown AI-GOMS task {self.task!r}", f"use one of: {', '.join(TASKS)}")
        r0, r1, c0, c1 = self.region
        th, tw = self.tokens
        if not (0 <= r0 < r1 <= th and 0 <= c0 < c1 <= tw):
            raise EarthzooError(
                f"downscaling region {tuple(self.region)} is outside the {th}x{tw} token grid",
                "give (row0, row1, col0, col1) token indices inside the grid",
            )
        if not self.residual_scale > 0:
            raise EarthzooError(f"residual_scale {self.residual_scale} must be positive", "use a small positive scale such as 0.01")
        if self.scale < 1:
            raise EarthzooError(f"scale {self.scale} must be at least 1", "use scale=3 for the paper's 1/12 degree region")

    @property
    def tokens(self) -> tuple[int, int]:
        return self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size

    @property
    def out_chans(self) -> int:
        return 4 * len(self.depths) + 1

    @property
    def in_chans(self) -> int:
        return self.out_chans + len(FORCINGS) + len(STATIC)

    @property
    def variables(self) -> tuple[str, ...]:
        """The predicted (ocean) channels."""
        return ocean_channels(self.depths)

    @property
    def input_variables(self) -> tuple[str, ...]:
        return self.variables + FORCINGS + STATIC

    @classmethod
    def preset(cls, name: str) -> "AIGOMSConfig":
        if name not in PRESETS:
            raise EarthzooError(f"AI-GOMS has no preset {name!r}", f"use one of: {', '.join(PRESETS)}")
        return PRESETS[name]

    def replace(self, **changes) -> "AIGOMSConfig":
        return dataclasses.replace(self, **changes)


_TINY = AIGOMSConfig()
_SMALL = AIGOMSConfig(
    img_size=(64, 128),
    depths=(0, 10, 30, 100, 300),
    patch_size=4,
    embed_dim=128,
    depth=4,
    decoder_embed_dim=128,
    decoder_depth=2,
    num_blocks=8,
    region=(4, 8, 8, 16),
    head_hidden=64,
    # near the synthetic ocean's daily T/SSH change (0.002-0.005 of the spread); 0.01 let
    # the trunk's current-driven updates leak into T (t_0m 2x persistence after 187 steps)
    residual_scale=0.002,
)
_PAPER = AIGOMSConfig(
    img_size=(720, 1440),
    depths=PAPER_DEPTHS,
    patch_size=8,
    embed_dim=512,
    depth=16,
    decoder_embed_dim=1024,
    decoder_depth=8,
    num_blocks=8,
    mlp_ratio=4.0,
    mask_ratio=0.5,
    region=(25, 35, 60, 80),
    head_hidden=256,
    residual=False,  # the original predicts the absolute state
)

PRESETS: dict[str, AIGOMSConfig] = {
    # unit tests: the synthetic ocean's "tiny" size, 4 depths -> 17 ocean channels, 23 inputs, 8x16 tokens
    "tiny": _TINY,
    # CPU demo/benchmarks: the synthetic ocean's "small" size, 5 depths -> 21 ocean channels, 27 inputs, 16x32 tokens
    "small": _SMALL,
    # the published model: 15 depths, 61 outputs, 67 inputs, 113.9 M parameters
    "paper": _PAPER,
    # fine-tuning modules on the frozen backbone
    "tiny_downscale": _TINY.replace(task="downscale"),
    "tiny_wave": _TINY.replace(task="wave"),
    "small_downscale": _SMALL.replace(task="downscale"),
    "small_wave": _SMALL.replace(task="wave"),
    # Kuroshio (about 20-40 N, 120-160 E: token rows 25-35, cols 60-80 of 2-degree tokens) at 1/12 deg
    "paper_downscale": _PAPER.replace(task="downscale"),
    "paper_wave": _PAPER.replace(task="wave"),
}
