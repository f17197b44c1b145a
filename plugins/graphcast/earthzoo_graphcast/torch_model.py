"""GraphCast in PyTorch: encoder (grid2mesh), processor (unshared mesh steps),
decoder (mesh2grid), as typed interaction networks with DeepMind's numerics:
MLP = Linear -> SiLU -> ... -> Linear -> LayerNorm(eps 1e-5) (no norm in the
output MLP); edge' = MLP([edge, sender, receiver]); node' = MLP([node, sum of
edge']); residuals on both. Node arrays are (node, batch, feature).

Message passing goes through an op table (``gather``, ``scatter_sum``) so a
backend can swap the engine; the default is index_select / index_add_."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .config import GraphCastConfig
from .graph import Graphs, graphs_for


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).index_select(0, index).reshape((index.shape[0],) + tuple(x.shape[1:]))


def _scatter_sum(src: torch.Tensor, index: torch.Tensor, num: int) -> torch.Tensor:
    # On 2-D rows index_add_ takes a fast path (about 10x faster on CPU than on (E, B, F)).
    flat = src.reshape(src.shape[0], -1)
    return flat.new_zeros((num, flat.shape[1])).index_add_(0, index, flat).reshape((num,) + tuple(src.shape[1:]))


DEFAULT_OPS = {"gather": _gather, "scatter_sum": _scatter_sum}


class MLP(nn.Module):
    """linear_0 .. linear_{hidden_layers} with SiLU between, then an optional LayerNorm."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, hidden_layers: int = 1, norm: bool = True):
        super().__init__()
        self.n_linear = hidden_layers + 1
        dims = [d_in] + [d_hidden] * hidden_layers + [d_out]
        for i in range(self.n_linear):
            setattr(self, f"linear_{i}", nn.Linear(dims[i], dims[i + 1]))
        self.layer_norm = nn.LayerNorm(d_out, eps=1e-5) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_linear):
            x = getattr(self, f"linear_{i}")(x)
            if i < self.n_linear - 1:
                x = torch.nn.functional.silu(x)
        return self.layer_norm(x) if self.layer_norm is not None else x


class InteractionStep(nn.Module):
    """One message-passing step: update edges from [edge, sender, receiver], then
    receivers from [node, sum of new messages]; residuals on both."""

    def __init__(self, latent: int, hidden_layers: int):
        super().__init__()
        self.edge_mlp = MLP(3 * latent, latent, latent, hidden_layers)
        self.node_mlp = MLP(2 * latent, latent, latent, hidden_layers)
        self.ops = DEFAULT_OPS

    def forward(self, senders_x, receivers_x, edges, senders, receivers):
        ops = self.ops
        msg = self.edge_mlp(torch.cat([edges, ops["gather"](senders_x, senders), ops["gather"](receivers_x, receivers)], dim=-1))
        agg = ops["scatter_sum"](msg, receivers, receivers_x.shape[0])
        return receivers_x + self.node_mlp(torch.cat([receivers_x, agg], dim=-1)), edges + msg


class ProcessorStep(InteractionStep):
    """A mesh step (mesh -> mesh); one unit of activation checkpointing."""

    def forward(self, nodes, edges, senders, receivers):  # noqa: D102
        return super().forward(nodes, nodes, edges, senders, receivers)


class Encoder(nn.Module):
    """grid2mesh: embed grid nodes, mesh nodes and edges; one step grid -> mesh;
    grid nodes (which receive nothing) get a self-update."""

    def __init__(self, node_in: int, latent: int, hidden_layers: int):
        super().__init__()
        self.embed_grid_nodes = MLP(node_in, latent, latent, hidden_layers)
        self.embed_mesh_nodes = MLP(node_in, latent, latent, hidden_layers)
        self.embed_edges = MLP(4, latent, latent, hidden_layers)
        self.step = InteractionStep(latent, hidden_layers)
        self.grid_node_mlp = MLP(latent, latent, latent, hidden_layers)

    def forward(self, grid_feats, mesh_feats, edge_feats, senders, receivers):
        grid = self.embed_grid_nodes(grid_feats)
        mesh = self.embed_mesh_nodes(mesh_feats)
        edges = self.embed_edges(edge_feats)
        mesh, _ = self.step(grid, mesh, edges, senders, receivers)
        grid = grid + self.grid_node_mlp(grid)
        return grid, mesh


class Decoder(nn.Module):
    """mesh2grid: embed edges; one step mesh -> grid; output MLP without LayerNorm.
    (The reference also updates mesh nodes here and discards the result; that
    dead computation is left out.)"""

    def __init__(self, latent: int, out_channels: int, hidden_layers: int):
        super().__init__()
        self.embed_edges = MLP(4, latent, latent, hidden_layers)
        self.step = InteractionStep(latent, hidden_layers)
        self.output_mlp = MLP(latent, latent, out_channels, hidden_layers, norm=False)

    def forward(self, mesh, grid, edge_feats, senders, receivers):
        edges = self.embed_edges(edge_feats)
        grid, _ = self.step(mesh, grid, edges, senders, receivers)
        return grid


