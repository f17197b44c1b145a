"""earthzoo-ascend on a machine without an NPU: recorded npu-smi outputs of several
driver versions, probes on fake /dev trees, the op table (DFT-by-matmul FFT and the
one-hot scatter) checked against native ops, plans applied to tiny CPU models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from earthzoo import api, plugins
from earthzoo.errors import EarthzooError
from earthzoo.ops import custom_ops
from earthzoo.runtime import MemoryPlan
from earthzoo_ascend import energy, ops, probe, runtime

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


@pytest.fixture
def pm(monkeypatch):
    """A plugin manager with only earthzoo-ascend installed next to core."""
    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "ascend")
    plugins.reset()
    yield plugins.get_plugin_manager()
    plugins.reset()


# --- npu-smi parsing and the sampled meter ------------------------------------------


@pytest.mark.parametrize(
    ("name", "watts"),
    [
        ("power_910a_driver21.txt", 72.8),  # "Power Dissipation(W)"
        ("power_910b_driver23.txt", 93.6),  # "Power(W)" next to a "Power Limit(W)" that is not a draw
        ("power_310p_duo_driver24.txt", 38.5 + 41.0),  # two chips, "Real-time Power(W)" each; "Rated Power" ignored
    ],
)
def test_power_label_of_each_driver_version(name, watts):
    assert energy.parse_power(recorded(name)) == pytest.approx(watts)


@pytest.mark.parametrize("name", ["power_na.txt", "power_error.txt"])
def test_unreadable_power_is_none(name):
    assert energy.parse_power(recorded(name)) is None


def test_npu_ids_from_info_l():
    assert energy.parse_npu_ids(recorded("info_l.txt")) == [0, 1]


def replay(power_files: dict[int, str], calls: list | None = None):
    """A stand-in for npu-smi that prints the recorded outputs."""

    def run(args):
        if calls is not None:
            calls.append(tuple(args))
        if list(args) == ["info", "-l"]:
            return recorded("info_l.txt")
        assert list(args[:3]) == ["info", "-t", "power"] and args[3] == "-i"
        return recorded(power_files[int(args[4])])

    return run


def test_sampled_meter_sums_npus_and_integrates(monkeypatch):
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
    calls: list = []
    meter = energy.npu_smi_meter(replay({0: "power_910a_driver21.txt", 1: "power_910b_driver23.txt"}, calls), interval=0.01)
    assert ("info", "-l") in calls and "NPUs 0,1" in meter.source
    with meter:
        time.sleep(0.05)
    r = meter.reading
    assert r.method == "sampled" and r.samples >= 2
    assert r.mean_watts == pytest.approx(72.8 + 93.6)
    assert r.joules == pytest.approx((72.8 + 93.6) * r.seconds)


def test_visible_devices_choose_the_npus(monkeypatch):
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "1")
    meter = energy.npu_smi_meter(replay({1: "power_310p_duo_driver24.txt"}), interval=0.01)
    with meter:
        pass
    assert meter.reading.mean_watts == pytest.approx(79.5) and "NPUs 1" in meter.source


def test_unreadable_power_makes_the_meter_unavailable():
    meter = energy.npu_smi_meter(replay({0: "power_na.txt"}), ids=[0])
    with meter:
        pass
    assert meter.reading.method == "unavailable" and meter.reading.joules is None and "[0]" in meter.reading.reason


def test_failing_npu_smi_is_unavailable_not_an_exception():
    def broken(args):
        raise PermissionError("npu-smi: permission denied")

    meter = energy.npu_smi_meter(broken, ids=[0])
    with meter:
        pass
    assert meter.reading.method == "unavailable" and "PermissionError" in meter.reading.reason


def test_energy_hook_on_this_machine_says_why(pm):
    meter = pm.hook.earthzoo_energy_meter(backend="ascend")
    with meter:
        pass
    assert meter.reading.method == "unavailable" and "npu-smi" in meter.reading.reason


# --- probe, listing, selection ---------------------------------------------------------


def fake_dev(tmp_path, names):
    root = tmp_path / "dev"
    root.mkdir()
    for n in names:
        (root / n).touch()
    return str(root)


def test_probe_counts_davinci_chips(tmp_path):
    dev = fake_dev(tmp_path, ["davinci0", "davinci1", "davinci_manager", "devmm_svm", "hisi_hdc"])
    st = probe.probe_with(dev, torch_npu=True, ms_ascend=True, npu_smi="/usr/local/sbin/npu-smi")
    assert st.available and st.devices == ("npu:0", "npu:1") and st.details["usable_frameworks"] == ["torch", "mindspore"]
    st = probe.probe_with(dev, torch_npu=False, ms_ascend=False)
    assert not st.available and "pip install torch-npu" in st.reason


def test_probe_without_davinci_files_is_unavailable(tmp_path):
    st = probe.probe_with(fake_dev(tmp_path, ["null", "davinci_manager"]), torch_npu=True, ms_ascend=True)
    assert not st.available and st.devices == () and "no Ascend NPU" in st.reason


def test_installed_alone_it_is_listed(pm):
    from earthzoo.cli import app

    result = CliRunner().invoke(app, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == {"cpu", "ascend"}
    assert rows["ascend"]["energy_method"].startswith("sampled (npu-smi") and rows["ascend"]["priority"] > 0
    assert rows["ascend"]["available"] is False and "davinci" in rows["ascend"]["reason"]


def test_explicit_unavailable_ascend_is_a_clear_error(pm):
    with pytest.raises(EarthzooError, match="backend 'ascend' is not available here"):
        api.select_backend("ascend", "mindspore")
    assert api.select_backend("auto", "mindspore").name == "cpu"


# --- custom ops ----------------------------------------------------------------------------


def test_op_table_through_the_plugin_manager(pm):
    table = custom_ops("torch", "ascend")
    assert set(table) == {"rfft", "irfft", "rfft2", "irfft2", "scatter_sum"}
    assert repr(table["rfft2"]) == "LazyOp('earthzoo.frameworks.dft_torch:rfft2')"
    assert custom_ops("torch", "cpu") == {}
    assert set(custom_ops("mindspore", "ascend")) == {"rfft", "irfft", "rfft2", "irfft2", "scatter_sum"}


def test_dft_ops_match_the_native_fft(pm):
    dft = pytest.importorskip("earthzoo.frameworks.dft_torch")
    table = custom_ops("torch", "ascend")
    x = torch.randn(2, 8, 16, 3, generator=torch.Generator().manual_seed(3))
    re, im = table["rfft2"](x)
    nre, nim = dft.native_rfft2(x)
    torch.testing.assert_close(re, nre, atol=1e-5, rtol=0)
    torch.testing.assert_close(im, nim, atol=1e-5, rtol=0)
    torch.testing.assert_close(table["irfft2"](re, im, (8, 16)), x, atol=1e-5, rtol=0)


def test_missing_dft_module_is_a_clear_error():
    op = ops.LazyOp("earthzoo.frameworks.no_such_dft:rfft2")
    with pytest.raises(EarthzooError, match="DFT-by-matmul op .* is not in this earthzoo"):
        op(torch.zeros(1))


def test_scatter_sum_matches_index_add_with_gradients(monkeypatch):
    monkeypatch.setattr(ops, "CHUNK", 7)  # several chunks on a small graph
    g = torch.Generator().manual_seed(1)
    src = torch.randn(40, 5, generator=g, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 9, (40,), generator=g)
    out = ops.scatter_sum_torch(src, index, 9)
    ref = torch.zeros(9, 5, dtype=torch.float64).index_add(0, index, src)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    w = torch.randn(9, 5, dtype=torch.float64, generator=g)
    (grad,) = torch.autograd.grad((out * w).sum(), src)
    torch.testing.assert_close(grad, w[index], atol=1e-12, rtol=0)


def test_scatter_sum_mindspore_matches_segment_sum(monkeypatch):
    ms = pytest.importorskip("mindspore")
    from earthzoo_ascend import ops_mindspore

    monkeypatch.setattr(ops, "CHUNK", 7)
    rng = np.random.default_rng(2)
    src = rng.standard_normal((30, 4)).astype(np.float32)
    index = rng.integers(0, 6, 30).astype(np.int32)
    out = ops_mindspore.scatter_sum(ms.Tensor(src), ms.Tensor(index), 6).asnumpy()
    ref = np.zeros((6, 4), np.float32)
    np.add.at(ref, index, src)
    np.testing.assert_allclose(out, ref, atol=1e-5)


# --- precision and memory -------------------------------------------------------------------


def test_precision_plans_by_chip():
    b = runtime.precision_plan("torch", "bf16", "Ascend910B3")
    assert b.autocast_dtype == "bfloat16" and not b.grad_scaler
    with pytest.raises(EarthzooError, match="bf16 needs an Ascend 910B-class chip; this one is Ascend910A"):
        runtime.precision_plan("mindspore", "bf16", "Ascend910A")
    m = runtime.precision_plan("mindspore", "fp16", "Ascend910A")
    assert (m.amp_level, m.amp_dtype, m.grad_scaler) == ("O2", "float16", True) and "LossScale" in m.note
    assert runtime.precision_plan("torch", "fp16", None).grad_scaler


def test_mixed_precision_hook_answers_for_ascend_only(pm):
    plan = pm.hook.earthzoo_mixed_precision(backend="ascend", framework="mindspore", policy="fp16")
    assert plan.amp_level == "O2"
    cpu = pm.hook.earthzoo_mixed_precision(backend="cpu", framework="mindspore", policy="fp16")
    assert cpu.amp_level == "auto"  # core's CPU plan, not ours


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 6)

    def forward(self, x):
        return x + torch.nn.functional.gelu(self.lin(x))


class TinyNet(torch.nn.Module):
    checkpoint_modules = ("blocks",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.ModuleList([Block(), Block()])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def test_memory_schedule_torch_recompute_same_outputs_and_grads(pm):
    ref, model = TinyNet(), TinyNet()
    x = torch.randn(3, 6)
    applied = pm.hook.earthzoo_memory_schedule(backend="ascend", framework="torch", model=model, plan=MemoryPlan(activation_checkpointing=True, memory_fraction=0.9, extras={"pipeline_stages": 2}))
    assert applied == [
        "activation checkpointing on 2 blocks (torch.utils.checkpoint)",
        "memory_fraction 0.9 not applied: no NPU in this process",
        "pipeline_stages 2 not applied: torch pipelining is not wired in earthzoo-ascend",
    ]
    for net in (ref, model):
        net.zero_grad()
        (net(x) ** 2).sum().backward()
    torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)


def test_memory_schedule_mindspore_recompute_and_pipeline_stages(pm):
    ms = pytest.importorskip("mindspore")
    from mindspore import nn

    class MsBlock(nn.Cell):
        def __init__(self):
            super().__init__()
            self.lin = nn.Dense(6, 6)

        def construct(self, x):
            return x + ms.ops.tanh(self.lin(x))

    class MsNet(nn.Cell):
        checkpoint_modules = ("blocks",)

        def __init__(self):
            super().__init__()
            self.blocks = nn.CellList([MsBlock(), MsBlock()])

        def construct(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    net = MsNet()
    x = ms.Tensor(np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32))
    before = net(x).asnumpy()
    try:
        applied = pm.hook.earthzoo_memory_schedule(backend="ascend", framework="mindspore", model=net, plan=MemoryPlan(activation_checkpointing=True, extras={"pipeline_stages": 2}))
        assert applied[0] == "recompute on 2 blocks (Cell.recompute, MindSpore's own ops inside them)"
        assert applied[1].startswith("pipeline_stages 2 (mindspore.set_auto_parallel_context")
        assert ms.get_auto_parallel_context("pipeline_stages") == 2
    finally:
        ms.reset_auto_parallel_context()
    np.testing.assert_allclose(net(x).asnumpy(), before, rtol=0, atol=0)
    grads = ms.grad(lambda t: (net(t) ** 2).sum())(x)
    assert np.isfinite(grads.asnumpy()).all()
