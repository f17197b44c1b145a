"""Core's layer libraries: the MindSpore ``compiled()`` helper keeps one jitted forward
on the net itself (none in a module-level table, so a dropped net is freed), runs the
input check first; the shared layers keep torch's parameter names in both frameworks."""

from __future__ import annotations

import gc
import os
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


def test_torch_patch_embedding_as_a_matmul_equals_the_convolution():
    """PatchEmbed runs its stride-p convolution as one matmul over the patches (4x faster
    on CPU); a grid that p does not divide goes through the convolution, as before."""
    import torch
    from earthzoo.frameworks.torch_layers import PatchEmbed

    torch.manual_seed(0)
    embed = PatchEmbed(5, 24, 4)
    for shape, tokens in (((2, 5, 16, 32), 4 * 8), ((1, 5, 18, 35), 4 * 8)):
        x = torch.randn(shape)
        want = embed.proj(x).flatten(2).transpose(1, 2)
        got = embed(x)
        assert got.shape == (shape[0], tokens, 24)
        assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_torch_inference_function_compiled_gives_the_eager_forecast():
    """``inference_function(compile=True)`` (torch.compile) computes the same forward."""
    import torch
    from earthzoo.api import build_model, model_card
    from earthzoo.cards import resolve
    from earthzoo.frameworks import torch as tfw

    card = model_card("fourcastnet")
    config = card.make_config("tiny")
    torch.manual_seed(0)
    model = build_model("fourcastnet", "torch", config=config)
    x = np.asarray(resolve(card.example_input)(config, 1, 0), np.float32)
    eager, compiled = tfw.inference_function(model)(x), tfw.inference_function(model, compile=True)(x)
    assert compiled.shape == eager.shape and np.abs(compiled - eager).max() <= 1e-5 * np.abs(eager).max()



def test_torch_compile_without_a_compiler_is_one_line(tmp_path):
    """torch.compile's CPU backend needs a C++ compiler: without one, the first call says
    so in one line (earthzoo forecast --compile: ``error: ...``, exit 2)."""
    import subprocess
    import sys

    script = """
import numpy as np, torch
from earthzoo.errors import EarthzooError
from earthzoo.frameworks import torch as tfw
run = tfw.inference_function(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()), compile=True)
try:
    run(np.ones((2, 4), np.float32))
except EarthzooError as exc:
    print(exc.problem)
"""
    env = {**os.environ, "CXX": str(tmp_path / "no-compiler"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("torch.compile cannot compile Sequential here (") and "C++ compiler" in done.stdout
