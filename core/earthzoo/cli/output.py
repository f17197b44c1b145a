"""Shared CLI output: JSON for machines, rich tables for people, progress bars
that fall back to plain lines when stdout is not a terminal."""

from __future__ import annotations

import sys
import time
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
    """Yield ``advance(n=1, total=None, **info)``: a rich bar on a terminal, plain lines
    otherwise; ``total`` changes the bar's length (a run planned by wall time)."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False) as bar:
            task = bar.add_task(description, total=total, info="")

            def advance(n: int = 1, total: int | None = None, **info: Any) -> None:
                bar.update(task, advance=n, info=" ".join(f"{k}={_fmt(v)}" for k, v in info.items()), **({"total": total} if total else {}))

            yield advance
    else:
        import threading

        done, size, last = 0, total, time.monotonic()
        lock, stop = threading.Lock(), threading.Event()

        def line(extra: str) -> None:
            print(f"{description}: {done}/{size if size is not None else '?'} {extra}".rstrip(), file=sys.stderr, flush=True)

        def advance(n: int = 1, total: int | None = None, **info: Any) -> None:
            # about ten lines, and one at least every 5 s whatever the total
            nonlocal done, size, last
            with lock:
                done += n
                size = total or size
                every = max(1, size // 10) if size else 50
                now = time.monotonic()
                if done % every == 0 or done == size or now - last >= 5.0:
                    last = now
                    line(" ".join(f"{k}={_fmt(v)}" for k, v in info.items()))

        def heartbeat() -> None:  # a step that takes long (a graph compiling) is not silence
            nonlocal last
            while not stop.wait(1.0):
                with lock:
                    if time.monotonic() - last >= 5.0 and not _ticking:
                        last = time.monotonic()
                        line(f"(working: {last - t0:.0f} s so far)")

        t0 = time.monotonic()
        thread = threading.Thread(target=heartbeat, daemon=True)
        thread.start()
        try:
            yield advance
        finally:
            stop.set()
            thread.join()


_ticking: list[str] = []


@contextmanager
def ticking(description: str, every: float = 5.0) -> Iterator[None]:
    """A line with the elapsed time every ``every`` seconds while a block that cannot
    report progress runs (MindSpore compiling a graph), and one when it ends."""
    import threading

    t0, stop = time.monotonic(), threading.Event()
    tty = sys.stderr.isatty()

    def tick() -> None:
        while not stop.wait(every):
            print(f"{description}: {time.monotonic() - t0:.0f} s", file=sys.stderr, end="\r" if tty else "\n", flush=True)

    print(f"{description} ...", file=sys.stderr, flush=True)
    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    _ticking.append(description)  # a progress bar around this block stays quiet meanwhile
    try:
        yield
    finally:
        _ticking.remove(description)
        stop.set()
        thread.join()
        print(f"{description}: done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
