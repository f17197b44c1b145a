"""A third party's plugin, pip-installed for real: its model is listed and buildable;
a second plugin whose import raises is reported as failed and nothing else breaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.3.1"
dependencies = ["earthzoo"]

[project.entry-points.earthzoo]
{ep} = "{pkg}.plugin"

[tool.setuptools]
packages = ["{pkg}"]
"""


def _make_package(root, dist, pkg, ep, plugin_source, extra=None):
    src = root / dist
    (src / pkg).mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, pkg=pkg, ep=ep))
    (src / pkg / "__init__.py").write_text("")
    (src / pkg / "plugin.py").write_text(textwrap.dedent(plugin_source))
    for name, text in (extra or {}).items():
        (src / pkg / name).write_text(text)
    return src


def _pip(*args):
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True, capture_output=True, text=True)


def _earthzoo_json(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARTHZOO_")}
    out = subprocess.run([sys.executable, "-m", "earthzoo", *args, "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def installed_plugins(tmp_path):
    toy_source = (REPO / "tests" / "toyzoo.py").read_text().replace("toyzoo:", "acme_zoo.toyzoo:")
    good = _make_package(tmp_path, "acme-zoo", "acme_zoo", "acme", "from .toyzoo import earthzoo_register_models  # noqa: F401\n", {"toyzoo.py": toy_source})
    bad = _make_package(tmp_path, "broken-zoo", "broken_zoo", "broken", "import does_not_exist_anywhere\n")
    _pip("install", "--no-deps", "--no-build-isolation", str(good), str(bad))
    yield
    _pip("uninstall", "-y", "acme-zoo", "broken-zoo")


def test_third_party_plugin_is_listed_buildable_and_a_broken_one_is_isolated(installed_plugins):
    models = {m["name"]: m for m in _earthzoo_json("models")}
    assert "toy" in models and models["toy"]["frameworks"] == ["torch", "mindspore"]
    report = {p["name"]: p for p in _earthzoo_json("plugins")}
    assert report["acme"]["status"] == "ok" and report["acme"]["version"] == "0.3.1"
    assert report["broken"]["status"] == "failed" and "does_not_exist_anywhere" in report["broken"]["error"]
    build = "import earthzoo; m = earthzoo.build_model('toy', 'torch'); print(sum(p.numel() for p in m.parameters()))"
    out = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "39"  # 2 blocks x (3+3 LayerNorm + 9+3 Linear) + 3 scale
    strict = subprocess.run([sys.executable, "-m", "earthzoo", "models"], capture_output=True, text=True, env={**os.environ, "EARTHZOO_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2 and "plugin 'broken' failed" in strict.stderr
