"""The shared type of a set of named arrays and the check that it fits a model: a leaf
module, so that the framework modules and the weight formats can both use them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import EarthzooError

if TYPE_CHECKING:
    import numpy as np

# name -> array: NumPy arrays, or torchfile.FileTensors (a conversion's lazily read
# torch tensors, which np.asarray reads); NumPy is imported only where arrays are used.
Tensors = dict[str, "np.ndarray"]


def check_fits(tensors: Tensors, expected: dict[str, tuple[int, ...]], what: str) -> None:
    """Raise a one-line error naming the first tensor whose name or shape does not fit ``what``."""
    for name, shape in expected.items():
        if name not in tensors:
            raise EarthzooError(f"tensor {name!r} of {what} is missing from the weights", "convert weights made for this model and config (see --preset/--from)")
        got = tuple(tensors[name].shape)
        if got != tuple(shape):
            raise EarthzooError(
                f"tensor {name!r} has shape {got} in the weights but {tuple(shape)} in {what}",
                "use weights made for this model and config, or pass the matching --preset",
            )
    extra = sorted(set(tensors) - set(expected))
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise EarthzooError(f"the weights hold tensor {extra[0]!r}{more} that {what} does not have", "use weights made for this model, or name the original format with --from")
