"""The CPU backend's compiled MindSpore kernels (earthzoo.frameworks.mindspore_cpu_kernels):
LayerNorm, bias add, GELU and the real FFTs, forward and backward, and the fused AdamW
update, against a float64 reference and MindSpore's own ops,
installed into models through the op table, and what happens where they cannot be
built (no compiler, a failing build, switched off): the native op stays, one line says why."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler to build the kernels")


@pytest.fixture
def kernels(monkeypatch, tmp_path):
    """The kernels module with a fresh cache folder and no memory of earlier builds or notes."""
    from earthzoo.frameworks import mindspore_cpu_kernels as k

    monkeypatch.setenv("EARTHZOO_CACHE", str(tmp_path / "cache"))
    k.library.cache_clear()
    k._say_once.cache_clear()
    yield k
    k.library.cache_clear()
    k._say_once.cache_clear()


def _reference(x, w, b, r, eps):
    """float64 LayerNorm and the gradients of sum(y * r)."""
    x, w, b, r = (a.astype(np.float64) for a in (x, w, b, r))
    mu = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    g = r * w
    dx = rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    lead = tuple(range(x.ndim - 1))
    return xhat * w + b, dx, (r * xhat).sum(lead), r.sum(lead)


def _run(cell, x, r):
    """The cell's output (graph mode) and the gradients of sum(output * r)."""
    import mindspore as ms

    return [ms.jit(cell)(ms.Tensor(x)).asnumpy(), *_grads(cell, x, r)]


@pytest.mark.parametrize("shape,eps", [((37, 96), 1e-5), ((3, 5, 24), 1e-6)])
def test_layer_norm_kernel_matches_float64_and_mindspores_own(kernels, shape, eps):
    import mindspore as ms
    from earthzoo.frameworks import mindspore_layers as ml

    rng = np.random.default_rng(1)
    c = shape[-1]
    x = (3.0 * rng.standard_normal(shape) + 1.5).astype(np.float32)
    r = rng.standard_normal(shape).astype(np.float32)
    w, b = rng.uniform(0.5, 1.5, c).astype(np.float32), rng.uniform(-1, 1, c).astype(np.float32)
    native, kernel = ml.LayerNorm(c, eps), ml.LayerNorm(c, eps)
    kernel.set_ops({"layer_norm": kernels.layer_norm})
    assert type(kernel.norm).__name__ == "KernelLayerNorm" and type(native.norm) is ml.NativeLayerNorm
    for cell in (native, kernel):
        cell.weight.set_data(ms.Tensor(w))
        cell.bias.set_data(ms.Tensor(b))
    ref = _reference(x, w, b, r, eps)
    got_native, got_kernel = _run(native, x, r), _run(kernel, x, r)
    for name, want, n, k in zip(("y", "dx", "dweight", "dbias"), ref, got_native, got_kernel):
        scale = np.abs(want).max()
        assert np.abs(k - want).max() / scale < 2e-6, name
        assert np.abs(k - n).max() / scale < 2e-6, name  # as close to MindSpore's op as that is to float64
        assert np.abs(n - want).max() / scale < 2e-6, name


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_bias_add_kernel_matches_mindspores_own_and_keeps_the_dtype(kernels, dtype):
    """float16 is what amp's matmuls hand it: the kernel adds in float32 and gives float16 back."""
    import mindspore as ms
    from mindspore import ops

    rng = np.random.default_rng(2)
    x, r = rng.standard_normal((2, 7, 24)).astype(dtype), rng.standard_normal((2, 7, 24)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    kernel = kernels.bias_add()

    def native(x, b):
        return ops.bias_add(x.reshape(-1, 24), b.astype(x.dtype)).reshape(x.shape)

    class Loss(ms.nn.Cell):
        def __init__(self, op):
            super().__init__()
            self.op = op

        def construct(self, x, b, r):
            return (self.op(x, b).astype(ms.float32) * r).sum()

    out = {}
    for name, op in (("native", native), ("kernel", kernel)):
        y = ms.jit(op)(ms.Tensor(x), ms.Tensor(b))
        assert y.dtype == ms.Tensor(x).dtype
        _, (dx, db) = ms.jit(ms.value_and_grad(Loss(op), (0, 1)))(ms.Tensor(x), ms.Tensor(b), ms.Tensor(r))
        out[name] = (y.asnumpy().astype(np.float64), dx.asnumpy().astype(np.float64), db.asnumpy().astype(np.float64))
    tol = 1e-6 if dtype == np.float32 else 2e-3
    want = (x.astype(np.float64) + b, r, r.reshape(-1, 24).sum(0))
    for name, w, n, k in zip(("y", "dx", "dbias"), want, out["native"], out["kernel"]):
        assert np.abs(k - w).max() / np.abs(w).max() < tol, name
        assert np.abs(n - w).max() / np.abs(w).max() < tol, name


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_gelu_kernel_matches_the_erf_formula(kernels, dtype):
    import mindspore as ms
    from earthzoo.frameworks import mindspore_layers as ml

    x = np.linspace(-6, 6, 2 * 3 * 101).reshape(2, 3, 101).astype(dtype)
    r = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)

    class Loss(ms.nn.Cell):
        def __init__(self, act):
            super().__init__()
            self.act = act

        def construct(self, x, r):
            return (self.act(x).astype(ms.float32) * r).sum()

    got = {}
    for name, act in (("formula", ml.gelu_erf), ("kernel", kernels.gelu())):
        y = ms.jit(act)(ms.Tensor(x))
        assert y.dtype == ms.Tensor(x).dtype
        _, dx = ms.jit(ms.value_and_grad(Loss(act), 0))(ms.Tensor(x), ms.Tensor(r))
        got[name] = (y.asnumpy().astype(np.float64), dx.asnumpy().astype(np.float64))
    tol = 1e-6 if dtype == np.float32 else 2e-3
    for a, b in zip(got["formula"], got["kernel"]):
        assert np.abs(a - b).max() / np.abs(a).max() < tol


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_fused_adamw_kernel_follows_the_graph_update(kernels, clip):
    """Three AdamW steps (weight decay, bias corrections, the clip active or off) by
    the kernel and by the engine's op-by-op graph, from the same state."""
    import mindspore as ms
    from earthzoo.training.engine_mindspore import AdamW, flatten

    rng = np.random.default_rng(4)
    shapes = [(5, 3), (7,), (2, 2, 2)]
    start = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    results = []
    for fused in (None, kernels.adamw()):
        params = [ms.Parameter(ms.Tensor(a), name=f"p{i}") for i, a in enumerate(start)]
        opt = AdamW(params, (0.9, 0.95), 1e-8, clip, fused)
        step = ms.jit(opt.construct)
        norms = []
        for t, g in enumerate(grads, 1):
            lr, wd = 1e-2, 0.1
            args = (1 - lr * wd, lr / (1 - 0.9**t), (1 - 0.95**t) ** 0.5)
            norms.append(float(step(flatten([ms.Tensor(a) for a in g]), *(ms.Tensor(np.float32(v)) for v in args)).asnumpy()))
        m, v = opt.moments()
        results.append(([p.asnumpy() for p in params], m, v, norms))
    (p0, m0, v0, n0), (p1, m1, v1, n1) = results
    assert np.allclose(n0, n1, rtol=1e-6)
    for a, b in zip(p0 + m0 + v0, p1 + m1 + v1):
        np.testing.assert_allclose(b, a, rtol=2e-6, atol=1e-7)
    assert not np.allclose(p0[0], start[0])  # the update did something


