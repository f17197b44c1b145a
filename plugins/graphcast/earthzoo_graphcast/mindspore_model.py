"""GraphCast in MindSpore, line for line with torch_model.py: the same module
tree and parameter names (linear_i.weight/bias as (out, in), layer_norm.weight/
bias), so torch <-> MindSpore weights are a name-preserving copy. Message
passing through an op table: ops.gather and ops.unsorted_segment_sum (both
have CPU kernels, with gradients)."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from earthzoo.frameworks.mindspore_layers import LayerNorm, Linear, set_layer_ops, transpose  # noqa: E402
from mindspore import Tensor, nn, ops  # noqa: E402

from .config import GraphCastConfig  # noqa: E402
from .graph import Graphs, graphs_for  # noqa: E402


def _gather(x, index):
    return ops.gather(x, index, 0)


def _scatter_sum(src, index, num):
    flat = src.reshape(src.shape[0], -1)
    return ops.unsorted_segment_sum(flat, index, num).reshape((num,) + src.shape[1:])


DEFAULT_OPS = {"gather": _gather, "scatter_sum": _scatter_sum}


class MLP(nn.Cell):
    def __init__(self, d_in: int, d_hidden: int, d_out: int, hidden_layers: int = 1, norm: bool = True):
        super().__init__()
        self.n_linear = hidden_layers + 1
        dims = [d_in] + [d_hidden] * hidden_layers + [d_out]
        self.linears = []
        for i in range(self.n_linear):
            layer = Linear(dims[i], dims[i + 1], init="uniform")  # as torch's Linear
            setattr(self, f"linear_{i}", layer)
            self.linears.append(layer)
        self.use_norm = norm
        if norm:
            self.layer_norm = LayerNorm(d_out, eps=1e-5)  # haiku LayerNorm, as the original

    def construct(self, x):
        n = len(self.linears)
        for i in range(n):
            x = self.linears[i](x)
            if i < n - 1:
                x = x * ops.sigmoid(x)
        if self.use_norm:
            x = self.layer_norm(x)
        return x


class InteractionStep(nn.Cell):
    def __init__(self, latent: int, hidden_layers: int):
        super().__init__()
        self.edge_mlp = MLP(3 * latent, latent, latent, hidden_layers)
        self.node_mlp = MLP(2 * latent, latent, latent, hidden_layers)
        self.gather = _gather
        self.scatter_sum = _scatter_sum

    def step(self, senders_x, receivers_x, edges, senders, receivers):
        msg = self.edge_mlp(ops.concat((edges, self.gather(senders_x, senders), self.gather(receivers_x, receivers)), -1))
        agg = self.scatter_sum(msg, receivers, receivers_x.shape[0])
        return receivers_x + self.node_mlp(ops.concat((receivers_x, agg), -1)), edges + msg

    def construct(self, senders_x, receivers_x, edges, senders, receivers):
        return self.step(senders_x, receivers_x, edges, senders, receivers)


class ProcessorStep(InteractionStep):
    def construct(self, nodes, edges, senders, receivers):
        return self.step(nodes, nodes, edges, senders, receivers)


class Encoder(nn.Cell):
    def __init__(self, node_in: int, latent: int, hidden_layers: int):
        super().__init__()
        self.embed_grid_nodes = MLP(node_in, latent, latent, hidden_layers)
        self.embed_mesh_nodes = MLP(node_in, latent, latent, hidden_layers)
        self.embed_edges = MLP(4, latent, latent, hidden_layers)
        self.step = InteractionStep(latent, hidden_layers)
        self.grid_node_mlp = MLP(latent, latent, latent, hidden_layers)

    def construct(self, grid_feats, mesh_feats, edge_feats, senders, receivers):
        grid = self.embed_grid_nodes(grid_feats)
        mesh = self.embed_mesh_nodes(mesh_feats)
        edges = self.embed_edges(edge_feats)
        mesh, _ = self.step(grid, mesh, edges, senders, receivers)
        grid = grid + self.grid_node_mlp(grid)
        return grid, mesh


class Decoder(nn.Cell):
    def __init__(self, latent: int, out_channels: int, hidden_layers: int):
        super().__init__()
        self.embed_edges = MLP(4, latent, latent, hidden_layers)
        self.step = InteractionStep(latent, hidden_layers)
        self.output_mlp = MLP(latent, latent, out_channels, hidden_layers, norm=False)

    def construct(self, mesh, grid, edge_feats, senders, receivers):
        edges = self.embed_edges(edge_feats)
        grid, _ = self.step(mesh, grid, edges, senders, receivers)
        return grid


class GraphCast(nn.Cell):
    """model(x): (B, C_in, lat, lon) -> (B, C_out, lat, lon); ``forward_nodes`` on (node, batch, feature) arrays."""

    # the encoder and decoder hold the most: their edges (1.6 M and 3.1 M at 0.25 deg) carry 3x the latent width
    checkpoint_modules = ("encoder", "processor", "decoder")

    def __init__(self, config: GraphCastConfig, graphs: Graphs | None = None):
        super().__init__()
        self.config = config
        c = config
        latent, hl = c.latent_size, c.hidden_layers
        self.encoder = Encoder(c.in_channels + 3, latent, hl)
        self.embed_mesh_edges = MLP(4, latent, latent, hl)
        self.processor = nn.CellList([ProcessorStep(latent, hl) for _ in range(c.gnn_msg_steps)])
        self.decoder = Decoder(latent, c.out_channels, hl)
        self.in_channels, self.n_lat, self.n_lon = c.in_channels, c.n_lat, c.n_lon
        self.residual = bool(c.residual)
        self.residual_index = Tensor(np.array(c.residual_index() if c.residual else [0], np.int32))
        self.graphs_ready = False
        if graphs is not None:
            self.set_graphs(graphs)

    def set_graphs(self, g: Graphs) -> None:
        """Graphs as constant tensors (not Parameters: they are not weights)."""
        self.grid_node_features = Tensor(g.grid_node_features.astype(np.float32))
        self.mesh_node_features = Tensor(g.mesh_node_features.astype(np.float32))
        for name in ("g2m", "mesh", "m2g"):
            setattr(self, f"{name}_senders", Tensor(getattr(g, f"{name}_senders").astype(np.int32)))
            setattr(self, f"{name}_receivers", Tensor(getattr(g, f"{name}_receivers").astype(np.int32)))
            setattr(self, f"{name}_edge_features", Tensor(getattr(g, f"{name}_edge_features").astype(np.float32)))
        self.graphs_ready = True

    def ensure_graphs(self) -> None:
        if not self.graphs_ready:
            self.set_graphs(graphs_for(self.config))

    def set_ops(self, table: dict) -> None:
        """Install op overrides: ``gather`` / ``scatter_sum`` into the message passing,
        ``layer_norm`` / ``bias_add`` / ``linear`` into the MLPs' shared layers."""
        set_layer_ops(self, table)
        for _, cell in self.cells_and_names():
            if isinstance(cell, InteractionStep):
                if "gather" in table:
                    cell.gather = table["gather"]
                if "scatter_sum" in table:
                    cell.scatter_sum = table["scatter_sum"]

    def forward_nodes(self, grid_feats, mesh_feats, g2m_feats, g2m_s, g2m_r, mesh_feats_e, mesh_s, mesh_r, m2g_feats, m2g_s, m2g_r, return_latents: bool = False):
        batch = grid_feats.shape[1]

        def per_batch(e):
            return e if e.ndim == 3 else ops.broadcast_to(e[:, None, :], (e.shape[0], batch, e.shape[1]))

        lat = {}
        grid, mesh = self.encoder(grid_feats, mesh_feats, per_batch(g2m_feats), g2m_s, g2m_r)
        lat["latent_grid_after_g2m"], lat["latent_mesh_after_g2m"] = grid, mesh
        edges = self.embed_mesh_edges(per_batch(mesh_feats_e))
        steps = []
        for block in self.processor:
            mesh, edges = block(mesh, edges, mesh_s, mesh_r)
            steps.append(mesh)
        lat["mesh_processor_step_latents"] = steps
        lat["latent_mesh_after_processor"] = mesh
        grid = self.decoder(mesh, grid, per_batch(m2g_feats), m2g_s, m2g_r)
        lat["latent_grid_before_decoder"] = grid
        out = self.decoder.output_mlp(grid)
        return (out, lat) if return_latents else out

    def construct(self, x):
        b, c, h, w = x.shape
        nodes = transpose(x, (2, 3, 0, 1)).reshape(h * w, b, c)
        g = self.grid_node_features.shape[0]
        grid_feats = ops.concat((nodes, ops.broadcast_to(self.grid_node_features[:, None, :], (g, b, 3)).astype(x.dtype)), -1)
        m = self.mesh_node_features.shape[0]
        mesh_feats = ops.concat((ops.zeros((m, b, c), x.dtype), ops.broadcast_to(self.mesh_node_features[:, None, :], (m, b, 3)).astype(x.dtype)), -1)
        out = self.forward_nodes(grid_feats, mesh_feats, self.g2m_edge_features, self.g2m_senders, self.g2m_receivers,
                                 self.mesh_edge_features, self.mesh_senders, self.mesh_receivers,
                                 self.m2g_edge_features, self.m2g_senders, self.m2g_receivers)
        y = transpose(out.reshape(h, w, b, -1), (2, 3, 0, 1))
        if self.residual:
            y = y + ops.gather(x, self.residual_index, 1)
        return y

    def __call__(self, *args, **kwargs):
        if args and not self.graphs_ready:
            self.ensure_graphs()
        if args and hasattr(args[0], "shape") and len(args[0].shape) == 4:
            shape = tuple(args[0].shape)
            if shape[1:] != (self.in_channels, self.n_lat, self.n_lon):
                from earthzoo.errors import EarthzooError

                raise EarthzooError(f"graphcast expects input (B, {self.in_channels}, {self.n_lat}, {self.n_lon}), got {shape}", "check the channels and grid against the model config")
        return super().__call__(*args, **kwargs)


def build(config: GraphCastConfig) -> GraphCast:
    """The model with its graphs in place: a compiled caller (the training engine's
    jitted step) runs ``construct`` directly, bypassing the lazy load in ``__call__``."""
    return GraphCast(config, graphs_for(config))


__all__ = ["GraphCast", "build", "ms"]
