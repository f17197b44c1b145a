"""DCU energy, best source first: amdsmi's power reading when the module imports
(its import can raise OSError/KeyError/its own exceptions, not only ImportError,
when libamd_smi or the driver is missing), else ``hy-smi --showpower`` / ``hy-smi``,
else ``rocm-smi --showpower``; each sampled and integrated by core's SampledMeter."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any, Callable, Sequence

from earthzoo.energy import EnergyMeter, SampledMeter, UnavailableMeter

# "GPU[0]		: Average Graphics Package Power (W): 35.0" (rocm-smi; hy-smi prints DCU[0] or HCU[0])
_SHOWPOWER = re.compile(r"^\s*(?:GPU|DCU|HCU)\[(\d+)\]\s*:\s*([^:]*?Power[^:]*?)\s*\(W\)\s*:\s*([0-9]+(?:\.[0-9]+)?)", re.I | re.M)
_NOT_DRAW = ("cap", "limit", "max", "default")


def parse_showpower(text: str) -> dict[int, float]:
    """Watts per device from ``rocm-smi --showpower`` / ``hy-smi --showpower`` (any version's label)."""
    out: dict[int, float] = {}
    for m in _SHOWPOWER.finditer(text):
        index, label, value = int(m.group(1)), m.group(2).lower(), float(m.group(3))
        if not any(word in label for word in _NOT_DRAW) and index not in out:
            out[index] = value
    return out


def parse_smi_table(text: str) -> dict[int, float]:
    """Watts per device from the summary table of plain ``hy-smi`` / ``rocm-smi``: the
    column headed AvgPwr, Power or Pwr (not PwrCap), values like "62.0W". Columns are
    found by position, as headers such as "Temp (DieEdge)" hold spaces."""
    span: tuple[int, int] | None = None
    out: dict[int, float] = {}
    for line in text.splitlines():
        if span is None:
            if not re.match(r"\s*(GPU|DCU|HCU|Device)\b", line, re.I):
                continue  # banners such as "=== Power ===" are not the header
            for want in ("avgpwr", "avgpower", "power", "pwr", "socketpwr"):
                m = re.search(rf"(?<!\S){want}(?!\S)", line, re.I)
                if m:
                    span = m.span()
                    break
            continue
        cells = list(re.finditer(r"\S+", line))
        if not cells or not cells[0].group().isdigit():
            continue
        for cell in cells:
            if cell.start() < span[1] and cell.end() > span[0]:
                m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*W", cell.group(), re.I)
                if m:
                    out[int(cells[0].group())] = float(m.group(1))
                break
    return out


def _amdsmi_module() -> tuple[Any | None, str]:
    try:
        import amdsmi  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError (no libamd_smi.so), KeyError (no ROCm path), AmdSmiException
        return None, f"amdsmi does not import: {type(exc).__name__}: {exc}"
    return amdsmi, ""


def amdsmi_watts(amdsmi: Any) -> Callable[[], float | None] | None:
    """A reader of summed socket power over all GPUs, or None when amdsmi cannot give it."""
    try:
        amdsmi.amdsmi_init()
        handles = amdsmi.amdsmi_get_processor_handles()
        if not handles:
            return None
    except Exception:  # noqa: BLE001
        return None

    def read() -> float | None:
        total = 0.0
        for h in handles:
            info = amdsmi.amdsmi_get_power_info(h)
            value = next((info[k] for k in ("current_socket_power", "average_socket_power") if isinstance(info.get(k), (int, float))), None)
            if value is None:
                return None
            total += float(value)
        return total

    try:
        return read if read() is not None else None
    except Exception:  # noqa: BLE001
        return None


def _run(cmd: Sequence[str], timeout: float = 5.0) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=True).stdout


# (command, parser) in order of preference; hy-smi is the DCU's own tool.
COMMANDS: tuple[tuple[tuple[str, ...], Callable[[str], dict[int, float]]], ...] = (
    (("hy-smi", "--showpower"), parse_showpower),
    (("hy-smi",), parse_smi_table),
    (("rocm-smi", "--showpower"), parse_showpower),
)


def smi_meter(run: Callable[[Sequence[str]], str] = _run, which: Callable[[str], str | None] = shutil.which, amdsmi: Any = "import", interval: float = 0.5) -> EnergyMeter:
    """The first source that gives a power reading now. ``run``/``which``/``amdsmi`` stand
    in for the tools in tests (``amdsmi=None`` skips it)."""
    reasons = []
    if amdsmi == "import":
        amdsmi, why = _amdsmi_module()
        if why:
            reasons.append(why)
    if amdsmi is not None:
        reader = amdsmi_watts(amdsmi)
        if reader is not None:
            return SampledMeter(reader, interval=interval, source="amdsmi socket power")
        reasons.append("amdsmi gives no power reading")
    for cmd, parse in COMMANDS:
        if which(cmd[0]) is None:
            reasons.append(f"{cmd[0]} not on PATH")
            continue
        try:
            first = parse(run(cmd))
        except Exception as exc:  # noqa: BLE001 - non-zero exit, timeout, unknown option
            reasons.append(f"{' '.join(cmd)} failed ({type(exc).__name__})")
            continue
        if not first:
            reasons.append(f"{' '.join(cmd)} printed no power value")
            continue

        def watts(cmd=cmd, parse=parse, devices=sorted(first)) -> float | None:
            values = parse(run(cmd))
            return sum(values[d] for d in devices) if all(d in values for d in devices) else None

        return SampledMeter(watts, interval=interval, source=f"{' '.join(cmd)} (devices {','.join(map(str, sorted(first)))})")
    return UnavailableMeter("; ".join(reasons), source="hy-smi/rocm-smi/amdsmi")
