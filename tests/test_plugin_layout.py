"""The model plugins follow one file layout (docs/writing-a-plugin.md): the card
names its config in ``config.py``, its builders in ``torch_model.py`` /
``mindspore_model.py``, what it says about data in ``inputs.py``, its weight formats'
code in ``convert.py``, and nothing else lives in ``plugin.py`` but hooks."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from earthzoo.api import list_models, model_card
from earthzoo.registry import get_registry

MODELS = ("fourcastnet", "graphcast", "ai_goms")
FILES = {"__init__.py", "plugin.py", "config.py", "inputs.py", "torch_model.py", "mindspore_model.py", "convert.py"}
# framework-free pieces of the model, named for what they are (documented in writing-a-plugin.md)
EXTRA = {"graphcast": {"graph.py"}, "ai_goms": {"common.py"}}


def _where(ref: str) -> str:
    """``pkg.module:function`` -> ``module``."""
    return ref.partition(":")[0].rpartition(".")[2]


@pytest.mark.parametrize("name", MODELS)
def test_model_plugin_follows_the_layout(name):
    assert name in list_models()
    card = model_card(name)
    assert _where(card.config) == "config"
    assert {fw: _where(ref) for fw, ref in card.builders.items()} == {"torch": "torch_model", "mindspore": "mindspore_model"}
    for ref in (card.example_input, card.next_input, card.data_spec):
        assert not ref or _where(ref) == "inputs", ref
    assert card.example_input and card.next_input
    if card.shapes:
        assert _where(card.shapes) == "config"
    pkg = Path(importlib.import_module(card.config.partition(":")[0]).__file__).parent
    assert {p.name for p in pkg.glob("*.py")} == FILES | EXTRA.get(name, set())
    formats = [f for f in get_registry().weight_formats.values() if f.model == name]
    assert formats
    for fmt in formats:
        assert {_where(r) for r in (fmt.reader, fmt.writer, fmt.sniff) if r} == {"convert"}, fmt.name
