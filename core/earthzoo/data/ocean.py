"""Embedded synthetic ocean in the AI-GOMS layout, made by dynamics.

A wind-driven reduced-gravity shallow-water layer (one active upper layer of
mean thickness H over a resting deep ocean, on the sphere, with Coriolis,
Rayleigh friction and viscosity, no flow through coasts) drives surface
temperature and salinity, which are advected (upwind) by the layer plus
Ekman currents and relaxed towards seasonal climatologies. The vertical
structure follows the layer: temperature, salinity and currents at each depth
level depend on the local thermocline depth H + h, so a Rossby wave that
deepens the thermocline shows at depth. SSH is (g'/g) h. The land mask is a
coarse analytic map of the real continents (polygons below), with the polar
caps above 80 N (sea ice) and below 70 S (Antarctica) as land.

Forcing channels (u10, v10, t2m, msl, sp) are prescribed analytic weather:
seasonally shifting trade winds and westerlies plus eastward-travelling
mid-latitude waves; they drive the wind stress. ``orography`` is static.

Sizes (cell-centred grid, no pole rows; daily records):

=======  =========  ======  =============================  ==========
size     grid       dlat    depth levels (m)               records
=======  =========  ======  =============================  ==========
tiny     32 x 64    5.625   0, 10, 50, 200                 90 days
small    64 x 128   2.8125  0, 10, 30, 100, 300            730 days
=======  =========  ======  =============================  ==========

``small`` spans two years so that its training split (the first 70%) holds a whole
seasonal cycle: with 240 days the test split fell in a season the training split
never saw (mean surface dT/dt -0.004 vs +0.003 K/day) and a trained AI-GOMS was 3.4x
worse than persistence on T there while 2.6x better on training-period days.

Channels in the AI-GOMS order: t_*, s_*, u_*, v_* (by depth), ssh (the
prognostic set), then u10, v10, t2m, msl, sp (forcing), then orography
(static). Ocean channels are 0 over land; ``ocean_mask`` marks the ocean."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EarthzooError
from .form import make_dataset, regular_lat, regular_lon

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"nlat": 32, "nlon": 64, "days": 90, "depths": (0.0, 10.0, 50.0, 200.0), "dt_hours": 3},
    "small": {"nlat": 64, "nlon": 128, "days": 730, "depths": (0.0, 10.0, 30.0, 100.0, 300.0), "dt_hours": 2},
}
FORCING = ("u10", "v10", "t2m", "msl", "sp")
STATIC = ("orography",)
START = np.datetime64("2000-01-01T00:00", "ns")

R_EARTH = 6.371e6
OMEGA = 7.292e-5
G = 9.81
RHO0 = 1025.0

# Coarse continent outlines, (lon, lat) in degrees east/north.
CONTINENTS = {
    "north_america": [
        (-168, 66),
        (-156, 71),
        (-125, 70),
        (-95, 72),
        (-80, 73),
        (-62, 60),
        (-55, 52),
        (-66, 45),
        (-76, 35),
        (-81, 25),
        (-97, 26),
        (-97, 18),
        (-88, 15),
        (-83, 9),
        (-78, 8),
        (-92, 15),
        (-105, 20),
        (-117, 32),
        (-124, 40),
        (-125, 49),
        (-140, 60),
        (-165, 60),
    ],
    "south_america": [
        (-80, 10),
        (-60, 10),
        (-50, 0),
        (-35, -6),
        (-40, -22),
        (-48, -28),
        (-58, -38),
        (-65, -55),
        (-72, -52),
        (-75, -40),
        (-71, -18),
        (-81, -6),
    ],
    "africa": [
        (-17, 21),
        (-6, 36),
        (10, 37),
        (32, 31),
        (43, 12),
        (51, 12),
        (40, -5),
        (40, -15),
        (33, -26),
        (20, -35),
        (12, -18),
        (9, 0),
        (-8, 4),
        (-17, 14),
    ],
    "eurasia": [
        (-10, 36),
        (-10, 44),
        (-5, 48),
        (5, 52),
        (8, 58),
        (5, 62),
        (20, 70),
        (40, 68),
        (70, 73),
        (100, 78),
        (140, 72),
        (180, 68),
        (180, 62),
        (160, 60),
        (142, 50),
        (130, 42),
        (122, 30),
        (120, 22),
        (108, 18),
        (105, 8),
        (100, 2),
        (98, 16),
        (92, 22),
        (80, 10),
        (73, 20),
        (67, 25),
        (57, 25),
        (55, 22),
        (45, 13),
        (35, 28),
        (34, 32),
        (28, 36),
        (20, 40),
        (12, 44),
        (0, 38),
    ],
    "australia": [
        (114, -22),
        (123, -17),
        (131, -12),
        (137, -12),
        (142, -11),
        (146, -19),
        (153, -27),
        (150, -37),
        (140, -38),
        (131, -31),
        (116, -35),
    ],
    "greenland": [(-73, 78), (-60, 82), (-30, 83), (-20, 75), (-40, 65), (-45, 60), (-52, 64)],
}
# Mountain ranges: (lon, lat, height m, half-width deg).
MOUNTAINS = [
    (-110, 45, 2000, 8),
    (-70, -20, 3000, 5),
    (85, 32, 4500, 8),
    (35, 0, 1200, 10),
    (100, 60, 800, 15),
    (-40, 75, 2000, 8),
    (130, -25, 400, 12),
]


def params(
    size: str = "tiny", *, days: int | None = None, seed: int = 0, spinup_days: int = 120, gprime: float = 0.03, layer_depth: float = 400.0
) -> dict[str, Any]:
    """Every parameter that changes the numbers (the cache key)."""
    if size not in SIZES:
        raise EarthzooError(f"unknown size {size!r} for synthetic-ocean", f"use one of: {', '.join(SIZES)}")
    p = dict(SIZES[size])
    p["depths"] = list(p["depths"])
    if days is not None:
        if int(days) < 2:
            raise EarthzooError(f"days={days} is too short", "ask for at least 2 days")
        p["days"] = int(days)
    p.update(size=size, seed=int(seed), spinup_days=int(spinup_days), gprime=float(gprime), layer_depth=float(layer_depth))
    return p


def _inside(lon: np.ndarray, lat: np.ndarray, poly: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd ray casting; ``lon`` in [-180, 180)."""
    inside = np.zeros(lon.shape, dtype=bool)
    n = len(poly)
    for k in range(n):
        x1, y1 = poly[k]
        x2, y2 = poly[(k + 1) % n]
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (lon < xint)
    return inside


