"""Mixed precision as the study ran it: bf16/fp16 training and forecasting in every
model and both frameworks where the CPU has the type (torch bf16 and fp16, MindSpore
fp16), norms and spectral filters in float32 inside the low-precision regions, fp16
with dynamic loss scaling whose state is part of the checkpoint, and a one-line
refusal where the device lacks the type (MindSpore bf16 on CPU). Also MindSpore
training with a multi-step rollout loss, checked like torch's."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from training_helpers import earthzoo, wave_dataset

from earthzoo.training import TrainConfig, train
from earthzoo.training.trainer import read_log
from earthzoo.weights import load_canonical

# (model, preset, data kind): every model's tiny-sized preset on data that fits it
MODELS = [("fourcastnet", "tiny", "atmosphere"), ("graphcast", "tiny-synthetic", "atmosphere"), ("ai_goms", "tiny", "ocean")]
PRECISIONS = {"torch": ("fp32", "bf16", "fp16"), "mindspore": ("fp32", "fp16")}  # what this CPU runs
MATRIX = [
    pytest.param(m, p, kind, fw, prec, id=f"{m}-{fw}-{prec}", marks=[pytest.mark.slow] if fw == "mindspore" else [])
    for m, p, kind in MODELS
    for fw, precs in PRECISIONS.items()
    for prec in precs
]


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    from earthzoo.data import open_source, write_dataset

    root = tmp_path_factory.mktemp("mp-data")
    ocean = open_source("synthetic-ocean", size="tiny", days=16, spinup_days=30).load()
    # travelling waves on synthetic-atmosphere:tiny's grid and channels (z, u, v, vort, div at 33x64)
    return {"atmosphere": str(wave_dataset(root / "waves.nc", times=16)), "ocean": str(write_dataset(ocean, root / "ocean.nc"))}


def _tiny_engine(framework: str, precision: str, model: str = "fourcastnet"):
    from earthzoo.api import build_model, model_card, setup_device
    from earthzoo.frameworks import framework_module
    from earthzoo.training.trainer import make_engine

    card = model_card(model)
    config = card.make_config("tiny")
    ctx = setup_device("cpu", framework)
    framework_module(framework).seed_everything(0)
    net = build_model(model, framework, config=config)
    return make_engine(framework, net, TrainConfig(precision=precision, lr=1e-3), ctx, card, config)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 5, 32, 64)).astype(np.float32)
    return x, (0.5 * x[:, None]).astype(np.float32)


# ---------------------------------------------------------------------- the regions


def test_torch_autocast_keeps_norms_and_spectral_filters_in_fp32():
    """Under the bf16/fp16 plans the Linear layers compute in the low dtype, while
    every LayerNorm and AFNO filter (FFT or DFT-by-matmul) gets and gives float32."""
    import torch

    from earthzoo.api import build_model
    from earthzoo.frameworks import torch as tfw
    from earthzoo.runtime import PrecisionPlan
    from earthzoo_fourcastnet.config import FourCastNetConfig

    for spectral in ("fft", "dft"):
        for dtype in ("bfloat16", "float16"):
            plan = PrecisionPlan("x", autocast_dtype=dtype)
            net = tfw.mixed_precision(build_model("fourcastnet", "torch", config=FourCastNetConfig(spectral=spectral)), plan)
            seen: dict[str, set] = {"fp32": set(), "low": set()}

            def hook(module, args, out, seen=seen):
                kind = "fp32" if tfw.keeps_fp32(module) else "low"
                seen[kind].update({str(args[0].dtype), str(out.dtype)})

            for m in net.modules():
                if tfw.keeps_fp32(m) or isinstance(m, torch.nn.Linear):
                    m.register_forward_hook(hook)
            with torch.no_grad(), tfw.autocast("cpu", dtype):
                y = net(torch.from_numpy(_batch()[0]))
            assert torch.isfinite(y.float()).all()
            assert seen["fp32"] == {"torch.float32"}, (spectral, dtype, seen)
            assert f"torch.{dtype}" in seen["low"], (spectral, dtype, seen)


def test_mindspore_fp16_plan_runs_low_precision_with_fp32_spectral_cells():
    """The fp16 forecast of MindSpore differs from fp32 by fp16 rounding, not more;
    the spectral filters carry their own float32 (O0) amp strategy."""
    from earthzoo.api import build_model, precision_plan
    from earthzoo.frameworks import mindspore as msfw

    msfw.set_device("CPU")
    msfw.seed_everything(0)
    net = build_model("fourcastnet", "mindspore", preset="tiny")
    x = _batch()[0]
    y32 = msfw.inference_function(net)(x)
    plan = precision_plan("cpu", "mindspore", "fp16")
    y16 = msfw.inference_function(net, plan)(x)
    assert y16.dtype == np.float32 and np.isfinite(y16).all()
    rel = float(np.abs(y16 - y32).max() / np.abs(y32).max())
    assert 1e-6 < rel < 2e-2, rel  # really fp16, and close
    filters = [c for _, c in net.cells_and_names() if msfw.keeps_fp32(c)]
    assert filters and all(hasattr(c, "amp_strategy") for c in filters)


def test_mindspore_bf16_on_cpu_is_a_one_line_error(tmp_path):
    data = str(wave_dataset(tmp_path / "w.nc", times=8))
    for args in (
        ["train", "fourcastnet", "--framework", "mindspore", "--precision", "bf16", "--data", data, "--steps", "1", "--out", str(tmp_path / "o")],
        ["forecast", "fourcastnet", "--framework", "mindspore", "--precision", "bf16", "--weights", "none.safetensors", "--init", data, "--out", str(tmp_path / "f.nc")],
    ):
        r = earthzoo(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "bf16" in lines[0] and "--precision fp16" in lines[0], r.stderr


@pytest.mark.parametrize("model,kind", [("fourcastnet", "atmosphere"), ("ai_goms", "ocean")])
def test_forecast_in_low_precision_is_close_to_fp32(model, kind, data_files, tmp_path):
    """``forecast(precision=...)``: float32 files that say their precision, differing
    from the fp32 forecast by rounding, small next to the fields' spread (FourCastNet:
    nonzero; an untrained AI-GOMS adds a residual so small, exp(residual_log_scale)
    times its output, that its rounding vanishes in the float32 state)."""
    import xarray as xr

    from earthzoo.api import build_model, model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo.training.forecast import forecast
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    config = model_card(model).make_config("tiny")
    tfw.seed_everything(0)
    weights = tmp_path / "w.safetensors"
    save_canonical(weights, Weights(tfw.state_to_numpy(build_model(model, "torch", config=config)), model, config_to_dict(config)))
    fields = {}
    for prec in PRECISIONS["torch"]:
        out = tmp_path / f"{prec}.nc"
        forecast(model, weights=str(weights), init=data_files[kind], steps=3, out=str(out), init_indices=[5], show_progress=False, precision=prec)
        with xr.open_dataset(out) as ds:
            channels = ds.attrs["channels"].split(",")
            assert ds.attrs["precision"] == prec and all(ds[c].dtype == np.float32 for c in channels)
            fields[prec] = np.stack([ds[c].values for c in channels], axis=2).astype(np.float64)
    ref = fields["fp32"]
    spread = np.nanstd(ref)
    for prec in ("bf16", "fp16"):
        d = float(np.sqrt(np.nanmean((fields[prec] - ref) ** 2)))
        assert d < 0.05 * spread and (d > 0 or model == "ai_goms"), (prec, d, spread)


# ---------------------------------------------------------------------- loss scaling


def test_loss_scale_follows_the_grad_scaler_rule():
    from earthzoo.training.engine_mindspore import LossScale

    s = LossScale(scale=8.0, interval=3)
    for finite, scale in [(True, 8), (True, 8), (True, 16), (False, 8), (True, 8), (False, 4), (True, 4), (True, 4), (True, 8)]:
        s.update(finite)
        assert s.scale == scale
    back = LossScale()
    back.load(json.loads(json.dumps(s.state())))
    assert back.state() == s.state()


@pytest.mark.parametrize("framework", ["torch", "mindspore"])
def test_fp16_overflow_skips_the_update_and_halves_the_scale(framework):
    engine = _tiny_engine(framework, "fp16")
    if framework == "torch":
        import torch

        engine.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
        scale = lambda: engine.scaler.get_scale()  # noqa: E731
    else:
        engine.loss_scale.scale = 2.0**40
        scale = lambda: engine.loss_scale.scale  # noqa: E731
    before = engine.weights()
    loss = engine.step([_batch()], 1e-3)
    assert np.isfinite(loss)
    after = engine.weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # fp16 gradients overflowed: no update
    assert scale() == 2.0**39
    if framework == "torch":
        engine.scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    else:
        engine.loss_scale.scale = 1.0
    engine.step([_batch()], 1e-3)
    moved = engine.weights()
    assert any(not np.array_equal(after[k], moved[k]) for k in after)


# ---------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("model,preset,kind,framework,precision", MATRIX)
def test_matrix_trains_checkpoints_and_resumes_exactly(model, preset, kind, framework, precision, data_files, tmp_path):
    """A few updates of every model's tiny preset in each precision this CPU runs:
    finite losses, checkpoints (with the loss-scale state for fp16), and a run resumed
    from its step-2 checkpoint ends with exactly the weights of the uninterrupted run."""
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, checkpoint_every=1, precision=precision, seed=3)
    data = data_files[kind]
    full = tmp_path / "full"
    train(model, framework=framework, preset=preset, data=data, out=full, cfg=cfg, show_progress=False)
    losses = [r["loss"] for r in read_log(full / "train_log.jsonl")]
    assert len(losses) == 3 and np.isfinite(losses).all()
    last = full / "checkpoints" / "step-000003"
    assert (last / "weights.safetensors").exists() and (last / "optimizer.safetensors").exists()
    state = json.loads((last / "state.json").read_text())
    assert state["train_config"]["precision"] == precision
    if precision == "fp16":
        assert state["rng"]["scaler"]["scale"] > 0
    else:
        assert "scaler" not in state["rng"]

    part = tmp_path / "part"  # the run as a kill after the step-2 checkpoint leaves it
    shutil.copytree(full, part)
    shutil.rmtree(part / "checkpoints" / "step-000003")
    (part / "weights.safetensors").unlink()
    (part / "checkpoint.json").write_text(json.dumps({"latest": "checkpoints/step-000002", "step": 2}) + "\n")
    train(model, framework=framework, preset=preset, data=data, out=part, cfg=cfg, resume=True, show_progress=False)
    a = load_canonical(full / "weights.safetensors").tensors
    b = load_canonical(part / "weights.safetensors").tensors
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst == 0.0, f"resumed run differs by {worst:.3e}"
    assert [r["loss"] for r in read_log(part / "train_log.jsonl")] == losses
    resumed = json.loads((part / "checkpoints" / "step-000003" / "state.json").read_text())
    assert resumed["rng"].get("scaler") == state["rng"].get("scaler")


# ---------------------------------------------------------------------- rollout


@pytest.mark.slow
def test_mindspore_rollout_loss_is_the_autoregressive_mse_and_tracks_torch(data_files, tmp_path):
    """--rollout 3 in MindSpore: the first logged loss is the mean over 3 fed-back
    steps of the MSE, computed here by hand from the same initial weights with the
    card's next_input, and the loss curve follows torch's update by update."""
    from earthzoo.api import build_model, model_card
    from earthzoo.frameworks import framework_module
    from earthzoo.training.data import BatchPlan, training_data
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    card = model_card("fourcastnet")
    config = card.make_config("tiny")
    data = training_data(data_files["atmosphere"], card, config, 3)
    tfw = framework_module("torch")
    tfw.seed_everything(0)
    init = tmp_path / "init.safetensors"
    save_canonical(init, Weights(tfw.state_to_numpy(build_model("fourcastnet", "torch", config=config)), "fourcastnet", config_to_dict(config)))
    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, rollout_steps=3, checkpoint_every=0, seed=5)
    curves = {}
    for fw in ("torch", "mindspore"):
        train("fourcastnet", framework=fw, preset="tiny", data=data, out=tmp_path / fw, cfg=cfg, weights=str(init), show_progress=False)
        curves[fw] = np.array([r["loss"] for r in read_log(tmp_path / fw / "train_log.jsonl")])

    fwm = framework_module("mindspore")
    net = build_model("fourcastnet", "mindspore", config=config)
    fwm.load_numpy_state(net, load_canonical(init).tensors)
    step = fwm.inference_function(net)
    x, y = data.get(BatchPlan(len(data), 2, 1, 5).indices(0, 0))[:2]
    from earthzoo.cards import resolve

    next_input = resolve(card.next_input) if card.next_input else (lambda a, b, r, c: b)
    errs, inp = [], x
    for r in range(3):
        out = step(inp)
        errs.append(float(np.mean((out.astype(np.float64) - y[:, r]) ** 2)))
        inp = next_input(inp, out, r, config)
    assert errs[0] != pytest.approx(errs[2], rel=1e-3)  # the three steps really differ
    assert curves["mindspore"][0] == pytest.approx(np.mean(errs), rel=1e-4)
    np.testing.assert_allclose(curves["mindspore"], curves["torch"], rtol=1e-3)
    assert len(curves["mindspore"]) == 4 and np.isfinite(curves["mindspore"]).all()
