"""earthzoo-cuda on a machine without a GPU: probes replayed on fake /dev trees,
precision and memory plans through the plugin manager on a tiny CPU model, and the
NVML counter arithmetic on a fake NVML library (hardware queries only)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner
from earthzoo import api, plugins
from earthzoo.cards import BackendStatus
from earthzoo.energy import EnergyReading, efficiency_ratio
from earthzoo.errors import EarthzooError
from earthzoo.registry import get_registry
from earthzoo.runtime import MemoryPlan
from earthzoo_cuda import energy, probe, runtime
from earthzoo_cuda.plugin import plugin as cuda_plugin

CUDA_BUILD = {"version": "2.13.0+cu128", "cuda": "12.8", "hip": None}
HIP_BUILD = {"version": "2.4.1+das.opt1.dtk2504", "cuda": None, "hip": "6.2.41134"}


@pytest.fixture
def pm(monkeypatch):
    """A plugin manager with only earthzoo-cuda installed next to core."""
    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "cuda")
    plugins.reset()
    yield plugins.get_plugin_manager()
    plugins.reset()


def fake_dev(tmp_path, names):
    root = tmp_path / "dev"
    root.mkdir()
    for n in names:
        (root / n).touch()
    return str(root)


# --- probe ---------------------------------------------------------------------


def test_probe_without_device_files_is_unavailable(tmp_path):
    st = probe.probe_with(fake_dev(tmp_path, ["null", "nvidiactl"]), CUDA_BUILD, lambda: None, False)
    assert not st.available and "no NVIDIA GPU" in st.reason


def test_probe_with_two_gpus_lists_nvml_names(tmp_path):
    st = probe.probe_with(fake_dev(tmp_path, ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"]), CUDA_BUILD, lambda: ["NVIDIA A100-SXM4-80GB"] * 2, True)
    assert st.available
    assert st.devices == ("cuda:0 NVIDIA A100-SXM4-80GB", "cuda:1 NVIDIA A100-SXM4-80GB")
    assert st.details["usable_frameworks"] == ["torch", "mindspore"]


def test_probe_counts_device_files_when_nvml_is_missing(tmp_path):
    st = probe.probe_with(fake_dev(tmp_path, ["nvidia0", "nvidia1", "nvidia2"]), CUDA_BUILD, lambda: None, False)
    assert st.available and st.devices == ("cuda:0", "cuda:1", "cuda:2")


def test_probe_says_unavailable_on_a_hip_build(tmp_path):
    """A ROCm torch names its devices cuda too: the CUDA backend must not claim them."""
    st = probe.probe_with(fake_dev(tmp_path, ["nvidia0"]), HIP_BUILD, lambda: ["X"], False)
    assert not st.available and "HIP" in st.reason and "--backend dcu" in st.reason


def test_probe_with_a_cpu_only_torch_names_the_fix(tmp_path):
    st = probe.probe_with(fake_dev(tmp_path, ["nvidia0"]), {"version": "2.13.0+cpu", "cuda": None, "hip": None}, lambda: None, False)
    assert not st.available and "CUDA build of torch" in st.reason and st.devices == ("cuda:0",)


def test_torch_version_file_is_parsed_without_import():
    from earthzoo.backends.installed import parse_torch_version

    text = "from typing import Optional\n__version__ = '2.4.1+das'\ncuda: Optional[str] = None\nhip: Optional[str] = '6.2.41134'\n"
    assert parse_torch_version(text) == {"version": "2.4.1+das", "cuda": None, "hip": "6.2.41134"}


def test_real_probe_is_fast_and_imports_no_framework():
    code = "import sys, time; t=time.perf_counter(); from earthzoo_cuda.probe import probe; s=probe(); print(time.perf_counter()-t, 'torch' in sys.modules, 'mindspore' in sys.modules, s.available)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, torch_loaded, ms_loaded, available = float(out[0]), out[1], out[2], out[3]
    assert seconds < 1.0 and torch_loaded == "False" and ms_loaded == "False"
    assert available == "False"  # no GPU on the test machines


def test_probe_never_raises_on_unreadable_dev(monkeypatch):
    monkeypatch.setattr(probe, "device_files", lambda root: 1 / 0)
    st = probe.probe_with("/nonexistent", CUDA_BUILD, lambda: None, False)
    assert not st.available and "ZeroDivisionError" in st.reason


# --- listing and selection through the plugin manager ---------------------------


def test_installed_alone_it_is_listed_by_the_cli(pm):
    from earthzoo.cli import app

    result = CliRunner().invoke(app, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == {"cpu", "cuda"}
    cuda = rows["cuda"]
    assert cuda["frameworks"] == ["torch", "mindspore"] and cuda["priority"] > rows["cpu"]["priority"]
    assert cuda["energy_method"].startswith("counter (NVML") and cuda["available"] is False and cuda["reason"]


def test_explicit_unavailable_backend_is_a_clear_error(pm):
    with pytest.raises(EarthzooError, match="backend 'cuda' is not available here: no NVIDIA GPU"):
        api.select_backend("cuda", "torch")


def test_auto_prefers_cuda_over_cpu_when_available(pm, monkeypatch):
    reg = get_registry()
    monkeypatch.setitem(reg.backends, "cuda", dataclasses.replace(reg.backends["cuda"], probe=lambda: BackendStatus(True, ("cuda:0",))))
    assert api.select_backend("auto", "torch").name == "cuda"
    assert api.select_backend("auto", "torch").name != "cpu"


# --- precision -------------------------------------------------------------------


def test_precision_plans_follow_the_architecture():
    ampere = runtime.precision_plan("torch", "bf16", (8, 0))
    assert ampere.autocast_dtype == "bfloat16" and not ampere.grad_scaler
    turing = runtime.precision_plan("torch", "fp16", (7, 5))
    assert turing.autocast_dtype == "float16" and turing.grad_scaler
    with pytest.raises(EarthzooError, match="bf16 needs an Ampere.*sm_75.*--precision fp16"):
        runtime.precision_plan("torch", "bf16", (7, 5))
    ms16 = runtime.precision_plan("mindspore", "fp16", (8, 0))
    assert (ms16.amp_level, ms16.amp_dtype, ms16.grad_scaler) == ("O2", "float16", True)
    with pytest.raises(EarthzooError, match="unknown precision"):  # checked once, in core's BackendPlugin
        cuda_plugin.earthzoo_mixed_precision(backend="cuda", framework="torch", policy="int8")


def test_fp32_keeps_tf32_off_unless_asked(monkeypatch):
    assert "TF32 off" in runtime.precision_plan("torch", "fp32", (8, 0)).note
    monkeypatch.setenv("EARTHZOO_CUDA_TF32", "1")
    assert runtime.tf32_enabled()


def test_mixed_precision_hook_plan_applies_to_a_cpu_model(pm):
    """The plan the hook answers for cuda drives torch autocast; on CPU the same dtype runs."""
    plan = pm.hook.earthzoo_mixed_precision(backend="cuda", framework="torch", policy="bf16")
    assert plan.autocast_dtype == "bfloat16" and not plan.grad_scaler  # no GPU here: capability unknown, bf16 planned
    assert pm.hook.earthzoo_mixed_precision(backend="cpu", framework="torch", policy="fp32").policy == "fp32"
    from earthzoo.frameworks import torch as tfw

    model = TinyNet()
    x = torch.randn(4, 8)
    with tfw.autocast("cpu", plan.autocast_dtype):
        h = model.blocks[0].lin(x)
        y = model(x)
    assert h.dtype == torch.bfloat16  # matmuls ran in the planned dtype
    y32 = model(x)
    assert not torch.equal(y, y32)
    torch.testing.assert_close(y.float(), y32, atol=0.1, rtol=0.05)


# --- memory schedule ---------------------------------------------------------------


class Block(torch.nn.Module):
    calls = 0

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, x):
        Block.calls += 1
        return x + torch.tanh(self.lin(x))


class TinyNet(torch.nn.Module):
    checkpoint_modules = ("blocks",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(3)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def _grads(model, x):
    model.zero_grad()
    y = model(x)
    (y**2).sum().backward()
    return y.detach(), [p.grad.clone() for p in model.parameters()]


def test_memory_schedule_checkpoints_blocks_with_same_outputs_and_grads(pm):
    ref, model = TinyNet(), TinyNet()
    x = torch.randn(5, 8)
    y_ref, g_ref = _grads(ref, x)
    applied = pm.hook.earthzoo_memory_schedule(backend="cuda", framework="torch", model=model, plan=MemoryPlan(activation_checkpointing=True, memory_fraction=0.5))
    assert applied[0] == "activation checkpointing on 3 blocks (torch.utils.checkpoint)"
    assert "memory_fraction 0.5 not applied: no CUDA device" in applied[1]
    Block.calls = 0
    y, g = _grads(model, x)
    assert Block.calls == 6  # each block ran again in backward: activations were recomputed, not stored
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_memory_fraction_out_of_range_is_an_error(pm):
    with pytest.raises(EarthzooError, match="memory fraction 1.5 is outside"):
        pm.hook.earthzoo_memory_schedule(backend="cuda", framework="torch", model=TinyNet(), plan=MemoryPlan(memory_fraction=1.5))


# --- energy: a fake NVML library -------------------------------------------------------


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class FakeNVML:
    """pynvml's functions over scripted counters (mJ) and power (mW), per GPU."""

    def __init__(self, counters=None, power=None, count=2, init_error=None):
        self.counters = counters  # {gpu: iterator of mJ readings} or None: not supported
        self.power = power or {}
        self.count, self.init_error = count, init_error

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("handle", i)

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.counters is None or h[1] not in self.counters:
            raise NVMLError_NotSupported("Not Supported")
        return next(self.counters[h[1]])

    def nvmlDeviceGetPowerUsage(self, h):
        if h[1] not in self.power:
            raise NVMLError_NotSupported("Not Supported")
        return self.power[h[1]]


