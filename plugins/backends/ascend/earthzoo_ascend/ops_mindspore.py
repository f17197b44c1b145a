"""The one-hot-matmul ``scatter_sum`` of earthzoo_ascend.ops in MindSpore. It lives in a
module that imports MindSpore at the top, named lazily by the op table: graph mode
(``ms.jit``) cannot compile a function-local import, and ops.py imports no framework."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
from mindspore import ops  # noqa: E402

from . import ops as table  # noqa: E402


def scatter_sum(src, index, dim_size: int):
    """out[k] = sum of src[i] over i with index[i] == k, as (dim_size, chunk) @ (chunk, F)
    over row chunks of ``table.CHUNK``, accumulated in at least float32."""
    flat = src.reshape(src.shape[0], -1)
    targets = ops.arange(dim_size).astype(index.dtype).expand_dims(1)
    acc_dtype = ms.float64 if src.dtype == ms.float64 else ms.float32
    acc = ops.zeros((dim_size, flat.shape[1]), acc_dtype)
    for start in range(0, src.shape[0], table.CHUNK):
        idx = index[start : start + table.CHUNK]
        onehot = (targets == idx.expand_dims(0)).astype(flat.dtype)
        acc = acc + ops.matmul(onehot, flat[start : start + table.CHUNK]).astype(acc_dtype)
    return acc.reshape((dim_size,) + tuple(src.shape[1:])).astype(src.dtype)
