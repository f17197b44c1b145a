"""The ``earthzoo`` command line. Each group of commands lives in its own module,
which imports nothing heavy at module level, so ``earthzoo --help`` stays fast."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from ..errors import EarthzooError


class ZooGroup(click.Group):
    """The earthzoo group. Plugins' commands (``earthzoo_register_commands``) join
    when a name is not one of core's or the commands are listed, so running a core
    command never waits for them."""

    _plugins_added = False

    def add_plugin_commands(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            from ..registry import add_commands

            add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None:
            self.add_plugin_commands()
            command = super().get_command(ctx, name)
        return command


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="earthzoo")
@click.option("--verbose", "-v", is_flag=True, help="Show the frameworks' own log messages (MindSpore's warnings); GLOG_v set by you is kept either way.")
def app(verbose: bool) -> None:
    """A model zoo for atmospheric and oceanic AI: FourCastNet, GraphCast and AI-GOMS
    in PyTorch and MindSpore, on CPU, CUDA, Ascend and DCU, with the same weights."""
    if not verbose:
        quiet_frameworks()


def quiet_frameworks() -> None:
    """MindSpore logs errors only (GLOG_v=3, read when it is imported, so before any
    command runs) unless the user set GLOG_v; the frameworks' Python warnings are hidden."""
    import os
    import warnings

    os.environ.setdefault("GLOG_v", "3")
    for module in ("mindspore", "torch"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")


# Every module of this package except ``output`` adds commands to ``app`` when imported.
for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name != "output":
        importlib.import_module(f"{__name__}.{_module.name}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; an EarthzooError becomes one line on stderr and exit code 2."""
    try:
        app.main(args=argv, prog_name="earthzoo", standalone_mode=False)
    except EarthzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one line too, not click's usage block
        where = exc.ctx.command_path if exc.ctx else "earthzoo"
        print(f"error: {exc.format_message().rstrip('.')} - see `{where} --help`", file=sys.stderr)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def run() -> None:  # pragma: no cover - console entry
    sys.exit(main())
