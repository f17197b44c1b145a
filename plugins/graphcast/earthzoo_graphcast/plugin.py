"""Hook implementations of the GraphCast plugin: its model card and DeepMind's checkpoint format."""

from earthzoo.cards import ModelCard, OriginalCheckpoint, WeightFormat
from earthzoo.plugins import hookimpl

PKG = "earthzoo_graphcast"


@hookimpl
def earthzoo_register_models(register):
    register(
        ModelCard(
            name="graphcast",
            summary="GraphCast: encode-process-decode GNN on an icosahedral multi-mesh (grid2mesh, 16 unshared mesh steps, mesh2grid)",
            config=f"{PKG}.config:GraphCastConfig",
            builders={"torch": f"{PKG}.torch_model:build", "mindspore": f"{PKG}.mindspore_model:build"},
            presets=("tiny", "tiny-synthetic", "small", "paper"),
            variables=("per task config: input variables sorted by name, (time, level) stacked",),
            grid="equiangular lat-lon with both poles, north to south (paper: 0.25 deg, 721x1440)",
            time_step="6h",
            weight_formats=("deepmind-graphcast",),
            paper="Lam et al. 2023, Learning skillful medium-range global weather forecasting, Science 382",
            licence="model code Apache-2.0 (this port); DeepMind's published weights are CC BY-NC-SA 4.0",
            source="https://github.com/google-deepmind/graphcast (v0.1.1 numerics)",
            kind="atmosphere",
            # earthzoo demo: planned steps, seconds on a quiet 2-core CPU (the time budget's priors), optimiser settings;
            # other_s is mostly the 16 forecasts of 8 steps in both frameworks (126 s in a quiet run
            # when the 16 initial times ran as one batch; the Forecaster now runs them in fours)
            demo={"steps": 400, "train_s": 100.0, "other_s": 140.0, "ms_s": 32.0, "lr": 1e-3, "batch_size": 2},
            example_input=f"{PKG}.inputs:example_input",
            next_input=f"{PKG}.inputs:next_input",
            data_init=f"{PKG}.inputs:data_init",
            originals=(
                OriginalCheckpoint(
                    "deepmind-graphcast-0.25deg-37levels", "google-deepmind/graphcast, params/", "CC BY-NC-SA 4.0 (DeepMind's weights)", "paper", "deepmind-graphcast", 256,
                    "GraphCast - ERA5 1979-2017 - resolution 0.25 - pressure levels 37 - mesh 2to6 - precipitation input and output.npz",
                ),
            ),
        )
    )


@hookimpl
def earthzoo_register_weight_formats(register):
    register(
        WeightFormat(
            name="deepmind-graphcast",
            model="graphcast",
            summary="DeepMind GraphCast checkpoint (.npz of params:<module>:<w|b|scale|offset>, model_config:*, task_config:*), read without pickle",
            reader=f"{PKG}.convert:read",
            suffixes=(".npz",),
            writer=f"{PKG}.convert:write",
            origin="graphcast.checkpoint.dump (google-deepmind/graphcast)",
            sniff=f"{PKG}.convert:sniff",
        )
    )
