"""A MindSpore ``GeneratorDataset`` over :class:`earthzoo.data.Windows`
(random-access source: each item reads its own time steps, nothing is copied up front)."""

from __future__ import annotations

import mindspore.dataset as msds

from ..data.windows import Windows


class _Source:
    """Random-access source with __getitem__/__len__ returning NumPy float32 arrays."""

    def __init__(self, windows: Windows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i):
        return self.windows[int(i)]


def generator_dataset(
    windows: Windows,
    batch_size: int = 1,
    shuffle: bool = False,
    seed: int = 0,
    drop_remainder: bool = False,
    num_shards: int | None = None,
    shard_id: int | None = None,
) -> msds.GeneratorDataset:
    """Columns ``x`` and ``y`` as in Windows; one worker in-process (MindSpore's
    multiprocessing workers fork a copy of the interpreter, which costs more
    than it saves on these small windows). ``num_shards``/``shard_id`` for data parallel."""
    msds.config.set_seed(seed)
    ds = msds.GeneratorDataset(
        _Source(windows),
        column_names=["x", "y"],
        shuffle=shuffle,
        num_parallel_workers=1,
        python_multiprocessing=False,
        num_shards=num_shards,
        shard_id=shard_id,
    )
    if batch_size > 1:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds
