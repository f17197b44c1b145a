"""Original checkpoints by name: the cards list the published checkpoints they know
(name, origin, licence, preset, format, tensor count), `earthzoo models NAME --json`
shows them, and a downloaded original is recognised by convert (or refused in one
line when it is not the one named with --original)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from earthzoo.cards import OriginalCheckpoint
from earthzoo.cli import main
from earthzoo.convert import convert, model_shapes
from earthzoo.errors import EarthzooError
from earthzoo.registry import get_registry


def test_cards_list_their_originals_with_the_tensor_counts_of_their_presets(capsys):
    assert main(["models", "fourcastnet", "--json"]) == 0
    (card,) = json.loads(capsys.readouterr().out)
    names = [o["name"] for o in card["originals"]]
    assert names == ["nvlabs-fourcastnet-v0-backbone", "nvlabs-fourcastnet-v0-precip"]
    assert set(card["originals"][0]) == {"name", "origin", "licence", "preset", "format", "tensors", "file"}
    reg = get_registry()
    for model in ("fourcastnet", "graphcast"):
        c = reg.model(model)
        assert c.originals
        for o in c.originals:  # a file that fits the preset has exactly the model's tensors there
            assert o.format in c.weight_formats and o.preset in c.presets
            assert len(model_shapes(model, c.make_config(o.preset))) == o.tensors, o.name


@pytest.fixture
def tiny_original(monkeypatch):
    """The FourCastNet card with one more original: the golden NVlabs-format tiny file."""
    reg = get_registry()
    card = reg.model("fourcastnet")
    entry = OriginalCheckpoint("nvlabs-tiny-test", "tests/golden", "test fixture", "tiny", "nvlabs-fourcastnet", 30, "fourcastnet_nvlabs_tiny.ckpt")
    monkeypatch.setitem(reg.models, "fourcastnet", dataclasses.replace(card, originals=(*card.originals, entry)))
    return entry


def test_a_downloaded_original_is_recognised_and_checked(golden, tmp_path, tiny_original):
    src = str(golden / "fourcastnet_nvlabs_tiny.ckpt")
    report = convert(src, str(tmp_path / "a.safetensors"), "fourcastnet", preset="tiny")
    assert report["original"]["name"] == "nvlabs-tiny-test" and report["tensors"] == 30
    assert any("this is the original checkpoint 'nvlabs-tiny-test'" in n for n in report["notes"])
    named = convert(src, str(tmp_path / "b.safetensors"), "fourcastnet", original="nvlabs-tiny-test")  # its preset is the default
    assert named["original"]["preset"] == "tiny"
    with pytest.raises(EarthzooError, match=r"the file holds 30 tensors, 'nvlabs-fourcastnet-v0-backbone' has 150 - check the download \(expected backbone.ckpt"):
        convert(src, str(tmp_path / "c.safetensors"), "fourcastnet", original="nvlabs-fourcastnet-v0-backbone")
    with pytest.raises(EarthzooError, match="knows no original checkpoint 'nope'"):
        convert(src, str(tmp_path / "d.safetensors"), "fourcastnet", original="nope")


def test_a_file_that_is_no_known_original_converts_without_a_name(golden, tmp_path):
    report = convert(str(golden / "fourcastnet_nvlabs_tiny.ckpt"), str(tmp_path / "a.safetensors"), "fourcastnet", preset="tiny")
    assert report["original"] is None
