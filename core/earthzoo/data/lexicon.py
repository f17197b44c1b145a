"""The variable lexicon: one entry per field, with the names other tools use.

Every channel has a canonical earthzoo name (``u10``, ``t2m``, ``z500``,
``t_10m`` for ocean temperature at 10 m), units, a long name, a CF
``standard_name`` where one exists, and aliases: ERA5 / ECMWF short names
(``10u``, ``2t``), WeatherBench2 long names (``10m_u_component_of_wind``;
``geopotential`` on level 500 is ``z500``), NVIDIA earth2studio names
(``u10m``, ``t2m``, ``z500``) and HYCOM's (``water_temp``). Readers, writers,
cards and the earth2studio adapter all look names up here.

One clash is resolved in earthzoo's favour: ``u100``/``v100`` are the 100 m
winds (FourCastNet's names; earth2studio ``u100m``), not 100 hPa."""

from __future__ import annotations

import re
from dataclasses import dataclass

# canonical: (units, long name, CF standard_name, ERA5 short, WeatherBench2 long, earth2studio)
SURFACE = {
    "u10": ("m s-1", "10 m eastward wind", "eastward_wind", "10u", "10m_u_component_of_wind", "u10m"),
    "v10": ("m s-1", "10 m northward wind", "northward_wind", "10v", "10m_v_component_of_wind", "v10m"),
    "u100": ("m s-1", "100 m eastward wind", "eastward_wind", "100u", "100m_u_component_of_wind", "u100m"),
    "v100": ("m s-1", "100 m northward wind", "northward_wind", "100v", "100m_v_component_of_wind", "v100m"),
    "t2m": ("K", "2 m temperature", "air_temperature", "2t", "2m_temperature", "t2m"),
    "sp": ("Pa", "surface pressure", "surface_air_pressure", "sp", "surface_pressure", "sp"),
    "msl": ("Pa", "mean sea level pressure", "air_pressure_at_mean_sea_level", "msl", "mean_sea_level_pressure", "msl"),
    "tcwv": ("kg m-2", "total column water vapour", "atmosphere_mass_content_of_water_vapor", "tcwv", "total_column_water_vapour", "tcwv"),
    "tp": ("m", "6-hourly total precipitation", "lwe_thickness_of_precipitation_amount", "tp", "total_precipitation_6hr", "tp06"),
    "orography": ("m", "surface height above sea level", "surface_altitude", "orog", "geopotential_at_surface", ""),
    "ssh": ("m", "sea surface height", "sea_surface_height_above_geoid", "zos", "surf_el", ""),
    "vort": ("s-1", "relative vorticity", "atmosphere_relative_vorticity", "vo", "", ""),
    "div": ("s-1", "divergence", "divergence_of_wind", "d", "", ""),
}
# on pressure levels (``z500`` = geopotential at 500 hPa); alone (``z``) a single-layer field
LEVELS = {
    "z": ("m2 s-2", "geopotential", "geopotential", "z", "geopotential"),
    "t": ("K", "temperature", "air_temperature", "t", "temperature"),
    "u": ("m s-1", "eastward wind", "eastward_wind", "u", "u_component_of_wind"),
    "v": ("m s-1", "northward wind", "northward_wind", "v", "v_component_of_wind"),
    "q": ("kg kg-1", "specific humidity", "specific_humidity", "q", "specific_humidity"),
    "r": ("%", "relative humidity", "relative_humidity", "r", "relative_humidity"),
    "w": ("Pa s-1", "vertical velocity", "lagrangian_tendency_of_air_pressure", "w", "vertical_velocity"),
}
# on depth levels (``t_10m``): units, long name, standard_name, HYCOM name
OCEAN = {
    "t": ("degC", "sea water temperature", "sea_water_temperature", "water_temp"),
    "s": ("1e-3", "sea water salinity", "sea_water_salinity", "salinity"),
    "u": ("m s-1", "eastward sea water velocity", "eastward_sea_water_velocity", "water_u"),
    "v": ("m s-1", "northward sea water velocity", "northward_sea_water_velocity", "water_v"),
}
LEVEL_DIMS = ("level", "pressure_level", "isobaricInhPa")  # WeatherBench2, CDS, cfgrib: hPa

