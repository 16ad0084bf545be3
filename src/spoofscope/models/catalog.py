"""The registered models. One ``register`` call per name; classes load lazily.

``tiny`` overrides give small, fast instances for the tests that run over every model.
"""

from spoofscope.models import ModelSpec, register

#: The tiny RawNet2 (both presets, and the ensemble's tiny member).
RAWNET2_TINY = {
    "first_conv": 64,
    "filts": (8, (8, 8), (8, 16), (16, 16)),
    "nb_fc_node": 16,
    "gru_node": 16,
    "nb_gru_layer": 1,
}

# --- AASIST (models/aasist.py) ---
register(
    ModelSpec(
        name="aasist",
        target="spoofscope.models.aasist:AASIST",
        config_target="spoofscope.models.aasist:AASISTConfig",
        tiny={"filts": (70, (1, 8), (8, 8), (8, 8), (8, 8)), "gat_dims": (8, 8)},
        description="AASIST (Jung et al., ICASSP 2022), official config",
    )
)
register(
    ModelSpec(
        name="aasist-l",
        target="spoofscope.models.aasist:AASIST",
        config_target="spoofscope.models.aasist:AASISTConfig",
        preset={
            "filts": (70, (1, 32), (32, 32), (32, 24), (24, 24)),
            "gat_dims": (24, 32),
            "pool_ratios": (0.4, 0.5, 0.7, 0.5),
        },
        tiny={"filts": (70, (1, 8), (8, 8), (8, 8), (8, 8)), "gat_dims": (8, 8)},
        description="AASIST-L, the light official config (85k parameters)",
    )
)

# --- RawNet2 (models/rawnet2.py) ---
register(
    ModelSpec(
        name="rawnet2",
        target="spoofscope.models.rawnet2:RawNet2",
        config_target="spoofscope.models.rawnet2:RawNet2Config",
        tiny=RAWNET2_TINY,
        description="RawNet2, the ASVspoof 2021 baseline (Tak et al., ICASSP 2021)",
    )
)
register(
    ModelSpec(
        name="rawnet2-lite",
        target="spoofscope.models.rawnet2:RawNet2",
        config_target="spoofscope.models.rawnet2:RawNet2Config",
        preset={
            "first_conv": 128,
            "filts": (16, (16, 16), (16, 64), (64, 64)),
            "nb_fc_node": 128,
            "gru_node": 128,
            "nb_gru_layer": 1,
        },
        tiny=RAWNET2_TINY,
        description="RawNet2 with fewer channels and a smaller GRU (203k parameters), for CPUs",
    )
)

# --- LFCC-LCNN (models/lcnn.py) ---
register(
    ModelSpec(
        name="lcnn",
        target="spoofscope.models.lcnn:LCNN",
        config_target="spoofscope.models.lcnn:LCNNConfig",
        tiny={},
        description="LFCC-LCNN, the ASVspoof 2021 LA baseline",
    )
)

# --- Ensemble / band-limited wrapper (models/ensemble.py) ---
register(
    ModelSpec(
        name="ensemble",
        target="spoofscope.models.ensemble:Ensemble",
        config_target="spoofscope.models.ensemble:EnsembleConfig",
        tiny={
            "members": (
                {"name": "lcnn", "config": {}},
                {
                    "name": "rawnet2-lite",
                    "config": RAWNET2_TINY,
                },
            )
        },
        description="members behind one fixed input low-pass (3.8 kHz), logits averaged",
    )
)

# --- GMM baselines (models/gmm.py) ---
register(
    ModelSpec(
        name="lfcc-gmm",
        target="spoofscope.models.gmm:GMMBaseline",
        config_target="spoofscope.models.gmm:GMMConfig",
        preset={"feature": "lfcc"},
        tiny={"n_components": 4},
        description="LFCC-GMM, the ASVspoof 2019/2021 baseline (log-likelihood ratio)",
    )
)
register(
    ModelSpec(
        name="cqcc-gmm",
        target="spoofscope.models.gmm:GMMBaseline",
        config_target="spoofscope.models.gmm:GMMConfig",
        preset={"feature": "cqcc"},
        tiny={"n_components": 4},
        description="CQCC-GMM, the ASVspoof 2019/2021 baseline (log-likelihood ratio)",
    )
)
