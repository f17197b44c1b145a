"""Bad input to training: unwritable or full output, NaN loss."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from earthzoo.errors import EarthzooError
from earthzoo.training import TrainConfig, train
from earthzoo.training import checkpoint as ckpt_mod
from earthzoo.training.data import ArrayData


def _data(n=8):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 3, 8, 16)).astype(np.float32)
    return ArrayData(x, (0.5 * x[:, None]).astype(np.float32))


class PoisonFrom(ArrayData):
    """Samples turn to NaN after ``after`` reads (bad values arriving mid-run)."""

    after: int = 0

    def get(self, indices):
        self.after -= 1
        x, y = super().get(indices)
        return (x * np.nan, y) if self.after < 0 else (x, y)


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(zoo, tmp_path):
    data = PoisonFrom(*(lambda d: (d.x, d.y))(_data()))
    data.after = 4  # one read is the memory check's probe sample, then three good steps
    with pytest.raises(EarthzooError) as e:
        train("toy", data=data, out=tmp_path / "run", cfg=TrainConfig(steps=10, checkpoint_every=2), show_progress=False)
    msg = str(e.value)
    assert "loss became nan at step 4" in msg and "step-000002" in msg and "\n" not in msg
    kept = ckpt_mod.latest(tmp_path / "run")
    assert kept.name == "step-000002"
    state = ckpt_mod.load(kept)
    assert all(np.isfinite(v).all() for v in state.weights.values())


def test_unwritable_output_is_one_line_error(zoo, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(EarthzooError, match="cannot write") as e:
        train("toy", data=_data(), out=blocker / "out", cfg=TrainConfig(steps=1), show_progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(EarthzooError, match="cannot write|permission|read-only"):
        train("toy", data=_data(), out="/proc/earthzoo-train-out", cfg=TrainConfig(steps=1), show_progress=False)


def test_disk_full_while_checkpointing_keeps_previous_checkpoint(zoo, tmp_path, monkeypatch):
    """ENOSPC from the filesystem (simulated at the write call: this machine has no
    small filesystem to fill) becomes a one-line error; no partial checkpoint stays."""
    real = ckpt_mod._save_arrays
    calls = {"n": 0}

    def full_disk(path, ckpt):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, ckpt)

    monkeypatch.setattr(ckpt_mod, "_save_arrays", full_disk)
    with pytest.raises(EarthzooError, match="disk full") as e:
        train("toy", data=_data(), out=tmp_path / "run", cfg=TrainConfig(steps=4, checkpoint_every=1), show_progress=False)
    assert "\n" not in str(e.value)
    assert ckpt_mod.latest(tmp_path / "run").name == "step-000001"
    assert not list((tmp_path / "run" / "checkpoints").glob(".*part*"))


def test_bad_settings_and_data(zoo, tmp_path):
    with pytest.raises(EarthzooError, match="invalid training setting steps"):
        TrainConfig(steps=0)
    with pytest.raises(EarthzooError, match="unknown precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(EarthzooError, match="neither a file nor a data source"):
        train("toy", data="no-such-data", out=tmp_path / "r", cfg=TrainConfig(steps=1), show_progress=False)
    with pytest.raises(EarthzooError, match="does not split over"):
        from earthzoo.training.data import BatchPlan

        BatchPlan(8, 3, 1, 0, 0, 2)
