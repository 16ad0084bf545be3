"""The registered models. One ``register`` call per name; classes load lazily."""

from spoofscope.models import ModelSpec, register

register(
    ModelSpec(
        name="aasist",
        target="spoofscope.models.aasist:AASIST",
        config_target="spoofscope.models.aasist:AASISTConfig",
        tiny={"filts": (70, (1, 8), (8, 8), (8, 8), (8, 8)), "gat_dims": (8, 8)},
        description="AASIST (Jung et al., ICASSP 2022), official config",
    )
)
