"""A torch ``Dataset`` over :class:`earthzoo.data.Windows` (no copy of the data:
each item reads its own time steps)."""

from __future__ import annotations

from typing import Any

import torch

from ..data.windows import Windows


class WindowDataset(torch.utils.data.Dataset):
    """Items are ``(x, y)`` float32 tensors: x (history*C_in, lat, lon), y (lead, C_out, lat, lon)."""

    def __init__(self, windows: Windows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int):
        x, y = self.windows[i]
        return torch.from_numpy(x), torch.from_numpy(y)


def dataloader(windows: Windows, batch_size: int = 1, shuffle: bool = False, seed: int = 0, **kwargs: Any) -> torch.utils.data.DataLoader:
    """A DataLoader with a seeded shuffle, so two runs see batches in the same order."""
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(WindowDataset(windows), batch_size=batch_size, shuffle=shuffle, generator=gen, **kwargs)
