"""Fuzz (hypothesis, bounded, derandomised for CI): malformed datasets and weight
files through the public API and the CLI. Only earthzoo's own one-line errors may
come out - never another exception - and no output file is left behind.

Every defect kind also runs once as an explicit example, so each is covered
whatever the random draw. EARTHZOO_FUZZ_EXAMPLES sets the number of random
examples per test (default 15) for a longer local run."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from earthzoo.cli import main
from earthzoo.data import make_dataset, regular_lat, regular_lon
from earthzoo.errors import EarthzooError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("EARTHZOO_FUZZ_EXAMPLES", "15"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
CHANNELS = ["z", "u", "v", "vort", "div"]  # what FourCastNet tiny reads, on 33 x 64 with both poles
H6 = np.timedelta64(6, "h")


def _base(nt: int = 12) -> xr.Dataset:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(nt, 5, 33, 64)).astype(np.float32)
    return make_dataset(data, np.datetime64("2020-01-01", "ns") + np.arange(nt) * H6, CHANNELS, regular_lat(33), regular_lon(64))


def _raw(ds: xr.Dataset) -> xr.Dataset:
    """The dataset as plain xarray would write it (no earthzoo encoding to fix anything)."""
    ds = ds.copy()
    ds.attrs = {}
    for name in ("channel_units", "channel_long_name"):
        if name in ds.coords:
            ds = ds.drop_vars(name)
    if "channel" in ds.coords:
        ds = ds.assign_coords(channel=ds["channel"].values.astype(str))
    return ds


def _defect(kind: str, rng: np.random.Generator) -> xr.Dataset:
    ds = _raw(_base())
    f = ds["fields"]
    t, c = int(rng.integers(12)), int(rng.integers(5))
    if kind in ("nan", "inf", "nan_channel"):
        v = f.values.copy()
        bad = np.nan if kind != "inf" else -np.inf
        if kind == "nan_channel":
            v[:, c] = bad
        else:
            v[t, c, int(rng.integers(33)), int(rng.integers(64))] = bad
        return ds.assign(fields=(f.dims, v))
    if kind == "transposed":
        return ds.assign(fields=f.transpose("time", "lat", "channel", "lon"))
    if kind == "missing_dim":
        return ds.isel(time=0)
    if kind == "extra_dim":
        return ds.assign(fields=f.expand_dims(member=2))
    if kind == "int_dtype":
        return ds.assign(fields=(f * 100).astype(rng.choice(["int8", "int16", "int32", "uint8"])))
    if kind == "text_dtype":
        return ds.assign(fields=f.astype(str))
    if kind in ("unsorted_lat", "unsorted_lon", "unsorted_time"):
        dim = kind.split("_")[1]
        return ds.isel({dim: rng.permutation(ds.sizes[dim])})
    if kind in ("dup_lat", "dup_lon", "dup_time", "dup_channel"):
        dim = kind.split("_")[1]
        idx = np.arange(ds.sizes[dim])
        idx[int(rng.integers(1, len(idx)))] = 0
        return ds.isel({dim: idx})
    if kind == "missing_channel":
        return ds.isel(channel=[i for i in range(5) if i != c])
    if kind == "unknown_channels":
        return ds.assign_coords(channel=[f"x{i}" for i in range(5)])
    if kind in ("empty_time", "empty_lat", "empty_channel"):
        return ds.isel({kind.split("_")[1]: slice(0, 0)})
    if kind == "no_fields":
        return ds.rename({"fields": "data"})
    if kind == "float_time":
        return ds.assign_coords(time=np.arange(12, dtype=np.float64))
    if kind == "lat_out_of_range":
        return ds.assign_coords(lat=ds["lat"].values * 2)
    if kind == "lon_negative":
        return ds.assign_coords(lon=ds["lon"].values - 180)
    if kind == "no_lat_coord":
        return ds.drop_vars("lat")
    if kind == "short":
        return ds.isel(time=slice(0, 1))
    raise AssertionError(kind)


KINDS = [
    "nan", "inf", "nan_channel", "transposed", "missing_dim", "extra_dim", "int_dtype", "text_dtype",
    "unsorted_lat", "unsorted_lon", "unsorted_time", "dup_lat", "dup_lon", "dup_time", "dup_channel",
    "missing_channel", "unknown_channels", "empty_time", "empty_lat", "empty_channel", "no_fields",
    "float_time", "lat_out_of_range", "lon_negative", "no_lat_coord", "short",
]  # fmt: skip


def _run(capsys, *args: str) -> int:
    """The CLI in-process: an exception other than earthzoo's fails the test right here."""
    rc = main(list(args))
    err = capsys.readouterr().err
    if rc != 0:
        lines = [line for line in err.strip().splitlines() if not line.startswith(("note:", "train ", "forecast "))]
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, rc, err)
    return rc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A forecast file scored against the base data, and FourCastNet tiny weights."""
    from earthzoo.api import build_model, model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import Weights, config_to_dict, save_canonical

    root = tmp_path_factory.mktemp("fuzz")
    base = _base()
    fc = xr.Dataset(
        {"fields": (("init_time", "lead_time", "channel", "lat", "lon"), np.stack([base["fields"].values[i + 1 : i + 3] for i in range(4)]))},
        coords={"init_time": base["time"].values[:4], "lead_time": np.array([1, 2]) * H6, "channel": CHANNELS, "lat": base["lat"].values, "lon": base["lon"].values},
    )
    fc.to_netcdf(root / "fc.nc", encoding={"channel": {"dtype": "S1"}})  # fixed-width text (see below)
    tfw.seed_everything(0)
    card_config = model_card("fourcastnet").make_config("tiny")
    model = build_model("fourcastnet", "torch", config=card_config)
    save_canonical(root / "w.safetensors", Weights(tfw.state_to_numpy(model), "fourcastnet", config_to_dict(card_config), "fuzz"))
    return root


def _outputs(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@FUZZ
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**16))
def test_malformed_datasets(work, tmp_path_factory, capsys, kind, seed):
    folder = tmp_path_factory.mktemp("ds")
    bad = folder / "bad.nc"
    ds = _defect(kind, np.random.default_rng(seed))
    # Text as fixed-width chars, as earthzoo writes it: reading HDF5 variable-length
    # strings can crash the netCDF4 wheel's HDF5 (see earthzoo.data.cache.write_dataset).
    text = {n: {"dtype": "S1"} for n, v in ds.variables.items() if v.dtype.kind in "OUS"}
    try:
        ds.to_netcdf(bad, encoding=text)
    except Exception:  # noqa: BLE001 - a defect NetCDF itself cannot store is not a file anyone can pass
        return
    before = _outputs(folder)
    # the public API
    from earthzoo.data import check_dataset, read_dataset
    from earthzoo.metrics import evaluate

    try:
        check_dataset(read_dataset(bad, load=True))
    except EarthzooError as e:
        assert "\n" not in str(e)
    try:
        evaluate(xr.open_dataset(work / "fc.nc"), read_dataset(bad, load=True))
    except EarthzooError as e:
        assert "\n" not in str(e)
    # the CLI; a refused command leaves no output behind
    _run(capsys, "evaluate", str(work / "fc.nc"), str(bad), "--json")
    _run(capsys, "evaluate", str(bad), str(work / "fc.nc"))
    for out, command in (
        ("made.nc", ["data", "make", "synthetic-atmosphere", "--path", str(bad)]),
        ("fc.nc", ["forecast", "fourcastnet", "--weights", str(work / "w.safetensors"), "--init", str(bad), "--steps", "1"]),
        ("run", ["train", "fourcastnet", "--data", str(bad), "--steps", "1", "--batch-size", "1", "--json"]),
    ):
        if _run(capsys, *command, "--out", str(folder / out)) != 0:
            assert _outputs(folder) == before, command
        shutil.rmtree(folder / out, ignore_errors=True) if (folder / out).is_dir() else (folder / out).unlink(missing_ok=True)


for _kind in KINDS:  # each defect at least once
    test_malformed_datasets = example(kind=_kind, seed=1)(test_malformed_datasets)


def _weight_defect(kind: str, good: bytes, rng: np.random.Generator) -> bytes:
    if kind == "truncated":
        return good[: int(rng.integers(0, len(good)))]
    if kind == "random":
        return rng.bytes(int(rng.integers(0, 4096)))
    if kind == "random_after_header":
        n = struct.unpack("<Q", good[:8])[0]
        return good[: 8 + n] + rng.bytes(len(good) - 8 - n)
    if kind == "header_size":
        n = struct.unpack("<Q", good[:8])[0]
        size = int(rng.choice([0, 1, n - 1, n + 1, len(good), 2**40, 2**64 - 1]))
        return struct.pack("<Q", size % 2**64) + good[8:]
    if kind == "header_garbage":
        n = struct.unpack("<Q", good[:8])[0]
        header = bytearray(good[8 : 8 + n])
        for _ in range(int(rng.integers(1, 8))):
            header[int(rng.integers(n))] = int(rng.integers(256))
        return good[:8] + bytes(header) + good[8 + n :]
    raise AssertionError(kind)


def _shape_defect(kind: str, tensors: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = dict(tensors)
    name = sorted(out)[int(rng.integers(len(out)))]
    if kind == "wrong_shape":
        a = out[name]
        out[name] = np.zeros((*a.shape[:-1], a.shape[-1] + 1) if a.ndim else (2,), a.dtype)
    elif kind == "missing_tensor":
        del out[name]
    elif kind == "extra_tensor":
        out["surprise.weight"] = np.zeros((3,), np.float32)
    elif kind == "int_tensor":
        out[name] = out[name].astype(np.int32)
    return out


WEIGHT_KINDS = ["truncated", "random", "random_after_header", "header_size", "header_garbage", "wrong_shape", "missing_tensor", "extra_tensor", "int_tensor"]
SOURCE_FORMATS = [None, "safetensors", "torch", "mindspore", "nvlabs-fourcastnet", "mindearth-afnonet"]


@FUZZ
@given(kind=st.sampled_from(WEIGHT_KINDS), suffix=st.sampled_from([".safetensors", ".pt", ".ckpt", ".tar"]), src_format=st.sampled_from(SOURCE_FORMATS), seed=st.integers(0, 2**16))
def test_malformed_weight_files(work, tmp_path_factory, capsys, kind, suffix, src_format, seed):
    from earthzoo.api import load_model
    from earthzoo.weights import Weights, load_canonical, save_canonical

    rng = np.random.default_rng(seed)
    folder = tmp_path_factory.mktemp("w")
    src = folder / f"bad{suffix}"
    good = work / "w.safetensors"
    if kind in ("wrong_shape", "missing_tensor", "extra_tensor", "int_tensor"):
        if suffix != ".safetensors":
            return  # shape defects are written as canonical files; the byte defects cover the other suffixes
        w = load_canonical(good)
        save_canonical(src, Weights(_shape_defect(kind, w.tensors, rng), "fourcastnet", w.config, "fuzz"))
    else:
        src.write_bytes(_weight_defect(kind, good.read_bytes(), rng))
    before = _outputs(folder)
    for framework in ("torch", "mindspore"):
        try:
            load_model("fourcastnet", framework, preset="tiny", weights=str(src))
        except EarthzooError as e:
            assert "\n" not in str(e)
    source = ["--from", src_format] if src_format else []
    for dst in ("out.safetensors", "out.ckpt", "out.pt"):
        if _run(capsys, "convert", str(src), str(folder / dst), "--model", "fourcastnet", "--preset", "tiny", *source) != 0:
            assert _outputs(folder) == before
        (folder / dst).unlink(missing_ok=True)


for _kind in WEIGHT_KINDS:  # each defect at least once, and the byte defects under each format's suffix
    test_malformed_weight_files = example(kind=_kind, suffix=".safetensors", src_format=None, seed=1)(test_malformed_weight_files)
    if _kind in ("truncated", "random", "random_after_header", "header_size", "header_garbage"):
        for _suffix, _format in ((".pt", "torch"), (".ckpt", "mindspore"), (".tar", "nvlabs-fourcastnet")):
            test_malformed_weight_files = example(kind=_kind, suffix=_suffix, src_format=_format, seed=1)(test_malformed_weight_files)
