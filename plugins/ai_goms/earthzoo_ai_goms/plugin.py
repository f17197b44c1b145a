"""Hook implementations of the AI-GOMS plugin: its model card and weight format."""

from earthzoo.cards import ModelCard, WeightFormat
from earthzoo.plugins import hookimpl

PKG = "earthzoo_ai_goms"


@hookimpl
def earthzoo_register_models(register):
    from .config import PAPER_DEPTHS, ocean_channels

    register(
        ModelCard(
            name="ai_goms",
            summary="AI-GOMS: Fourier masked-autoencoder global ocean model (T/S/U/V at 15 depths + SSH, daily) with fine-tuning modules",
            config=f"{PKG}.config:AIGOMSConfig",
            builders={"torch": f"{PKG}.torch_model:build", "mindspore": f"{PKG}.mindspore_model:build"},
            presets=(
                "tiny",
                "small",
                "paper",
                "tiny_downscale",
                "tiny_wave",
                "small_downscale",
                "small_wave",
                "paper_downscale",
                "paper_wave",
            ),
            variables=ocean_channels(PAPER_DEPTHS),
            grid="0.25 deg lat-lon, 720x1440; inputs add u10, v10, t2m, msl, sp and orography (67 channels)",
            time_step="1d",
            weight_formats=("ai-goms",),
            paper="Xiong et al. 2023, AI-GOMS: Large AI-Driven Global Ocean Modeling System (arXiv preprint)",
            licence="this implementation Apache-2.0",
            source="the authors' public code Ocean_AI_model (later Poseidon)",
            kind="ocean",
            # earthzoo demo: planned steps, seconds on a quiet 2-core CPU (the time budget's priors), optimiser settings.
            # T's one-day change is the slowest to learn: at lr 1e-3, batch 4, t_0m was 1.12x persistence after
            # 511 steps (132 s); at lr 1e-2, batch 2 0.90x after 487 steps (70 s) (benchmarks/engine_skill.py, 1 core)
            demo={"steps": 3000, "train_s": 140.0, "other_s": 60.0, "ms_s": 20.0, "lr": 1e-2, "batch_size": 2},
            example_input=f"{PKG}.inputs:example_input",
            next_input=f"{PKG}.inputs:next_input",
            data_spec=f"{PKG}.inputs:data_spec",
            data_init=f"{PKG}.inputs:data_init",
        )
    )


@hookimpl
def earthzoo_register_weight_formats(register):
    register(
        WeightFormat(
            name="ai-goms",
            model="ai_goms",
            summary="AI-GOMS training checkpoint (torch .pt/.tar, 'model_state' with DDP 'module.' keys, FourCastNet layout)",
            reader=f"{PKG}.convert:read_original",
            suffixes=(".tar", ".pt", ".pth"),
            writer=f"{PKG}.convert:write_original",
            sniff=f"{PKG}.convert:sniff",
            origin="AI-GOMS public code (Ocean_AI_model), FourCastNet checkpoint layout",
            framework="torch",
        )
    )
