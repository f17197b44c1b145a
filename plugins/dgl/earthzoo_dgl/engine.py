"""GraphCast's op-table message passing (``gather``, ``scatter_sum``) as DGL message passing.

Each edge-index array the model passes (the senders or the receivers of grid2mesh,
the mesh or mesh2grid) becomes, once, a DGL heterograph from its edges to the nodes
they point at (edge e -> node index[e]). On it ``gather`` is ``dgl.ops.copy_v`` (every
edge reads its node: SDDMM) and ``scatter_sum`` is ``dgl.ops.copy_e_sum`` (every node
sums its edges: SpMM); DGL's kernels give the backward passes too. Graphs are cached
per index tensor, weakly (buffers moved to another device or freed take theirs along),
and per node count; index arrays are taken as constant, as the model's graph buffers are."""

from __future__ import annotations

import os

os.environ.setdefault("DGLBACKEND", "pytorch")  # before dgl's import, which otherwise writes ~/.dgl/config.json

import dgl  # noqa: E402
import torch  # noqa: E402
from torch.utils.weak import WeakIdKeyDictionary  # noqa: E402

_GRAPHS: WeakIdKeyDictionary = WeakIdKeyDictionary()


def incidence_graph(index: torch.Tensor, num_nodes: int) -> dgl.DGLGraph:
    """The DGL graph edge e -> node index[e] over ``num_nodes`` nodes, built on first use."""
    by_count = _GRAPHS.get(index)
    if by_count is None:
        by_count = _GRAPHS[index] = {}
    g = by_count.get(num_nodes)
    if g is None:
        n_edges = index.shape[0]
        edges = torch.arange(n_edges, dtype=index.dtype, device=index.device)
        g = dgl.heterograph({("edge", "to", "node"): (edges, index)}, num_nodes_dict={"edge": n_edges, "node": num_nodes}, idtype=index.dtype, device=index.device)
        g.create_formats_()  # the sparse formats now, not inside the first forward
        by_count[num_nodes] = g
    return g


def _kernel_dtype(t: torch.Tensor) -> torch.Tensor:
    """DGL's CPU kernels take bfloat16/float32/float64: float16 (CPU fp16 autocast) goes through float32."""
    return t.float() if t.dtype == torch.float16 and t.device.type == "cpu" else t


def gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (N, ...) -> (E, ...): row index[e] for every edge e."""
    return dgl.ops.copy_v(incidence_graph(index, x.shape[0]), _kernel_dtype(x)).to(x.dtype)


def scatter_sum(src: torch.Tensor, index: torch.Tensor, num: int) -> torch.Tensor:
    """src (E, ...) -> (num, ...): the sum of the rows of the edges pointing at each node."""
    return dgl.ops.copy_e_sum(incidence_graph(index, num), _kernel_dtype(src)).to(src.dtype)