def test_linear_kernel_matches_mindspores_matmul_and_bias(kernels):
    """matmul + bias on oneDNN's sgemm: output and the gradients of x, weight and bias
    equal MindSpore's MatMul + BiasAdd's; a half input (amp) comes back half."""
    import mindspore as ms
    from earthzoo.frameworks import mindspore_layers as ml

    if kernels.dnnl_library() is None:
        pytest.skip("this MindSpore ships no libdnnl.so.3: the linear kernel is not built")
    rng = np.random.default_rng(4)
    native, fast = ml.Linear(48, 80, init="uniform"), ml.Linear(48, 80, init="uniform")
    fast.weight.set_data(native.weight.value())
    fast.bias.set_data(native.bias.value())
    fast.set_ops({"linear": kernels.linear})
    assert type(fast.fused).__name__ == "KernelLinear" and native.fused is None
    x = rng.standard_normal((3, 7, 48)).astype(np.float32)
    r = rng.standard_normal((3, 7, 80)).astype(np.float32)
    results = [_run(cell, x, r) for cell in (native, fast)]
    for name, want, got in zip(("y", "dx", "dweight", "dbias"), *results):
        assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max(), name
    half = [ms.Tensor(a, ms.float16) for a in (x.reshape(-1, 48), native.weight.asnumpy(), native.bias.asnumpy())]
    y16 = fast.fused(*half)
    assert y16.dtype == ms.float16 and np.abs(y16.asnumpy() - results[0][0].reshape(-1, 80)).max() < 2e-2 * np.abs(results[0][0]).max()


def test_linear_kernel_adds_a_residual_connection_in_its_output(kernels):
    """``Linear.add_to(x, s)`` = s + linear(x), the sum made in the sgemm's output: the
    value and the gradients of x, s, weight and bias equal MindSpore's ops'."""
    import mindspore as ms
    from earthzoo.frameworks import mindspore_layers as ml

    if kernels.dnnl_library() is None:
        pytest.skip("this MindSpore ships no libdnnl.so.3: the linear kernel is not built")
    rng = np.random.default_rng(6)
    x, s, r = (ms.Tensor(rng.standard_normal(shape).astype(np.float32)) for shape in ((3, 7, 48), (3, 7, 80), (3, 7, 80)))

    class Loss(ms.nn.Cell):
        def __init__(self, table):
            super().__init__()
            self.layer = ml.Linear(48, 80, init="uniform")
            self.layer.set_ops(table)

        def construct(self, x, s, r):
            return (self.layer.add_to(x, s) * r).sum()

    native, net = Loss({}), Loss({"linear": kernels.linear})
    net.layer.weight.set_data(native.layer.weight.value())
    net.layer.bias.set_data(native.layer.bias.value())
    results = []
    for cell in (native, net):
        loss, ((dx, ds), dparams) = ms.jit(ms.value_and_grad(cell, (0, 1), cell.trainable_params()))(x, s, r)
        results.append([loss.asnumpy(), dx.asnumpy(), ds.asnumpy(), *(p.asnumpy() for p in dparams)])
    assert type(net.layer.fused_add).__name__ == "KernelLinear"
    for name, want, got in zip(("loss", "dx", "ds", "dweight", "dbias"), *results):
        assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max(), name


