"""earthzoo: atmospheric and oceanic AI models in PyTorch and MindSpore on any chip.

Importing this package imports neither torch nor mindspore."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("earthzoo")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from .api import build_model, list_backends, list_models, load_model, model_card, select_backend, setup_device  # noqa: E402
from .errors import EarthzooError  # noqa: E402


def __getattr__(name: str):
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
