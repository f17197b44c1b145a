"""Bench result files: written once (atomically), read back with a one-line error
when the file is not a result, and two results put side by side (``earthzoo bench
--compare``: the same model, framework and preset from two machines)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import EarthzooError
from .files import atomic_write_text, json_text


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """The result as JSON at ``path``, written atomically (a crash leaves the old file)."""
    path = Path(path)
    atomic_write_text(path, json_text(result))
    return path


def load_result(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise EarthzooError(f"benchmark file {str(p)!r} does not exist", "pass a JSON written by earthzoo bench --json or a benchmarks/ script") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise EarthzooError(f"cannot read benchmark file {str(p)!r} ({type(exc).__name__})", "pass a JSON written by earthzoo bench --json") from exc
    if not isinstance(d, dict) or "records" not in d:
        raise EarthzooError(f"{str(p)!r} is not an earthzoo bench result (no 'records')", "pass a JSON written by earthzoo bench --json or earthzoo demo (report.json)")
    return d


METRICS = (
    ("train step (s)", ("training", "step_time_s_median")),
    ("epoch (s)", ("training", "epoch_time_s")),
    ("inference step (s)", ("inference", "step_time_s_median")),
    ("peak RSS (MiB)", ("inference", "peak_rss_mb")),
)


def _get(rec: dict, keys: tuple[str, ...]) -> float | None:
    v: Any = rec
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return float(v) if isinstance(v, (int, float)) else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Side-by-side rows for records present in both results, matched by (model,
    framework, preset); ``ratio`` = B / A (below 1: B is faster or smaller)."""
    index = {(r["model"], r["framework"], r["preset"]): r for r in b["records"]}
    rows = []
    for ra in a["records"]:
        rb = index.get((ra["model"], ra["framework"], ra["preset"]))
        if rb is None:
            continue
        for label, keys in METRICS:
            va, vb = _get(ra, keys), _get(rb, keys)
            if va is None and vb is None:
                continue
            rows.append(
                {
                    "model": ra["model"],
                    "framework": ra["framework"],
                    "preset": ra["preset"],
                    "metric": label,
                    "a": va,
                    "b": vb,
                    "a_backend": ra["backend"],
                    "b_backend": rb["backend"],
                    "ratio_b_over_a": (vb / va) if va and vb is not None else None,
                }
            )
    return rows
