"""Weight files recognised by parsing, never by their first bytes.

A safetensors file starts with its header length as a little-endian u64; a header
of 0x580 bytes starts the file with 80 05, which is also how a protocol-5 pickle
starts. Such files must load, resume, forecast and convert like any other."""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from earthzoo.cli import main
from earthzoo.weights import Weights, detect_format, load_canonical, save_canonical, sniff, verify
from training_helpers import kill_at_checkpoint, wave_dataset

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


@pytest.fixture(params=[0x480, 0x580])
def padded(request, zoo, tmp_path):
    """Toy weights whose safetensors header is 0x480 or 0x580 bytes (the file starts 80 04 / 80 05,
    like a pickle), and data to run them on."""
    import earthzoo
    from earthzoo.frameworks import torch as tfw

    model = earthzoo.build_model("toy", "torch")
    rng = np.random.default_rng(1)
    tensors = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in tfw.state_to_numpy(model).items()}
    data = wave_dataset(tmp_path / "waves.nc", times=12, channels=3, nlat=8, nlon=16)
    from earthzoo.training.data import fields_for_model, normalisation, open_source

    f, _ = fields_for_model(open_source(str(data)), 3, (8, 16))
    path = tmp_path / "padded.safetensors"
    canonical_with_header(path, Weights(tensors, "toy", {"channels": 3, "depth": 2, "lat": 8, "lon": 16, "tag": ""}, "test", normalisation(f)), request.param)
    assert Path(path).read_bytes()[:2] == bytes([0x80, request.param >> 8]) and old_sniff_said_pickle(path)
    return path, data, tensors


def test_headers_that_start_like_a_pickle_convert_forecast_and_train(padded, tmp_path, capsys):
    import earthzoo
    from earthzoo.data import read_dataset
    from earthzoo.frameworks import torch as tfw

    path, data, tensors = padded
    assert main(["convert", str(path), str(tmp_path / "w.pt"), "--model", "toy", "--verify"]) == 0, capsys.readouterr().err
    assert main(["convert", str(tmp_path / "w.pt"), str(tmp_path / "back.safetensors"), "--model", "toy"]) == 0, capsys.readouterr().err
    back = load_canonical(tmp_path / "back.safetensors")
    assert verify(tensors, back.tensors).equal and sorted(back.extras) == ["in_mean", "in_std", "out_mean", "out_std"]
    assert verify(tensors, tfw.state_to_numpy(earthzoo.load_model("toy", weights=str(path)))).equal
    assert main(["forecast", "toy", "--weights", str(path), "--init", str(data), "--steps", "2", "--out", str(tmp_path / "f.nc")]) == 0, capsys.readouterr().err
    ds = read_dataset(tmp_path / "f.nc", load=True)  # the per-variable file, stacked
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
    kill_at_checkpoint([*_driver(tmp_path, tag, 0.5), "train", "toy", "--out", str(out), *args], out, env=env)
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


class _SecondFormat:
    """A plugin that registers a second .npz format for the toy model."""

    from earthzoo.plugins import hookimpl

    @staticmethod
    @hookimpl
    def earthzoo_register_weight_formats(register):
        from earthzoo.cards import WeightFormat

        register(WeightFormat(name="toy-npz-b", model="toy", summary="another npz", reader="toyzoo:read_toy_npz", suffixes=(".npz",)))
        register(WeightFormat(name="toy-sniffed", model="toy", summary="recognised by content", reader="toyzoo:read_toy_npz", suffixes=(".bin",), sniff="test_weights_detect:_sniff_magic"))
        register(WeightFormat(name="toy-broken-sniff", model="toy", summary="a sniff that raises", reader="toyzoo:read_toy_npz", suffixes=(".bin",), sniff="test_weights_detect:_sniff_raises"))