def test_counter_meter_sums_gpus_in_joules():
    # The probe read at construction, then start and stop.
    nvml = FakeNVML({0: iter([0, 1_000_000, 1_250_000]), 1: iter([0, 5_000, 105_000])})
    meter = energy.nvml_meter(nvml)
    with meter:
        time.sleep(0.01)
    r = meter.reading
    assert r.method == "counter" and r.samples == 2
    assert r.joules == pytest.approx(250.0 + 100.0)
    assert r.mean_watts == pytest.approx(r.joules / r.seconds)


def test_counter_wraps_around_its_64_bit_range():
    top = 2**64 - 400_000  # 400 J before the counter wraps
    nvml = FakeNVML({0: iter([0, top, 600_000])}, count=1)
    meter = energy.nvml_meter(nvml)
    with meter:
        pass
    assert meter.reading.method == "counter"
    assert meter.reading.joules == pytest.approx(1000.0)


def test_missing_counter_falls_back_to_sampled_power():
    nvml = FakeNVML({0: iter([0, 0, 0])}, power={0: 250_000, 1: 150_000})  # GPU 1 has no counter (pre-Volta)
    meter = energy.nvml_meter(nvml, interval=0.01)
    assert "no energy counter: GPU 1: NVMLError_NotSupported" in meter.source
    with meter:
        time.sleep(0.05)
    r = meter.reading
    assert r.method == "sampled" and r.samples >= 2
    assert r.mean_watts == pytest.approx(400.0)
    assert r.joules == pytest.approx(400.0 * r.seconds)


