"""Installation checks for ``earthzoo doctor``: read versions from metadata
(importing nothing heavy), then the plugins and backends."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _check(name: str, status: str, detail: str) -> dict:
    return {"check": name, "status": status, "detail": detail}


def run_checks() -> list[dict]:
    from .plugins import plugin_records
    from .registry import get_registry

    checks = [_check("python", "ok", f"{platform.python_version()} on {platform.machine()} ({sys.platform})")]
    torch_v, ms_v, np_v = _version("torch"), _version("mindspore"), _version("numpy")
    checks.append(_check("torch", "ok" if torch_v else "warn", torch_v or "not installed: pip install torch==2.13.0"))
    checks.append(_check("mindspore", "ok" if ms_v else "warn", ms_v or "not installed: pip install mindspore==2.10.0 'numpy<2'"))
    numpy_ok = np_v is not None and int(np_v.split(".")[0]) < 2
    checks.append(_check("numpy", "ok" if numpy_ok or not ms_v else "fail", f"{np_v}" + ("" if numpy_ok or not ms_v else " - MindSpore 2.10 needs numpy<2: pip install 'numpy<2'")))
    for rec in plugin_records():
        checks.append(_check(f"plugin {rec.name}", {"ok": "ok", "unavailable": "info"}.get(rec.status, "fail"), rec.error or f"{rec.version}: {len(rec.hooks)} hooks"))
    reg = get_registry()
    checks.append(_check("models", "ok" if reg.models else "warn", ", ".join(sorted(reg.models)) or "none installed: pip install ./plugins/fourcastnet"))
    for name, card in sorted(reg.backends.items()):
        st = card.status()
        checks.append(_check(f"backend {name}", "ok" if st.available else "info", ", ".join(st.devices) if st.available else st.reason))
    return checks