_LEVELLED = re.compile(r"^([a-z][a-z_]*?)_?(\d+)$")
_DEPTH = re.compile(r"^([tsuv])_(\d+(?:\.\d+)?)m$")


@dataclass(frozen=True)
class Variable:
    """One field: its canonical name and what it is."""

    name: str
    units: str = "1"
    long_name: str = ""
    standard_name: str = ""
    level: float | None = None  # hPa for the atmosphere, m (depth) for the ocean
    era5: str = ""
    wb2: str = ""
    e2s: str = ""

    def attrs(self) -> dict[str, str]:
        """The CF attributes of this field as a variable in a file."""
        out = {"units": self.units, "long_name": self.long_name or self.name}
        if self.standard_name:
            out["standard_name"] = self.standard_name
        return out

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for a in (self.era5, self.wb2, self.e2s) if a and a != self.name))


def _surface(name: str) -> Variable:
    units, long, std, era5, wb2, e2s = SURFACE[name]
    return Variable(name, units, long, std, None, era5, wb2, e2s)


def _levelled(base: str, level: int | None) -> Variable:
    units, long, std, era5, wb2 = LEVELS[base]
    if level is None:
        return Variable(base, units, long, std, None, era5, wb2, "")
    name = f"{base}{level}"
    return Variable(name, units, f"{long} at {level} hPa", std, float(level), f"{era5}{level}", f"{wb2}_{level}", name)


def _ocean(base: str, depth: str) -> Variable:
    units, long, std, hycom = OCEAN[base]
    return Variable(f"{base}_{depth}m", units, f"{long} at {depth} m depth", std, float(depth), "", f"{hycom}_{depth}m", "")


_ALIASES: dict[str, str] = {}
for _name, _row in SURFACE.items():
    for _alias in _row[3:]:
        if _alias and _alias not in SURFACE:
            _ALIASES[_alias] = _name


def lookup(name: str) -> Variable:
    """The entry of ``name`` in any of its spellings; an unknown name is its own
    canonical name with units "1"."""
    name = str(name)
    if name in SURFACE:
        return _surface(name)
    if name in _ALIASES:
        return _surface(_ALIASES[name])
    if name in LEVELS:
        return _levelled(name, None)
    m = _DEPTH.match(name)
    if m:
        return _ocean(m.group(1), m.group(2))
    m = _LEVELLED.match(name)
    if m:
        base = m.group(1)
        base = next((b for b, row in LEVELS.items() if base in (b, row[3], row[4])), base)
        if base in LEVELS:
            return _levelled(base, int(m.group(2)))
    for base, row in LEVELS.items():  # a WeatherBench2 long name without a level
        if name == row[4]:
            return _levelled(base, None)
    for base, row in OCEAN.items():  # a HYCOM name at a depth: water_temp_10m
        if name.startswith(row[3] + "_") and _DEPTH.match(f"{base}_{name[len(row[3]) + 1:]}"):
            return _ocean(base, name[len(row[3]) + 1 : -1])
    return Variable(name, "1", name)


def rank(name: str) -> tuple[int, int]:
    """A stable order of fields named in any spelling: pressure-level fields (by the
    LEVELS table), then single fields (by the SURFACE table), then the rest."""
    v = lookup(name)
    base = v.name.rstrip("0123456789") if v.level is not None and not _DEPTH.match(v.name) else v.name
    if base in LEVELS:
        return (0, list(LEVELS).index(base))
    if base in SURFACE:
        return (1, list(SURFACE).index(base))
    return (2, 0)


def canonical(name: str) -> str:
    """earthzoo's name of a field named in any of the lexicon's spellings."""
    return lookup(name).name


def at_level(name: str, level: float) -> str:
    """The canonical name of field ``name`` (``geopotential``, ``z``) on pressure level ``level`` hPa."""
    base = lookup(name).name
    if base not in LEVELS:
        return f"{base}{int(level)}"
    return _levelled(base, int(level)).name


def e2s_name(name: str) -> str:
    """earth2studio's name of an earthzoo channel (its own name where earth2studio has none)."""
    v = lookup(name)
    return v.e2s or v.name


def from_e2s(name: str) -> str:
    """earthzoo's name of an earth2studio variable."""
    return canonical(name)