def land_mask(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True over land on the (lat, lon) grid (degrees; lon in [0, 360))."""
    la, lo = np.meshgrid(lat, ((np.asarray(lon) + 180.0) % 360.0) - 180.0, indexing="ij")
    land = (la > 80.0) | (la < -70.0)
    for poly in CONTINENTS.values():
        land |= _inside(lo, la, poly)
    return land


def orography(lat: np.ndarray, lon: np.ndarray, land: np.ndarray) -> np.ndarray:
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    h = np.full(la.shape, 150.0)
    for mlon, mlat, height, width in MOUNTAINS:
        dlon = ((lo - mlon + 180.0) % 360.0) - 180.0
        h += height * np.exp(-((dlon * np.cos(np.deg2rad(mlat))) ** 2 + (la - mlat) ** 2) / width**2)
    h = np.where(la < -70.0, 2500.0 * np.clip((-70.0 - la) / 10.0, 0.2, 1.0), h)
    return np.where(land, h, 0.0)


class _Grid:
    """Finite differences on the collocated lat-lon grid; rows run north -> south."""

    def __init__(self, lat_deg: np.ndarray, lon_deg: np.ndarray, ocean: np.ndarray):
        self.phi = np.deg2rad(lat_deg)[:, None]
        self.cos = np.cos(self.phi)
        dlam = np.deg2rad(lon_deg[1] - lon_deg[0])
        self.dx = R_EARTH * self.cos * dlam
        self.dy = R_EARTH * np.deg2rad(abs(lat_deg[0] - lat_deg[1]))
        self.ocean = ocean
        self.f = 2 * OMEGA * np.sin(self.phi)

    @staticmethod
    def _north(a):
        return np.concatenate([a[:1], a[:-1]], axis=0)

    @staticmethod
    def _south(a):
        return np.concatenate([a[1:], a[-1:]], axis=0)

    def neighbours(self, a, coast_value=None):
        """(east, west, north, south) values; land neighbours replaced by ``coast_value`` (default: the centre)."""
        out = []
        for b, m in (
            (np.roll(a, -1, 1), np.roll(self.ocean, -1, 1)),
            (np.roll(a, 1, 1), np.roll(self.ocean, 1, 1)),
            (self._north(a), self._north(self.ocean)),
            (self._south(a), self._south(self.ocean)),
        ):
            out.append(np.where(m, b, a if coast_value is None else coast_value))
        return out

    def grad(self, a):
        """Centred gradient with land values 0: the negative adjoint of ``div``, so the
        pressure-divergence pair conserves energy (a coast-copy rule made it grow)."""
        e, w, n, s = self.neighbours(a, 0.0)
        return (e - w) / (2 * self.dx), (n - s) / (2 * self.dy)

    def div(self, u, v):
        e, w, _, _ = self.neighbours(u, 0.0)
        _, _, n, s = self.neighbours(v * self.cos, 0.0)
        return (e - w) / (2 * self.dx) + (n - s) / (2 * self.dy * self.cos)

    def lap(self, a, coast_value=None):
        e, w, n, s = self.neighbours(a, coast_value)
        return (e + w - 2 * a) / self.dx**2 + (n + s - 2 * a) / self.dy**2

    def smooth(self, a, weight=0.1):
        """A mild mask-aware 1-2-1 filter against the collocated grid's 2-dx mode."""
        e, w, n, s = self.neighbours(a)
        return a + weight * (e + w + n + s - 4 * a) / 4

    def upwind(self, q, u, v):
        """-u . grad(q) with first-order upwinding (monotone, so tracers stay in range)."""
        e, w, n, s = self.neighbours(q)
        dqx = np.where(u > 0, q - w, e - q) / self.dx
        dqy = np.where(v > 0, q - s, n - q) / self.dy
        return -(u * dqx + v * dqy)


def _weather(p, lat, lon, day: float, rng_phase):
    """Analytic forcing at time ``day`` (days since start): (u10, v10, t2m, msl, sp) without orography terms."""
    la, lo = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    season = np.sin(2 * np.pi * (day - 80.0) / 365.25)  # +1 in northern summer
    shifted = la - np.deg2rad(6.0) * season
    u_mean = -7.0 * np.cos(3.0 * shifted) * np.cos(shifted)  # trades, westerlies, polar easterlies
    env = np.exp(-(((np.abs(np.rad2deg(la)) - 45.0) / 15.0) ** 2))
    u_syn = np.zeros_like(la)
    v_syn = np.zeros_like(la)
    p_syn = np.zeros_like(la)
    for (k, period, amp), ph in zip(((5, 6.0, 5.0), (3, 11.0, 4.0), (7, 4.0, 3.0)), rng_phase):
        theta = k * lo - 2 * np.pi * day / period + ph
        u_syn += amp * env * np.sin(theta)
        v_syn += amp * env * np.cos(theta)
        p_syn += 250.0 * amp * env * np.sin(theta - np.pi / 2) * np.sign(la)
    sst_star = _sst_star(la, day)
    t2m = 273.15 + sst_star - 1.0 - 4.0 * season * np.sin(la) * (np.abs(la) > np.deg2rad(15))
    msl = (
        101325.0
        + 900.0 * np.cos(2 * shifted) * np.exp(-(((np.abs(shifted) - np.deg2rad(30)) / np.deg2rad(20)) ** 2))
        - 600.0 * np.exp(-(((np.abs(shifted) - np.deg2rad(60)) / np.deg2rad(12)) ** 2))
        + p_syn
    )
    return u_mean + u_syn, v_syn, t2m, msl


def _sst_star(la, day):
    season = np.sin(2 * np.pi * (day - 80.0) / 365.25)
    return -1.5 + 29.5 * np.cos(np.clip(la - np.deg2rad(5.0) * season, -np.pi / 2, np.pi / 2)) ** 2


def _sss_star(la):
    return (
        34.6
        + 1.3 * np.exp(-(((np.abs(np.rad2deg(la)) - 25.0) / 12.0) ** 2))
        - 1.0 * np.exp(-(((np.rad2deg(la) - 5.0) / 6.0) ** 2))
        - 1.2 * (np.abs(np.rad2deg(la)) > 55)
    )


def generate(p: dict[str, Any], progress=None):
    """Spin up, then record one snapshot per day; returns the internal-form dataset;
    ``progress(done, total)`` after each recorded day."""
    nlat, nlon = p["nlat"], p["nlon"]
    lat, lon = regular_lat(nlat, poles=False), regular_lon(nlon)
    land = land_mask(lat, lon)
    ocean = ~land
    oro = orography(lat, lon, land)
    grid = _Grid(lat, lon, ocean)
    rng = np.random.default_rng(p["seed"])
    phases = rng.uniform(0, 2 * np.pi, size=3)
    H, gp = p["layer_depth"], p["gprime"]
    dt = p["dt_hours"] * 3600.0
    per_day = 24 // p["dt_hours"]
    r_fric = 1.0 / (30 * 86400.0)
    nu = 2.0e4 * (64.0 / nlon) ** 2
    kappa = 1.0e3
    relax = 1.0 / (30 * 86400.0)
    la = grid.phi * np.ones((1, nlon))
    a = grid.f * dt / 2  # Coriolis, trapezoidal (Crank-Nicolson) together with the new pressure gradient
    f_eff = np.where(np.abs(grid.f) < 2e-5, np.where(grid.f >= 0, 2e-5, -2e-5), grid.f)

    h = np.zeros((nlat, nlon))
    u = np.zeros((nlat, nlon))
    v = np.zeros((nlat, nlon))
    # small random eddy field so the start is not perfectly zonal
    h += ocean * rng.normal(0, 2.0, size=h.shape)
    sst = np.where(ocean, _sst_star(la, -p["spinup_days"]), 0.0)
    sss = np.where(ocean, _sss_star(la), 0.0)

    depths = np.asarray(p["depths"], dtype=float)
    nd = len(depths)
    channels = [f"{v}_{d:g}m" for v in "tsuv" for d in depths] + ["ssh", *FORCING, *STATIC]
    out = np.zeros((p["days"], len(channels), nlat, nlon), dtype=np.float32)

    total_steps = (p["spinup_days"] + p["days"] - 1) * per_day
    day0 = -float(p["spinup_days"])
    record = 0
    for step in range(total_steps + 1):
        day = day0 + step * dt / 86400.0
        u10, v10, t2m, msl = _weather(p, lat, lon, day, phases)
        speed = np.hypot(u10, v10)
        taux, tauy = 1.2 * 1.3e-3 * speed * u10, 1.2 * 1.3e-3 * speed * v10
        uek = np.clip(tauy / (RHO0 * f_eff * 30.0), -0.3, 0.3) * ocean
        vek = np.clip(-taux / (RHO0 * f_eff * 30.0), -0.3, 0.3) * ocean
        if step % per_day == 0 and step >= p["spinup_days"] * per_day:
            out[record] = _snapshot(h, u, v, sst, sss, uek, vek, u10, v10, t2m, msl, oro, ocean, land, depths, H, gp)
            record += 1
            if progress:
                progress(record, p["days"])
            if record == p["days"]:
                break
        # layer dynamics: forward-backward in time, Coriolis semi-implicit
        h = (h - dt * H * grid.div(u, v)) * ocean
        hx, hy = grid.grad(h)
        ru = u + dt * (-gp * hx + taux / (RHO0 * H) - r_fric * u + nu * grid.lap(u, 0.0)) + a * v
        rv = v + dt * (-gp * hy + tauy / (RHO0 * H) - r_fric * v + nu * grid.lap(v, 0.0)) - a * u
        u = (ru + a * rv) / (1 + a * a) * ocean
        v = (rv - a * ru) / (1 + a * a) * ocean
        if step % per_day == 0:
            h, u, v = (grid.smooth(a) * ocean for a in (h, u, v))
        # surface tracers
        us_tot, vs_tot = u + uek, v + vek
        sst = sst + dt * (grid.upwind(sst, us_tot, vs_tot) + kappa * grid.lap(sst) + relax * (_sst_star(la, day) - sst))
        sss = sss + dt * (grid.upwind(sss, us_tot, vs_tot) + kappa * grid.lap(sss) + relax * (_sss_star(la) - sss))
        sst, sss = sst * ocean, sss * ocean
    if record != p["days"] or not np.all(np.isfinite(out)):
        raise EarthzooError("the synthetic ocean integration became unstable", "use a smaller dt_hours or the default parameters")
    times = START + np.arange(p["days"]) * np.timedelta64(1, "D")
    depth_coord = [*depths.tolist() * 4, *[np.nan] * (1 + len(FORCING) + len(STATIC))]
    prognostic = channels[: 4 * nd + 1]
    attrs = {
        "title": "earthzoo synthetic ocean: wind-driven reduced-gravity layer with advected tracers",
        "source": "earthzoo.data.ocean (NumPy finite differences)",
        "time_step_hours": 24,
        "params": str(sorted(p.items())),
    }
    return make_dataset(
        out,
        times,
        channels,
        lat,
        lon,
        depth=depth_coord,
        ocean_mask=ocean,
        prognostic=prognostic,
        forcing=list(FORCING),
        static=list(STATIC),
        attrs=attrs,
    )


def _snapshot(h, u, v, sst, sss, uek, vek, u10, v10, t2m, msl, oro, ocean, land, depths, H, gp):
    """The recorded channels: vertical structure from the local thermocline depth H + h."""
    D = np.maximum(H + h, 50.0)
    chans = []
    t_deep, s_deep = 4.0, 34.7
    for d in depths:
        chans.append((t_deep + (sst - t_deep) * np.exp(-d / (0.5 * D))) * ocean)
    for d in depths:
        chans.append((s_deep + (sss - s_deep) * np.exp(-d / D)) * ocean)
    layer = [0.5 * (1 - np.tanh((d - D) / 50.0)) for d in depths]
    for d, w in zip(depths, layer):
        chans.append((u * w + uek * np.exp(-d / 30.0)) * ocean)
    for d, w in zip(depths, layer):
        chans.append((v * w + vek * np.exp(-d / 30.0)) * ocean)
    chans.append((gp / G) * h * ocean)
    t2m_land = t2m - 6.5e-3 * oro
    msl_sp = msl * np.exp(-oro / 8000.0)
    chans += [u10, v10, np.where(land, t2m_land, t2m), msl, msl_sp, oro]
    return np.stack(chans).astype(np.float32)
