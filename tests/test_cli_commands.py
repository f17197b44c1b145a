"""earthzoo_register_commands: a throwaway plugin adds a command to the earthzoo CLI;
one that takes a core command's name, or raises, is marked failed and the CLI still runs."""

from __future__ import annotations

import json
import types

import click
import earthzoo.plugins as plugins
import pytest
from earthzoo.cli import main
from earthzoo.plugins import hookimpl


def _plugin(name: str, register) -> types.ModuleType:
    module = types.ModuleType(name)
    module.earthzoo_register_commands = hookimpl(register)
    return module


@pytest.fixture
def fresh_cli(monkeypatch):
    """No installed plugins, and a CLI group that has not yet asked plugins for commands."""
    from earthzoo.cli import app

    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "")
    plugins.reset()
    core = dict(app.commands)
    monkeypatch.setattr(app, "_plugins_added", False)
    yield app
    app.commands.clear()
    app.commands.update(core)
    plugins.reset()


def test_earthzoo_register_commands_adds_a_working_command(fresh_cli, capsys):
    def register(cli):
        @cli.command("hello")
        @click.argument("who")
        def hello(who):
            """Say hello."""
            click.echo(f"hello {who}")

    plugins.register(_plugin("greeter", register), "greeter", "test")
    assert main(["hello", "ocean"]) == 0
    assert capsys.readouterr().out == "hello ocean\n"
    assert main(["--help"]) == 0
    assert "hello" in capsys.readouterr().out


def test_earthzoo_register_commands_taking_a_core_name_marks_the_plugin_failed(fresh_cli, capsys):
    def register(cli):
        @cli.command("train")
        def train():
            click.echo("hijacked")

        @cli.command("extra")
        def extra():
            click.echo("extra")

    plugins.register(_plugin("hijacker", register), "hijacker", "test")
    assert main(["extra"]) == 2  # nothing of a failed plugin is added
    assert "No such command 'extra'" in capsys.readouterr().err
    assert main(["train", "--help"]) == 0
    assert "hijacked" not in capsys.readouterr().out
    assert main(["plugins", "--json"]) == 0
    rec = {r["name"]: r for r in json.loads(capsys.readouterr().out)}["hijacker"]
    assert rec["status"] == "failed" and "train" in rec["error"] and "already exist" in rec["error"]


def test_earthzoo_register_commands_that_raises_is_isolated(fresh_cli, capsys):
    def register(cli):
        raise SystemExit(3)

    plugins.register(_plugin("exiter", register), "exiter", "test")
    assert main(["--help"]) == 0
    assert "models" in capsys.readouterr().out
    assert {r.name: r.status for r in plugins.plugin_records()}["exiter"] == "failed"
