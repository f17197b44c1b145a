"""MindSpore building blocks that keep torch's parameter names and numerics, shared by
the model plugins (their MindSpore cells mirror the torch modules name for name; the
torch twins of the layers below are in ``torch_layers``), written for speed on CPU
(shared MINDSPORE.md): 2-D matmuls, exact-erf GELU by formula, patch embedding by
reshape + matmul, spectral filters through the op table (``dft_mindspore``), and one
``compiled()`` helper for a graph-mode forward."""

from __future__ import annotations

import math
import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import mint, nn, ops  # noqa: E402
from mindspore.common.initializer import TruncatedNormal, initializer  # noqa: E402

from . import dft_mindspore  # noqa: E402

SQRT_HALF = 1.0 / math.sqrt(2.0)


def param(array, name: str, requires_grad: bool = True) -> ms.Parameter:
    """A float32 Parameter named as torch names it (``weight``, ``bias``...)."""
    return ms.Parameter(ms.Tensor(np.asarray(array, dtype=np.float32)), name=name, requires_grad=requires_grad)


def init_rng() -> np.random.Generator:
    """The generator for a parameter's initial values, seeded from NumPy's global
    state (which ``seed_everything`` sets): a bare ``np.random.default_rng()``
    draws from the OS, so one --seed gave different weights and losses run to run."""
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


def gelu_erf(x):
    """torch's exact GELU; ``nn.GELU()`` defaults to the tanh approximation. The
    formula is faster on CPU than ``nn.GELU(approximate=False)``."""
    return 0.5 * x * (1.0 + ops.erf(x * SQRT_HALF))


LARGE_TRANSPOSE = 1 << 22  # elements


def transpose(x, axes: tuple):
    """``x`` with its axes permuted. ops.transpose keeps a buffer of twice its output's
    size for every call site in a MindSpore CPU graph (0.2 GiB per AFNO filter at
    FourCastNet's paper size); mint.permute keeps none but costs 0.8 ms more a call on
    small tensors and 3x the time on large ones. Shapes are static in a graph, so the
    choice is made once, by size (issue 19)."""
    return mint.permute(x, axes) if x.size > LARGE_TRANSPOSE else ops.transpose(x, axes)


class NativeLayerNorm(nn.Cell):
    """MindSpore's own LayerNorm over the last axis, ``(x, weight, bias) -> y``: the
    op table's default ``layer_norm`` (the CPU backend swaps in earthzoo's kernel)."""

    def __init__(self, eps: float):
        super().__init__()
        self.layer_norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x, weight, bias):
        return self.layer_norm(x, weight, bias)[0]


class NativeGelu(nn.Cell):
    """torch's exact GELU by formula (``gelu_erf``): the op table's default ``gelu``."""

    def construct(self, x):
        return gelu_erf(x)


class LayerNorm(nn.Cell):
    """LayerNorm over the last axis with torch's parameter names (``nn.LayerNorm``
    names them gamma/beta and defaults to eps 1e-7). The kernel is the op table's
    ``layer_norm(eps)``, a factory: the CPU backend's is 4-5x faster to train
    (``mindspore_cpu_kernels``)."""

    OPS = ("layer_norm",)

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = param(np.ones(dim), "weight")
        self.bias = param(np.zeros(dim), "bias")
        self.eps = eps
        self.norm = NativeLayerNorm(eps)

    def set_ops(self, table: dict) -> None:
        if "layer_norm" in table:
            self.norm = table["layer_norm"](self.eps)

    def construct(self, x):
        return self.norm(x, self.weight, self.bias)


def fused_linear(table: dict, current, residual: bool = False):
    """A layer's matmul-and-bias op from the table's ``linear(residual)`` factory (None
    there: MindSpore's MatMul and bias add); ``current`` where the table has no ``linear``."""
    if "linear" not in table:
        return current
    return table["linear"](residual) if table["linear"] is not None else None


def xavier_uniform(rng: np.random.Generator, d_out: int, d_in: int, shape=None) -> np.ndarray:
    """torch's ``xavier_uniform_`` on a (d_out, d_in) matrix (MAE's initialisation), in ``shape``."""
    bound = math.sqrt(6.0 / (d_in + d_out))
    return rng.uniform(-bound, bound, shape or (d_out, d_in))


