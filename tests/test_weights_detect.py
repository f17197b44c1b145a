"""Weight files recognised by parsing, never by their first bytes.

A safetensors file starts with its header length as a little-endian u64; a header
of 0x580 bytes starts the file with 80 05, which is also how a protocol-5 pickle
starts. Such files must load, resume, forecast and convert like any other."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from earthzoo.cli import main
from earthzoo.weights import Weights, detect_format, load_canonical, save_canonical, sniff, verify
from training_helpers import wave_dataset

TESTS = Path(__file__).resolve().parent


def header_length(path) -> int:
    return struct.unpack("<Q", Path(path).read_bytes()[:8])[0]


def old_sniff_said_pickle(path) -> bool:
    """The rule this replaces: first byte 0x80 and second byte <= 5 meant "pickle"."""
    head = Path(path).read_bytes()[:2]
    return head[0] == 0x80 and head[1] <= 5


def canonical_with_header(path, weights: Weights, n: int) -> None:
    """``weights`` written by save_canonical with an attr padded so that its JSON
    header is exactly ``n`` bytes. The library pads headers to a multiple of 8 with
    spaces; those are trimmed, so every length is reachable (valid safetensors)."""
    path = Path(path)

    def write(pad: int) -> tuple[bytes, int, bytes]:
        save_canonical(path, dataclasses.replace(weights, attrs={**weights.attrs, "pad": "x" * pad}))
        data, got = path.read_bytes(), header_length(path)
        return data, got, data[8 : 8 + got].rstrip(b" ")

    bare = write(0)[2]
    data, got, header = write(n - len(bare))
    assert len(header) == n
    path.write_bytes(struct.pack("<Q", n) + header + data[8 + got :])


def toy_tensors(seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"blocks.0.norm.weight": (3,), "blocks.0.norm.bias": (3,), "blocks.0.fc.weight": (3, 3), "blocks.0.fc.bias": (3,),
              "blocks.1.norm.weight": (3,), "blocks.1.norm.bias": (3,), "blocks.1.fc.weight": (3, 3), "blocks.1.fc.bias": (3,), "scale": (3,)}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def test_every_header_length_from_0x400_to_0xfff_loads(tmp_path):
    tensors = toy_tensors()
    extras = {"in_mean": np.arange(3, dtype=np.float32), "in_std": np.ones(3, np.float32)}
    base = Weights(tensors, "toy", {"channels": 3, "depth": 2, "lat": 8, "lon": 16}, "sweep", extras)
    hit_old_rule = []
    for n in range(0x400, 0x1000):
        path = tmp_path / "w.safetensors"
        canonical_with_header(path, base, n)
        assert sniff(path) == "safetensors", hex(n)
        assert detect_format(path) == "safetensors", hex(n)
        back = load_canonical(path)
        assert verify(tensors, back.tensors).equal and verify(extras, back.extras).equal, hex(n)
        if old_sniff_said_pickle(path):
            hit_old_rule.append(n)
    assert hit_old_rule == [0x480, 0x580]  # the sweep covers the sizes the old rule took for pickles


def test_pickles_are_still_never_unpickled(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"a": Boom()}, protocol=5))
    assert sniff(evil) == "pickle"
    assert main(["convert", str(evil), str(tmp_path / "o.safetensors"), "--model", "toy"]) == 2
    assert not (tmp_path / "ran").exists()


@pytest.fixture
def padded(zoo, tmp_path):
    """Toy weights whose safetensors header is 0x580 bytes (file starts 80 05), and data to run them on."""
    import earthzoo
    from earthzoo.frameworks import torch as tfw

    model = earthzoo.build_model("toy", "torch")
    rng = np.random.default_rng(1)
    tensors = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in tfw.state_to_numpy(model).items()}
    data = wave_dataset(tmp_path / "waves.nc", times=12, channels=3, nlat=8, nlon=16)
    from earthzoo.training.data import fields_for_model, normalisation, open_source

    f, _ = fields_for_model(open_source(str(data)), 3, (8, 16))
    path = tmp_path / "w0580.safetensors"
    canonical_with_header(path, Weights(tensors, "toy", {"channels": 3, "depth": 2, "lat": 8, "lon": 16, "tag": ""}, "test", normalisation(f)), 0x580)
    assert Path(path).read_bytes()[:2] == b"\x80\x05" and old_sniff_said_pickle(path)
    return path, data, tensors


def test_header_0x580_converts_forecasts_and_trains_from(padded, tmp_path, capsys):
    import earthzoo
    import xarray as xr
    from earthzoo.frameworks import torch as tfw

    path, data, tensors = padded
    assert main(["convert", str(path), str(tmp_path / "w.pt"), "--model", "toy", "--verify"]) == 0, capsys.readouterr().err
    assert main(["convert", str(tmp_path / "w.pt"), str(tmp_path / "back.safetensors"), "--model", "toy"]) == 0, capsys.readouterr().err
    back = load_canonical(tmp_path / "back.safetensors")
    assert verify(tensors, back.tensors).equal and sorted(back.extras) == ["in_mean", "in_std", "out_mean", "out_std"]
    assert verify(tensors, tfw.state_to_numpy(earthzoo.load_model("toy", weights=str(path)))).equal
    assert main(["forecast", "toy", "--weights", str(path), "--init", str(data), "--steps", "2", "--out", str(tmp_path / "f.nc")]) == 0, capsys.readouterr().err
    with xr.open_dataset(tmp_path / "f.nc") as ds:
        assert ds["fields"].shape == (1, 2, 3, 8, 16) and np.isfinite(ds["fields"].values).all()
    assert main(["train", "toy", "--data", str(data), "--out", str(tmp_path / "run"), "--weights", str(path), "--steps", "1", "--batch-size", "1"]) == 0, capsys.readouterr().err


DRIVER = """
import dataclasses, sys, time
sys.path.insert(0, {tests!r})
import earthzoo.plugins as plugins
import toyzoo
from earthzoo.training import checkpoint
base = toyzoo.ToyConfig.preset
toyzoo.ToyConfig.preset = classmethod(lambda cls, name: dataclasses.replace(base(name), tag={tag!r}))
save = checkpoint.save
def slow_save(out, ckpt):  # time to kill the run between checkpoints; numerics unchanged
    path = save(out, ckpt)
    time.sleep({pause})
    return path
