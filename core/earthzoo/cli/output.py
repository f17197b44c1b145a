"""Shared CLI output: JSON for machines, rich tables for people, progress bars
that fall back to plain lines when stdout is not a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from ..files import json_text


def emit_json(obj: Any) -> None:
    sys.stdout.write(json_text(obj, indent=2) + "\n")




def console():
    from rich.console import Console

    return Console(highlight=False)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console().print(t)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Any]:
    """Yield ``advance(n=1, **info)``: a rich bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False) as bar:
            task = bar.add_task(description, total=total, info="")

            def advance(n: int = 1, **info: Any) -> None:
                bar.update(task, advance=n, info=" ".join(f"{k}={_fmt(v)}" for k, v in info.items()))

            yield advance
    else:
        done = 0
        every = max(1, total // 10) if total else 50  # about ten lines, or one per 50 when the total is unknown

        def advance(n: int = 1, **info: Any) -> None:
            nonlocal done
            done += n
            if done % every == 0 or done == total:
                extra = " ".join(f"{k}={_fmt(v)}" for k, v in info.items())
                print(f"{description}: {done}/{total if total is not None else '?'} {extra}".rstrip(), file=sys.stderr, flush=True)

        yield advance


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
