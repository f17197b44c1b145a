"""Ascend energy: ``npu-smi info -t power -i N`` sampled and integrated by core's
SampledMeter. The power line's label differs between driver versions
("Power Dissipation(W)", "Power(W)", "Real-time Power(W)", ...), so the parser
takes the first power value of each chip section whose label is not a limit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Callable, Sequence

from earthzoo.energy import EnergyMeter, SampledMeter, UnavailableMeter

_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")
_NOT_DRAW = ("limit", "cap", "rated", "max", "min", "default", "mode")


def _is_power_label(label: str) -> bool:
    low = label.lower()
    return "power" in low and "(w)" in low.replace(" ", "") and not any(word in low for word in _NOT_DRAW)


def parse_power(text: str) -> float | None:
    """Watts drawn by the card in one ``npu-smi info -t power -i N`` output (summed over
    its chips), or None when no power value could be read ("NA", an error message)."""
    per_chip: dict[str, float] = {}
    chip = "card"
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        label, value = m.groups()
        if label.lower().replace(" ", "") == "chipid":
            chip = value
            continue
        if _is_power_label(label) and chip not in per_chip:
            try:
                per_chip[chip] = float(value.split()[0])
            except (ValueError, IndexError):
                continue
    return sum(per_chip.values()) if per_chip else None


def parse_npu_ids(text: str) -> list[int]:
    """NPU IDs listed by ``npu-smi info -l`` (lines "NPU ID : N")."""
    ids = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1).lower().replace(" ", "") == "npuid":
            try:
                ids.append(int(m.group(2)))
            except ValueError:
                continue
    return ids


def run_npu_smi(args: Sequence[str], exe: str = "npu-smi", timeout: float = 5.0) -> str:
    out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=True)
    return out.stdout


def npu_smi_meter(run: Callable[[Sequence[str]], str] | None = None, ids: Sequence[int] | None = None, interval: float = 0.5) -> EnergyMeter:
    """A sampled meter over the NPUs' power; ``run(args) -> stdout`` stands in for
    npu-smi in tests. Unavailable, with the reason, when npu-smi is absent or unreadable."""
    if run is None:
        exe = shutil.which("npu-smi")
        if exe is None:
            return UnavailableMeter("npu-smi is not on PATH (install the Ascend driver package)", source="npu-smi")
        run = lambda args: run_npu_smi(args, exe)  # noqa: E731
    try:
        if ids is None:
            ids = _visible(os.environ) or parse_npu_ids(run(["info", "-l"]))
        if not ids:
            return UnavailableMeter("npu-smi lists no NPU", source="npu-smi")
        first = [parse_power(run(["info", "-t", "power", "-i", str(i)])) for i in ids]
    except Exception as exc:  # noqa: BLE001 - missing binary, permission, timeout
        return UnavailableMeter(f"npu-smi failed: {type(exc).__name__}: {exc}", source="npu-smi")
    if any(w is None for w in first):
        return UnavailableMeter(f"npu-smi printed no readable power value for NPU(s) {[i for i, w in zip(ids, first) if w is None]}", source="npu-smi")

    def watts() -> float | None:
        values = [parse_power(run(["info", "-t", "power", "-i", str(i)])) for i in ids]
        return None if any(v is None for v in values) else sum(values)

    return SampledMeter(watts, interval=interval, source=f"npu-smi info -t power (NPUs {','.join(map(str, ids))})")


def _visible(env) -> list[int]:
    """NPUs this run uses when ASCEND_RT_VISIBLE_DEVICES names them."""
    raw = env.get("ASCEND_RT_VISIBLE_DEVICES", "")
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        return []
