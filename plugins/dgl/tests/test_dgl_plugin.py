"""The plugin as installed, in whichever environment runs this: `earthzoo plugins`
lists it as ok where DGL can run and as unavailable with the reason where it cannot
(the main environment), never as a failure, and strict mode does not stop on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1]


def test_earthzoo_plugins_reports_the_engine(tmp_path):
    site = tmp_path / "site"  # installed beside this environment, not into it
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(PLUGIN)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARTHZOO_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["EARTHZOO_STRICT_PLUGINS"] = "1"
    out = subprocess.run([sys.executable, "-m", "earthzoo", "plugins", "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    rec = {p["name"]: p for p in json.loads(out.stdout)}["dgl"]
    if find_spec("dgl") is None:
        assert rec["status"] == "unavailable" and rec["hooks"] == []
        assert rec["error"] == "dgl is not installed - run it in the DGL environment (torch 2.2.1, dgl 2.1.0): see docs/dgl.md"
    else:
        from earthzoo_dgl import unavailable_reason

        reason = unavailable_reason()
        assert (rec["status"], rec["error"]) == (("ok", None) if reason is None else ("unavailable", reason + " - run it in the DGL environment (torch 2.2.1, dgl 2.1.0): see docs/dgl.md"))
        assert rec["hooks"] == (["earthzoo_custom_ops"] if reason is None else [])