class Linear(nn.Cell):
    """torch.nn.Linear: weight (out, in), optional bias; weights by ``init``:
    "trunc_normal" (std 0.02, bias zeros: timm/FourCastNet), "xavier" (bias zeros:
    MAE/AI-GOMS) or "uniform" (torch's default, U(+-1/sqrt(in)) for both: GraphCast).
    The input is flattened to 2-D first: a broadcast N-D matmul becomes BatchMatMul +
    BroadcastTo + ReduceSum in the backward pass (jitted forward + backward of a
    (4, 512, 128) -> 512 layer on 1 CPU thread: 76 ms flattened, 99 ms N-D; 84 vs 140 ms
    on (4, 16, 32, 128)). The bias is added by the op table's ``bias_add()``, a factory;
    the table's ``linear()`` (a factory too; ``None``: MindSpore's ops) does matmul and
    bias in one, a zero bias where there is none (the CPU backend's are kernels of
    earthzoo's own; ``mindspore_cpu_kernels``)."""

    OPS = ("bias_add", "linear")

    def __init__(self, d_in: int, d_out: int, bias: bool = True, init: str = "trunc_normal"):
        super().__init__()
        rng, bound = init_rng() if init in ("xavier", "uniform") else None, 1.0 / math.sqrt(d_in)
        if init == "xavier":
            self.weight = param(xavier_uniform(rng, d_out, d_in), "weight")
        elif init == "uniform":
            self.weight = param(rng.uniform(-bound, bound, (d_out, d_in)), "weight")
        else:
            self.weight = ms.Parameter(initializer(TruncatedNormal(0.02), (d_out, d_in), ms.float32), name="weight")
        self.has_bias = bias
        self.d_in, self.d_out = d_in, d_out
        if bias:
            self.bias = param(rng.uniform(-bound, bound, d_out) if init == "uniform" else np.zeros(d_out), "bias")
        else:
            self.zero_bias = ms.Tensor(np.zeros(d_out, np.float32))  # for ``fused``: a constant, not a parameter
        self.matmul = ops.MatMul(transpose_b=True)
        # a primitive of its own: the functional ops.bias_add (one primitive for every call
        # site) or a BiasAdd inside a cell of its own loses Cell.recompute (GraphCast small,
        # batch 4: 2.8 instead of 2.1 GB of step memory)
        self.bias_add = ops.BiasAdd()
        self.fused = self.fused_add = None

    def set_ops(self, table: dict) -> None:
        if "bias_add" in table:
            self.bias_add = table["bias_add"]()
        self.fused = fused_linear(table, self.fused)
        self.fused_add = fused_linear(table, self.fused_add, residual=True)

    def construct(self, x):
        shape = x.shape
        if self.fused is not None:
            y = self.fused(x.reshape(-1, self.d_in), self.weight, self.bias if self.has_bias else self.zero_bias)
        else:
            y = self.matmul(x.reshape(-1, self.d_in), self.weight)
            if self.has_bias:
                y = self.bias_add(y, self.bias)
        return y.reshape(shape[:-1] + (self.d_out,))

    def add_to(self, x, residual):
        """``residual + self(x)``: with the table's kernel, the sum is made in the matmul's output."""
        if self.fused_add is None:
            return residual + self.construct(x)
        shape = residual.shape
        y = self.fused_add(x.reshape(-1, self.d_in), self.weight, self.bias if self.has_bias else self.zero_bias, residual.reshape(-1, self.d_out))
        return y.reshape(shape)


