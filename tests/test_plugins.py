"""Plugin loading: isolation of broken plugins, selection, strict mode, and the
`earthzoo plugins --json` report."""

from __future__ import annotations

import json
import types

import pytest
from earthzoo import plugins, registry
from earthzoo.cards import ModelCard
from earthzoo.cli import main
from earthzoo.errors import EarthzooError, PluginUnavailable
from earthzoo.plugins import hookimpl
from earthzoo.registry import get_registry


class FakeEntryPoint:
    def __init__(self, name, load):
        self.name, self._load = name, load
        self.dist = types.SimpleNamespace(version="9.9")

    def load(self):
        return self._load()


def _module(name, **hooks):
    module = types.ModuleType(name)
    for k, v in hooks.items():
        setattr(module, k, hookimpl(v) if k.startswith("earthzoo_") else v)
    return module


def _card(name):
    return ModelCard(name, "fake", "toyzoo:ToyConfig", {"torch": "toyzoo:build_torch"})


def _raise_import():
    raise ImportError("No module named 'missing_dep'")


GOOD = lambda: _module("good", earthzoo_register_models=lambda register: register(_card("good-model")))  # noqa: E731
MISSPELLED = lambda: _module("typo", earthzoo_register_modles=lambda register: None)  # noqa: E731
REG_FAILS = lambda: _module("regfail", earthzoo_register_models=lambda register: 1 / 0)  # noqa: E731
DUPLICATE = lambda: _module("dup", earthzoo_register_models=lambda register: register(_card("good-model")))  # noqa: E731


@pytest.fixture
def entry_points(monkeypatch):
    def install(*eps):
        monkeypatch.setattr(registry, "entry_points", lambda group: list(eps) if group == "earthzoo" else [])
        plugins.reset()

    monkeypatch.delenv("EARTHZOO_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("EARTHZOO_STRICT_PLUGINS", raising=False)
    yield install
    plugins.reset()


def _records():
    return {r.name: r for r in plugins.plugin_records()}


def test_broken_plugins_are_reported_and_the_rest_work(entry_points):
    entry_points(
        FakeEntryPoint("good", GOOD),
        FakeEntryPoint("broken", _raise_import),
        FakeEntryPoint("typo", MISSPELLED),
        FakeEntryPoint("regfail", REG_FAILS),
        FakeEntryPoint("dup", DUPLICATE),
    )
    recs = _records()
    assert recs["good"].status == "ok" and recs["good"].version == "9.9" and recs["good"].hooks == ["earthzoo_register_models"]
    assert recs["broken"].status == "failed" and "missing_dep" in recs["broken"].error
    assert recs["typo"].status == "failed" and "earthzoo_register_modles" in recs["typo"].error
    assert recs["regfail"].status == "failed" and "ZeroDivisionError" in recs["regfail"].error
    assert recs["dup"].status == "failed" and "registered twice" in recs["dup"].error
    assert recs["earthzoo.builtin"].status == "ok"
    assert list(get_registry().models) == ["good-model"]
    assert "cpu" in get_registry().backends


def test_load_plugins_selects_and_empty_loads_none(entry_points, monkeypatch):
    entry_points(FakeEntryPoint("good", GOOD), FakeEntryPoint("broken", _raise_import))
    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "good")
    plugins.reset()
    assert set(_records()) == {"earthzoo.builtin", "good"}
    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "")
    plugins.reset()
    assert set(_records()) == {"earthzoo.builtin"}
    assert "cpu" in get_registry().backends  # core's CPU backend is always there


def _raise_unavailable():
    raise PluginUnavailable("libfoo is not installed", "see docs/foo.md")


