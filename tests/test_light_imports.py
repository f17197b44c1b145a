"""`import earthzoo` and `earthzoo --help` must not import torch or mindspore."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in ("torch", "mindspore") if m in sys.modules)))
"""


def _heavy_modules_after(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_earthzoo_imports_no_framework():
    assert _heavy_modules_after("import earthzoo; earthzoo.list_models(); earthzoo.list_backends()") == []


def test_cli_help_and_listing_import_no_framework():
    body = "from earthzoo.cli import main\nfor argv in (['--help'], ['models', '--json'], ['plugins', '--json'], ['backends', '--json']):\n    main(argv)"
    assert _heavy_modules_after(body) == []


def test_console_script_help_answers():
    out = subprocess.run(["earthzoo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "convert" in out.stdout and "doctor" in out.stdout
