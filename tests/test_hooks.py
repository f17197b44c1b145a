"""Each hook exercised through the plugin manager, with the toy model plugin and
small in-process plugins."""

from __future__ import annotations

import types

import earthzoo
import numpy as np
import pytest
from earthzoo import plugins
from earthzoo.cards import BackendCard, BackendStatus, DataSourceCard
from earthzoo.errors import EarthzooError
from earthzoo.frameworks import framework_module
from earthzoo.ops import apply_custom_ops, custom_ops
from earthzoo.plugins import hookimpl
from earthzoo.registry import get_registry
from earthzoo.runtime import MemoryPlan


def plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module made of the given hook implementations."""
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def test_earthzoo_register_models(zoo):
    assert earthzoo.list_models() == ["toy"]
    assert earthzoo.list_models("to*") == ["toy"] and earthzoo.list_models("four*") == []
    card = earthzoo.model_card("toy")
    assert card.frameworks == ("torch", "mindspore") and card.make_config("small").channels == 4
    with pytest.raises(EarthzooError, match="unknown model 'nope'.*earthzoo models"):
        earthzoo.model_card("nope")
    with pytest.raises(EarthzooError, match="no preset 'paper'.*tiny, small"):
        card.make_config("paper")


def test_earthzoo_register_backends(zoo):
    def broken_probe():
        raise RuntimeError("driver exploded")

    plugins.register(
        plugin(
            "fakechips",
            earthzoo_register_backends=lambda register: [
                register(BackendCard("ghost", "never here", ("torch",), lambda: BackendStatus(False, reason="no ghost device"), priority=50)),
                register(BackendCard("flaky", "probe raises", ("torch",), broken_probe, priority=40)),
            ],
        ),
        "fakechips",
    )
    assert earthzoo.list_backends() == ["cpu", "flaky", "ghost"]
    assert earthzoo.list_backends(available_only=True) == ["cpu"]
    assert earthzoo.select_backend("auto", "torch").name == "cpu"  # higher-priority ones are unavailable
    flaky = get_registry().backend("flaky").to_json()
    assert flaky["available"] is False and "driver exploded" in flaky["reason"]
    with pytest.raises(EarthzooError, match="backend 'ghost' is not available here: no ghost device"):
        earthzoo.select_backend("ghost")
    with pytest.raises(EarthzooError, match="unknown backend 'tpu'"):
        earthzoo.select_backend("tpu")


def test_earthzoo_register_weight_formats(zoo):
    fmt = get_registry().weight_format("toy-npz")
    assert fmt.model == "toy"
    with pytest.raises(EarthzooError, match="unknown weight format 'nvlabs'"):
        get_registry().weight_format("nvlabs")


def test_earthzoo_register_datasources(zoo):
    card = DataSourceCard("toy-data", "constant fields", "numpy:zeros", embedded=True)
    plugins.register(plugin("toydata", earthzoo_register_datasources=lambda register: register(card)), "toydata")
    assert get_registry().datasource("toy-data") is card
    with pytest.raises(EarthzooError, match="unknown data source 'era6'"):
        get_registry().datasource("era6")


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_earthzoo_build_model(zoo, framework):
    fw = framework_module(framework)
    model = earthzoo.build_model("toy", framework, preset="tiny")
    assert sorted(fw.state_to_numpy(model)) == sorted(["scale"] + [f"blocks.{i}.{m}.{p}" for i in range(2) for m in ("norm", "fc") for p in ("weight", "bias")])


def test_earthzoo_build_model_vendor_override_wins(zoo):
    sentinel = object()
    plugins.register(plugin("vendor", earthzoo_build_model=lambda card, config, framework: sentinel if framework == "torch" else None), "vendor")
    assert earthzoo.build_model("toy", "torch") is sentinel
    assert earthzoo.build_model("toy", "mindspore") is not sentinel  # falls through to core's builder


@pytest.mark.parametrize("framework,device,dist", [("torch", "cpu", "gloo"), ("mindspore", "CPU", "mccl")])
def test_earthzoo_setup_device(zoo, framework, device, dist):
    ctx = earthzoo.setup_device("cpu", framework, rank=0, world_size=1)
    assert (ctx.backend, ctx.device, ctx.dist_backend) == ("cpu", device, dist)
    ctx.synchronize()


def test_earthzoo_custom_ops(zoo):
    assert custom_ops("torch", "cpu") == {}
    first = plugin("ops1", earthzoo_custom_ops=lambda backend, framework: {"rfft2": "dft-1", "scatter_sum": "seg"} if backend == "cpu" else None)
    second = plugin("ops2", earthzoo_custom_ops=lambda backend, framework: {"rfft2": "dft-2"} if backend == "cpu" else None)
    plugins.register(first, "ops1")
    plugins.register(second, "ops2")
    assert custom_ops("torch", "cpu") == {"rfft2": "dft-2", "scatter_sum": "seg"}  # the later plugin wins
    assert custom_ops("torch", "cuda") == {}
    model = earthzoo.build_model("toy", "torch")
    assert apply_custom_ops(model, "torch", "cpu") == ["rfft2", "scatter_sum"]
    assert model.ops["rfft2"] == "dft-2"


def test_earthzoo_mixed_precision(zoo):
    hook = zoo.hook.earthzoo_mixed_precision
    assert hook(backend="cpu", framework="torch", policy="fp32").autocast_dtype is None
    bf16 = hook(backend="cpu", framework="torch", policy="bf16")
    assert (bf16.autocast_dtype, bf16.grad_scaler) == ("bfloat16", False)
    fp16 = hook(backend="cpu", framework="torch", policy="fp16")
    assert (fp16.autocast_dtype, fp16.grad_scaler) == ("float16", True)
    ms16 = hook(backend="cpu", framework="mindspore", policy="fp16")
    assert (ms16.amp_level, ms16.amp_dtype, ms16.grad_scaler) == ("auto", "float16", True)
    assert "rfft2" in ms16.fp32_ops
    with pytest.raises(EarthzooError, match="no bf16 CPU kernels.*fp16 or fp32"):
        hook(backend="cpu", framework="mindspore", policy="bf16")
    with pytest.raises(EarthzooError, match="unknown precision 'fp8'"):
        hook(backend="cpu", framework="torch", policy="fp8")
    assert hook(backend="cuda", framework="torch", policy="bf16") is None  # not core's backend


def test_earthzoo_memory_schedule_torch_checkpointing_keeps_numerics(zoo):
    import torch
    from earthzoo.frameworks import torch as tfw

    plain, ckpt = earthzoo.build_model("toy", "torch"), earthzoo.build_model("toy", "torch")
    tfw.load_numpy_state(ckpt, tfw.state_to_numpy(plain))
    applied = zoo.hook.earthzoo_memory_schedule(backend="cpu", framework="torch", model=ckpt, plan=MemoryPlan(activation_checkpointing=True, memory_fraction=0.5))
    assert applied[0] == "activation checkpointing on 2 blocks (torch.utils.checkpoint)"
    assert "memory_fraction ignored" in applied[1]
    x = torch.randn(2, 3, 8, 16)
    outs, grads = [], []
    for model in (plain, ckpt):
        y = model(x)
        y.square().mean().backward()
        outs.append(y.detach())
        grads.append(model.blocks[0].fc.weight.grad.clone())
    assert torch.equal(outs[0], outs[1])
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-7)


def test_earthzoo_memory_schedule_mindspore_recompute(zoo):
    import mindspore as ms

    model = earthzoo.build_model("toy", "mindspore")
    x = ms.Tensor(np.random.default_rng(0).standard_normal((1, 3, 8, 16)).astype(np.float32))
    before = model(x).asnumpy()
    applied = zoo.hook.earthzoo_memory_schedule(backend="cpu", framework="mindspore", model=model, plan=MemoryPlan(activation_checkpointing=True))
    assert applied == ["recompute on 2 blocks (Cell.recompute, MindSpore's own ops inside them)"]
    np.testing.assert_array_equal(model(x).asnumpy(), before)


def _fake_rapl(root, packages):
    for i, (energy, rng) in enumerate(packages):
        d = root / f"intel-rapl:{i}"
        d.mkdir(parents=True)
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{rng}\n")
        sub = root / f"intel-rapl:{i}:0"  # a sub-domain (core) that must not be double counted
        sub.mkdir()
        (sub / "energy_uj").write_text("5\n")


def test_earthzoo_energy_meter(zoo, tmp_path):
    from earthzoo.backends.cpu import rapl_meter

    meter = zoo.hook.earthzoo_energy_meter(backend="cpu")
    with meter:
        sum(range(1000))
    reading = meter.reading
    assert reading.seconds > 0 and reading.method in ("counter", "unavailable")
    if reading.method == "unavailable":
        assert reading.joules is None and reading.reason  # says why, never guesses

    root = tmp_path / "powercap"
    _fake_rapl(root, [(1_000_000, 10_000_000), (9_900_000, 10_000_000)])
    meter = rapl_meter(str(root))
    with meter:
        (root / "intel-rapl:0" / "energy_uj").write_text("3000000\n")  # +2 J
        (root / "intel-rapl:1" / "energy_uj").write_text("400000\n")  # wrapped: +0.5 J
    assert meter.reading.method == "counter"
    assert meter.reading.joules == pytest.approx(2.5)
    assert meter.reading.mean_watts == pytest.approx(2.5 / meter.reading.seconds)

    empty = rapl_meter(str(tmp_path / "nothing"))
    with empty:
        pass
    assert empty.reading.method == "unavailable" and "no RAPL domains" in empty.reading.reason


def test_earthzoo_setup_device_mindspore_after_a_kernel_already_ran(zoo):
    import subprocess
    import sys

    # MindSpore refuses set_device once a kernel has run; on the same device that is no error.
    code = "import mindspore as ms, numpy as np, earthzoo\nms.Tensor(np.ones(2, np.float32)).sum().asnumpy()\nprint(earthzoo.setup_device('cpu', 'mindspore').device)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("CPU"), out.stderr[-500:]
