"""earthzoo's own MindSpore CPU kernels (``mindspore_cpu_kernels.cc``), the CPU
backend's custom ops: MindSpore 2.10's LayerNorm kernels take 5x (forward) and 40x
(backward) torch's time on CPU, a third of GraphCast's training step, its bias
gradient another 7 %, the exact GELU (erf formula) is ten element-wise ops, its real
FFTs and their gradients take about 5x torch's time (a fifth of FourCastNet's step),
its MatMul and BatchMatMul 1.4-2.8x, and the optimizer update a dozen passes over the
parameters (issue 19).

The source is compiled once per machine with the system's C++ compiler (``$CXX``,
default g++) into ``$EARTHZOO_CACHE/kernels``, linked to the oneDNN library MindSpore
ships for the matmuls (its sgemm; without it MindSpore's matmuls stay), and called
through ``ops.Custom(func_type="aot")``. Where it cannot be built, models keep
MindSpore's own ops and one line says why. ``EARTHZOO_CPU_KERNELS=0`` turns them off.
The kernels run on a pool of threads of their own, split so that results do not
depend on the thread count (oneDNN's sgemm aside); ``split_threads`` gives them the
run's threads and MindSpore's own operators one."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import EarthzooError
from ..files import atomic_path, cache_root

SOURCE = Path(__file__).with_suffix(".cc")
FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC", "-pthread")  # no fused multiply-add: the graphs' rounding; no errno: vector sqrt


def dnnl_library() -> Path | None:
    """The oneDNN library MindSpore ships (its ``lib/libdnnl.so.3``), found without
    importing MindSpore; the linear kernel calls its sgemm. None where it is absent."""
    import importlib.util

    spec = importlib.util.find_spec("mindspore")
    path = Path(spec.origin).parent / "lib" / "libdnnl.so.3" if spec and spec.origin else None
    return path if path is not None and path.exists() else None


def _command(compiler: str, out: Path) -> list[str]:
    """The build command; with glibc's libmvec where it has erff (x86-64, glibc 2.35+),
    so that the GELU loops vectorise, and linked to MindSpore's oneDNN where it has one."""
    libc, version = platform.libc_ver()
    mvec = platform.machine() == "x86_64" and libc == "glibc" and tuple(int(v) for v in version.split(".")[:2] if v.isdigit()) >= (2, 35)
    dnnl = dnnl_library()
    link = ["-DEARTHZOO_DNNL", f"-L{dnnl.parent}", f"-l:{dnnl.name}", f"-Wl,-rpath,{dnnl.parent}"] if dnnl else []
    return [compiler, *FLAGS, *(["-DEARTHZOO_MVEC"] if mvec else []), "-o", str(out), str(SOURCE), *(["-lmvec"] if mvec else []), *link]


SWITCH = "EARTHZOO_CPU_KERNELS"


def switched_off() -> bool:
    return os.environ.get(SWITCH, "1") == "0"


class KernelsUnavailable(RuntimeError):
    """The kernels cannot be built or loaded here; the message says why."""


def _cpu_signature() -> str:
    """What ``-march=native`` compiles for: the CPU model and its flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return "\n".join(next((line for line in lines if line.startswith(key)), "") for key in ("model name", "flags"))


@functools.lru_cache(maxsize=None)
def library() -> Path:
    """The compiled kernel library, built on first use and cached by source, compiler,
    flags and CPU; raises KernelsUnavailable (switched off, no compiler, build failed)."""
    if switched_off():
        raise KernelsUnavailable(f"{SWITCH}=0")
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise KernelsUnavailable(f"no C++ compiler ({os.environ.get('CXX', 'g++')} not found)")
    key = hashlib.sha256("\n".join((SOURCE.read_text(), " ".join(_command(compiler, Path("out"))), _cpu_signature())).encode()).hexdigest()[:16]
    target = cache_root() / "kernels" / f"mindspore_cpu_{key}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            done = subprocess.run(_command(compiler, tmp), capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise KernelsUnavailable(f"{Path(compiler).name} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    except (OSError, EarthzooError, subprocess.TimeoutExpired) as exc:
        raise KernelsUnavailable(f"cannot build them in {str(target.parent)!r}: {exc}") from exc
    return target


def set_threads(threads: int) -> None:
    """The kernels' thread count from now on (built here if need be). Their pool's
    default is one thread per CPU the process may use: MindSpore sets
    ``OMP_NUM_THREADS=1`` for itself on import, so the library cannot go by it."""
    import ctypes

    ctypes.CDLL(str(library())).earthzoo_set_threads(int(threads))


def default_threads() -> int:
    """``OMP_NUM_THREADS`` as this process was started with (a distributed launcher's
    workers get 1; ``os.environ`` does not see MindSpore's own setting), else one per
    CPU the process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))


