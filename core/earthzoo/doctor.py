"""Installation checks for ``earthzoo doctor``: read versions from metadata
(importing nothing heavy), then the plugins and backends."""

from __future__ import annotations

import importlib.util
import platform
import sys
from importlib.metadata import packages_distributions

from .entrypoints import installed_version
from .pins import framework_pip, pins, pip_args, satisfied
from .registry import get_registry, plugin_records


def _check(name: str, status: str, detail: str) -> dict:
    return {"check": name, "status": status, "detail": detail}


# what core's own features import beyond its dependencies, and the extra that adds it
CORE_FEATURES = (
    ("--framework torch, writing .pt files", ("torch",), "torch"),
    ("--framework mindspore", ("mindspore",), "mindspore"),
    ("parity (torch vs MindSpore)", ("torch", "mindspore"), "torch,mindspore"),
    ("data make synthetic-atmosphere", ("torch", "torch_harmonics"), "synthetic"),
    ("figures (loss curves, report)", ("matplotlib",), "plot"),
    ("data make synthetic-ocean, evaluate, safetensors and .ckpt weights, reading .pt", (), ""),
)


def _importable(module: str) -> bool:
    """Whether ``module`` is installed, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a half-imported module
        return False


def _feature(dist: str, feature: str, modules: tuple[str, ...], extra: str) -> dict:
    """One feature of one installed distribution: usable, or the exact pip command that makes it so."""
    missing = [m for m in modules if not _importable(m)]
    check = _check(f"{dist}: {feature}", "missing" if missing else "ok", "usable" if not missing else f"needs {', '.join(missing)}: pip install '{dist}[{extra}]'")
    check.update({"distribution": dist, "feature": feature, "usable": not missing, "pip": f"pip install '{dist}[{extra}]'" if missing else None})
    return check


def feature_checks() -> list[dict]:
    """Per installed earthzoo distribution, which features are usable here: core's
    (CORE_FEATURES), each model in each framework and each of its weight formats,
    each backend with each framework."""
    owner = packages_distributions()

    def dist_of(ref: str) -> str:
        return (owner.get(ref.split(".")[0].split(":")[0]) or ["?"])[0]

    checks = [_feature("earthzoo", f, mods, extra) for f, mods, extra in CORE_FEATURES]
    reg = get_registry()
    for name, card in sorted(reg.models.items()):
        dist = dist_of(card.config)
        checks += [_feature(dist, f"{name} in {fw}", (fw,), fw) for fw in card.frameworks]
        for wf in sorted((w for w in reg.weight_formats.values() if w.model == name), key=lambda w: w.name):
            fws = (wf.framework,) if wf.framework else ()
            checks.append(_feature(dist, f"convert --to {wf.name}", fws, wf.framework))
    for name, card in sorted(reg.backends.items()):
        if name != "cpu":
            dist = dist_of(getattr(card.probe, "__module__", "") or "")
            checks += [_feature(dist, f"backend {name} with {fw}", (fw,), fw) for fw in card.frameworks]
    return checks


def _cpu_kernels_check() -> dict:
    """MindSpore on CPU trains 1.6-1.9x faster with earthzoo's compiled kernels: built here, or why not."""
    from .frameworks import mindspore_cpu_kernels as kernels

    try:
        matmuls = "matmuls on MindSpore's oneDNN" if kernels.dnnl_library() else "matmuls: MindSpore's own (no lib/libdnnl.so.3 in this MindSpore)"
        return _check("mindspore cpu kernels", "ok", f"{kernels.library()} ({matmuls})")
    except kernels.KernelsUnavailable as exc:
        return _check("mindspore cpu kernels", "warn", f"off: {exc} - MindSpore's own ops are used on CPU (slower to train); install g++ or set CXX")


def run_checks() -> list[dict]:
    checks = [_check("python", "ok", f"{platform.python_version()} on {platform.machine()} ({sys.platform})")]
    torch_v, ms_v, np_v = installed_version("torch"), installed_version("mindspore"), installed_version("numpy")
    checks.append(_check("torch", "ok" if torch_v else "warn", torch_v or f"not installed: pip install {framework_pip('torch')}"))
    checks.append(_check("mindspore", "ok" if ms_v else "warn", ms_v or f"not installed: pip install {framework_pip('mindspore')}"))
    numpy_ok = np_v is not None and satisfied("numpy", np_v)
    checks.append(_check("numpy", "ok" if numpy_ok or not ms_v else "fail", f"{np_v}" + ("" if numpy_ok or not ms_v else f" - MindSpore needs {pins()['numpy']}: pip install {pip_args('numpy')}")))
    if ms_v:
        checks.append(_cpu_kernels_check())
    for rec in plugin_records():
        checks.append(_check(f"plugin {rec.name}", {"ok": "ok", "unavailable": "info"}.get(rec.status, "fail"), rec.error or f"{rec.version}: {len(rec.hooks)} hooks"))
    reg = get_registry()
    checks.append(_check("models", "ok" if reg.models else "warn", ", ".join(sorted(reg.models)) or "none installed: pip install ./plugins/fourcastnet"))
    for name, card in sorted(reg.backends.items()):
        st = card.status()
        checks.append(_check(f"backend {name}", "ok" if st.available else "info", ", ".join(st.devices) if st.available else st.reason))
    return checks + feature_checks()
