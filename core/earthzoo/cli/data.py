"""``earthzoo data list``, ``earthzoo data make`` and ``earthzoo evaluate``."""

from __future__ import annotations

import click

from ..errors import EarthzooError
from ..registry import get_registry
from . import app
from .output import emit_json, table


@app.group()
def data() -> None:
    """Data sources: embedded synthetic data and readers of real archives."""


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def data_list(as_json: bool) -> None:
    """List the registered data sources."""

    reg = get_registry()
    cards = [reg.datasources[n] for n in sorted(reg.datasources)]
    if as_json:
        emit_json([c.to_json() for c in cards])
        return
    table(
        "data sources",
        ["name", "kind", "embedded", "step", "summary"],
        [(c.name, c.kind, "yes" if c.embedded else "", c.time_step, c.summary) for c in cards],
    )


@data.command("make")
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=True), help="Output file: .nc (NetCDF) or .zarr.")
@click.option("--size", default="tiny", show_default=True, help="tiny or small (embedded sources).")
@click.option("--path", "path", default=None, help="Input file or folder (readers of real archives).")
@click.option("--seed", default=None, type=int, help="Random seed (embedded sources).")
@click.option("--option", "-o", "options", multiple=True, help="Extra opener option KEY=VALUE (e.g. -o steps=40, -o days=30).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def data_make(name: str, out: str, size: str, path: str | None, seed: int | None, options: tuple[str, ...], as_json: bool) -> None:
    """Make (or convert) data source NAME into the earthzoo form at --out."""
    import numpy as np

    from ..data import check_dataset, open_source, write_dataset

    card = get_registry().datasource(name)
    kwargs = dict(_parse_option(o) for o in options)
    if card.embedded:
        kwargs["size"] = size
        if seed is not None:
            kwargs["seed"] = seed
    ds = open_source(name, path, **kwargs)
    check_dataset(ds, what=name)
    if not out.endswith((".nc", ".zarr")):
        raise EarthzooError(f"output {out!r} has no .nc or .zarr suffix", "name the output file like data.nc or data.zarr")
    write_dataset(ds, out)
    summary = {
        "source": name,
        "out": out,
        "time": int(ds.sizes["time"]),
        "channels": [str(c) for c in ds["channel"].values],
        "lat": int(ds.sizes["lat"]),
        "lon": int(ds.sizes["lon"]),
        "start": str(np.datetime_as_string(ds["time"].values[0], unit="h")),
        "end": str(np.datetime_as_string(ds["time"].values[-1], unit="h")),
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"wrote {out}: {summary['time']} times x {len(summary['channels'])} channels x {summary['lat']}x{summary['lon']} ({summary['start']} .. {summary['end']})"
        )


def _parse_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise EarthzooError(f"option {text!r} is not KEY=VALUE", "write options like -o steps=40")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


@app.command()
@click.argument("forecast", type=click.Path())
@click.argument("truth")
@click.option(
    "--climatology",
    "clim",
    default=None,
    type=click.Path(),
    help="Climatology file (from earthzoo.data.climatology); default: the truth's time mean.",
)
@click.option("--skipna", is_flag=True, help="Score only the finite points (NaN/inf are an error without it) and report how many were skipped.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: lead_time_hours, skipped_points and metrics[forecast|persistence|climatology][channel][rmse|acc|bias].",
)
def evaluate(forecast: str, truth: str, clim: str | None, skipna: bool, as_json: bool) -> None:
    """Score FORECAST (init_time, lead_time, channel, lat, lon) against TRUTH
    (a data file, a data source name, or name:size as train takes): latitude-weighted
    RMSE, ACC and bias per channel and lead, with persistence and climatology."""
    from ..data import read_dataset
    from ..metrics import NonFiniteError
    from ..metrics import evaluate as run
    from ..training.data import open_source

    fc = read_dataset(forecast, load=True)
    tr = open_source(truth, check=False).load()  # a file, a source name or name:size, as train and forecast take it; checked by the scoring
    cl = read_dataset(clim, load=True) if clim else None
    try:
        result = run(fc, tr, cl, skipna=skipna)
    except NonFiniteError as exc:
        raise EarthzooError(exc.problem, "fill them, or add --skipna to score the finite points only") from None
    if skipna:
        click.echo(f"note: --skipna skipped {result['skipped_points']} NaN/inf point(s); scores use the other {result['scored_points']}", err=True)
    if as_json:
        emit_json(result)
        return
    leads = result["lead_time_hours"]
    for ch in result["channels"]:
        rows = []
        for i, h in enumerate(leads):
            m = result["metrics"]
            rows.append([f"{h:g}", *(_fmt(m[k][ch][s][i]) for k in ("forecast", "persistence", "climatology") for s in ("rmse", "acc"))])
        table(f"{ch}", ["lead h", "rmse", "acc", "persist rmse", "persist acc", "clim rmse", "clim acc"], rows)


def _fmt(v):
    return "-" if v is None else f"{v:.4g}"