def _twice(x):
    return x * 2


@contextlib.contextmanager
def _stdout_silenced():
    """File descriptor 1 on /dev/null for a while (C++ writes there, not through ``sys.stdout``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def runtime_conf() -> str:
    """MindSpore's runtime options for a CPU run (``MS_DEV_RUNTIME_CONF``). Its graph
    pipeline hands each compiled call to a queue thread while the caller spin-waits in
    ``AsyncRQueue::Wait``; on one core the two take turns by the scheduler's slice
    (FourCastNet ``small``'s forward: 16.0 ms on one core, 10.6 without the pipelines;
    8.1 instead of 12.1, bimodal, on one thread of two cores; alike on two threads).
    On one core the op pipelines go too (alone they left 12.5 ms)."""
    one_core = len(os.sched_getaffinity(0)) == 1
    return "graph_pipeline:False" + (",pipeline:False,new_pipeline:False" if one_core else "")


def split_threads(threads: int | None) -> None:
    """A MindSpore CPU run's threads (None: ``default_threads``): where the kernels are
    on, they take them all and MindSpore's own operators (slicing, transposes: a small
    share of the work) get one. Two pools each as wide as the CPU took turns waiting at
    their barriers: training steps bimodal and 2-3x slower on two cores (issue 19).
    Where the kernels are off, MindSpore's operators get ``threads``. Also MindSpore's
    runtime pipelines (``runtime_conf``), unless ``MS_DEV_RUNTIME_CONF`` is set or this
    is an msrun worker: read when the first op runs, so call this before."""
    import mindspore as ms

    try:
        library()
        on = True
    except KernelsUnavailable:
        on = False
    if on:
        set_threads(threads or default_threads())
    if on or threads:
        try:
            ms.device_context.cpu.op_tuning.threads_num(1 if on else threads)
        except Exception:  # noqa: BLE001 - MindSpore takes it once per process
            pass
    if "MS_DEV_RUNTIME_CONF" not in os.environ and "MS_WORKER_NUM" not in os.environ:  # msrun's workers may run no graph before their communication starts
        os.environ["MS_DEV_RUNTIME_CONF"] = runtime_conf()
        with _stdout_silenced():  # MindSpore prints the options it read, and the first compile's level, on stdout: a --json answer's stream
            ms.jit(_twice)(ms.Tensor([1.0], ms.float32)).asnumpy()


def _custom(lib: Path, name: str, out_shape, out_dtype, bprop=None):
    """The library's kernel ``earthzoo_<name>`` as a MindSpore Custom op."""
    from mindspore import ops

    return ops.Custom(f"{lib}:earthzoo_{name}", out_shape=out_shape, out_dtype=out_dtype, func_type="aot", bprop=bprop)