_CTYPES_CALL = """
import ctypes, os, sys
import numpy as np

lib = ctypes.CDLL(sys.argv[1])
lib.earthzoo_set_threads(int(sys.argv[2]))


def call(name, *arrays):  # MindSpore's aot convention: inputs then outputs, written in place
    n = len(arrays)
    shapes = [(ctypes.c_int64 * max(a.ndim, 1))(*a.shape) for a in arrays]
    rc = getattr(lib, "earthzoo_" + name)(n, (ctypes.c_void_p * n)(*[a.ctypes.data for a in arrays]), (ctypes.c_int * n)(*[a.ndim for a in arrays]),
                                          (ctypes.POINTER(ctypes.c_int64) * n)(*[ctypes.cast(s, ctypes.POINTER(ctypes.c_int64)) for s in shapes]),
                                          (ctypes.c_char_p * n)(*[b"float32"] * n), None, None)
    assert rc == 0, name
"""

_THREADS_SCRIPT = _CTYPES_CALL + """
import time

def linear(x, w, b):
    y = np.empty((x.shape[0], w.shape[0]), np.float32)
    call("linear", x, w, b, y)
    return y


rng = np.random.default_rng(0)
x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((700, 96), (130, 96), (130,)))
want = x.astype(np.float64) @ w.T.astype(np.float64) + b
assert np.abs(linear(x, w, b) - want).max() < 1e-5 * np.abs(want).max()  # the pool's threads start here
wrong = []
for i in range(40):  # back to back (the workers spinning) and after pauses longer than their spin (asleep)
    time.sleep(0.002 * (i % 2))
    if not np.abs(linear(x, w, b) - want).max() < 1e-5 * np.abs(want).max():
        wrong.append(1)
assert not wrong, f"{len(wrong)} wrong products after pauses"


def callers_at_once():  # as MindSpore's actor threads may call two kernels at once (ctypes lets go of the GIL)
    for _ in range(40):
        if not np.abs(linear(x, w, b) - want).max() < 1e-5 * np.abs(want).max():
            wrong.append(1)


import threading

callers = [threading.Thread(target=callers_at_once) for _ in range(3)]
for t in callers:
    t.start()
for t in callers:
    t.join()
assert not wrong, f"{len(wrong)} wrong products from concurrent callers"
pid = os.fork()
if pid == 0:  # a forked child has no workers: it must not wait for them
    os._exit(0 if np.abs(linear(x, w, b) - want).max() < 1e-5 * np.abs(want).max() else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
print("ok")
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_the_sgemm_pool_gives_the_same_product_on_any_thread_count_to_concurrent_callers_and_after_a_fork(kernels, threads):
    import subprocess
    import sys

    if kernels.dnnl_library() is None:
        pytest.skip("this MindSpore ships no libdnnl.so.3: the sgemm kernels are not built")
    done = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, str(kernels.library()), threads], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]



_SPLIT_SCRIPT = _CTYPES_CALL + """
import hashlib

rng = np.random.default_rng(0)
f32 = np.float32


def rand(*shape):
    return rng.standard_normal(shape).astype(f32)