def test_no_counter_and_no_power_is_unavailable_not_a_guess():
    meter = energy.nvml_meter(FakeNVML(None, power={}))
    with meter:
        pass
    assert meter.reading.method == "unavailable" and meter.reading.joules is None
    assert "neither the energy counter" in meter.reading.reason


def test_nvml_library_missing_is_unavailable():
    meter = energy.nvml_meter(FakeNVML(init_error=NVMLError("NVML Shared Library Not Found")))
    with meter:
        pass
    assert meter.reading.method == "unavailable" and "NVML Shared Library Not Found" in meter.reading.reason


def test_visible_devices_select_the_measured_gpus():
    assert energy.visible_indices({"CUDA_VISIBLE_DEVICES": "2,3"}) == [2, 3]
    assert energy.visible_indices({"CUDA_VISIBLE_DEVICES": "GPU-1a2b"}) is None
    assert energy.visible_indices({}) is None
    nvml = FakeNVML({1: iter([10, 20, 5_020])}, count=2)
    meter = energy.nvml_meter(nvml, indices=[1])
    with meter:
        pass
    assert meter.reading.joules == pytest.approx(5.0) and "GPUs 1" in meter.source


def test_energy_meter_hook_on_this_machine_says_why_it_cannot_measure(pm):
    meter = pm.hook.earthzoo_energy_meter(backend="cuda")
    with meter:
        pass
    assert meter.reading.method == "unavailable" and meter.reading.joules is None and meter.reading.reason


def test_efficiency_ratio_is_throughput_over_mean_power():
    reading = EnergyReading(joules=500.0, seconds=2.0, mean_watts=250.0, method="counter", samples=2)
    assert efficiency_ratio(10.0, reading) == pytest.approx(0.04)
    assert efficiency_ratio(10.0, 200.0) == pytest.approx(0.05)
    assert efficiency_ratio(10.0, EnergyReading(None, 2.0, None, "unavailable")) is None