class GraphCast(nn.Module):
    """model(x): x (B, C_in, lat, lon) with lat as in the config grid (north to
    south) -> (B, C_out, lat, lon). ``forward_nodes`` works on (node, batch,
    feature) arrays with explicit graphs (the reference's own layout)."""

    # the encoder and decoder hold the most: their edges (1.6 M and 3.1 M at 0.25 deg) carry 3x the latent width
    checkpoint_modules = ("encoder", "processor", "decoder")

    def __init__(self, config: GraphCastConfig, graphs: Graphs | None = None):
        super().__init__()
        self.config = config
        c = config
        latent, hl = c.latent_size, c.hidden_layers
        node_in = c.in_channels + 3
        self.encoder = Encoder(node_in, latent, hl)
        self.embed_mesh_edges = MLP(4, latent, latent, hl)
        self.processor = nn.ModuleList([ProcessorStep(latent, hl) for _ in range(c.gnn_msg_steps)])
        self.decoder = Decoder(latent, c.out_channels, hl)
        self.ops = dict(DEFAULT_OPS)
        self._graphs_ready = False
        if graphs is not None:
            self.set_graphs(graphs)
        self.register_buffer("residual_index", torch.tensor(c.residual_index() if c.residual else [], dtype=torch.long), persistent=False)

    # ------------------------------------------------------------------ setup

    def set_graphs(self, g: Graphs) -> None:
        """Install graphs as non-persistent buffers (they are not weights)."""
        arrays = {
            "grid_node_features": g.grid_node_features, "mesh_node_features": g.mesh_node_features,
            "g2m_senders": g.g2m_senders, "g2m_receivers": g.g2m_receivers, "g2m_edge_features": g.g2m_edge_features,
            "mesh_senders": g.mesh_senders, "mesh_receivers": g.mesh_receivers, "mesh_edge_features": g.mesh_edge_features,
            "m2g_senders": g.m2g_senders, "m2g_receivers": g.m2g_receivers, "m2g_edge_features": g.m2g_edge_features,
        }
        device = next(self.parameters()).device
        for name, a in arrays.items():
            t = torch.from_numpy(a.astype("int64") if a.dtype.kind in "iu" else a.astype("float32"))
            self.register_buffer(name, t.to(device) if device.type != "meta" else t, persistent=False)
        self._graphs_ready = True

    def ensure_graphs(self) -> None:
        if not self._graphs_ready:
            self.set_graphs(graphs_for(self.config))

    def set_ops(self, table: dict) -> None:
        """Backend overrides of ``gather`` / ``scatter_sum``."""
        self.ops.update({k: v for k, v in table.items() if k in DEFAULT_OPS})
        for m in self.modules():
            if isinstance(m, InteractionStep):
                m.ops = self.ops

    # ------------------------------------------------------------------ forward

    def forward_nodes(self, grid_feats, mesh_feats, g2m_feats, g2m_s, g2m_r, mesh_feats_e, mesh_s, mesh_r, m2g_feats, m2g_s, m2g_r, return_latents: bool = False):
        """Grid/mesh node features (N, B, C_in + 3), edge features (E, 4) or
        (E, B, 4), index arrays (E,) -> grid outputs (G, B, C_out)."""
        batch = grid_feats.shape[1]

        def per_batch(e):
            return e if e.dim() == 3 else e[:, None, :].expand(-1, batch, -1)

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.ensure_graphs()
        b, c, h, w = x.shape
        if (c, h, w) != (self.config.in_channels, self.config.n_lat, self.config.n_lon):
            from earthzoo.errors import EarthzooError

            raise EarthzooError(f"graphcast expects input (B, {self.config.in_channels}, {self.config.n_lat}, {self.config.n_lon}), got {tuple(x.shape)}", "check the channels and grid against the model config")
        nodes = rearrange(x, "b c h w -> (h w) b c")  # grid nodes, latitude-major
        grid_feats = torch.cat([nodes, self.grid_node_features[:, None, :].expand(-1, b, -1).to(x.dtype)], dim=-1)
        m = self.mesh_node_features.shape[0]
        mesh_feats = torch.cat([x.new_zeros(m, b, c), self.mesh_node_features[:, None, :].expand(-1, b, -1).to(x.dtype)], dim=-1)
        out = self.forward_nodes(grid_feats, mesh_feats, self.g2m_edge_features, self.g2m_senders, self.g2m_receivers,
                                 self.mesh_edge_features, self.mesh_senders, self.mesh_receivers,
                                 self.m2g_edge_features, self.m2g_senders, self.m2g_receivers)
        y = rearrange(out, "(h w) b c -> b c h w", h=h, w=w)
        if self.config.residual:
            y = y + x.index_select(1, self.residual_index)
        return y


def build(config: GraphCastConfig) -> GraphCast:
    """The model; graphs are attached on first use (none on the meta device)."""
    return GraphCast(config)
