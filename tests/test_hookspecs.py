"""The hook contract: every hookspec documented with its exact signature, every
hook exercised by a test named after it, and the lifecycle order kept."""

from __future__ import annotations

import inspect
import re

from earthzoo import hookspecs

from conftest import REPO

HOOKS = [name for name, fn in vars(hookspecs).items() if name.startswith("earthzoo_") and callable(fn)]


def documented() -> dict[str, str]:
    text = (REPO / "docs" / "hooks.md").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"^### (earthzoo_\w+)\((.*)\)\s*$", text, re.M)}


def test_every_hookspec_is_documented_with_its_exact_signature():
    docs = documented()
    assert set(HOOKS) == set(docs), f"undocumented: {set(HOOKS) - set(docs)}; stale: {set(docs) - set(HOOKS)}"
    for name in HOOKS:
        signature = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert docs[name] == signature, f"docs/hooks.md has {name}({docs[name]}) but the spec is {name}({signature})"


def test_every_hookspec_has_a_docstring():
    for name in HOOKS:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_docs_list_hooks_in_lifecycle_order():
    assert list(documented()) == HOOKS


def test_every_hook_is_exercised_by_a_test_named_after_it():
    sources = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    missing = [name for name in HOOKS if not re.search(rf"def test_{name}(\b|_)", sources)]
    assert not missing, f"no test named after: {missing}"


def test_there_are_eleven_hooks_in_lifecycle_order():
    assert HOOKS == [
        "earthzoo_register_models",
        "earthzoo_register_backends",
        "earthzoo_register_weight_formats",
        "earthzoo_register_datasources",
        "earthzoo_register_commands",
        "earthzoo_build_model",
        "earthzoo_setup_device",
        "earthzoo_custom_ops",
        "earthzoo_mixed_precision",
        "earthzoo_memory_schedule",
        "earthzoo_energy_meter",
    ]