def test_an_unavailable_plugin_is_listed_with_its_reason_not_failed(entry_points, monkeypatch, capsys):
    entry_points(FakeEntryPoint("good", GOOD), FakeEntryPoint("engine", _raise_unavailable))
    monkeypatch.setenv("EARTHZOO_STRICT_PLUGINS", "1")  # a missing optional library is not a failure
    recs = _records()
    assert (recs["engine"].status, recs["engine"].error, recs["engine"].hooks) == ("unavailable", "libfoo is not installed - see docs/foo.md", [])
    assert list(get_registry().models) == ["good-model"]
    from earthzoo.doctor import run_checks

    assert {c["check"]: c["status"] for c in run_checks()}["plugin engine"] == "info"


def test_strict_mode_makes_a_broken_plugin_fatal(entry_points, monkeypatch):
    entry_points(FakeEntryPoint("good", GOOD), FakeEntryPoint("broken", _raise_import))
    monkeypatch.setenv("EARTHZOO_STRICT_PLUGINS", "1")
    with pytest.raises(EarthzooError, match="plugin 'broken' failed: ImportError"):
        plugins.get_plugin_manager()


def test_plugins_json_report(entry_points, capsys):
    entry_points(FakeEntryPoint("good", GOOD), FakeEntryPoint("broken", _raise_import))
    assert main(["plugins", "--json"]) == 0
    report = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(report["broken"]) == {"name", "version", "hooks", "status", "error"}
    assert report["broken"]["status"] == "failed" and report["good"]["status"] == "ok" and report["good"]["error"] is None


def _exit_on_import():
    import sys

    sys.exit(3)


def _interrupt():
    raise KeyboardInterrupt


EXITS_IN_REGISTER = lambda: _module("exits", earthzoo_register_models=lambda register: exit(4))  # noqa: E731


def test_a_plugin_calling_sys_exit_is_isolated(entry_points, capsys):
    entry_points(FakeEntryPoint("good", GOOD), FakeEntryPoint("exits", _exit_on_import), FakeEntryPoint("exits_later", EXITS_IN_REGISTER))
    assert main(["plugins", "--json"]) == 0
    report = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert report["exits"]["status"] == "failed" and report["exits"]["error"] == "SystemExit: 3"
    assert report["exits_later"]["status"] == "failed" and report["exits_later"]["error"] == "SystemExit: 4"
    assert report["good"]["status"] == "ok"
    plugins.reset()
    assert main(["models"]) == 0
    out = capsys.readouterr()
    assert "good-model" in out.out
    assert "plugin 'exits' failed to load (SystemExit: 3)" in out.err


def test_keyboard_interrupt_in_a_plugin_still_stops(entry_points):
    entry_points(FakeEntryPoint("good", GOOD), FakeEntryPoint("ctrl-c", _interrupt))
    with pytest.raises(KeyboardInterrupt):
        plugins.get_plugin_manager()


def test_entry_points_are_read_from_dist_info_as_importlib_metadata_reads_them(tmp_path, monkeypatch):
    import importlib.metadata
    import sys

    from earthzoo import entrypoints

    for group in ("earthzoo", "console_scripts"):  # the installed ones, without importing importlib.metadata in earthzoo
        ours = sorted((e.name, e.value, e.dist.version) for e in entrypoints.entry_points(group))
        assert ours == sorted((e.name, e.value, e.dist.version) for e in importlib.metadata.entry_points(group=group))
    (tmp_path / "toyzoo_plugin.py").write_text("MARK = 'loaded'\n")
    for folder, text in (("a/toy_zoo-1.2.3.dist-info", "[earthzoo]\ntoy = toyzoo_plugin:MARK [extra]\n[other]\nx = y\n"), ("b/Toy.Zoo-9.0.dist-info", "[earthzoo]\nshadowed = nowhere\n")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "entry_points.txt").write_text(text)
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(tmp_path / "a"), str(tmp_path / "b")])
    (ep,) = entrypoints.entry_points("earthzoo")  # "toy_zoo" and "Toy.Zoo" are one distribution: the first on sys.path wins
    assert (ep.name, ep.dist.version, ep.load()) == ("toy", "1.2.3", "loaded")
    assert entrypoints.version("toy-zoo") == "1.2.3" and entrypoints.version("absent") == "0.0.0"
