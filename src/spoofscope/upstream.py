"""Import official AASIST / AASIST-L ``.pth`` files (clovaai/aasist, ASVspoof 5 baseline).

The file is read with ``torch.load(weights_only=True)``, so nothing is unpickled beyond plain
tensors and containers. Official parameter names are translated to ours through an explicit
rename table; any key the table does not know, or any key our model needs that the file lacks,
is refused with the full list. The ``bn1`` parameters of residual blocks 2-6 are recognised
and dropped: the official forward pass computes ``bn1`` and discards the result.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from spoofscope.checkpoint_errors import CheckpointError
from spoofscope.models import build_from_config, get_spec
from spoofscope.models.aasist import AASIST

__all__ = [
    "CheckpointError",
    "discarded_official_keys",
    "load_official_aasist",
    "official_key_map",
    "to_official_key",
]

log = logging.getLogger(__name__)

# our module prefix -> official module prefix (longest match first)
MODULE_RENAMES: dict[str, str] = {
    "front_bn.": "first_bn.",
    "pos_spectral": "pos_S",
    "branches.0.master": "master1",
    "branches.1.master": "master2",
    "gat_spectral.": "GAT_layer_S.",
    "gat_temporal.": "GAT_layer_T.",
    "pool_spectral.score.": "pool_S.proj.",
    "pool_temporal.score.": "pool_T.proj.",
    "branches.0.hgat1.": "HtrgGAT_layer_ST11.",
    "branches.0.hgat2.": "HtrgGAT_layer_ST12.",
    "branches.1.hgat1.": "HtrgGAT_layer_ST21.",
    "branches.1.hgat2.": "HtrgGAT_layer_ST22.",
    "branches.0.pool_s.score.": "pool_hS1.proj.",
    "branches.0.pool_t.score.": "pool_hT1.proj.",
    "branches.1.pool_s.score.": "pool_hS2.proj.",
    "branches.1.pool_t.score.": "pool_hT2.proj.",
    "classifier.": "out_layer.",
}
# names inside graph layers and residual blocks: ours -> official
LEAF_RENAMES: dict[str, str] = {
    "proj_att": "proj_with_att",
    "proj_self": "proj_without_att",
    "proj_att_master": "proj_with_attM",
    "proj_self_master": "proj_without_attM",
    "att_proj_master": "att_projM",
    "att_weight_tt": "att_weight11",
    "att_weight_ss": "att_weight22",
    "att_weight_ts": "att_weight12",
    "att_weight_master": "att_weightM",
    "proj_t": "proj_type1",
    "proj_s": "proj_type2",
}
BLOCK_RENAMES = {"conv1": "conv1", "bn": "bn2", "conv2": "conv2", "skip": "conv_downsample"}
BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


def to_official_key(key: str) -> str:
    """The official clovaai name of our state-dict ``key``.

    Raises:
        KeyError: ``key`` is not an AASIST parameter or buffer name.
    """
    block = re.fullmatch(r"encoder\.(\d+)\.(conv1|bn|conv2|skip)\.(\w+)", key)
    if block:
        index, module, leaf = block.groups()
        return f"encoder.{index}.0.{BLOCK_RENAMES[module]}.{leaf}"
    for ours, theirs in sorted(MODULE_RENAMES.items(), key=lambda kv: -len(kv[0])):
        if key == ours or (ours.endswith(".") and key.startswith(ours)):
            rest = key[len(ours) :]
            if not ours.startswith(("gat_", "branches.0.hgat", "branches.1.hgat")):
                return theirs + rest
            head, _, tail = rest.partition(".")
            return theirs + ".".join(filter(None, [LEAF_RENAMES.get(head, head), tail]))
    raise KeyError(f"{key!r} is not an AASIST state-dict key")


def official_key_map(model: AASIST) -> dict[str, str]:
    """``{official key: our key}`` for every entry of ``model.state_dict()``."""
    return {to_official_key(k): k for k in model.state_dict()}


def discarded_official_keys(model: AASIST) -> set[str]:
    """Official keys that are read and dropped: ``bn1`` of residual blocks 2-6."""
    return {f"encoder.{i}.0.bn1.{f}" for i in range(1, len(model.encoder)) for f in BN_FIELDS}


def load_official_aasist(path: str | Path, config: dict[str, Any] | None = None) -> AASIST:
    """Build our AASIST from an official ``.pth`` state dict.

    Args:
        path: the ``.pth`` file (a plain state dict, optionally wrapped as
            ``{"state_dict": ...}`` or saved from ``DataParallel`` with ``module.`` keys).
        config: the official ``model_config`` dict (or a whole ``.conf`` dict holding one).
            When omitted, a sibling ``<name>.conf`` JSON is read if present; otherwise the
            architecture is recognised from tensor shapes as AASIST or AASIST-L.

    Returns:
        The model in eval mode, named ``"aasist"`` or ``"aasist-l"``.

    Raises:
        CheckpointError: unreadable file, a pickle that is more than plain weights, keys that
            do not match, or shapes that fit no known configuration.
    """
    path = Path(path)
    state = _read_state(path)
    if config is None:
        config = _sibling_config(path)
    if config is None:
        name, config = _infer_config(state, path)
    else:
        config = _model_config(config, path)
        name = _preset_name(config)
    try:
        model = build_from_config(name, config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: model_config does not describe AASIST: {exc}") from exc
    model.load_state_dict(_translate(state, model, path), strict=True)
    log.info("imported official %s weights from %s", name, path)
    return model.eval()


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"official checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: not a plain weights file; it holds Python objects beyond tensors, so "
            f"it was not unpickled (torch.load weights_only=True refused it: "
            f"{str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch file ({exc})") from exc
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def _translate(state: dict[str, torch.Tensor], model: AASIST, path: Path) -> dict[str, Any]:
    key_map = official_key_map(model)
    dropped = discarded_official_keys(model)
    unexpected = sorted(k for k in state if k not in key_map and k not in dropped)
    missing = sorted(k for k in key_map if k not in state)
    if unexpected or missing:
        raise CheckpointError(
            f"{path}: not an official AASIST state dict for this config: "
            f"unexpected keys {unexpected}, missing keys {missing}"
        )
    own = model.state_dict()
    out = {}
    for theirs, ours in key_map.items():
        if state[theirs].shape != own[ours].shape:
            raise CheckpointError(
                f"{path}: {theirs} has shape {tuple(state[theirs].shape)}, the config needs "
                f"{tuple(own[ours].shape)}"
            )
        out[ours] = state[theirs]
    return out


def _sibling_config(path: Path) -> dict[str, Any] | None:
    conf = path.with_suffix(".conf")
    if not conf.is_file():
        return None
    try:
        data = json.loads(conf.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{conf}: not a readable JSON .conf file ({exc})") from exc
    log.info("using model_config from %s", conf)
    return _model_config(data, conf)


def _model_config(config: dict[str, Any], source: Path) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: config must be a dict, got {type(config).__name__}")
    config = dict(config.get("model_config", config))
    arch = config.pop("architecture", "AASIST")
    if arch != "AASIST":
        raise CheckpointError(f"{source}: architecture {arch!r} is not supported; valid: AASIST")
    return config


def _preset_name(config: dict[str, Any]) -> str:
    light = get_spec("aasist-l").default_config()
    ours = type(light)(**{**_asdict(light), **config})
    return "aasist-l" if ours == light else "aasist"


def _infer_config(state: dict[str, torch.Tensor], path: Path) -> tuple[str, dict[str, Any]]:
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for name in ("aasist", "aasist-l"):
        model = AASIST(get_spec(name).default_config())
        wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if all(shapes.get(to_official_key(k)) == s for k, s in wanted.items()):
            return name, _asdict(model.config)
    raise CheckpointError(
        f"{path}: tensor shapes match neither AASIST nor AASIST-L, and pool ratios and "
        "temperatures are not stored in the weights; pass the official model_config "
        "(config=...) or put the .conf file beside the .pth"
    )


def _asdict(config: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(config)
