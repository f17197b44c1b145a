"""`import earthzoo` and `earthzoo --help` must not import torch or mindspore."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in ("torch", "mindspore") if m in sys.modules)))
"""


def _heavy_modules_after(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_earthzoo_imports_no_framework():
    assert _heavy_modules_after("import earthzoo; earthzoo.list_models(); earthzoo.list_backends()") == []


def test_cli_help_and_listing_import_no_framework():
    body = "from earthzoo.cli import main\nfor argv in (['--help'], ['models', '--json'], ['plugins', '--json'], ['backends', '--json']):\n    main(argv)"
    assert _heavy_modules_after(body) == []


def test_console_script_help_answers():
    out = subprocess.run(["earthzoo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "convert" in out.stdout and "doctor" in out.stdout


def test_converting_a_torch_checkpoint_imports_neither_numpy_nor_a_framework(tmp_path):
    """A conversion of an NVlabs FourCastNet checkpoint to safetensors or a MindSpore
    checkpoint looks at shapes and copies bytes: no NumPy, torch, MindSpore or
    importlib.metadata in the process (they are most of its time), and the same tensors."""
    import numpy as np
    from earthzoo import msckpt, torchfile
    from earthzoo.api import model_card
    from earthzoo.frameworks import torch as tfw
    from earthzoo.weights import load_canonical
    from earthzoo_fourcastnet.config import parameter_shapes

    rng = np.random.default_rng(0)
    tensors = {k: rng.standard_normal(s).astype(np.float32) for k, s in parameter_shapes(model_card("fourcastnet").make_config("tiny")).items()}
    tfw.save_training_checkpoint(tmp_path / "backbone.ckpt", tensors)
    for out, more in (("w.safetensors", []), ("w.ckpt", ["--to", "mindspore"])):
        argv = ["convert", str(tmp_path / "backbone.ckpt"), str(tmp_path / out), "--model", "fourcastnet", "--preset", "tiny", *more]
        body = f"from earthzoo.cli import main\nassert main({argv!r}) == 0\nprint(json.dumps(sorted(m for m in ('numpy', 'importlib.metadata') if m in sys.modules)))"
        lines = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True, check=True).stdout.strip().splitlines()
        assert json.loads(lines[-2]) == json.loads(lines[-1]) == [], (out, lines[-2:])
    got = {"w.safetensors": load_canonical(tmp_path / "w.safetensors").tensors, "w.ckpt": msckpt.read(tmp_path / "w.ckpt")}
    ref = torchfile.load_training_checkpoint(tmp_path / "backbone.ckpt", "FourCastNet", "")[0]
    for out, b in got.items():
        assert sorted(b) == sorted(ref) and all(b[k].dtype == ref[k].dtype and np.array_equal(b[k], ref[k]) for k in ref), out
