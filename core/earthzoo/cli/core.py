"""Core commands: plugins, models, backends, doctor, convert."""

from __future__ import annotations

import click

from ..registry import get_registry, plugin_records
from . import app
from .output import emit_json, table

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


@app.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins, their hooks, and any that failed to load."""
    app.add_plugin_commands()  # their failures are part of the report
    records = plugin_records()
    if as_json:
        emit_json([r.to_json() for r in records])
        return
    table("earthzoo plugins", ["name", "version", "status", "hooks / error"], [(r.name, r.version, r.status, r.error or ", ".join(h.removeprefix("earthzoo_") for h in r.hooks)) for r in records])


@app.command()
@click.argument("pattern", default="*")
@json_option
def models(pattern: str, as_json: bool) -> None:
    """List installed models (their cards); PATTERN is a wildcard such as 'four*'."""
    cards = get_registry().match_models(pattern)
    for r in plugin_records():  # a model may be missing because its plugin failed: say so
        if r.status == "failed":
            click.echo(f"note: plugin {r.name!r} failed to load ({r.error}); see `earthzoo plugins`", err=True)
    if as_json:
        emit_json([c.to_json() for c in cards])
        return
    table("earthzoo models", ["name", "kind", "frameworks", "presets", "time step", "summary"], [(c.name, c.kind, ",".join(c.frameworks), ",".join(c.presets), c.time_step, c.summary) for c in cards])


@app.command()
@json_option
def backends(as_json: bool) -> None:
    """List chip backends: availability, devices, frameworks, energy method."""
    rows = [c.to_json() for _, c in sorted(get_registry().backends.items())]
    if as_json:
        emit_json(rows)
        return
    table("earthzoo backends", ["name", "available", "devices", "frameworks", "energy", "note"], [(r["name"], "yes" if r["available"] else "no", ", ".join(r["devices"]), ",".join(r["frameworks"]), r["energy_method"], r["reason"]) for r in rows])


@app.command()
@json_option
def doctor(as_json: bool) -> None:
    """Check the installation: versions, pins, plugins, backends."""
    from ..doctor import run_checks

    checks = run_checks()
    if as_json:
        emit_json(checks)
    else:
        table("earthzoo doctor", ["check", "status", "detail"], [(c["check"], c["status"], c["detail"]) for c in checks])
    if any(c["status"] == "fail" for c in checks):
        raise click.exceptions.Exit(1)


config_option = click.option("--config", "config_pairs", multiple=True, metavar="KEY=VALUE", help="Set a config field over the file's and the preset's (repeatable; tuples comma-separated).")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")


@app.command()
@click.argument("src")
@click.argument("dst")
@click.option("--model", "-m", required=True, help="Model the weights belong to.")
@click.option("--from", "src_format", default=None, help="safetensors, torch, mindspore, or a model's original format (see `earthzoo models --json`); default: detected from the content.")
@click.option("--to", "dst_format", default=None, help="safetensors, torch, mindspore or an original format; default: from DST's suffix.")
@click.option("--preset", default=None, help="Config preset the weights were made at, for the fields the file does not say.")
@click.option("--original", default=None, help="The published checkpoint SRC must be (see `earthzoo models NAME --json`, originals); its preset is the default.")
@config_option
@click.option("--verify", "check", is_flag=True, help="Read DST back and compare tensors, extras and attrs.")
@click.option("--means", default=None, help="Per-channel means (.npy, e.g. FourCastNet's global_means.npy) to store as the weights' normalisation.")
@click.option("--stds", default=None, help="Per-channel standard deviations (.npy), with --means.")
@overwrite_option
@click.option("--drop-extras", is_flag=True, help="Drop what DST's format has no place for (normalisation, an optimizer state) instead of writing DST.extras.npz.")
@json_option
def convert(src, dst, model, src_format, dst_format, preset, original, config_pairs, check, means, stds, overwrite, drop_extras, as_json) -> None:
    """Convert weights SRC -> DST between canonical safetensors, torch, MindSpore and
    original checkpoint formats; DST is written atomically, each config field's source is reported."""
    from ..convert import convert as run
    from ..convert import describe_config

    config = get_registry().model(model).parse_config(config_pairs)
    report = run(src, dst, model, src_format, dst_format, preset, check, means, stds, config, overwrite, drop_extras, original)
    if as_json:
        emit_json(report)
        return
    click.echo(f"wrote {report['dst']} ({report['to']}, {report['tensors']} tensors, {report['parameters']:,} parameters)")
    for f in report["files"][1:]:
        if f != report["sidecar"]:
            click.echo(f"wrote {f}")
    if report["sidecar"]:
        click.echo(f"wrote {report['sidecar']}: what {report['to']} has no place for (extras, attrs, config); it is read back with {report['dst']}")
    if report["extras"] or report["attrs"]:
        click.echo(f"kept: extras {', '.join(report['extras']) or '(none)'}; attrs {', '.join(report['attrs']) or '(none)'}")
    if report["dropped"]:
        click.echo(f"dropped (--drop-extras): {', '.join(report['dropped'])}")
    click.echo("config:")
    for text in describe_config(report):
        click.echo(text)
    for note in report["notes"]:
        click.echo(f"note: {note}")
    if "verify" in report:
        v = report["verify"]
        click.echo(f"verified bit-exact: {v['compared']} tensors, {len(v['extras_compared'])} extras ({', '.join(v['extras_compared']) or 'none'}), "
                   f"{len(v['attrs_compared'])} attrs{'' if 'config' in report['dropped'] else ' and the config'}")
