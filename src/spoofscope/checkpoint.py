"""spoofscope checkpoints: safetensors weights + JSON metadata. Loading never unpickles.

A checkpoint is either a single ``.safetensors`` file whose header metadata holds the JSON
(key ``"spoofscope"``), or a directory with ``model.safetensors`` and a readable
``metadata.json`` (the same JSON). Official upstream ``.pth`` files are imported through
``torch.load(weights_only=True)`` and a key map (:mod:`spoofscope.upstream`).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import torch

from spoofscope import __version__
from spoofscope.checkpoint_errors import CheckpointError
from spoofscope.models import SpoofModel, build_from_config

FORMAT = "spoofscope-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
METADATA_NAME = "metadata.json"
UPSTREAM_SUFFIXES = (".pth", ".pt")

__all__ = ["CheckpointError", "load_checkpoint", "load_model", "save_checkpoint"]


def build_metadata(
    model: SpoofModel,
    *,
    calibration: dict[str, Any] | None = None,
    data_card: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON metadata stored with ``model``'s weights."""
    if not model.name:
        raise CheckpointError("model has no registry name; build it with build_model(name)")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "config": model.config_dict(),
        "sample_rate": model.sample_rate,
        "segment_samples": model.segment_samples,
        "spoofscope_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "calibration": calibration,
        "data_card": data_card,
        "extra": extra or {},
    }


def save_checkpoint(
    model: SpoofModel,
    path: str | Path,
    *,
    calibration: dict[str, Any] | None = None,
    data_card: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` as a spoofscope checkpoint.

    Args:
        model: a model built with :func:`spoofscope.models.build_model`.
        path: a ``.safetensors`` file, or a directory (created) for the two-file layout.
        calibration: score calibration parameters, stored verbatim.
        data_card: description of the training data, stored verbatim.
        extra: any other JSON-serializable information.

    Returns:
        The path written (the file, or the directory).
    """
    from safetensors.torch import save_file

    meta = build_metadata(model, calibration=calibration, data_card=data_card, extra=extra)
    text = json.dumps(meta, sort_keys=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(path)
    if path.suffix == ".safetensors":
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(path), metadata={"spoofscope": text})
        return path
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / WEIGHTS_NAME), metadata={"spoofscope": text})
    (path / METADATA_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's metadata without loading its weights."""
    weights = _weights_file(Path(path))
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # safetensors raises several types for corrupt headers
        raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from exc
    if "spoofscope" not in header:
        raise CheckpointError(f"{weights}: safetensors file has no spoofscope metadata")
    try:
        meta = json.loads(header["spoofscope"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{weights}: metadata is not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{weights}: unknown checkpoint format {meta.get('format')!r}")
    return meta


def load_checkpoint(path: str | Path) -> tuple[SpoofModel, dict[str, Any]]:
    """Load a spoofscope checkpoint.

    Returns:
        ``(model, metadata)``; the model is in eval mode and carries the metadata as
        ``model.checkpoint_metadata``.
    """
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        model = build_from_config(meta["model"], meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot build model from metadata: {exc}") from exc
    state = load_file(str(_weights_file(Path(path))))
    _load_state_strict(model, state, path)
    model.checkpoint_metadata = meta
    return model.eval(), meta


def load_model(path: str | Path, *, config: dict[str, Any] | None = None) -> SpoofModel:
    """Load any supported checkpoint: ours, or an official AASIST ``.pth`` file.

    Args:
        path: a ``.safetensors`` file, a checkpoint directory, or an upstream ``.pth``.
        config: for upstream files only, the official ``model_config`` dict; inferred from
            the weights (or a sibling ``.conf``) when omitted.

    Returns:
        The model in eval mode.

    Raises:
        CheckpointError: missing file, unknown format, or weights that do not fit.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_file() and path.suffix in UPSTREAM_SUFFIXES:
        from spoofscope.upstream import load_official_aasist

        return load_official_aasist(path, config)
    return load_checkpoint(path)[0]


def _weights_file(path: Path) -> Path:
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: unsupported checkpoint type {path.suffix!r}; expected a .safetensors "
            f"file, a checkpoint directory, or an upstream {'/'.join(UPSTREAM_SUFFIXES)} file"
        )
    return path


def _load_state_strict(model: SpoofModel, state: dict[str, torch.Tensor], path: Any) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit model {model.name!r}: "
            f"missing {missing[:10]}, unexpected {unexpected[:10]}"
        )
    for key, value in state.items():
        if own[key].shape != value.shape:
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(value.shape)}, model expects "
                f"{tuple(own[key].shape)}"
            )
    model.load_state_dict(state, strict=True)
