"""Model registry: ``build_model(name, **config)`` and ``list_models()``.

Every entry names a model class (imported on first use) and a preset config. The class
takes its config dataclass as the only constructor argument. ``tiny`` holds overrides
that make a fast, small instance for tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from spoofscope.models.base import SpoofModel, check_wave
from spoofscope.registry import Registry, replace_config

__all__ = ["ModelSpec", "SpoofModel", "build_model", "check_wave", "get_spec", "list_models"]


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model.

    Attributes:
        name: registry name.
        target: ``"module:Class"`` of the model class.
        config_target: ``"module:ConfigClass"`` of its config dataclass.
        preset: overrides applied to the config class defaults for this name.
        tiny: further overrides giving a small, fast instance for tests.
        description: one line for ``spoofscope models``.
    """

    name: str
    target: str
    config_target: str
    preset: dict[str, Any] = field(default_factory=dict)
    tiny: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def model_class(self) -> type[SpoofModel]:
        return _import(self.target)

    def default_config(self) -> Any:
        config_cls = _import(self.config_target)
        return replace_config(config_cls(), self.preset, f"model {self.name!r}")


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


MODELS: Registry[ModelSpec] = Registry("model")


def register(spec: ModelSpec) -> None:
    """Add a model spec to the registry."""
    MODELS.add(spec.name, spec)


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name`` (``KeyError`` lists valid names)."""
    return MODELS.get(name)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return MODELS.names()


def build_model(name: str, **config: Any) -> SpoofModel:
    """Build a registered model with its preset config plus ``config`` overrides.

    Args:
        name: a name from ``list_models()``.
        **config: config fields to override.

    Returns:
        The model in eval mode (call ``.train()`` to train it).

    Raises:
        KeyError: unknown model name (the message lists valid names).
        TypeError: unknown config key (the message lists valid keys).
    """
    spec = get_spec(name)
    cfg = replace_config(spec.default_config(), config, f"model {name!r}")
    model = spec.model_class()(cfg)
    model.name = name
    return model.eval()


def build_from_config(name: str, config: dict[str, Any]) -> SpoofModel:
    """Build model ``name`` from a full config dict (as stored in checkpoints)."""
    spec = get_spec(name)
    config_cls = _import(spec.config_target)
    cfg = replace_config(config_cls(), config, f"model {name!r}")
    model = spec.model_class()(cfg)
    model.name = name
    return model.eval()


from spoofscope.models import catalog as _catalog  # noqa: E402,F401  (fills MODELS)
