"""The README is executable: every command and code block of its "Using it" section
runs as written, in order, in an empty folder. A changed option, command or output
file name that the README still shows makes this test fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

SECTION = "## Using it"


def usage_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block between SECTION and the next '## ' heading."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end >= 0 else None]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)]


def commands(text: str) -> list[tuple[str, str]]:
    """Each bash line (comments kept: bash ignores them) and each Python block, in README order."""
    out = []
    for lang, code in usage_blocks(text):
        if lang == "bash":
            out += [("bash", line) for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        elif lang == "python":
            out.append(("python", code))
        else:
            raise AssertionError(f"the usage section has a {lang!r} block this test cannot run")
    return out


def test_the_usage_section_is_found_and_complete():
    cmds = commands((REPO / "README.md").read_text())
    text = " ".join(c for _, c in cmds)
    for verb in ("models", "backends", "plugins", "doctor", "data make", "train", "forecast", "evaluate", "convert", "parity", "bench", "bench --compare"):
        assert f"earthzoo {verb}" in text, verb
    assert any(kind == "python" for kind, _ in cmds)


@pytest.mark.slow
def test_every_usage_example_runs_in_order(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARTHZOO_")}
    env.update(GLOG_v="3", EARTHZOO_CACHE=str(tmp_path / "cache"), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    work = tmp_path / "work"
    work.mkdir()
    for kind, code in commands((REPO / "README.md").read_text()):
        argv = ["bash", "-euo", "pipefail", "-c", code] if kind == "bash" else [sys.executable, "-c", code]
        r = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"README example failed (exit {r.returncode}):\n{code}\n{r.stderr[-3000:]}"
