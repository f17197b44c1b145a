"""Hook implementations of the FourCastNet plugin: its model card and weight formats."""

from earthzoo.cards import ModelCard, OriginalCheckpoint, WeightFormat
from earthzoo.plugins import hookimpl

PKG = "earthzoo_fourcastnet"


@hookimpl
def earthzoo_register_models(register):
    register(
        ModelCard(
            name="fourcastnet",
            summary="FourCastNet: adaptive Fourier neural operator (AFNO) global weather forecaster",
            config=f"{PKG}.config:FourCastNetConfig",
            builders={"torch": f"{PKG}.torch_model:build", "mindspore": f"{PKG}.mindspore_model:build"},
            presets=("tiny", "small", "paper", "paper_v1", "precip"),
            variables=("u10", "v10", "t2m", "sp", "msl", "t850", "u1000", "v1000", "z1000", "u850", "v850", "z850", "u500", "v500", "z500", "t500", "z50", "r500", "r850", "tcwv"),
            grid="0.25 deg lat-lon, 720x1440 (721 rows: the south pole row is dropped and padded back)",
            time_step="6h",
            weight_formats=("nvlabs-fourcastnet", "mindearth-afnonet"),
            paper="Pathak et al. 2022, arXiv:2202.11214; Guibas et al. 2021 (AFNO), arXiv:2111.13587",
            licence="BSD-3-Clause (NVlabs FourCastNet); this implementation Apache-2.0",
            source="https://github.com/NVlabs/FourCastNet",
            kind="atmosphere",
            # earthzoo demo: planned steps, seconds on a quiet 2-core CPU (the time budget's priors), optimiser settings
            demo={"steps": 800, "train_s": 35.0, "other_s": 22.0, "ms_s": 10.0, "lr": 1e-3, "batch_size": 4},
            example_input=f"{PKG}.inputs:example_input",
            next_input=f"{PKG}.inputs:next_input",
            data_spec=f"{PKG}.inputs:data_spec",
            originals=(
                # NVlabs' released weights (FCN_weights_v0); the tensor counts are what the nvlabs-fourcastnet reader finds
                OriginalCheckpoint("nvlabs-fourcastnet-v0-backbone", "NVlabs/FourCastNet, FCN_weights_v0", "BSD-3-Clause (NVlabs/FourCastNet)", "paper", "nvlabs-fourcastnet", 150, "backbone.ckpt"),
                OriginalCheckpoint("nvlabs-fourcastnet-v0-precip", "NVlabs/FourCastNet, FCN_weights_v0", "BSD-3-Clause (NVlabs/FourCastNet)", "precip", "nvlabs-fourcastnet", 152, "precip.ckpt"),
            ),
            shapes=f"{PKG}.config:parameter_shapes",
        )
    )


@hookimpl
def earthzoo_register_weight_formats(register):
    register(
        WeightFormat(
            name="nvlabs-fourcastnet",
            model="fourcastnet",
            summary="NVlabs FourCastNet training checkpoint (torch .ckpt, 'model_state', 'module.' keys)",
            reader=f"{PKG}.convert:read_nvlabs",
            suffixes=(".ckpt", ".tar", ".pt"),
            writer=f"{PKG}.convert:write_nvlabs",
            origin="https://github.com/NVlabs/FourCastNet",
            framework="torch",
            sniff=f"{PKG}.convert:sniff_nvlabs",
        )
    )
    register(
        WeightFormat(
            name="mindearth-afnonet",
            model="fourcastnet",
            summary="MindEarth AFNONet MindSpore checkpoint (renamed parameters, tanh GELU -> gelu='tanh')",
            reader=f"{PKG}.convert:read_mindearth",
            suffixes=(".ckpt",),
            writer=f"{PKG}.convert:write_mindearth",
            origin="https://gitee.com/mindspore/mindscience (MindEarth)",
            framework="",  # read and written by earthzoo.msckpt, without MindSpore
            sniff=f"{PKG}.convert:sniff_mindearth",
        )
    )