@functools.lru_cache(maxsize=None)
def _cells(lib: Path) -> tuple:
    """The kernels as MindSpore cell classes, each op with its backward as ``bprop``
    and its own op instances, as MindSpore's own layers have (see
    ``mindspore_layers.Linear``). An op with a bprop is not recomputed:
    ``enable_activation_checkpointing`` puts MindSpore's ops back in recomputed blocks.
    Inputs are cast to float32: MindSpore's amp passes a Custom op its inputs as they are."""
    import mindspore as ms
    from mindspore import nn, ops

    custom = functools.partial(_custom, lib)

    class KernelLayerNorm(nn.Cell):
        """``(x, weight, bias) -> y``, normalised over the last axis; float32 out."""

        def __init__(self, eps: float):
            super().__init__()
            grad = custom("layer_norm_grad", lambda dy, x, w, m, r: (x, w, w), lambda dy, x, w, m, r: (x, x, x))

            def bprop(x, w, b, eps, out, dout):
                dx, dw, db = grad(dout[0], x, w, out[1], out[2])
                return dx, dw, db, ops.zeros_like(eps)

            self.op = custom("layer_norm", lambda x, w, b, eps: (x, x[:-1] + [1], x[:-1] + [1]), lambda x, w, b, eps: (x, x, x), bprop)
            self.eps = ms.Tensor([eps], ms.float32)

        def construct(self, x, weight, bias):
            f32 = ms.float32
            return self.op(x.astype(f32), weight.astype(f32), bias.astype(f32), self.eps)[0]

    class KernelBiasAdd(nn.Cell):
        """``(x, bias) -> x + bias`` over the last axis, in x's dtype; its gradient a row sum."""

        def __init__(self):
            super().__init__()
            grad = custom("bias_add_grad", lambda dy, b: b, lambda dy, b: b)

            def bprop(x, b, out, dout):  # a def: MindSpore parses a bprop's source, and cannot an inline lambda
                return dout, grad(dout, b)

            self.op = custom("bias_add", lambda x, b: x, lambda x, b: x, bprop)

        def construct(self, x, b):
            return self.op(x.astype(ms.float32), b.astype(ms.float32)).astype(x.dtype)

    class KernelGelu(nn.Cell):
        """torch's exact GELU, in x's dtype (computed in float32)."""

        def __init__(self):
            super().__init__()
            grad = custom("gelu_grad", lambda dy, x: x, lambda dy, x: x)

            def bprop(x, out, dout):
                return (grad(dout, x),)

            self.op = custom("gelu", lambda x: x, lambda x: x, bprop)

        def construct(self, x):
            return self.op(x.astype(ms.float32)).astype(x.dtype)

    class KernelLinear(nn.Cell):
        """``(x (M, K), weight (N, K), bias (N)) -> x weight^T + bias`` on oneDNN's sgemm, in
        x's dtype; with ``residual``, ``(x, weight, bias, r (M, N)) -> r + x weight^T + bias``."""

        def __init__(self, residual: bool = False):
            super().__init__()
            grad = custom("linear_grad", lambda dy, x, w: (x, w, w[:1]), lambda dy, x, w: (x, x, x))

            def bprop(x, w, b, out, dout):
                return grad(dout, x, w)

            def bprop_residual(x, w, b, r, out, dout):
                dx, dw, db = grad(dout, x, w)
                return dx, dw, db, dout

            if residual:
                self.op = custom("linear_residual", lambda x, w, b, r: [x[0], w[0]], lambda x, w, b, r: x, bprop_residual)
            else:
                self.op = custom("linear", lambda x, w, b: [x[0], w[0]], lambda x, w, b: x, bprop)

        def construct(self, x, weight, bias, residual=None):
            f32 = ms.float32
            if residual is None:
                return self.op(x.astype(f32), weight.astype(f32), bias.astype(f32)).astype(x.dtype)
            return self.op(x.astype(f32), weight.astype(f32), bias.astype(f32), residual.astype(f32)).astype(x.dtype)

    class KernelComplexLinear(nn.Cell):
        """A layer of the AFNO mixing (``SpectralFilter.mix``): the block-diagonal complex
        matmul on the modes, w (2, NB, I, O) and b (2, NB, O) as [real, imaginary], and its
        activation, "relu" or "softshrink", float32. ``split="in"``: (re, im) (..., NB * I)
        each -> (..., NB, 2O) as [re, im] per block; ``"out"``: that layout -> (re, im)
        (..., NB * O) each; "..." are the modes, in their own shape."""

        def __init__(self, split: str, activation: str, threshold: float = 0.0):
            super().__init__()
            db = lambda w: [w[0], w[1], w[3]]  # noqa: E731
            if split == "in":
                grad = custom("complex_linear_split_in_grad", lambda dy, re, im, w, y: (re, re, w, db(w)), lambda dy, re, im, w, y: (re, re, re, re))

                def bprop(re, im, w, b, act, out, dout):
                    dre, dim, dw, db_ = grad(dout, re, im, w, out)
                    return dre, dim, dw, db_, ops.zeros_like(act)

                self.op = custom("complex_linear_split_in", lambda re, im, w, b, act: re[:-1] + [w[1], 2 * w[3]], lambda re, im, w, b, act: re, bprop)
            else:
                grad = custom("complex_linear_split_out_grad", lambda dyr, dyi, z, w, yr, yi: (z, w, db(w)), lambda dyr, dyi, z, w, yr, yi: (z, z, z))

                def bprop(z, w, b, act, out, dout):
                    dz, dw, db_ = grad(dout[0], dout[1], z, w, out[0], out[1])
                    return dz, dw, db_, ops.zeros_like(act)

                half = lambda z, w: z[:-2] + [w[1] * w[3]]  # noqa: E731
                self.op = custom("complex_linear_split_out", lambda z, w, b, act: (half(z, w), half(z, w)), lambda z, w, b, act: (z, z), bprop)
            self.act = ms.Tensor([("relu", "softshrink").index(activation), threshold], ms.float32)

        def construct(self, *args):
            return self.op(*args, self.act)

    class KernelAdamW(nn.Cell):
        """``(params, g, m, v, hyper) -> |g|``, the parameters (a tuple of tensors) and
        the flat moments m and v updated in place (the engine's AdamW)."""

        def __init__(self):
            super().__init__()
            self.op = custom("adamw", lambda *s: [1], lambda *t: t[-1])
            self.op.add_prim_attr("side_effect_mem", True)  # it writes its inputs: kept, and ordered as an Assign

        def construct(self, params, g, m, v, hyper):
            return self.op(*params, g, m, v, hyper)

    return KernelLayerNorm, KernelBiasAdd, KernelGelu, KernelAdamW, KernelLinear, KernelComplexLinear


