"""earthzoo-dcu on a machine without a DCU: recorded hy-smi / rocm-smi outputs of
several versions, an amdsmi that fails to import, probes on fake /dev and KFD
topology trees, plans applied to a tiny CPU model through the plugin manager."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from earthzoo import api, plugins
from earthzoo.errors import EarthzooError
from earthzoo.runtime import MemoryPlan
from earthzoo_dcu import energy, probe, runtime

RECORDED = Path(__file__).parent / "recorded"
HIP_BUILD = {"version": "2.4.1+das.opt1.dtk2504", "cuda": None, "hip": "6.2.41134"}
CUDA_BUILD = {"version": "2.13.0+cu128", "cuda": "12.8", "hip": None}


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


@pytest.fixture
def pm(monkeypatch):
    """A plugin manager with only earthzoo-dcu installed next to core."""
    monkeypatch.setenv("EARTHZOO_LOAD_PLUGINS", "dcu")
    plugins.reset()
    yield plugins.get_plugin_manager()
    plugins.reset()


# --- parsing recorded outputs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "watts"),
    [
        ("rocm_smi_showpower_rocm5.txt", {0: 35.0, 1: 37.0}),  # "Average Graphics Package Power (W)"
        ("rocm_smi_showpower_rocm6.txt", {0: 142.0, 1: 139.5}),  # "Current Socket Graphics Package Power (W)"
        ("rocm_smi_showpower_partial.txt", {0: 18.0}),  # a Max line and an "Unable to display" device
        ("hy_smi_showpower_dtk23.txt", {0: 62.0, 1: 58.0}),  # DCU[N] instead of GPU[N]
    ],
)
def test_showpower_formats(name, watts):
    assert energy.parse_showpower(recorded(name)) == watts


@pytest.mark.parametrize(("name", "watts"), [("hy_smi_table_dtk23.txt", {0: 62.0, 1: 58.0}), ("rocm_smi_table_rocm5.txt", {0: 18.0})])
def test_summary_table_formats(name, watts):
    """Columns found by position: "Temp (DieEdge)" holds a space, PwrCap is not a draw."""
    assert energy.parse_smi_table(recorded(name)) == watts


def test_tables_are_not_mistaken_for_showpower_and_back():
    assert energy.parse_showpower(recorded("hy_smi_table_dtk23.txt")) == {}
    assert energy.parse_smi_table(recorded("rocm_smi_showpower_rocm5.txt")) == {}


# --- choosing a source and sampling -------------------------------------------------------


def tools(available: dict[tuple[str, ...], str]):
    """which() and run() stand-ins that print recorded outputs for the commands present."""
    present = {cmd[0] for cmd in available}

    def run(cmd):
        key = tuple(cmd)
        if key not in available:
            raise RuntimeError(f"{key} exited with status 2")
        return recorded(available[key])

    return run, (lambda name: f"/opt/dtk/bin/{name}" if name in present else None)


def test_hy_smi_is_preferred_and_sampled():
    run, which = tools({("hy-smi", "--showpower"): "hy_smi_showpower_dtk23.txt", ("rocm-smi", "--showpower"): "rocm_smi_showpower_rocm5.txt"})
    meter = energy.smi_meter(run, which, amdsmi=None, interval=0.01)
    assert meter.source == "hy-smi --showpower (devices 0,1)"
    with meter:
        time.sleep(0.05)
    r = meter.reading
    assert r.method == "sampled" and r.samples >= 2
    assert r.mean_watts == pytest.approx(120.0) and r.joules == pytest.approx(120.0 * r.seconds)


def test_old_hy_smi_without_showpower_falls_back_to_its_table():
    run, which = tools({("hy-smi",): "hy_smi_table_dtk23.txt"})
    meter = energy.smi_meter(run, which, amdsmi=None, interval=0.01)
    assert meter.source.startswith("hy-smi (devices 0,1)")
    with meter:
        pass
    assert meter.reading.mean_watts == pytest.approx(120.0)


def test_rocm_smi_when_hy_smi_is_absent_and_amdsmi_import_raises_keyerror(tmp_path, monkeypatch):
    """amdsmi's import can fail with other errors than ImportError (here KeyError: no ROCM_PATH)."""
    pkg = tmp_path / "site" / "amdsmi"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import os\nos.environ['ROCM_PATH_THAT_IS_NOT_SET_FOR_THIS_TEST']\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(__import__("sys").modules, "amdsmi", raising=False)
    run, which = tools({("rocm-smi", "--showpower"): "rocm_smi_showpower_rocm6.txt"})
    meter = energy.smi_meter(run, which, amdsmi="import", interval=0.01)
    assert meter.source.startswith("rocm-smi --showpower")
    with meter:
        pass
    assert meter.reading.mean_watts == pytest.approx(281.5)


class FakeAmdSmi:
    def __init__(self, power):
        self.power = power

    def amdsmi_init(self):
        pass

    def amdsmi_get_processor_handles(self):
        return list(self.power)

    def amdsmi_get_power_info(self, h):
        return {"average_socket_power": self.power[h], "current_socket_power": "N/A", "power_limit": 300}


