"""Training and forecasting for every model in both frameworks: one configuration
(:class:`TrainConfig`), a torch eager engine and a MindSpore graph-mode engine,
atomic resumable checkpoints, JSONL logs, torchrun/msrun data parallelism and
autoregressive forecasts written as CF NetCDF/Zarr. Frameworks load lazily."""

from .config import TrainConfig

__all__ = ["TrainConfig", "train", "forecast"]


def train(*args, **kwargs):
    from .trainer import train as _train

    return _train(*args, **kwargs)


def forecast(*args, **kwargs):
    from .forecast import forecast as _forecast

    return _forecast(*args, **kwargs)