class Mlp(nn.Cell):
    """fc1 -> GELU -> fc2 (torch_layers.Mlp). The GELU is exact (erf), by the op table's
    ``gelu()`` factory (the formula by default), or MindSpore's tanh kernel for "tanh"."""

    OPS = ("gelu",)

    def __init__(self, d_in: int, hidden: int, d_out: int | None = None, gelu: str = "erf", init: str = "trunc_normal"):
        super().__init__()
        self.fc1 = Linear(d_in, hidden, init=init)
        self.fc2 = Linear(hidden, d_in if d_out is None else d_out, init=init)
        self.exact = gelu != "tanh"
        self.act = NativeGelu() if self.exact else ops.GeLU()  # MindSpore's GeLU kernel is the tanh approximation

    def set_ops(self, table: dict) -> None:
        if self.exact and "gelu" in table:
            self.act = table["gelu"]()

    def construct(self, x):
        return self.fc2(self.act(self.fc1(x)))

    def add_to(self, x, residual):
        """``residual + self(x)`` (``Linear.add_to``)."""
        return self.fc2.add_to(self.act(self.fc1(x)), residual)


class Proj(nn.Cell):
    """A patch projection's parameters in Conv2d layout: weight (out, in, p, p), bias (out,),
    both U(+-1/sqrt(fan_in)) as torch's Conv2d, or the weight "xavier" over (out, in*p*p) as MAE's."""

    def __init__(self, d_in: int, d_out: int, p: int, init: str = "uniform"):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in * p * p)
        rng = init_rng()
        w = xavier_uniform(rng, d_out, d_in * p * p, (d_out, d_in, p, p)) if init == "xavier" else rng.uniform(-bound, bound, (d_out, d_in, p, p))
        self.weight = param(w, "weight")
        self.bias = param(rng.uniform(-bound, bound, d_out), "bias")


class PatchEmbed(nn.Cell):
    """torch_layers.PatchEmbed's stride-p convolution by reshape + matmul (a stride-p
    Conv2d costs 200-380 ms on CPU): (B, in, H, W) -> tokens (B, h*w, embed); matmul and
    bias by the op table's ``linear()`` where it has one (see ``Linear``)."""

    OPS = ("linear",)

    def __init__(self, in_chans: int, embed_dim: int, p: int, tokens: tuple[int, int], init: str = "uniform"):
        super().__init__()
        self.p = p
        self.h, self.w = tokens
        self.in_chans, self.embed_dim = in_chans, embed_dim
        self.proj = Proj(in_chans, embed_dim, p, init)
        self.matmul = ops.MatMul(transpose_b=True)
        self.fused = None

    def set_ops(self, table: dict) -> None:
        self.fused = fused_linear(table, self.fused)

    def construct(self, x):
        B, p, h, w = x.shape[0], self.p, self.h, self.w
        x = x.reshape(B, self.in_chans, h, p, w, p)
        x = transpose(x, (0, 2, 4, 1, 3, 5)).reshape(B * h * w, self.in_chans * p * p)
        weight = self.proj.weight.reshape(self.embed_dim, self.in_chans * p * p)
        y = self.fused(x, weight, self.proj.bias) if self.fused is not None else ops.bias_add(self.matmul(x, weight), self.proj.bias)
        return y.reshape(B, h * w, self.embed_dim)