def _sniff_magic(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"TOY!"


def _sniff_raises(path: str) -> bool:
    raise RuntimeError("a buggy sniff must not break detection")


def test_plugin_formats_detected_by_suffix_and_sniff_and_ambiguity_is_one_line(zoo, tmp_path, capsys):
    import earthzoo.plugins as plugins

    tensors = toy_tensors()
    np.savez(tmp_path / "toy.npz", **{k.replace(".", "/"): v for k, v in tensors.items()})
    # one plugin format declares .npz: detected by its suffix, no --from needed
    assert detect_format(tmp_path / "toy.npz", "toy") == "toy-npz"
    assert main(["convert", str(tmp_path / "toy.npz"), str(tmp_path / "a.safetensors"), "--model", "toy", "--verify"]) == 0
    assert verify(tensors, load_canonical(tmp_path / "a.safetensors").tensors).equal
    plugins.register(_SecondFormat, "second", "test")
    assert main(["convert", str(tmp_path / "toy.npz"), str(tmp_path / "b.safetensors"), "--model", "toy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {str(tmp_path / 'toy.npz')!r} could be any of: toy-npz, toy-npz-b - name one with --from"
    assert main(["convert", str(tmp_path / "toy.npz"), str(tmp_path / "b.safetensors"), "--model", "toy", "--from", "toy-npz-b"]) == 0
    # a sniff recognises its file whatever the suffix says; a failing sniff says no
    (tmp_path / "magic.bin").write_bytes(b"TOY!" + b"\0" * 60)
    (tmp_path / "other.bin").write_bytes(b"NOPE" + b"\0" * 60)
    assert detect_format(tmp_path / "magic.bin", "toy") == "toy-sniffed"
    with pytest.raises(Exception, match="cannot tell the format"):
        detect_format(tmp_path / "other.bin", "toy")


def test_canonical_targets_and_basic_formats_by_content(zoo, tmp_path, capsys):
    from earthzoo.frameworks import mindspore as msfw
    from earthzoo.frameworks import torch as tfw

    tensors = toy_tensors()
    tfw.save_state_file(tmp_path / "w.bin", tensors)  # a torch zip under a suffix nobody declares
    msfw.save_checkpoint_file(tmp_path / "w.data", tensors)  # a MindSpore checkpoint likewise
    assert sniff(tmp_path / "w.bin") == "torch" and detect_format(tmp_path / "w.bin") == "torch"
    assert sniff(tmp_path / "w.data") == "mindspore" and detect_format(tmp_path / "w.data") == "mindspore"
    assert main(["convert", str(tmp_path / "w.data"), str(tmp_path / "w.pt"), "--model", "toy", "--verify"]) == 0
    assert main(["convert", str(tmp_path / "w.pt"), str(tmp_path / "back.safetensors"), "--model", "toy", "--verify"]) == 0
    assert verify(tensors, load_canonical(tmp_path / "back.safetensors").tensors).equal


def test_mindspore_checkpoints_without_mindspore_match_mindspore(tmp_path):
    """Our checkpoint reader/writer against MindSpore's own save_checkpoint/load_checkpoint:
    the same arrays, dtypes and shapes (scalars included) both ways."""
    import mindspore as ms
    from earthzoo import msckpt

    rng = np.random.default_rng(0)
    tensors = {"scalar": np.array(3.5, np.float32), "w": rng.standard_normal((7, 5)).astype(np.float32), "h": np.arange(6, dtype=np.float16).reshape(2, 3),
               "i": np.array([1, -2], np.int64), "b": np.array([True, False]), "d": rng.standard_normal(4)}
    msckpt.save(tmp_path / "ours.bin", tensors)  # any suffix
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in tensors.items()], str(tmp_path / "theirs.ckpt"))
    (tmp_path / "ours.ckpt").write_bytes((tmp_path / "ours.bin").read_bytes())
    for got in (ms.load_checkpoint(str(tmp_path / "ours.ckpt")), msckpt.read(tmp_path / "theirs.ckpt")):
        for k, v in tensors.items():
            a = got[k].asnumpy() if hasattr(got[k], "asnumpy") else got[k]
            assert a.dtype == v.dtype and a.shape == v.shape and np.array_equal(a, v), k
    assert (tmp_path / "ours.ckpt").read_bytes() == (tmp_path / "theirs.ckpt").read_bytes()
    assert msckpt.names(tmp_path / "ours.bin") == list(tensors) and sniff(tmp_path / "ours.bin") == "mindspore"


def test_torch_files_without_torch_match_torch_and_stay_inside_the_file(tmp_path):
    """earthzoo.torchfile reads torch.save zips as torch does (views, transposes, shared
    storages, scalars, nested entries), copies them file to file, and refuses tensors
    that would reach outside their storage instead of reading memory it does not own."""
    import torch
    from earthzoo import torchfile

    t = torch.arange(24.0).reshape(2, 3, 4)
    obj = {"a": t, "row": t[1], "transposed": t.transpose(0, 2), "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
           "ints": torch.arange(3), "param": torch.nn.Parameter(torch.ones(2)), "nested": {"n": 5, "l": [1, "x"]}}
    torch.save(obj, tmp_path / "t.pt")
    got, ref = torchfile.load(tmp_path / "t.pt"), torch.load(tmp_path / "t.pt", weights_only=True)
    for k in ("a", "row", "transposed", "scalar", "empty", "ints", "param"):
        assert got[k].dtype == ref[k].detach().numpy().dtype and got[k].shape == tuple(ref[k].shape) and np.array_equal(got[k], ref[k].detach().numpy()), k
    assert got["nested"] == {"n": 5, "l": [1, "x"]}
    assert torchfile.file_region(got["row"]) is not None and torchfile.file_region(got["transposed"]) is None
    storage = np.arange(6, dtype=np.float32)
    for offset, size, stride in ((4, (3,), (1,)), (-1, (2,), (1,)), (0, (2, 3), (1, 3)), (0, (4, 2), (1, 4))):
        with pytest.raises((torchfile._Unsupported, ValueError)):
            torchfile._rebuild_tensor_v2(storage, offset, size, stride)
    torch.save({"b": torch.ones(2, dtype=torch.bfloat16)}, tmp_path / "bf16.pt")
    assert torchfile.load(tmp_path / "bf16.pt") is None  # NumPy has no bfloat16: torch.load reads it (as float32)


def test_append_arrays_writes_every_piece_whichever_way_the_kernel_allows(tmp_path, monkeypatch):
    """files.append_arrays copies tensors that lie in a torch file inside the kernel
    (splice, else copy_file_range) and writes the rest from memory; when a way fails
    part-way, the file still gets exactly the bytes, in order."""
    import os

    import torch
    from earthzoo import files, torchfile

    t = torch.arange(3 * 300000, dtype=torch.float32).reshape(3, 300000)  # more than a 1 MiB pipe holds
    torch.save({"a": t, "b": t[1:], "scalar": torch.tensor(7, dtype=torch.int64), "empty": torch.zeros(0)}, tmp_path / "t.pt")
    lazy = torchfile.load(tmp_path / "t.pt", lazy=True)
    assert isinstance(lazy["a"], torchfile.FileTensor) and torchfile.file_region(lazy["b"]) is not None
    pieces = [b"head", lazy["a"], np.arange(5, dtype=np.int16), lazy["b"], lazy["scalar"], lazy["empty"], files.stored(t.numpy().T)]
    want = b"".join(p if isinstance(p, bytes) else np.asarray(p).tobytes() for p in pieces)
    real_splice, calls = os.splice, []

    def flaky_splice(*args, **kwargs):  # 1 MiB in and out, then the file system refuses part-way through "a"
        calls.append(1)
        if len(calls) > 3:
            raise OSError(22, "Invalid argument")
        return real_splice(*args, **kwargs)

    for how in ("as is", "flaky splice", "no splice", "neither"):
        if how == "flaky splice":
            monkeypatch.setattr(os, "splice", flaky_splice)
        elif how == "no splice":
            monkeypatch.delattr(os, "splice")
        elif how == "neither":
            monkeypatch.delattr(os, "copy_file_range")
        out = tmp_path / f"{how}.bin"
        with out.open("w+b", buffering=0) as f:
            files.append_arrays(f.fileno(), pieces)
        assert out.read_bytes() == want, how
