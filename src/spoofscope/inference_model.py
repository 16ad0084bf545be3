"""Loading the detector's model: a checkpoint, an official ``.pth``, an ONNX file or the default.

Internal to :mod:`spoofscope.inference` (:meth:`Detector.from_pretrained`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from spoofscope.errors import SpoofscopeError

__all__ = ["BACKENDS", "DEFAULT_MODEL_PATH", "load_backend", "resolve_model_path"]

BACKENDS = ("torch", "onnx")
#: Where the shipped default model lives inside the package (not shipped yet).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.safetensors"


def _sha256_prefix(path: Path, n: int = 12) -> str | None:
    file = path / "model.safetensors" if path.is_dir() else path
    if not file.is_file():
        return None
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:n]


def resolve_model_path(name_or_path: str | Path | None) -> Path:
    if name_or_path is None or str(name_or_path) == "default":
        if not DEFAULT_MODEL_PATH.is_file():
            raise SpoofscopeError(
                f"no default model is installed (looked for {DEFAULT_MODEL_PATH}); pass a "
                "checkpoint instead: a spoofscope .safetensors file or directory, an official "
                "AASIST .pth, or an .onnx file with backend='onnx' (CLI: --model PATH)"
            )
        return DEFAULT_MODEL_PATH
    path = Path(name_or_path)
    if not path.exists():
        raise SpoofscopeError(
            f"model {str(name_or_path)!r} is neither an existing checkpoint path nor a known "
            "model name (known names: default); pass a .safetensors file or directory, an "
            "official AASIST .pth, or an .onnx file"
        )
    return path


def load_backend(
    path: Path, backend: str, device: str
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``(callable model, checkpoint metadata, model info)`` for ``path`` on ``backend``."""
    if backend == "onnx":
        if path.suffix != ".onnx":
            raise SpoofscopeError(f"backend 'onnx' needs an .onnx file, got {path}")
        from spoofscope.onnx_backend import OnnxModel

        model = OnnxModel(str(path))
        meta = dict(getattr(model, "checkpoint_metadata", None) or {})
    else:
        if path.suffix == ".onnx":
            raise SpoofscopeError(f"{path} is an ONNX file; use backend='onnx' (--backend onnx)")
        import torch

        from spoofscope.checkpoint import load_model

        loaded = load_model(path)
        meta = dict(getattr(loaded, "checkpoint_metadata", None) or {})
        model = loaded.fuse_for_inference().to(torch.device(device)).eval()
        model.name = loaded.name
    version = (meta.get("extra") or {}).get("version") or meta.get("spoofscope_version")
    if version is None and path.suffix in (".pth", ".pt"):
        version = "upstream"
    info = {
        "name": getattr(model, "name", None) or meta.get("model"),
        "id": _sha256_prefix(path),
        "version": version,
        "backend": backend,
    }
    return model, meta, info