class SpectralFilter(nn.Cell):
    """torch_layers.SpectralFilter: the AFNO weights and the block-diagonal complex MLP as
    real matmuls on [re, im] (complex numbers exist only inside a native FFT op). The
    op-table entries named in ``OPS`` are attributes (graph mode calls them)."""

    keep_fp32 = True  # spectral: float32 inside a mixed-precision run (earthzoo.frameworks.*.mixed_precision)
    OPS: tuple[str, ...] = ()

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float, hidden_size_factor: int = 1):
        super().__init__()
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        self.sparsity_threshold = sparsity_threshold
        bs, f, rng = self.block_size, hidden_size_factor, init_rng()
        self.w1 = param(0.02 * rng.standard_normal((2, num_blocks, bs, bs * f)), "w1")
        self.b1 = param(0.02 * rng.standard_normal((2, num_blocks, bs * f)), "b1")
        self.w2 = param(0.02 * rng.standard_normal((2, num_blocks, bs * f, bs)), "w2")
        self.b2 = param(0.02 * rng.standard_normal((2, num_blocks, bs)), "b2")
        self.softshrink = ops.SoftShrink(float(sparsity_threshold))  # one kernel forward and backward
        self.bmm_ta = ops.BatchMatMul(transpose_a=True)
        self.mix1 = self.mix2 = None
        self.set_ops(dft_mindspore.NATIVE_OPS)

    def set_ops(self, table: dict) -> None:
        """The FFTs named in ``OPS`` (functions) and ``complex_linear(split, activation,
        threshold)``, a layer of the mixing in one op (a factory; ``None``: MindSpore's ops)."""
        for name in self.OPS:
            if name in table:
                setattr(self, name, table[name])
        if "complex_linear" in table:
            make = table["complex_linear"]
            self.mix1 = make("in", "relu") if make is not None else None
            self.mix2 = make("out", "softshrink", self.sparsity_threshold) if make is not None else None

    def _complex_linear(self, z, w, b):
        """MindSpore's ops for the block-diagonal complex matmul as one real batched matmul
        on z = [re; im] (nb, 2i, n): [[w0, w1], [-w1, w0]]^T @ z + [b0; b1] -> (nb, 2o, n).
        Modes run along the last axis so that the bias is a per-channel ``bias_add`` on
        (1, nb*2o, n): a broadcast Add keeps a buffer of its output's size for every call
        site in MindSpore's CPU graphs (0.2 GiB per filter at FourCastNet's paper size, issue 19)."""
        wr, wi = w[0], w[1]
        big = ops.concat((ops.concat((wr, wi), 2), ops.concat((-wi, wr), 2)), 1)  # (nb, 2i, 2o)
        nb, n = z.shape[0], z.shape[2]
        y = self.bmm_ta(big, z).reshape(1, -1, n)
        return ops.bias_add(y, ops.transpose(b, (1, 0, 2)).reshape(-1)).reshape(nb, -1, n)

    def construct(self, x):
        """The filter adds its input back (the original's ``+ bias``); ``spectral`` is the rest."""
        return self.spectral(x) + x

    def mix(self, re, im):
        """The modes' real and imaginary parts (..., C) -> the MLP's output, real and
        imaginary parts in the same shape."""
        if self.mix1 is not None:  # the table's layers take the modes in their own shape, the halves as they are
            return self.mix2(self.mix1(re, im, self.w1, self.b1), self.w2, self.b2)
        nb, bs, shape = self.num_blocks, self.block_size, re.shape
        n = re.size // (nb * bs)
        z = transpose(ops.concat((re.reshape(n, nb, bs), im.reshape(n, nb, bs)), -1), (1, 2, 0))  # (nb, 2bs, n)
        o1 = ops.relu(self._complex_linear(z, self.w1, self.b1))
        o2 = transpose(self.softshrink(self._complex_linear(o1, self.w2, self.b2)), (2, 0, 1))
        return o2[:, :, :bs].reshape(shape), o2[:, :, bs:].reshape(shape)


class AFNO2D(SpectralFilter):
    """torch_layers.AFNO2D: FourCastNet's mixing over a token grid (B, H, W, C)."""

    OPS = ("rfft2", "irfft2")

    def __init__(self, dim: int, num_blocks: int, sparsity_threshold: float, hard_thresholding_fraction: float, hidden_size_factor: int = 1):
        super().__init__(dim, num_blocks, sparsity_threshold, hidden_size_factor)
        self.hard_thresholding_fraction = hard_thresholding_fraction

    def set_ops(self, table: dict) -> None:
        super().set_ops(table)
        self.pad_modes = not getattr(self.irfft2, "zero_fills", False)  # an inverse that takes the kept W-modes as they are
        self.rfft2_first = getattr(self.rfft2, "first_modes", None)  # a forward that gives only the kept W-modes

    def spectral(self, x):
        """The filter's output without its skip connection, in x's dtype."""
        dtype = x.dtype
        x = x.astype(ms.float32)
        B, H, W, C = x.shape
        Wr = W // 2 + 1
        total = H // 2 + 1
        kept = int(total * self.hard_thresholding_fraction)
        h0, h1, w1 = max(total - kept, 0), min(total + kept, H), min(kept, Wr)
        if self.rfft2_first is not None:
            re, im = self.rfft2_first(x, w1)
            if h0 > 0 or h1 < H:
                re, im = re[:, h0:h1], im[:, h0:h1]
        else:
            re, im = self.rfft2(x)
            re, im = re[:, h0:h1, :w1], im[:, h0:h1, :w1]
        o2r, o2i = self.mix(re, im)
        if w1 < Wr and self.pad_modes:  # zero the modes the original leaves out of the MLP
            zeros = ops.zeros((B, h1 - h0, Wr - w1, C), ms.float32)
            o2r, o2i = ops.concat((o2r, zeros), 2), ops.concat((o2i, zeros), 2)
        if h0 > 0 or h1 < H:
            modes = o2r.shape[2]  # w1 where the inverse takes the kept W-modes as they are
            top, bottom = ops.zeros((B, h0, modes, C), ms.float32), ops.zeros((B, H - h1, modes, C), ms.float32)
            o2r, o2i = ops.concat((top, o2r, bottom), 1), ops.concat((top, o2i, bottom), 1)
        return self.irfft2(o2r, o2i, (H, W)).astype(dtype)


