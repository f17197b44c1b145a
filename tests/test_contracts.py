"""The contracts as code (earthzoo.contracts): both framework modules and every
registered model conform, the check catches what does not, and the plugin guide
lists the same contracts."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from earthzoo import contracts
from earthzoo.api import build_model
from earthzoo.cards import DataSpec, resolve
from earthzoo.frameworks import framework_module
from earthzoo.registry import get_registry, reset

BEGIN, END = "<!-- contracts: generated from earthzoo.contracts.markdown(); tests/test_contracts.py checks it -->", "<!-- contracts: end -->"


def _installed_models() -> list[tuple[str, str]]:
    reset()
    return [(card.name, fw) for card in get_registry().match_models() for fw in card.frameworks]


@pytest.mark.parametrize("name", ["torch", "mindspore"])
def test_framework_modules_offer_the_same_functions(name):
    fw = framework_module(name)
    assert contracts.problems(fw, contracts.FrameworkModule) == []
    assert isinstance(fw, contracts.FrameworkModule) and fw.NAME == name
    assert fw.peak_memory_bytes("cpu" if name == "torch" else "CPU") is None  # the host: nothing a device counter measures


@pytest.mark.parametrize("model,framework", _installed_models())
def test_registered_models_keep_the_contracts(model, framework):
    card = get_registry().model(model)
    fw = framework_module(framework)
    assert contracts.problems(card.config_class(), contracts.ModelConfig) == []
    config = card.make_config("tiny" if "tiny" in card.presets else None)
    assert contracts.problems(resolve(card.builders[framework]), contracts.Builder) == []
    assert card.example_input, f"{model}: the card names no example_input"
    example = resolve(card.example_input)
    assert contracts.problems(example, contracts.ExampleInput) == []
    x = example(config, 2, 0)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 4 and x.shape[0] == 2
    fw.seed_everything(0)
    net = build_model(model, framework, config=config)
    assert contracts.problems(net, contracts.Model) == [] and list(fw.checkpoint_units(net))
    if hasattr(net, "set_ops"):
        assert contracts.problems(net, contracts.OpTableModel) == []
    if hasattr(config, "mask_ratio"):
        assert contracts.problems(net, contracts.MaskedModel) == []
    y = fw.inference_function(net)(x)
    assert y.shape[0] == 2 and y.shape[2:] == x.shape[2:]
    if card.next_input:
        step = resolve(card.next_input)
        assert contracts.problems(step, contracts.NextInput) == []
        assert step(x, y, 0, config).shape == x.shape
    if card.data_spec:
        assert contracts.problems(resolve(card.data_spec), contracts.DataSpecOf) == []
        assert isinstance(card.spec(config), (DataSpec, type(None)))
    if card.shapes:
        assert contracts.problems(resolve(card.shapes), contracts.ParameterShapes) == []
        assert {k: tuple(v) for k, v in resolve(card.shapes)(config).items()} == fw.expected_shapes(net)


def test_the_check_names_what_is_missing_or_uncallable():
    fw = types.SimpleNamespace(**{n: (lambda *a, **k: None) for n in contracts.members(contracts.FrameworkModule)})
    assert contracts.problems(fw, contracts.FrameworkModule) == []
    del fw.peak_memory_bytes
    fw.synchronize = lambda: None  # takes no device
    fw.inference_function = lambda model: None  # has no plan parameter
    found = contracts.problems(fw, contracts.FrameworkModule)
    assert len(found) == 3 and not isinstance(fw, contracts.FrameworkModule)
    assert found[0].startswith("synchronize(device) cannot be called so")
    assert found[1] == "peak_memory_bytes(device) is missing"
    assert found[2].startswith("inference_function(model, plan=...) cannot be called so")

    class NoBlocks:
        def set_ops(self, table, extra):
            pass

    assert contracts.problems(NoBlocks(), contracts.Model) == ["checkpoint_modules is missing"]
    assert contracts.problems(NoBlocks(), contracts.OpTableModel)[0].startswith("set_ops(table) cannot be called so")
    assert contracts.problems(lambda config, batch: None, contracts.ExampleInput)[0].startswith("__call__(config, batch, seed) cannot be called so")


def test_the_plugin_guide_lists_the_contracts():
    text = (Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md").read_text()
    assert BEGIN in text and END in text, "docs/writing-a-plugin.md lacks the generated contracts section"
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == contracts.markdown(), "regenerate the section: python -c 'from earthzoo.contracts import markdown; print(markdown())'"


def test_device_queries_follow_the_context_device(monkeypatch):
    """Device queries go to the accelerator the DeviceContext's device names (fake queries
    here: this machine has no accelerator); the host answers None."""
    import torch

    fw = framework_module("torch")
    synced = []
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: torch.device("cuda"))
    monkeypatch.setattr(torch.accelerator, "max_memory_allocated", lambda device=None: 123 if str(device) == "cuda:1" else -1)
    monkeypatch.setattr(torch.accelerator, "synchronize", lambda device=None: synced.append(str(device)))
    assert fw.peak_memory_bytes("cuda:1") == 123 and fw.peak_memory_bytes("cpu") is None
    fw.synchronize("cuda:1")
    fw.synchronize("cpu")
    assert synced == ["cuda:1"]
    monkeypatch.delattr(torch, "accelerator")  # torch before 2.6 (the DGL environment's 2.2) has none
    assert fw.peak_memory_bytes("cpu") is None and fw.free_memory_bytes("cpu") is None
    fw.synchronize("cpu")

    ms_fw = framework_module("mindspore")
    monkeypatch.setattr(ms_fw.ms, "get_context", lambda key: "Ascend" if key == "device_target" else None)
    monkeypatch.setattr(ms_fw.ms.runtime, "max_memory_allocated", lambda *a: 456)
    assert ms_fw.peak_memory_bytes("Ascend") == 456