x, w, bias, dy = rand(3000, 96), rand(96), rand(96), rand(3000, 96)
y, mean, rstd = np.empty_like(x), np.empty((3000, 1), f32), np.empty((3000, 1), f32)
outs = {"layer_norm": (y, mean, rstd)}
call("layer_norm", x, w, bias, np.array([1e-5], f32), y, mean, rstd)
outs["layer_norm_grad"] = (np.empty_like(x), np.empty_like(w), np.empty_like(w))
call("layer_norm_grad", dy, x, w, mean, rstd, *outs["layer_norm_grad"])
outs["bias_add"] = (np.empty_like(x),)
call("bias_add", x, bias, *outs["bias_add"])
outs["bias_add_grad"] = (np.empty_like(bias),)
call("bias_add_grad", dy, bias, *outs["bias_add_grad"])
outs["gelu"] = (np.empty_like(x),)
call("gelu", x, *outs["gelu"])
outs["gelu_grad"] = (np.empty_like(x),)
call("gelu_grad", dy, x, *outs["gelu_grad"])
params = [rand(300, 400), rand(7), rand(90000)]
g, m = rand(210007), rand(210007)
v = np.abs(rand(210007))
outs["adamw"] = (*params, m, v, np.empty(1, f32))  # parameters and moments in place, the norm out
call("adamw", *params, g, m, v, np.array([0.999, 1e-3, 0.3, 0.9, 0.999, 1e-8, 1.0], f32), outs["adamw"][-1])
for shape in ((2, 24, 40, 96), (2, 200, 48)):  # rfft2 and the 1-D rfft
    z = rand(*shape)
    half = (*shape[:-2], shape[-2] // 2 + 1, shape[-1])
    re, im = np.empty(half, f32), np.empty(half, f32)
    call("rfft", z, re, im)
    back = np.empty_like(z)
    call("irfft", re, im, np.zeros((shape[-2], 1), f32), back)
    assert np.abs(back - z).max() < 1e-4
    outs[f"rfft {shape}"], outs[f"irfft {shape}"] = (re, im), (back,)
for name, arrays in outs.items():
    print(name, hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest())
"""


def test_every_kernel_gives_the_same_bits_on_any_thread_count(kernels):
    """The pool splits rows, columns or chunks so that each value is computed as on one
    thread: a run on 1, 2 or 3 threads writes the same bits."""
    import subprocess
    import sys

    digests = []
    for threads in ("1", "2", "3"):
        done = subprocess.run([sys.executable, "-c", _SPLIT_SCRIPT, str(kernels.library()), threads], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(dict(line.rsplit(" ", 1) for line in done.stdout.splitlines()))
    assert len(digests[0]) == 11
    for name in digests[0]:
        assert digests[0][name] == digests[1][name] == digests[2][name], name

def _weighted_sum(fn, r):
    """sum(fn(*args) * r), a closure: MindSpore's jit parses no default arguments."""

    def loss(*args):
        return (fn(*args) * r).sum()

    return loss


@pytest.mark.parametrize("factor", [1, 2])
def test_complex_linear_kernels_match_the_filters_own_ops(kernels, factor):
    """The spectral mixing (block-diagonal complex matmul, relu, again, softshrink; hidden
    factor 1 and 2) on the two fused kernel layers, modes first: output and the
    gradients of re, im and the four weights as MindSpore's own ops give them."""
    import mindspore as ms
    from earthzoo.frameworks.mindspore_layers import SpectralFilter

    if kernels.dnnl_library() is None:
        pytest.skip("this MindSpore ships no libdnnl.so.3: the complex matmul kernel is not built")
    rng = np.random.default_rng(5)
    nb, bs, n = 3, 6, 41
    re, im, rr, ri = (ms.Tensor(rng.standard_normal(s).astype(np.float32)) for s in ((n, nb * bs), (n, nb * bs), (n, nb * bs), (n, nb * bs)))
    weights = [rng.standard_normal(s).astype(np.float32) for s in ((2, nb, bs, bs * factor), (2, nb, bs * factor), (2, nb, bs * factor, bs), (2, nb, bs))]

    class Loss(ms.nn.Cell):
        def __init__(self, table):
            super().__init__()
            self.filter = SpectralFilter(nb * bs, nb, 0.3, factor)  # a threshold that zeroes some outputs
            for p, w in zip((self.filter.w1, self.filter.b1, self.filter.w2, self.filter.b2), weights):
                p.set_data(ms.Tensor(w))
            self.filter.set_ops(table)

        def construct(self, re, im):
            yr, yi = self.filter.mix(re, im)
            return (yr * rr).sum() + (yi * ri).sum()

    results = []
    for table in ({"complex_linear": None}, {"complex_linear": kernels.complex_linear}):
        net = Loss(table)
        _, (dz, dw) = ms.jit(ms.value_and_grad(net, (0, 1), net.trainable_params()))(re, im)
        results.append([np.stack([y.asnumpy() for y in net.filter.mix(re, im)]), *(g.asnumpy() for g in (*dz, *dw))])
    cell = net.filter
    assert type(cell.mix1).__name__ == type(cell.mix2).__name__ == "KernelComplexLinear"
    assert 0 < (results[0][0] == 0).mean() < 0.9  # softshrink's zeros are in the test
    for name, want, got in zip(("y", "dre", "dim", "dw1", "db1", "dw2", "db2"), *results):
        assert got.shape == want.shape and np.abs(got - want).max() <= 2e-6 * np.abs(want).max(), name


def _grads(cell, x, r):
    """The gradients of sum(cell(x) * r) with respect to x and the cell's parameters."""
    import mindspore as ms

    class Loss(ms.nn.Cell):
        def __init__(self):
            super().__init__()
            self.cell = cell

        def construct(self, x, r):
            return (self.cell(x).astype(ms.float32) * r.astype(ms.float32)).sum()

    net = Loss()
    _, (dx, params) = ms.jit(ms.value_and_grad(net, 0, net.trainable_params()))(ms.Tensor(x), ms.Tensor(r))
    return [dx.asnumpy().astype(np.float64), *(p.asnumpy().astype(np.float64) for p in params)]


def test_without_onednn_the_linear_layers_keep_mindspores_matmul(kernels, monkeypatch):
    from earthzoo.frameworks import mindspore_layers as ml

    monkeypatch.setattr(kernels, "dnnl_library", lambda: None)
    table = {name: op.resolve() for name, op in kernels.table().items()}
    assert table["linear"] is None and table["layer_norm"] is not None
    layer = ml.Linear(8, 4)
    layer.set_ops({k: v for k, v in table.items() if v is not None})
    assert layer.fused is None


# (B, H, W, C) as rfft2, (B, N, C) as rfft over axis 1; even and odd lengths, radix 4, 2, 3, 5 and 7
SPECTRAL_SHAPES = [(2, 16, 32, 8), (1, 9, 15, 3), (1, 6, 14, 5), (2, 64, 4), (1, 35, 3)]


def _spectral_pair(kernels, ndim):
    from earthzoo.frameworks import dft_mindspore

    names = ("rfft2", "irfft2") if ndim == 4 else ("rfft", "irfft")
    return [kernels.entry(n) for n in names], [dft_mindspore.NATIVE_OPS[n] for n in names]


def _spectral_run(forward, inverse, size, x, a, b, r):
    """rfft(x), irfft(a, b), and the gradients of <rfft(x), (a, b)> and <irfft(a, b), r>
    (closures without default arguments: MindSpore's graph parser refuses those)."""
    import mindspore as ms

    def spectrum(x, a, b):
        re, im = forward(x)
        return (re * a).sum() + (im * b).sum()

    def inverted(a, b):
        return inverse(a, b, size)

    def back(a, b, r):
        return (inverse(a, b, size) * r).sum()

    x, a, b, r = (ms.Tensor(t) for t in (x, a, b, r))
    re, im = ms.jit(forward)(x)
    dx = ms.jit(ms.grad(spectrum, 0))(x, a, b)
    da, db = ms.jit(ms.grad(back, (0, 1)))(a, b, r)
    return [t.asnumpy() for t in (re, im, ms.jit(inverted)(a, b), dx, da, db)]


@pytest.mark.parametrize("shape", SPECTRAL_SHAPES)
def test_fft_kernels_match_float64_and_their_gradients_mindspores_own(kernels, shape):
    """Forward against numpy in float64; the gradients of a weighted sum of the spectrum
    (rfft) and of the inverse's output (irfft) against MindSpore's own FFT ops'."""
    rng = np.random.default_rng(3)
    axes = (1, 2) if len(shape) == 4 else (1,)
    n = shape[-2]
    x = rng.standard_normal(shape).astype(np.float32)
    spec_shape = shape[:-2] + (n // 2 + 1, shape[-1])
    a, b = (rng.standard_normal(spec_shape).astype(np.float32) for _ in range(2))
    r = rng.standard_normal(shape).astype(np.float32)
    size = shape[1:3] if len(shape) == 4 else n
    results = [_spectral_run(forward, inverse, size, x, a, b, r) for forward, inverse in _spectral_pair(kernels, len(shape))]
    (kre, kim, ky, *kgrads), (nre, nim, ny, *ngrads) = results
    want = np.fft.rfftn(x.astype(np.float64), axes=axes, norm="ortho")
    want_y = np.fft.irfftn(a.astype(np.float64) + 1j * b, s=size if len(shape) == 4 else (n,), axes=axes, norm="ortho")
    assert np.abs(kre - want.real).max() < 1e-6 * np.abs(want).max() and np.abs(kim - want.imag).max() < 1e-6 * np.abs(want).max()
    assert np.abs(ky - want_y).max() < 1e-6 * np.abs(want_y).max()
    assert np.abs(nre - want.real).max() < 1e-5 * np.abs(want).max()  # the reference ops agree too
    for name, k, nat in zip(("dx", "dre", "dim"), kgrads, ngrads):
        assert np.abs(k - nat).max() < 2e-6 * np.abs(nat).max(), name


@pytest.mark.parametrize("shape,kept", [((2, 16, 32, 8), 9), ((1, 9, 15, 3), 1), ((2, 64, 4), 20)])
def test_inverse_fft_kernel_takes_fewer_modes_as_zero_padded(kernels, shape, kept):
    """Given only the first ``kept`` W-modes (FourCastNet's filter keeps fewer than
    W//2+1), the inverse kernel equals the native inverse of the zero-padded spectrum, and
    its gradients are that inverse's for the modes it was given."""
    import mindspore as ms

    (_, kernel), (_, native) = _spectral_pair(kernels, len(shape))
    rng = np.random.default_rng(8)
    size = shape[1:3] if len(shape) == 4 else shape[-2]
    full = shape[:-2] + (shape[-2] // 2 + 1, shape[-1])
    a, b = (rng.standard_normal(shape[:-2] + (kept, shape[-1])).astype(np.float32) for _ in range(2))
    r = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
    pad = [(0, 0)] * (len(shape) - 2) + [(0, full[-2] - kept), (0, 0)]
    padded = [np.pad(t, pad) for t in (a, b)]

    def run(inverse, a, b):
        def inverted(a, b):
            return inverse(a, b, size)

        def back(a, b):
            return (inverse(a, b, size) * r).sum()

        a, b = ms.Tensor(a), ms.Tensor(b)
        grads = ms.jit(ms.grad(back, (0, 1)))(a, b)
        return [ms.jit(inverted)(a, b).asnumpy(), *(g.asnumpy() for g in grads)]

    (ky, kda, kdb), (ny, nda, ndb) = run(kernel, a, b), run(native, *padded)
    assert kernel.zero_fills and np.abs(ky - ny).max() < 2e-6 * np.abs(ny).max()
    for k, nat in ((kda, nda), (kdb, ndb)):
        assert k.shape == a.shape and np.abs(k - nat[..., :kept, :]).max() < 2e-6 * np.abs(nat).max()


@pytest.mark.parametrize("shape,kept", [((2, 16, 32, 8), 9), ((1, 9, 15, 3), 1), ((1, 6, 14, 5), 8)])
def test_forward_fft_kernel_gives_only_the_first_modes(kernels, shape, kept):
    """``rfft2.first_modes(x, kept)`` equals the native rfft2's first ``kept`` W-modes, and
    so does the gradient of a weighted sum of them."""
    import mindspore as ms

    (kernel, _), (native, _) = _spectral_pair(kernels, 4)
    rng = np.random.default_rng(9)
    x = ms.Tensor(rng.standard_normal(shape).astype(np.float32))
    a, b = (ms.Tensor(rng.standard_normal(shape[:2] + (kept, shape[-1])).astype(np.float32)) for _ in range(2))

    first_modes = kernel.first_modes

    def first_kernel(x):
        return first_modes(x, kept)

    def first_native(x):
        re, im = native(x)
        return re[:, :, :kept], im[:, :, :kept]

    def weighted(first):
        def loss(x):
            re, im = first(x)
            return (re * a).sum() + (im * b).sum()

        return loss

    results = []
    for first in (first_kernel, first_native):
        re, im = ms.jit(first)(x)
        results.append([re.asnumpy(), im.asnumpy(), ms.jit(ms.grad(weighted(first)))(x).asnumpy()])
    for name, k, nat in zip(("re", "im", "dx"), *results):
        assert k.shape == nat.shape and np.abs(k - nat).max() < 2e-6 * np.abs(nat).max(), name


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_fourcastnet_filter_on_the_kernels_matches_its_own_ops(kernels, fraction):
    """AFNO2D on the kernel table (kept W-modes only, fused mixing; at fraction 0.5 also
    fewer H-modes, padded) against the same filter on MindSpore's ops: output, input
    gradient and the four weights' gradients."""
    from earthzoo.frameworks import mindspore_layers as ml

    if kernels.dnnl_library() is None:
        pytest.skip("this MindSpore ships no libdnnl.so.3: the complex matmul kernel is not built")
    rng = np.random.default_rng(10)
    x, r = (rng.standard_normal((2, 12, 20, 16)).astype(np.float32) for _ in range(2))
    native, fast = ml.AFNO2D(16, 2, 0.01, fraction), ml.AFNO2D(16, 2, 0.01, fraction)
    for name, p in native.parameters_and_names():
        dict(fast.parameters_and_names())[name].set_data(p.value())
    fast.set_ops({name: op.resolve() for name, op in kernels.table().items()})
    assert fast.rfft2_first is not None and not fast.pad_modes and type(fast.mix1).__name__ == "KernelComplexLinear"
    for name, want, got in zip(("y", "dx", "w1", "b1", "w2", "b2"), _run(native, x, r), _run(fast, x, r)):
        assert got.shape == want.shape and np.abs(got - want).max() <= 2e-5 * np.abs(want).max(), name


def test_cpu_backend_puts_the_kernels_into_every_layer_of_a_model(kernels):
    import mindspore as ms
    from earthzoo.api import build_model
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.frameworks import mindspore_layers as ml
    from earthzoo.ops import apply_custom_ops

    plain, fast = build_model("fourcastnet", "mindspore", preset="tiny"), build_model("fourcastnet", "mindspore", preset="tiny")
    mfw.load_numpy_state(fast, {k: p.asnumpy() for k, p in plain.parameters_and_names()})
    assert apply_custom_ops(fast, "mindspore", "cpu") == ["adamw", "bias_add", "complex_linear", "gelu", "irfft", "irfft2", "layer_norm", "linear", "rfft", "rfft2"]
    norms = [cell for _, cell in fast.cells_and_names() if isinstance(cell, ml.LayerNorm)]
    assert norms and all(type(n.norm).__name__ == "KernelLayerNorm" for n in norms)
    linears = [cell for _, cell in fast.cells_and_names() if isinstance(cell, ml.Linear)]
    assert linears and all(type(n.bias_add).__name__ == "KernelBiasAdd" for n in linears)
    assert not all(n.has_bias for n in linears)  # the head has none: a zero bias to the kernel
    patch = [cell for _, cell in fast.cells_and_names() if isinstance(cell, ml.PatchEmbed)]
    assert patch and all(type(n.fused).__name__ == "KernelLinear" for n in linears + patch)
    mlps = [cell for _, cell in fast.cells_and_names() if isinstance(cell, ml.Mlp)]
    assert mlps and all(type(n.act).__name__ == "KernelGelu" for n in mlps)
    filters = [cell for _, cell in fast.cells_and_names() if isinstance(cell, ml.AFNO2D)]
    assert filters and all(f.rfft2.compiled_kernel and f.irfft2.compiled_kernel for f in filters)
    assert all(type(f.mix1).__name__ == type(f.mix2).__name__ == "KernelComplexLinear" for f in filters)
    c = plain.config
    x = ms.Tensor(np.random.default_rng(0).standard_normal((1, c.in_chans, *c.img_size)).astype(np.float32))
    want, got = plain(x).asnumpy(), fast(x).asnumpy()
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-5
    assert kernels.library().parent == kernels.cache_root() / "kernels"



def test_ai_goms_head_and_patch_embedding_take_the_linear_kernel_forward_and_backward(kernels):
    """AI-GOMS's ConvTranspose head (torch's weight layout, a bias per output channel)
    and its patch embedding on the linear kernel: the native model's output and gradients."""
    import mindspore as ms
    from earthzoo.api import build_model
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.ops import apply_custom_ops

    plain, fast = build_model("ai_goms", "mindspore", preset="tiny"), build_model("ai_goms", "mindspore", preset="tiny")
    rng = np.random.default_rng(1)
    weights = {k: p.asnumpy() for k, p in plain.parameters_and_names()}
    weights.update({k: rng.standard_normal(v.shape).astype(np.float32) * 0.1 for k, v in weights.items() if k.startswith("decoder_pred.")})
    mfw.load_numpy_state(plain, weights)
    mfw.load_numpy_state(fast, weights)
    apply_custom_ops(fast, "mindspore", "cpu")
    assert type(fast.decoder_pred.fused).__name__ == "KernelLinear" and type(fast.patch_embed.fused).__name__ == "KernelLinear"
    c = plain.config
    x = ms.Tensor(rng.standard_normal((2, c.in_chans, *c.img_size)).astype(np.float32))
    r = ms.Tensor(rng.standard_normal((2, c.out_chans, *c.img_size)).astype(np.float32))
    results = []
    for net in (plain, fast):
        params = [p for p in net.trainable_params() if p.name.startswith(("decoder_pred.", "patch_embed."))]
        loss = ms.value_and_grad(lambda x, net=net: (net(x) * r).sum(), None, params)
        value, grads = loss(x)
        results.append([net(x).asnumpy(), *(g.asnumpy() for g in grads)])
    assert len(results[0]) == 5
    for want, got in zip(*results):
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("on", [True, False])
def test_split_threads_gives_the_kernels_the_threads_and_mindspore_one(kernels, monkeypatch, on):
    """With the kernels, MindSpore's own operators get one thread and the kernels' pool
    the rest (two pools as wide as the CPU made training bimodal); without them,
    MindSpore's operators get the threads."""
    import mindspore as ms

    calls = []
    monkeypatch.setattr(ms.device_context.cpu.op_tuning, "threads_num", lambda n: calls.append(("mindspore", n)))
    monkeypatch.setattr(kernels, "set_threads", lambda n: calls.append(("kernels", n)))
    if not on:
        monkeypatch.setenv(kernels.SWITCH, "0")
    kernels.split_threads(3)
    assert calls == ([("kernels", 3), ("mindspore", 1)] if on else [("mindspore", 3)])
    calls.clear()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    kernels.split_threads(None)
    assert calls == ([("kernels", len(os.sched_getaffinity(0))), ("mindspore", 1)] if on else [])
    calls.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the distributed launcher starts its workers
    kernels.split_threads(None)
    assert calls == ([("kernels", 1), ("mindspore", 1)] if on else [])


@pytest.mark.parametrize("cores,want", [(1, "graph_pipeline:False,pipeline:False,new_pipeline:False"), (2, "graph_pipeline:False")])
def test_split_threads_turns_off_mindspores_spinning_pipelines_unless_the_user_set_them(kernels, monkeypatch, cores, want):
    """The graph pipeline's caller spin-waits for its queue thread, which on one core
    costs a scheduler slice per call: off on any CPU run, the op pipelines too on one
    core; a user's own MS_DEV_RUNTIME_CONF stays."""
    import mindspore as ms

    monkeypatch.setattr(ms.device_context.cpu.op_tuning, "threads_num", lambda n: None)
    monkeypatch.setattr(kernels, "set_threads", lambda n: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.delenv("MS_DEV_RUNTIME_CONF", raising=False)
    monkeypatch.delenv("MS_WORKER_NUM", raising=False)
    kernels.split_threads(1)
    assert os.environ["MS_DEV_RUNTIME_CONF"] == want
    monkeypatch.setenv("MS_DEV_RUNTIME_CONF", "pipeline:True")
    kernels.split_threads(1)
    assert os.environ["MS_DEV_RUNTIME_CONF"] == "pipeline:True"


def test_built_once_per_machine_and_reused(kernels):
    first = kernels.library()
    stamp = first.stat().st_mtime_ns
    kernels.library.cache_clear()
    assert kernels.library() == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary file left


def _model_with_a_layer_norm():
    from earthzoo.frameworks import mindspore_layers as ml
    from mindspore import nn

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.norm = ml.LayerNorm(8, 1e-5)

        def set_ops(self, table):
            ml.set_layer_ops(self, table)

        def construct(self, x):
            return self.norm(x)

    return Net()


@pytest.mark.parametrize("compiler,why", [("/nonexistent/g++", "no C++ compiler (/nonexistent/g++ not found)"), ("false", "false failed")])
def test_where_they_cannot_be_built_the_native_op_stays_and_one_line_says_why(kernels, monkeypatch, capsys, compiler, why):
    import mindspore as ms
    from earthzoo.frameworks import mindspore_layers as ml
    from earthzoo.ops import apply_custom_ops

    monkeypatch.setenv("CXX", compiler)
    nets = [_model_with_a_layer_norm() for _ in range(2)]
    assert [apply_custom_ops(net, "mindspore", "cpu") for net in nets] == [[], []]
    assert all(type(net.norm.norm) is ml.NativeLayerNorm for net in nets)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0] and "MindSpore's own ops are used" in err[0]
    kernels_dir = kernels.cache_root() / "kernels"
    assert not kernels_dir.exists() or not any(kernels_dir.iterdir())  # a failed build leaves nothing behind
    y = nets[0](ms.Tensor(np.arange(16, dtype=np.float32).reshape(2, 8))).asnumpy()
    assert np.allclose(y.mean(-1), 0, atol=1e-5)


def test_switched_off_quietly(kernels, monkeypatch, capsys):
    from earthzoo.frameworks import mindspore_layers as ml
    from earthzoo.ops import apply_custom_ops

    monkeypatch.setenv(kernels.SWITCH, "0")
    net = _model_with_a_layer_norm()
    assert apply_custom_ops(net, "mindspore", "cpu") == []
    assert type(net.norm.norm) is ml.NativeLayerNorm
    assert capsys.readouterr().err == ""
    with pytest.raises(kernels.KernelsUnavailable, match="EARTHZOO_CPU_KERNELS=0"):
        kernels.library()


def test_the_table_is_built_without_a_framework_or_a_compiler():
    from earthzoo.ops import custom_ops

    table = custom_ops("mindspore", "cpu")
    assert sorted(table) == ["adamw", "bias_add", "complex_linear", "gelu", "irfft", "irfft2", "layer_norm", "linear", "rfft", "rfft2"]
    assert all(hasattr(op, "resolve") for op in table.values())
    assert not set(table) & set(custom_ops("torch", "cpu"))  # MindSpore only


def test_doctor_says_whether_they_are_built(kernels, monkeypatch):
    from earthzoo.doctor import _cpu_kernels_check

    ok = _cpu_kernels_check()
    assert ok["status"] == "ok" and str(kernels.library()) in ok["detail"]
    assert ("matmuls on MindSpore's oneDNN" in ok["detail"]) == (kernels.dnnl_library() is not None)
    kernels.library.cache_clear()
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    monkeypatch.setenv("EARTHZOO_CACHE", str(kernels.cache_root() / "elsewhere"))
    check = _cpu_kernels_check()
    assert check["status"] == "warn" and "no C++ compiler" in check["detail"] and "install g++" in check["detail"]


def test_recompute_puts_mindspores_own_ops_back_inside_its_blocks(kernels):
    """A Custom op with a bprop is not recomputed: inside recomputed blocks the native
    ops come back (their outputs would be kept otherwise); outside, the kernels stay."""
    from earthzoo.api import build_model
    from earthzoo.frameworks import dft_mindspore
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.frameworks import mindspore_layers as ml
    from earthzoo.ops import apply_custom_ops

    net = build_model("fourcastnet", "mindspore", preset="tiny")
    apply_custom_ops(net, "mindspore", "cpu")
    assert mfw.enable_activation_checkpointing(net) == [f"recompute on {len(net.blocks)} blocks (Cell.recompute, MindSpore's own ops inside them)"]
    inside = {id(c) for block in net.blocks for _, c in block.cells_and_names()}
    cells = [c for _, c in net.cells_and_names()]
    assert all(type(c.norm) is ml.NativeLayerNorm for c in cells if isinstance(c, ml.LayerNorm) and id(c) in inside)
    assert all(type(c.act) is ml.NativeGelu for c in cells if isinstance(c, ml.Mlp) and id(c) in inside)
    linears_in = [c for c in cells if isinstance(c, ml.Linear) and id(c) in inside]
    linears_out = [c for c in cells if isinstance(c, ml.Linear) and id(c) not in inside]
    assert linears_in and all(type(c.bias_add).__name__ == "BiasAdd" and c.fused is None for c in linears_in)
    assert linears_out and all(type(c.bias_add).__name__ == "KernelBiasAdd" for c in linears_out)
    filters = [c for c in cells if isinstance(c, ml.AFNO2D)]
    assert filters and all(f.rfft2 is dft_mindspore.native_rfft2 and f.irfft2 is dft_mindspore.native_irfft2 for f in filters)
    assert all(f.mix1 is None and f.mix2 is None for f in filters)


def test_recompute_keeps_a_backends_dft_by_matmul(kernels):
    """Only compiled kernels leave recomputed blocks: the Ascend backend's DFT-by-matmul
    (MindSpore ops, recomputed as any) stays."""
    from earthzoo.api import build_model
    from earthzoo.frameworks import dft_mindspore
    from earthzoo.frameworks import mindspore as mfw
    from earthzoo.frameworks import mindspore_layers as ml

    net = build_model("fourcastnet", "mindspore", preset="tiny")
    net.set_ops(dft_mindspore.DFT_OPS)
    mfw.enable_activation_checkpointing(net)
    filters = [c for _, c in net.cells_and_names() if isinstance(c, ml.AFNO2D)]
    assert filters and all(f.rfft2 is dft_mindspore.rfft2 for f in filters)