checkpoint.save = slow_save
plugins.reset()
plugins.register(toyzoo, "toyzoo", "test")
from earthzoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _driver(tmp_path, tag: str, pause: float) -> list[str]:
    script = tmp_path / f"driver_{len(tag)}_{pause}.py"
    script.write_text(DRIVER.format(tests=str(TESTS), tag=tag, pause=pause))
    return [sys.executable, str(script)]


def _tag_for_header(tmp_path, data, n: int) -> str:
    """The toy config tag that makes a training checkpoint's weights header exactly ``n`` bytes."""
    env = dict(os.environ, EARTHZOO_LOAD_PLUGINS="", GLOG_v="3")
    tag = ""
    for attempt in range(6):
        out = tmp_path / f"probe{attempt}"
        run = subprocess.run([*_driver(tmp_path, tag, 0), "train", "toy", "--data", str(data), "--out", str(out), "--steps", "2", "--checkpoint-every", "2", "--batch-size", "2"], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        got = header_length(out / "checkpoints" / "step-000002" / "weights.safetensors")
        if got == n:
            return tag
        tag = "x" * max(0, len(tag) + (n - got) - (7 if got > n else 0))
    pytest.fail(f"could not size the tag for a {n:#x}-byte header (last {got:#x})")


@pytest.mark.slow
def test_killed_run_whose_checkpoints_start_80_05_resumes_to_the_same_weights(tmp_path):
    data = wave_dataset(tmp_path / "waves.nc", times=24, channels=3, nlat=8, nlon=16)
    tag = _tag_for_header(tmp_path, data, 0x580)
    env = dict(os.environ, EARTHZOO_LOAD_PLUGINS="", GLOG_v="3")
    args = ["--data", str(data), "--steps", "8", "--checkpoint-every", "2", "--batch-size", "2", "--lr", "2e-3", "--seed", "7"]
    full = subprocess.run([*_driver(tmp_path, tag, 0), "train", "toy", "--out", str(tmp_path / "full"), *args], env=env, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen([*_driver(tmp_path, tag, 0.5), "train", "toy", "--out", str(out), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "step-000004").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "weights.safetensors").exists()
    ckpts = sorted((out / "checkpoints").glob("step-*"))
    headers = [header_length(c / "weights.safetensors") for c in ckpts]
    for c in ckpts:  # every checkpoint hits the old false positive
        w = c / "weights.safetensors"
        assert w.read_bytes()[:2] == b"\x80\x05" and old_sniff_said_pickle(w) and sniff(w) == "safetensors"

    again = subprocess.run([*_driver(tmp_path, tag, 0), "train", "toy", "--out", str(out), "--resume", *args], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    a = load_canonical(tmp_path / "full" / "weights.safetensors").tensors
    b = load_canonical(out / "weights.safetensors").tensors
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))
    print(f"killed after {[c.name for c in ckpts]} (weights headers {[hex(h) for h in headers]}); resumed run bit-identical to the uninterrupted one")
