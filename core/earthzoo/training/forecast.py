"""``earthzoo forecast``: an autoregressive forecast in either framework, from
``earthzoo.Forecaster``, written as CF NetCDF or Zarr: one variable per field
with dims init_time, lead_time, lat, lon.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EarthzooError
from ..files import claim_output


def forecast(model_name: str, *, weights: str, framework: str = "torch", init: str, steps: int, out: str, init_indices: list[int] | None = None, backend: str = "auto", show_progress: bool = True,
             config: dict[str, Any] | None = None, overwrite: bool = False, precision: str = "fp32", compile: bool = False) -> dict[str, Any]:
    """Roll ``model_name`` forward ``steps`` steps from ``init`` and write the forecast
    (``earthzoo.Forecaster`` does the work). ``config`` sets model config fields over
    the weights' (the CLI's --config); an existing ``out`` is replaced only with
    ``overwrite``; ``precision`` bf16/fp16 runs the model under the backend's precision
    plan (the spectral filters and norms stay float32), the output is float32 either way;
    ``compile`` runs a torch model through torch.compile."""
    from ..data.cache import write_dataset
    from ..forecaster import Forecaster
    from .data import open_source
    from .trainer import _progress

    if steps < 1:
        raise EarthzooError(f"--steps {steps} asks for no forecast", "use --steps 1 or more")
    out_path = Path(out)
    if out_path.suffix not in (".nc", ".zarr"):
        raise EarthzooError(f"forecast output {out!r} is neither .nc nor .zarr", "name the output file with .nc (NetCDF) or .zarr (Zarr)")
    claim_output(out_path, overwrite)
    if not out_path.absolute().parent.is_dir():
        raise EarthzooError(f"output folder {str(out_path.parent)!r} does not exist", "create it first, or choose another --out")
    fc = Forecaster(model_name, weights, framework=framework, backend=backend, precision=precision, config=config, compile=compile)
    ds = open_source(init)
    bar = _progress(f"forecast {model_name} ({framework})", steps) if show_progress else _nullbar()
    with bar as advance:
        result = fc.forecast(ds, list(init_indices or [0]), steps, progress=advance)
    result.attrs["source"] = f"earthzoo forecast from {init}"
    result.attrs["history"] = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} earthzoo forecast {model_name} --weights {weights} --framework {framework} --init {init} --steps {steps}"
    write_dataset(result, out_path)
    names = str(result.attrs["channels"]).split(",")
    return {"model": model_name, "framework": framework, "precision": precision, "compiled": compile, "out": str(out_path), "inits": result.sizes["init_time"], "steps": steps, "channels": names, "normalisation": result.attrs["normalisation"]}


class _nullbar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
