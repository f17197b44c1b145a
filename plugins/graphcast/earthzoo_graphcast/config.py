"""GraphCast configuration: DeepMind's ModelConfig + TaskConfig fields, plus the
grid earthzoo runs it on (equiangular, both poles, north to south).

The channel layout follows DeepMind's rule: input variables in sorted name
order, each stacked (time, level) with time major; static fields are one
channel; forcings follow at the target time. Outputs: target variables sorted,
levels stacked."""

from __future__ import annotations

from dataclasses import dataclass

from earthzoo.errors import EarthzooError

# Variables with a pressure-level dimension in DeepMind's task configs.
ATMOSPHERIC = frozenset({"temperature", "geopotential", "u_component_of_wind", "v_component_of_wind", "vertical_velocity", "specific_humidity"})
# Variables without a time dimension (one channel).
STATIC = frozenset({"land_sea_mask", "geopotential_at_surface"})

LEVELS_37 = (1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 125, 150, 175, 200, 225, 250, 300, 350, 400, 450, 500, 550, 600, 650, 700, 750, 775, 800, 825, 850, 875, 900, 925, 950, 975, 1000)

_PAPER_TARGETS = ("2m_temperature", "mean_sea_level_pressure", "10m_v_component_of_wind", "10m_u_component_of_wind", "total_precipitation_6hr", "temperature", "geopotential", "u_component_of_wind", "v_component_of_wind", "vertical_velocity", "specific_humidity")
_PAPER_FORCINGS = ("toa_incident_solar_radiation", "year_progress_sin", "year_progress_cos", "day_progress_sin", "day_progress_cos")