class AFNO1D(SpectralFilter):
    """torch_layers.AFNO1D: AI-GOMS's mixing along a token sequence (B, N, C)."""

    OPS = ("rfft", "irfft")

    def spectral(self, x):
        """The filter's output without its skip connection, in x's dtype."""
        dtype = x.dtype
        re, im = self.rfft(x.astype(ms.float32))  # (B, K, C) each
        o2r, o2i = self.mix(re, im)
        return self.irfft(o2r, o2i, x.shape[1]).astype(dtype)


class AFNOBlock(nn.Cell):
    """torch_layers.AFNOBlock: norm1 -> filter (adds its input back) -> + input -> + mlp(norm2(x))."""

    def __init__(self, dim: int, filter: SpectralFilter, mlp_ratio: float, gelu: str = "erf", init: str = "trunc_normal"):
        super().__init__()
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.filter = filter
        self.norm2 = LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), gelu=gelu, init=init)

    def construct(self, x):
        h = self.norm1(x)
        x = ops.addn((self.filter.spectral(h).astype(x.dtype), h.astype(x.dtype), x))  # filter(h) + x in one op
        return self.mlp.add_to(self.norm2(x), x)


# MindSpore's own ops for the layer op-table entries (factories, as the CPU backend's)
NATIVE_LAYER_OPS = {"layer_norm": NativeLayerNorm, "bias_add": ops.BiasAdd, "gelu": NativeGelu, "linear": None, "complex_linear": None}


def without_compiled_kernels(net: nn.Cell) -> None:
    """MindSpore's own ops in place of compiled kernels (``Cell.recompute`` does not
    recompute an op with a bprop): the layer entries, and the spectral entries that are
    kernels (a backend's DFT-by-matmul stays)."""
    set_layer_ops(net, NATIVE_LAYER_OPS)
    for _, cell in net.cells_and_names():
        if isinstance(cell, SpectralFilter):
            cell.set_ops({name: dft_mindspore.NATIVE_OPS[name] for name in cell.OPS if getattr(getattr(cell, name), "compiled_kernel", False)})


def set_layer_ops(net: nn.Cell, table: dict) -> None:
    """A model's ``set_ops``: the table's entries into every layer that looks its ops
    up, those that name them in ``OPS`` (spectral filters: the FFTs and ``complex_linear``;
    ``layer_norm``, ``bias_add``, ``linear`` and ``gelu``)."""
    for cell in [cell for _, cell in net.cells_and_names()]:
        if getattr(cell, "OPS", None) is not None and hasattr(cell, "set_ops"):
            cell.set_ops(table)


def compiled(net: nn.Cell, step=None, check=None):
    """A graph-mode forward for ``net``: ``ms.jit`` of ``step`` (default ``net.construct``),
    made once and kept on the net itself, so it lives and dies with the net (MindSpore
    compiles once per input shape). ``check(shape)`` runs in Python first (input errors).
    Install op overrides (``set_ops``) before the first call: a compiled graph keeps its ops."""
    forward = net.__dict__.get("_earthzoo_compiled")
    if forward is None:
        jitted = ms.jit(step or net.construct)

        def forward(x):
            if check is not None:
                check(tuple(x.shape))
            return jitted(x)

        object.__setattr__(net, "_earthzoo_compiled", forward)
    return forward