@functools.lru_cache(maxsize=None)
def _spectral(lib: Path) -> dict:
    """The op table's ``rfft``/``irfft``/``rfft2``/``irfft2`` (``dft_mindspore``'s
    contract: re and im as two float32 tensors, ortho norm, channels last) on the
    kernels, each Custom op with its gradient as ``bprop``. The transform length of an
    inverse comes to its kernel as the shape of a ``like`` input (``x`` in a gradient)."""
    import mindspore as ms
    from mindspore import ops

    custom = functools.partial(_custom, lib)

    def one_sided(x):
        return x[:-2] + [x[-2] // 2 + 1] + x[-1:]

    rfft_grad = custom("rfft_grad", lambda re, im, like: like, lambda re, im, like: re)
    irfft_grad = custom("irfft_grad", lambda dy, re: (re, re), lambda dy, re: (dy, dy))

    def rfft_bprop(x, out, dout):
        return (rfft_grad(dout[0], dout[1], x),)

    def irfft_bprop(re, im, like, out, dout):
        dre, dim = irfft_grad(dout, re)
        return dre, dim, ops.zeros_like(like)

    def kept(x, like):
        return x[:-2] + [like[0]] + x[-1:]

    def rfft_modes_bprop(x, like, out, dout):
        return rfft_grad(dout[0], dout[1], x), ops.zeros_like(like)

    forward = custom("rfft", lambda x: (one_sided(x), one_sided(x)), lambda x: (x, x), rfft_bprop)
    forward_modes = custom("rfft_modes", lambda x, like: (kept(x, like), kept(x, like)), lambda x, like: (x, x), rfft_modes_bprop)
    inverse = custom("irfft", lambda re, im, like: re[:-2] + [like[-2]] + re[-1:], lambda re, im, like: re, irfft_bprop)

    def rfft2(x):
        return forward(x)

    def rfft2_modes(x, modes):
        """rfft2's first ``modes`` W-modes only (the kernel computes no more)."""
        return forward_modes(x, ops.zeros((int(modes), 1), ms.float32))

    def irfft2(re, im, s):
        return inverse(re, im, ops.zeros((int(s[-1]), 1), ms.float32))

    def irfft(re, im, n):
        return inverse(re, im, ops.zeros((int(n), 1), ms.float32))

    for f in (rfft2, irfft2, irfft):
        f.compiled_kernel = True  # mindspore_layers.without_compiled_kernels
    for f in (irfft2, irfft):
        f.zero_fills = True  # given fewer modes than W//2+1, the rest count as zero (AFNO2D pads none)
    rfft2.first_modes = rfft2_modes  # AFNO2D slices none
    # the kernels take 4-D (B, H, W, C) as rfft2 and 3-D (B, N, C) as rfft over axis 1
    return {"rfft": rfft2, "irfft": irfft, "rfft2": rfft2, "irfft2": irfft2}


def layer_norm(eps: float):
    """The op table's ``layer_norm`` factory (``mindspore_layers.LayerNorm``)."""
    return _cells(library())[0](eps)


def bias_add():
    """The op table's ``bias_add`` factory (``mindspore_layers.Linear``)."""
    return _cells(library())[1]()


def gelu():
    """The op table's ``gelu`` factory (exact GELU, ``mindspore_layers.Mlp``)."""
    return _cells(library())[2]()


def linear(residual: bool = False):
    """The op table's ``linear`` factory (``mindspore_layers.Linear``: matmul and bias in
    one; with ``residual``, a residual connection's sum too)."""
    return _cells(library())[4](residual)


def complex_linear(split: str, activation: str, threshold: float = 0.0):
    """The op table's ``complex_linear`` factory (a layer of the spectral filters' mixing:
    block-diagonal complex matmul and activation, ``split`` "in" or "out")."""
    return _cells(library())[5](split, activation, threshold)


def adamw():
    """The op table's ``adamw`` factory: the MindSpore engine's clip + AdamW update."""
    return _cells(library())[3]()


SPECTRAL = ("rfft", "irfft", "rfft2", "irfft2")


def entry(name: str):
    """The op table's entry ``name`` on the built kernels: a cell factory (layers, the
    engine's optimizer) or a spectral function (as ``dft_mindspore``'s)."""
    if name in SPECTRAL:
        return _spectral(library())[name]
    if name in ("linear", "complex_linear") and dnnl_library() is None:
        return None  # no oneDNN to call: MindSpore's MatMul stays
    return {"layer_norm": layer_norm, "bias_add": bias_add, "gelu": gelu, "linear": linear, "complex_linear": complex_linear, "adamw": adamw}[name]


class LazyKernel:
    """An op-table entry that builds the kernels when a model first asks for it
    (``ops.apply_custom_ops``): building the table imports no framework and compiles
    nothing. Resolves to its :func:`entry`, or to None (the native op stays) where the
    kernels are switched off or cannot be built, the latter with one line on stderr."""

    def __init__(self, name: str):
        self.name = name

    def resolve(self):
        if switched_off():
            return None
        try:
            library()
        except KernelsUnavailable as exc:
            _say_once(f"note: earthzoo's MindSpore CPU kernels are off ({exc}); MindSpore's own ops are used, slower to train")
            return None
        return entry(self.name)


@functools.lru_cache(maxsize=None)
def _say_once(line: str) -> None:
    print(line, file=sys.stderr)


def table() -> dict:
    """The CPU backend's MindSpore overrides."""
    return {name: LazyKernel(name) for name in ("layer_norm", "bias_add", "gelu", "linear", "complex_linear", "adamw", *SPECTRAL)}
