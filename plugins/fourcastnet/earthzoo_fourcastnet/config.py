"""FourCastNet configuration: one dataclass, presets, and the published variants.

Field names follow the NVlabs AFNONet arguments. ``tiny`` is exactly the golden
fixture's configuration, so the converters and tests work with the default preset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from earthzoo.errors import EarthzooError

# v0 (20 channels) and v1 (26 channels) channel orders of the paper
VARIABLES_V0 = ("u10", "v10", "t2m", "sp", "msl", "t850", "u1000", "v1000", "z1000", "u850", "v850", "z850", "u500", "v500", "z500", "t500", "z50", "r500", "r850", "tcwv")
VARIABLES_V1 = VARIABLES_V0 + ("u100", "v100", "u250", "v250", "z250", "t250")
# the channels of core's synthetic-atmosphere data source (shallow water)
SYNTHETIC_VARIABLES = ("z", "u", "v", "vort", "div")

GELUS = ("erf", "tanh")
POLE_PADS = ("repeat", "nan")
SPECTRAL = ("fft", "dft")


@dataclass(frozen=True)
class FourCastNetConfig:
    """AFNONet hyper-parameters plus three options that are not in the original:

    - ``gelu``: "erf" (NVlabs, torch's exact GELU) or "tanh" (MindEarth's AFNONet,
      MindSpore's default ``nn.GELU``); the two differ by ~1e-4 in the output.
    - ``pole_pad``: an input with ``img_size[0] + 1`` rows (a grid with both poles,
      like ERA5's 721) has its last (southern pole) row dropped, as the original does;
      the output gets that row back either as a copy of the row above ("repeat", the
      default, so losses and rollouts stay finite) or as NaN ("nan", the original's
      inference scripts).
    - ``spectral``: "fft" (native FFT) or "dft" (rfft2/irfft2 as matrix products from
      earthzoo.frameworks.dft_*); a backend's ``earthzoo_custom_ops`` can also swap them.
    - ``precip``: the PrecipNet diagnostic: this AFNONet as ``backbone`` (out_chans
      usually 1) followed by a periodic-padded 3x3 Conv2d and ReLU."""

    img_size: tuple[int, int] = (32, 64)
    patch_size: int = 4
    in_chans: int = 5
    out_chans: int = 5
    embed_dim: int = 64
    depth: int = 2
    mlp_ratio: float = 4.0
    num_blocks: int = 8
    sparsity_threshold: float = 0.01
    hard_thresholding_fraction: float = 1.0
    gelu: str = "erf"
    pole_pad: str = "repeat"
    spectral: str = "fft"
    precip: bool = False
    variables: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        h, w = self.img_size
        p = self.patch_size
        if h % p or w % p:
            raise EarthzooError(f"img_size {tuple(self.img_size)} is not divisible by patch_size {p}", "choose a grid whose sides are multiples of the patch size")
        if self.embed_dim % self.num_blocks:
            raise EarthzooError(f"embed_dim {self.embed_dim} is not divisible by num_blocks {self.num_blocks}", "choose embed_dim as a multiple of num_blocks")
        if self.variables and len(self.variables) != self.in_chans:
            raise EarthzooError(
                f"the config names {len(self.variables)} channels (variables) for a model of {self.in_chans} input channels",
                f"pass --config variables=NAME,... with {self.in_chans} names (or --config variables= for none), or the preset the weights were made at",
            )
        for name, value, allowed in (("gelu", self.gelu, GELUS), ("pole_pad", self.pole_pad, POLE_PADS), ("spectral", self.spectral, SPECTRAL)):
            if value not in allowed:
                raise EarthzooError(f"unknown {name} {value!r}", f"use one of: {', '.join(allowed)}")

    @property
    def tokens(self) -> tuple[int, int]:
        return self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size

    @classmethod
    def preset(cls, name: str) -> "FourCastNetConfig":
        if name not in PRESETS:
            raise EarthzooError(f"FourCastNet has no preset {name!r}", f"use one of: {', '.join(PRESETS)}")
        return PRESETS[name]

    def replace(self, **changes) -> "FourCastNetConfig":
        return dataclasses.replace(self, **changes)


def parameter_shapes(config: FourCastNetConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape at ``config``, without a framework, so that
    converting a checkpoint imports neither torch nor MindSpore. The builders must
    agree with it (test_fourcastnet_models checks every preset)."""
    e, p, nb = config.embed_dim, config.patch_size, config.num_blocks
    bs, hidden = e // nb, int(e * config.mlp_ratio)
    h, w = config.tokens
    pre = "backbone." if config.precip else ""
    out = {f"{pre}pos_embed": (1, h * w, e), f"{pre}patch_embed.proj.weight": (e, config.in_chans, p, p), f"{pre}patch_embed.proj.bias": (e,)}
    for i in range(config.depth):
        b = f"{pre}blocks.{i}."
        out.update({b + "norm1.weight": (e,), b + "norm1.bias": (e,), b + "filter.w1": (2, nb, bs, bs), b + "filter.b1": (2, nb, bs), b + "filter.w2": (2, nb, bs, bs), b + "filter.b2": (2, nb, bs),
                    b + "norm2.weight": (e,), b + "norm2.bias": (e,), b + "mlp.fc1.weight": (hidden, e), b + "mlp.fc1.bias": (hidden,), b + "mlp.fc2.weight": (e, hidden), b + "mlp.fc2.bias": (e,)})
    out.update({f"{pre}norm.weight": (e,), f"{pre}norm.bias": (e,), f"{pre}head.weight": (config.out_chans * p * p, e)})
    if config.precip:
        out.update({"conv.weight": (config.out_chans, config.out_chans, 3, 3), "conv.bias": (config.out_chans,)})
    return out


PRESETS: dict[str, FourCastNetConfig] = {
    # the golden fixture (fourcastnet_nvlabs_tiny / mindearth_afnonet_tiny with gelu="tanh")
    # (its 5 channels are named after the synthetic atmosphere's, so it trains on it by name)
    "tiny": FourCastNetConfig(variables=SYNTHETIC_VARIABLES),
    # CPU demo: the synthetic atmosphere's 5 channels on its 65x128 grid (64 rows used), 16x32 tokens
    "small": FourCastNetConfig(img_size=(64, 128), patch_size=4, in_chans=5, out_chans=5, embed_dim=128, depth=4, variables=SYNTHETIC_VARIABLES),
    # the published FourCastNet v0: 20 channels, 0.25 degrees (721 rows, the last dropped)
    "paper": FourCastNetConfig(img_size=(720, 1440), patch_size=8, in_chans=20, out_chans=20, embed_dim=768, depth=12, variables=VARIABLES_V0),
    # FourCastNet v1: the same backbone on 26 channels
    "paper_v1": FourCastNetConfig(img_size=(720, 1440), patch_size=8, in_chans=26, out_chans=26, embed_dim=768, depth=12, variables=VARIABLES_V1),
    # PrecipNet: total precipitation (1 channel) diagnosed from the 20 v0 channels
    "precip": FourCastNetConfig(img_size=(720, 1440), patch_size=8, in_chans=20, out_chans=1, embed_dim=768, depth=12, precip=True, variables=VARIABLES_V0),
}
