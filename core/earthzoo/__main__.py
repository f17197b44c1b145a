"""``python -m earthzoo`` runs the CLI."""

from .cli import run

run()
