"""GraphCast's message-passing engines side by side: DGL (earthzoo-dgl) against the
native one (index_select / index_add_), in the DGL environment (docs/dgl.md), CPU.

Two parts, each with the engines interleaved round by round so both see the same load:

- model: forward and training step (forward + backward) of the whole model, the same
  weights in both engines, at preset ``small`` and at the paper's graph sizes (0.25 deg
  grid, mesh 6: 1,038,240 grid nodes, 40,962 mesh nodes) with narrower features
  (``--paper-latent``, the small preset's 4 variables) so a training step fits in memory;
- ops: ``gather`` and ``scatter_sum`` alone, forward and backward, on the paper's three
  graphs at the paper's latent width 512 (``--op-latent``; narrower on a graph where
  one message array would pass ``--op-max-gib / 4``), where the engines differ.

Ratios are DGL / native (below 1: DGL is faster). Writes JSON with the load average;
nothing is asserted.

    OMP_NUM_THREADS=1 nice .venv-dgl/bin/python benchmarks/dgl_engine.py --out benchmarks/results/graphcast_dgl_engine.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import time

from _timing import median_ms


def _model_pair(config, batch: int):
    import numpy as np
    import torch
    from earthzoo_dgl import engine
    from earthzoo_graphcast import torch_model
    from earthzoo_graphcast.inputs import example_input

    torch.manual_seed(0)
    native = torch_model.build(config)
    native.ensure_graphs()
    dgl = torch_model.build(config)
    dgl.load_state_dict(native.state_dict())
    dgl.ensure_graphs()  # the same graphs, from the on-disk cache
    dgl.set_ops({"gather": engine.gather, "scatter_sum": engine.scatter_sum})
    x = torch.from_numpy(np.asarray(example_input(config, batch, 0), np.float32))
    return native, dgl, x


def _runners(model, x):
    import torch

    def forward():
        with torch.no_grad():
            model(x)

    def train_step():
        model.zero_grad(set_to_none=True)
        (model(x) ** 2).mean().backward()

    return {"forward": forward, "train_step": train_step}


def _interleaved(runs: dict, rounds: int, reps: int) -> dict:
    """runs: {engine: {part: fn}} -> per part: median ms per engine, the DGL/native ratio, raw rounds."""
    parts = list(next(iter(runs.values())))
    for fns in runs.values():  # warm-up: graphs, sparse formats, allocator
        for fn in fns.values():
            fn()
    raw = {p: {e: [] for e in runs} for p in parts}
    for i in range(rounds):
        for p in parts:
            for e, fns in runs.items():
                raw[p][e].append(median_ms(fns[p], reps))
        print(f"  round {i + 1}/{rounds}: " + ", ".join(f"{p} {e} {raw[p][e][-1]:.0f} ms" for p in parts for e in runs), flush=True)
    out = {}
    for p in parts:
        out[p] = {f"{e}_ms": statistics.median(raw[p][e]) for e in runs}
        out[p]["ratio_dgl_over_native"] = statistics.median(d / n for d, n in zip(raw[p]["dgl"], raw[p]["native"]))  # per round, then median
        out[p]["ratio_of_medians"] = out[p]["dgl_ms"] / out[p]["native_ms"]
        out[p]["raw_rounds_ms"] = raw[p]
    return out


def model_part(name: str, config, batch: int, rounds: int, reps: int) -> dict:
    t0 = time.perf_counter()
    native, dgl, x = _model_pair(config, batch)
    setup_s = time.perf_counter() - t0
    g = native
    res = {"size": name, "batch": batch, "setup_s": setup_s,
           "graph": {"grid_nodes": int(g.grid_node_features.shape[0]), "mesh_nodes": int(g.mesh_node_features.shape[0]),
                     "g2m_edges": int(g.g2m_senders.shape[0]), "mesh_edges": int(g.mesh_senders.shape[0]), "m2g_edges": int(g.m2g_senders.shape[0])},
           "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}}
    res.update(_interleaved({"native": _runners(native, x), "dgl": _runners(dgl, x)}, rounds, reps))
    del native, dgl, x
    gc.collect()
    return res


def op_part(graphs, latent: int, max_gib: float, rounds: int, reps: int) -> dict:
    """gather then scatter_sum of one (E, width) message array per graph, forward and backward, as in an
    interaction step; width is ``latent``, halved until one (E, width) float32 array takes at most ``max_gib / 4``."""
    import torch
    from earthzoo_dgl import engine
    from earthzoo_graphcast.torch_model import DEFAULT_OPS

    engines = {"native": DEFAULT_OPS, "dgl": {"gather": engine.gather, "scatter_sum": engine.scatter_sum}}
    out = {}
    for name, senders, receivers, n_send, n_recv in (
        ("grid2mesh", graphs.g2m_senders, graphs.g2m_receivers, graphs.n_grid, graphs.n_mesh),
        ("mesh", graphs.mesh_senders, graphs.mesh_receivers, graphs.n_mesh, graphs.n_mesh),
        ("mesh2grid", graphs.m2g_senders, graphs.m2g_receivers, graphs.n_mesh, graphs.n_grid),
    ):
        s = torch.from_numpy(senders.astype("int64"))
        r = torch.from_numpy(receivers.astype("int64"))
        width = latent
        while width > 1 and max(len(s), n_send, n_recv) * width * 4 > max_gib * 2**30 / 4:
            width //= 2
        x = torch.randn(n_send, 1, width, requires_grad=True)

        def runners(ops, s=s, r=r, x=x, n_recv=n_recv):
            def forward():
                with torch.no_grad():
                    ops["scatter_sum"](ops["gather"](x, s), r, n_recv)

            def forward_backward():
                x.grad = None
                ops["scatter_sum"](ops["gather"](x, s), r, n_recv).sum().backward()

            return {"forward": forward, "forward_backward": forward_backward}

        out[name] = {"edges": int(s.shape[0]), "senders": n_send, "receivers": n_recv, "width": width}
        out[name].update(_interleaved({e: runners(ops) for e, ops in engines.items()}, rounds, reps))
        del x
        gc.collect()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="small,paper,ops", help="any of: small, paper, ops")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved native/DGL rounds")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per round (median)")
    ap.add_argument("--paper-latent", type=int, default=32, help="latent width of the model at the paper's graph sizes")
    ap.add_argument("--op-latent", type=int, default=512, help="feature width of the op part (the paper's latent)")
    ap.add_argument("--op-max-gib", type=float, default=4.0, help="memory cap of the op part: the width is halved per graph until it fits")
    ap.add_argument("--out", default="graphcast_dgl_engine.json")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]

    import dgl
    import torch
    from earthzoo.files import atomic_path
    from earthzoo_graphcast.config import GraphCastConfig
    from earthzoo_graphcast.graph import graphs_for

    small = GraphCastConfig.preset("small")
    paper = GraphCastConfig.preset("paper")
    paper_graphs = dataclasses.replace(small, resolution=paper.resolution, mesh_size=paper.mesh_size, n_lat=paper.n_lat, n_lon=paper.n_lon,
                                       latent_size=args.paper_latent, gnn_msg_steps=paper.gnn_msg_steps)
    result: dict = {"benchmark": "graphcast_dgl_engine", "rounds": args.rounds, "reps": args.reps,
                    "load_average_1_5_15_start": list(os.getloadavg()), "parts": {}}
    done = []

    def save():
        result["load_average_1_5_15_end"] = list(os.getloadavg())
        result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                             "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "python": sys.version.split()[0],
                             "versions": {"torch": torch.__version__, "dgl": dgl.__version__}}
        with atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))

    for part in parts:  # each part is saved as soon as it is measured
        t0 = time.perf_counter()
        if part == "small":
            result["parts"]["small"] = model_part("small", small, args.batch, args.rounds, args.reps)
        elif part == "paper":
            result["parts"]["paper_graphs"] = model_part("paper graph sizes (0.25 deg, mesh 6)", paper_graphs, args.batch, args.rounds, args.reps)
        elif part == "ops":
            result["parts"]["ops_paper_graphs"] = op_part(graphs_for(paper), args.op_latent, args.op_max_gib, args.rounds, args.reps)
        else:
            raise SystemExit(f"unknown part {part!r}: use small, paper, ops")
        result["parts"][list(result["parts"])[-1]]["wall_s"] = time.perf_counter() - t0
        done.append(part)
        save()
        print(f"{part}: done in {time.perf_counter() - t0:.0f} s", flush=True)

    def ratios(d):
        return {k: v["ratio_dgl_over_native"] for k, v in d.items() if isinstance(v, dict) and "ratio_dgl_over_native" in v}

    summary = {name: (ratios(p) if "graph" in p else {g: ratios(v) for g, v in p.items() if isinstance(v, dict)}) for name, p in result["parts"].items()}
    result["ratios_dgl_over_native"] = summary
    save()
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
