"""Ascend op overrides. The Cube units do dense matmul well and FFT/atomic scatter
poorly, so rfft/irfft and rfft2/irfft2 become DFT-by-matmul (core's earthzoo.frameworks.dft_*,
named lazily) and GNN ``scatter_sum`` becomes a one-hot matmul over row chunks.

``scatter_sum(src, index, dim_size)``: out[k] = sum of src[i] over i with index[i] == k,
for src (E, F) and index (E,) integer; out is (dim_size, F)."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from earthzoo.errors import EarthzooError

DFT = {
    "torch": "earthzoo.frameworks.dft_torch",
    "mindspore": "earthzoo.frameworks.dft_mindspore",
}
# Rows of the one-hot matrix built at a time: bounds its memory to CHUNK * dim_size.
CHUNK = 8192


class LazyOp:
    """A callable naming ``module:function``; imported on first call, so building the
    op table imports no framework and a missing op is a clear error when used."""

    def __init__(self, ref: str):
        self.ref = ref
        self._fn: Callable | None = None

    def resolve(self) -> Callable:
        if self._fn is None:
            module_name, _, attr = self.ref.partition(":")
            try:
                self._fn = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise EarthzooError(f"the DFT-by-matmul op {self.ref} is not in this earthzoo ({type(exc).__name__})", "upgrade earthzoo core, or use --backend cpu") from exc
        return self._fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyOp({self.ref!r})"


def scatter_sum_torch(src: Any, index: Any, dim_size: int) -> Any:
    """Segment sum as one-hot matmul: (dim_size, chunk) @ (chunk, F), accumulated in at least fp32."""
    import torch

    acc_dtype = torch.promote_types(src.dtype, torch.float32)  # fp16/bf16 sums accumulate in fp32
    out = torch.zeros((dim_size,) + tuple(src.shape[1:]), dtype=acc_dtype, device=src.device)
    flat = src.reshape(src.shape[0], -1)
    targets = torch.arange(dim_size, device=src.device).unsqueeze(1)
    acc = out.reshape(dim_size, -1)
    for start in range(0, src.shape[0], CHUNK):
        idx = index[start : start + CHUNK].to(src.device)
        onehot = (targets == idx.unsqueeze(0)).to(flat.dtype)
        acc = acc + (onehot @ flat[start : start + CHUNK]).to(acc_dtype)
    return acc.reshape(out.shape).to(src.dtype)


def op_table(framework: str) -> dict[str, Callable]:
    if framework not in DFT:
        return {}
    # MindSpore's is in a module of its own: graph mode cannot compile a function-local import
    scatter = scatter_sum_torch if framework == "torch" else LazyOp("earthzoo_ascend.ops_mindspore:scatter_sum")
    spectral = {name: LazyOp(f"{DFT[framework]}:{name}") for name in ("rfft", "irfft", "rfft2", "irfft2")}
    return {**spectral, "scatter_sum": scatter}
