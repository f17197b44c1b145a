"""Embedded synthetic atmosphere: the spherical shallow-water equations.

A real solver, not noise: torch-harmonics' spectral shallow-water solver on an
equiangular lat-lon grid with both poles, north -> south, started from a
random *balanced* state (random vorticity with a red spectrum on top of two
mid-latitude westerly jets, zero divergence, geopotential from the nonlinear
balance equation) and spun up before recording. The jets are barotropically
unstable, so the flow keeps evolving; hyperdiffusion keeps energy bounded.

Sizes (grid = lat x lon, both poles; 6-hourly records):

=======  =========  ======  =========  =====================================
size     grid       dlat    records    solver
=======  =========  ======  =========  =====================================
tiny     33 x 64    5.625   96 (24 d)  lmax 22, dt 900 s (~10 s on 1 core)
small    65 x 128   2.8125  160 (40 d) lmax 32, dt 900 s (~30 s on 1 core)
=======  =========  ======  =========  =====================================

FourCastNet-style models use the first nlat-1 rows (32 / 64), dropping the
south pole row as the original drops the 721st.

Channels: ``z`` (geopotential, m2 s-2), ``u``, ``v`` (m s-1), ``vort`` (s-1),
``div`` (divergence, s-1; the solver's third prognostic variable, the gravity-wave
part of the flow).
The mean depth is 2 km (gravity waves at ~140 m s-1), which keeps the
explicit time step long enough to generate in seconds on a CPU."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import EarthzooError, missing_dependency
from ..pins import pins
from .form import make_dataset

CHANNELS = ("z", "u", "v", "vort", "div")

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"nlat": 33, "nlon": 64, "steps": 96, "dt": 900.0, "lmax": 22},
    "small": {"nlat": 65, "nlon": 128, "steps": 160, "dt": 900.0, "lmax": 32},
}

HOURS_PER_RECORD = 6
START = np.datetime64("2000-01-01T00:00", "ns")


def params(
    size: str = "tiny",
    *,
    steps: int | None = None,
    seed: int = 0,
    spinup_days: float = 2.0,
    havg: float = 2000.0,
    jet_speed: float = 25.0,
    eddy_speed: float = 10.0,
) -> dict[str, Any]:
    """Every parameter that changes the numbers (the cache key)."""
    if size not in SIZES:
        raise EarthzooError(f"unknown size {size!r} for synthetic-atmosphere", f"use one of: {', '.join(SIZES)}")
    p = dict(SIZES[size])
    if steps is not None:
        if int(steps) < 2:
            raise EarthzooError(f"steps={steps} is too short", "ask for at least 2 time steps")
        p["steps"] = int(steps)
    p.update(
        size=size,
        seed=int(seed),
        spinup_days=float(spinup_days),
        havg=float(havg),
        jet_speed=float(jet_speed),
        eddy_speed=float(eddy_speed),
    )
    return p


def generate(p: dict[str, Any], progress=None) -> Any:
    """Integrate and return the internal-form dataset (torch imported here only);
    ``progress(done, total)`` after each recorded time."""
    try:
        import torch
        from torch_harmonics.examples.shallow_water_equations import ShallowWaterSolver
    except ImportError as exc:
        raise missing_dependency(
            exc.name or "torch_harmonics", f"'earthzoo[synthetic]' ({pins()['torch-harmonics']} and torch)", "for the synthetic atmosphere"
        ) from exc

    nlat, nlon, dt = p["nlat"], p["nlon"], p["dt"]
    sub = int(round(HOURS_PER_RECORD * 3600 / dt))
    gen = torch.Generator().manual_seed(p["seed"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the transforms are small: one thread is several times faster than two on a shared CPU
    try:
        return _integrate(torch, ShallowWaterSolver, gen, p, nlat, nlon, dt, sub, progress)
    finally:
        torch.set_num_threads(threads)


def _integrate(torch, ShallowWaterSolver, gen, p, nlat, nlon, dt, sub, progress):
    with torch.no_grad():
        solver = ShallowWaterSolver(nlat, nlon, dt, lmax=p["lmax"], mmax=p["lmax"], grid="equiangular", havg=p["havg"], hamp=100.0)
        uspec = _balanced_state(solver, gen, p, torch)
        spin = int(round(p["spinup_days"] * 86400 / dt))
        if spin:
            uspec = solver.timestep(uspec, spin)
        out = np.empty((p["steps"], len(CHANNELS), nlat, nlon), dtype=np.float32)
        for i in range(p["steps"]):
            if i:
                uspec = solver.timestep(uspec, sub)
            out[i] = _grid_fields(solver, uspec)
            if progress:
                progress(i + 1, p["steps"])
        if not np.all(np.isfinite(out)):
            raise EarthzooError(
                "the shallow-water integration became unstable (non-finite values)", "use a smaller dt or a weaker jet_speed"
            )
        lat = np.rad2deg(solver.lats.numpy())
        lon = np.rad2deg(solver.lons.numpy())
    times = START + np.arange(p["steps"]) * np.timedelta64(HOURS_PER_RECORD, "h")
    attrs = {
        "title": "earthzoo synthetic atmosphere: spherical shallow-water equations",
        "source": "torch-harmonics ShallowWaterSolver (spectral, AB3, hyperdiffusion), random balanced initial state",
        "time_step_hours": HOURS_PER_RECORD,
        "params": str(sorted(p.items())),
    }
    return make_dataset(out, times, CHANNELS, lat, lon % 360.0, attrs=attrs)


def _grid_fields(solver, uspec) -> np.ndarray:
    """(z, u, v, vort, div) on the grid from the spectral state (geopotential, vorticity, divergence)."""
    grid = solver.spec2grid(uspec)  # phi, vort, div
    uv = solver.getuv(uspec[1:])
    return np.stack([grid[0].numpy(), uv[0].numpy(), uv[1].numpy(), grid[1].numpy(), grid[2].numpy()]).astype(np.float32)


def _balanced_state(solver, gen, p, torch):
    """Random vorticity (red spectrum) plus two westerly jets; no divergence; the
    geopotential solves the nonlinear balance equation, so the start has no
    spurious gravity-wave burst."""
    lmax, mmax = solver.lmax, solver.mmax
    lats = solver.lats.reshape(-1, 1)
    # zonal jets at +-45 deg
    ujet = p["jet_speed"] * (
        torch.exp(-(((lats - math.radians(45)) / math.radians(10)) ** 2))
        + torch.exp(-(((lats + math.radians(45)) / math.radians(10)) ** 2))
    )
    ugrid = torch.stack([ujet.expand(solver.nlat, solver.nlon), torch.zeros(solver.nlat, solver.nlon, dtype=ujet.dtype)])
    jet_vrtdiv = solver.vrtdivspec(ugrid)
    # random eddies: vorticity spectrum peaked near l = 8
    degree = torch.arange(lmax, dtype=torch.float64).reshape(-1, 1)
    amp = (degree / 8.0) * torch.exp(-((degree / 8.0) ** 2))
    shape = (lmax, mmax)
    noise = torch.complex(torch.randn(shape, generator=gen, dtype=torch.float64), torch.randn(shape, generator=gen, dtype=torch.float64))
    vort = torch.tril(amp * noise)
    vort[:, 0] = vort[:, 0].real.to(vort.dtype)
    eddy = torch.zeros(2, lmax, mmax, dtype=vort.dtype)
    eddy[0] = vort
    uv = solver.getuv(eddy)
    rms = torch.sqrt((uv**2).sum(0).mean())
    eddy = eddy * (p["eddy_speed"] / rms)
    vrtdiv = jet_vrtdiv + eddy
    vrtdiv[1] = 0.0
    ugrid = solver.getuv(vrtdiv)
    vgrid = solver.spec2grid(vrtdiv)
    tmp = solver.vrtdivspec(ugrid * (vgrid[0] + solver.coriolis))
    ke = solver.grid2spec(0.5 * (ugrid**2).sum(0))
    phispec = solver.invlap * tmp[0] - ke
    phispec[0, 0] = 0.0
    phispec = phispec + solver.grid2spec(torch.full((solver.nlat, solver.nlon), float(solver.gravity * solver.havg), dtype=torch.float64))
    uspec = torch.zeros(3, lmax, mmax, dtype=vrtdiv.dtype)
    uspec[0] = phispec
    uspec[1:] = vrtdiv
    return torch.tril(uspec)
