"""Core's layer libraries: the MindSpore ``compiled()`` helper keeps one jitted forward
on the net itself (none in a module-level table, so a dropped net is freed), runs the
input check first; the shared layers keep torch's parameter names in both frameworks."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest


def test_compiled_lives_on_the_net_and_dies_with_it():
    import mindspore as ms
    from earthzoo.frameworks import mindspore_layers as layers

    net = layers.Linear(4, 3)
    seen = []
    forward = layers.compiled(net, check=seen.append)
    assert layers.compiled(net) is forward
    x = ms.Tensor(np.ones((2, 5, 4), np.float32))
    np.testing.assert_allclose(forward(x).asnumpy(), net(x).asnumpy(), rtol=1e-6)
    assert seen == [(2, 5, 4)]
    ref = weakref.ref(net)
    del net, forward
    gc.collect()
    assert ref() is None


def test_shared_layers_have_the_same_parameter_names_in_both_frameworks():
    from earthzoo.frameworks import mindspore_layers as ml
    from earthzoo.frameworks import torch_layers as tl

    pairs = [
        (tl.Mlp(8, 16, 4, gelu="tanh"), ml.Mlp(8, 16, 4, gelu="tanh")),
        (tl.PatchEmbed(3, 8, 2), ml.PatchEmbed(3, 8, 2, (4, 4))),
        (tl.AFNOBlock(8, tl.AFNO2D(8, 2, 0.01, 1.0), 2.0), ml.AFNOBlock(8, ml.AFNO2D(8, 2, 0.01, 1.0), 2.0)),
        (tl.AFNOBlock(8, tl.AFNO1D(8, 2, 0.01), 2.0), ml.AFNOBlock(8, ml.AFNO1D(8, 2, 0.01), 2.0, init="xavier")),
    ]
    for t, m in pairs:
        assert {k: tuple(v.shape) for k, v in t.state_dict().items()} == {k: tuple(p.shape) for k, p in m.parameters_and_names()}


@pytest.mark.parametrize("shape", [(2, 8, 16, 8), (2, 15, 8)])
def test_filters_match_across_frameworks_with_both_op_tables(shape):
    """One set of weights: torch's filter and MindSpore's agree, with the native FFTs and with DFT-by-matmul."""
    import mindspore as ms
    import torch
    from earthzoo.frameworks import dft_mindspore, dft_torch
    from earthzoo.frameworks import mindspore_layers as ml
    from earthzoo.frameworks import torch_layers as tl

    two_d = len(shape) == 4
    t = tl.AFNO2D(8, 2, 0.01, 0.5) if two_d else tl.AFNO1D(8, 2, 0.01)
    m = ml.AFNO2D(8, 2, 0.01, 0.5) if two_d else ml.AFNO1D(8, 2, 0.01)
    for k, p in m.parameters_and_names():
        p.set_data(ms.Tensor(t.state_dict()[k].numpy()))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = t(torch.from_numpy(x)).numpy()
    for tops, mops in ((dft_torch.NATIVE_OPS, dft_mindspore.NATIVE_OPS), (dft_torch.DFT_OPS, dft_mindspore.DFT_OPS)):
        t.set_ops(tops)
        m.set_ops(mops)
        with torch.no_grad():
            yt = t(torch.from_numpy(x)).numpy()
        ym = m(ms.Tensor(x)).asnumpy()
        assert np.abs(yt - ref).max() < 1e-5 and np.abs(ym - ref).max() < 1e-5
    assert np.abs(ref - x).max() > 1e-3  # the filter did something