@dataclass(frozen=True)
class GraphCastConfig:
    """Fields named as in DeepMind's ModelConfig/TaskConfig so a checkpoint's
    config maps 1:1; ``n_lat``/``n_lon`` fix the grid (lat 90 -> -90)."""

    # ModelConfig
    resolution: float = 10.0
    mesh_size: int = 2
    latent_size: int = 32
    gnn_msg_steps: int = 3
    hidden_layers: int = 1
    radius_query_fraction_edge_length: float = 0.6
    mesh2grid_edge_normalization_factor: float | None = None
    # TaskConfig
    input_variables: tuple[str, ...] = ("2m_temperature", "temperature", "toa_incident_solar_radiation", "land_sea_mask")
    target_variables: tuple[str, ...] = ("2m_temperature", "temperature")
    forcing_variables: tuple[str, ...] = ("toa_incident_solar_radiation",)
    pressure_levels: tuple[int, ...] = (500, 850)
    input_duration: str = "12h"
    # earthzoo
    n_lat: int = 19
    n_lon: int = 36
    time_step_hours: int = 6
    residual: bool = False  # add the prediction to the last input state of each target channel

    @classmethod
    def preset(cls, name: str) -> "GraphCastConfig":
        if name == "tiny":  # the golden fixture's config
            return cls()
        if name == "tiny-synthetic":
            # the tiny size of the embedded synthetic shallow-water atmosphere (33x64 with
            # both poles, 5.625 deg; z, u, v, vort, div), at tiny's widths; ``tiny`` stays
            # the golden fixture's config, which that data cannot feed (19x36, 10 channels)
            v = ("z", "u", "v", "vort", "div")
            return cls(resolution=5.625, mesh_size=3, input_variables=v, target_variables=v, forcing_variables=(), pressure_levels=(), input_duration="6h", n_lat=33, n_lon=64, residual=True)
        if name == "small":
            # CPU demo on the embedded synthetic shallow-water atmosphere ("small": 65x128
            # with both poles, 2.8125 deg; channels z, u, v, vort). One input time, the
            # same variables in and out, so channel i maps to channel i whatever the names.
            v = ("z", "u", "v", "vort")
            return cls(resolution=2.8125, mesh_size=4, latent_size=96, gnn_msg_steps=8, input_variables=v, target_variables=v, forcing_variables=(), pressure_levels=(), input_duration="6h", n_lat=65, n_lon=128, residual=True)
        if name == "paper":  # GraphCast 0.25 deg, 37 levels
            # The ERA5 GraphCast: 471 grid inputs (+3 structural = 474 node features), 227 outputs.
            inputs = _PAPER_TARGETS + _PAPER_FORCINGS + ("geopotential_at_surface", "land_sea_mask")
            return cls(resolution=0.25, mesh_size=6, latent_size=512, gnn_msg_steps=16, input_variables=inputs, target_variables=_PAPER_TARGETS, forcing_variables=_PAPER_FORCINGS, pressure_levels=LEVELS_37, input_duration="12h", n_lat=721, n_lon=1440)
        raise EarthzooError(f"graphcast has no preset {name!r}", "use one of: tiny, tiny-synthetic, small, paper")

    # ------------------------------------------------------------------ channels

    @property
    def input_times(self) -> int:
        hours = _hours(self.input_duration)
        if hours % self.time_step_hours:
            raise EarthzooError(f"input_duration {self.input_duration!r} is not a multiple of the {self.time_step_hours} h step", "use a multiple of the time step, e.g. '12h'")
        return hours // self.time_step_hours

    def _levels(self, var: str) -> tuple:
        return tuple(self.pressure_levels) if var in ATMOSPHERIC else (None,)

    def input_channels(self) -> list[tuple[str, str, int | None, int | None]]:
        """(kind, variable, time, level) of every grid input channel, in DeepMind's order."""
        out = []
        for var in sorted(self.input_variables):
            if var in STATIC:
                out.append(("static", var, None, None))
                continue
            for t in range(self.input_times):
                out += [("input", var, t, lev) for lev in self._levels(var)]
        for var in sorted(self.forcing_variables):
            out += [("forcing", var, 0, lev) for lev in self._levels(var)]
        return out

    def output_channels(self) -> list[tuple[str, int | None]]:
        return [(var, lev) for var in sorted(self.target_variables) for lev in self._levels(var)]

    @property
    def in_channels(self) -> int:
        return len(self.input_channels())

    @property
    def out_channels(self) -> int:
        return len(self.output_channels())

    def residual_index(self) -> list[int]:
        """For each output channel, the input channel holding its last input time."""
        pos = {(k, v, t, lev): i for i, (k, v, t, lev) in enumerate(self.input_channels())}
        last = self.input_times - 1
        idx = []
        for var, lev in self.output_channels():
            key = ("input", var, last, lev)
            if key not in pos:
                raise EarthzooError(f"residual prediction needs target {var!r} among the input variables", "add it to input_variables or set residual=False")
            idx.append(pos[key])
        return idx

    def channel_names(self) -> list[str]:
        def name(v, t, lev):
            parts = [f"time={t}"] if t is not None else []
            parts += [f"level={lev}"] if lev is not None else []
            return f"{v}[{','.join(parts)}]" if parts else v

        return [("forcing:" if k == "forcing" else "") + name(v, t, lev) for k, v, t, lev in self.input_channels()]

    def latitudes(self):
        """Grid latitudes, north to south, both poles."""
        import numpy as np

        return np.linspace(90.0, -90.0, self.n_lat)

    def longitudes(self):
        import numpy as np

        return np.arange(self.n_lon) * (360.0 / self.n_lon)


def _hours(duration: str) -> int:
    s = str(duration).strip().lower()
    try:
        if s.endswith("h"):
            return int(s[:-1])
        if s.endswith("d"):
            return 24 * int(s[:-1])
        return int(s)
    except ValueError:
        raise EarthzooError(f"cannot read input_duration {duration!r}", "write it as hours, e.g. '12h'") from None


# ---------------------------------------------------------------------- card helpers


def example_input(config: GraphCastConfig, batch: int = 1, seed: int = 0):
    """A normalised random input (B, C_in, lat, lon), float32; static channels equal across the batch."""
    import numpy as np

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
    import numpy as np

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
    import numpy as np

    if not config.residual or len(change_std) != config.out_channels:
        return {}
    last = f"decoder.output_mlp.linear_{config.hidden_layers}"
    s = np.asarray(change_std, np.float32)
    return {f"{last}.weight": state[f"{last}.weight"] * s[:, None], f"{last}.bias": state[f"{last}.bias"] * s}
