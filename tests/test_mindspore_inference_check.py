"""MindSpore's inference_function checks a new input's shape without running the model
in PyNative (issue 19: that run took 68 s and most of an 18 GiB peak at paper size)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mindspore")


def _net(name, preset="tiny"):
    from earthzoo.api import build_model, model_card
    from earthzoo.cards import resolve
    from earthzoo.frameworks import mindspore as mfw

    mfw.set_device("CPU")
    card = model_card(name)
    config = card.make_config(preset)
    return build_model(name, "mindspore", config=config), np.asarray(resolve(card.example_input)(config, 1, 0), np.float32)


def _no_pynative(monkeypatch, net):
    def refuse(self, *args, **kwargs):
        raise AssertionError("the model ran in PyNative")

    monkeypatch.setattr(type(net), "__call__", refuse)


def test_fourcastnet_forward_never_runs_pynative_and_checks_the_shape(monkeypatch):
    from earthzoo.errors import EarthzooError
    from earthzoo.frameworks import mindspore as mfw

    net, x = _net("fourcastnet")
    graph = mfw.inference_function(net)
    _no_pynative(monkeypatch, net)
    y = graph(x)
    assert y.shape[0] == 1 and np.isfinite(y).all()
    np.testing.assert_array_equal(graph(x), y)  # the second call of the shape: the same compiled graph
    with pytest.raises(EarthzooError, match=r"input has shape \(1, 2, "):
        graph(x[:, :2])


def test_a_model_without_a_shape_check_gets_a_one_line_error(monkeypatch):
    from earthzoo.errors import EarthzooError
    from earthzoo.frameworks import mindspore as mfw

    net, x = _net("graphcast")
    assert mfw.input_check(net) is None  # GraphCast checks in __call__, which the compiled path skips
    graph = mfw.inference_function(net)
    _no_pynative(monkeypatch, net)
    assert np.isfinite(graph(x)).all()
    with pytest.raises(EarthzooError) as err:
        graph(x[:, :3])
    assert "shape (1, 3, 19, 36)" in str(err.value) and "\n" not in str(err.value)


def test_a_check_input_shape_method_is_preferred():
    from earthzoo.frameworks import mindspore as mfw

    class Net:
        config = object()

        def check_input_shape(self, shape):
            return ("checked", shape)

    assert mfw.input_check(Net())((1, 2)) == ("checked", (1, 2))