def test_amdsmi_comes_first_when_it_works():
    run, which = tools({("rocm-smi", "--showpower"): "rocm_smi_showpower_rocm5.txt"})
    meter = energy.smi_meter(run, which, amdsmi=FakeAmdSmi({"gpu0": 90.0, "gpu1": 110.0}), interval=0.01)
    assert meter.source == "amdsmi socket power"
    with meter:
        pass
    assert meter.reading.mean_watts == pytest.approx(200.0)


def test_no_tool_reads_power_is_unavailable_with_every_reason():
    run, which = tools({("rocm-smi", "--showpower"): "hy_smi_table_dtk23.txt"})  # wrong output: no value
    meter = energy.smi_meter(run, which, amdsmi=None)
    with meter:
        pass
    r = meter.reading
    assert r.method == "unavailable" and r.joules is None
    assert "hy-smi not on PATH" in r.reason and "rocm-smi --showpower printed no power value" in r.reason


# --- probe, listing, selection ----------------------------------------------------------------


def fake_machine(tmp_path, gpus=("90006",)):
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "kfd").touch()
    nodes = tmp_path / "nodes"
    (nodes / "0").mkdir(parents=True)
    (nodes / "0" / "properties").write_text("cpu_cores_count 32\nsimd_count 0\ngfx_target_version 0\n")
    for i, version in enumerate(gpus, start=1):
        (nodes / str(i)).mkdir()
        (nodes / str(i) / "properties").write_text(f"cpu_cores_count 0\nsimd_count 256\ngfx_target_version {version}\n")
    return str(dev), str(nodes)


def test_probe_finds_dcus_on_a_hip_build(tmp_path):
    dev, nodes = fake_machine(tmp_path, ("90006", "90208"))
    st = probe.probe_with(dev, nodes, HIP_BUILD, smi={"hy-smi": "/opt/dtk/bin/hy-smi", "rocm-smi": None})
    assert st.available and st.devices == ("cuda:0 (gfx906)", "cuda:1 (gfx928)")
    assert st.details["hy_smi"] == "/opt/dtk/bin/hy-smi"


def test_probe_refuses_a_cuda_torch_on_dcu_hardware(tmp_path):
    dev, nodes = fake_machine(tmp_path)
    st = probe.probe_with(dev, nodes, CUDA_BUILD, smi={})
    assert not st.available and "not a ROCm/DTK build" in st.reason and st.devices == ("cuda:0 (gfx906)",)


def test_probe_without_kfd_is_unavailable(tmp_path):
    (tmp_path / "dev").mkdir()
    st = probe.probe_with(str(tmp_path / "dev"), str(tmp_path / "none"), HIP_BUILD, smi={})
    assert not st.available and "kfd is absent" in st.reason


def test_installed_alone_it_is_listed(pm):
    from earthzoo.cli import app

    result = CliRunner().invoke(app, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == {"cpu", "dcu"}
    assert rows["dcu"]["frameworks"] == ["torch"] and rows["dcu"]["energy_method"].startswith("sampled")
    assert rows["dcu"]["available"] is False and rows["dcu"]["priority"] > rows["cpu"]["priority"]


def test_explicit_unavailable_dcu_is_a_clear_error(pm):
    with pytest.raises(EarthzooError, match="backend 'dcu' is not available here: no DCU/ROCm device"):
        api.select_backend("dcu", "torch")


# --- precision and memory -------------------------------------------------------------------


def test_fp16_is_the_dcu_policy():
    p = runtime.precision_plan("torch", "fp16", "gfx906")
    assert p.autocast_dtype == "float16" and p.grad_scaler
    with pytest.raises(EarthzooError, match=r"bf16 is not supported on this DCU \(gfx906\).*--precision fp16"):
        runtime.precision_plan("torch", "bf16", "gfx906")
    assert runtime.precision_plan("torch", "bf16", "gfx928").autocast_dtype == "bfloat16"
    with pytest.raises(EarthzooError, match="torch only"):
        runtime.precision_plan("mindspore", "fp16", "gfx906")


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x):
        return x + torch.sin(self.lin(x))


class TinyNet(torch.nn.Module):
    checkpoint_modules = ("blocks",)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(2)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def test_plans_through_the_plugin_manager_on_a_cpu_model(pm):
    plan = pm.hook.earthzoo_mixed_precision(backend="dcu", framework="torch", policy="fp16")
    assert plan.autocast_dtype == "float16" and plan.grad_scaler
    ref, model = TinyNet(), TinyNet()
    applied = pm.hook.earthzoo_memory_schedule(backend="dcu", framework="torch", model=model, plan=MemoryPlan(activation_checkpointing=True, memory_fraction=0.8))
    assert applied == ["activation checkpointing on 2 blocks (torch.utils.checkpoint)", "memory_fraction 0.8 not applied: no DCU in this process"]
    x = torch.randn(5, 4)
    for net in (ref, model):
        (net(x) ** 2).sum().backward()
    torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)


def test_setup_device_refuses_mindspore(pm):
    with pytest.raises(EarthzooError, match="torch only"):
        pm.hook.earthzoo_setup_device(backend="dcu", framework="mindspore", rank=0, world_size=1)
