"""earthzoo: atmospheric and oceanic AI models in PyTorch and MindSpore on any chip.

Importing this package imports neither torch nor mindspore."""

from .api import build_model, list_backends, list_models, load_model, model_card, select_backend, setup_device
from .errors import EarthzooError


def __getattr__(name: str):
    if name == "__version__":  # read when asked: finding it costs a startup time that conversions notice
        from .plugins import version

        return version("earthzoo")
    if name == "Forecaster":  # numpy and xarray only when it is used
        from .forecaster import Forecaster

        return Forecaster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EarthzooError",
    "Forecaster",
    "build_model",
    "list_backends",
    "list_models",
    "load_model",
    "model_card",
    "select_backend",
    "setup_device",
    "__version__",
]
