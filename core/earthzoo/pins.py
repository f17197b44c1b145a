"""The versions earthzoo is built and tested with, read from ``constraints.txt`` beside
this module: the one place they are written, which pip reads too (``pip install -c``)."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

CONSTRAINTS = Path(__file__).with_name("constraints.txt")


@functools.cache
def pins() -> dict[str, str]:
    """{distribution: requirement}: {"torch": "torch==<version>", "numpy": "numpy<<major>", ...}."""
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            out[re.split(r"[=<>!~ ;\[]", requirement, maxsplit=1)[0].lower()] = requirement
    return out


def version(name: str) -> str:
    """The exact version of an ``==`` pin."""
    requirement = pins()[name]
    if "==" not in requirement:
        raise ValueError(f"{name} is not pinned to one version: {requirement}")
    return requirement.split("==", 1)[1].strip()


def pip_args(*names: str) -> str:
    """The pinned requirements of ``names`` as shell words for ``pip install`` (``<`` pins quoted)."""
    return " ".join(shlex.quote(pins()[n]) for n in names)


# What installs each framework as earthzoo runs it (MindSpore 2.10 with NumPy 1.x).
FRAMEWORK_PINS = {"torch": ("torch",), "mindspore": ("mindspore", "numpy")}


def framework_pip(framework: str) -> str:
    """``pip install`` arguments for a framework (MindSpore's with its NumPy pin)."""
    return pip_args(*FRAMEWORK_PINS[framework])


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(m) for m in re.findall(r"\d+", text.split("+")[0])[:3])


def satisfied(name: str, installed: str) -> bool:
    """Whether an installed version meets the pin of ``name`` (its ``==``, ``<`` or ``>=`` clauses)."""
    have = _numbers(installed)
    for clause in pins()[name][len(name):].split(","):
        m = re.fullmatch(r"\s*(==|<|>=)\s*([\w.]+)\s*", clause)
        if m is None:
            raise ValueError(f"cannot read the pin {pins()[name]!r}")
        op, want = m.group(1), _numbers(m.group(2))
        cut = have[: len(want)]
        if (op == "==" and cut != want) or (op == "<" and not cut < want) or (op == ">=" and not cut >= want):
            return False
    return True
