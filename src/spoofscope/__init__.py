"""spoofscope: detect synthetic and spoofed speech.

Heavy modules (torch, audio decoders) load on first use, so ``import spoofscope`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from spoofscope.audio import load_audio
    from spoofscope.checkpoint import load_model, save_checkpoint
    from spoofscope.inference import Detector

__all__ = ["Detector", "__version__", "load_audio", "load_model", "save_checkpoint"]

_LAZY = {
    "Detector": "spoofscope.inference",
    "load_audio": "spoofscope.audio",
    "load_model": "spoofscope.checkpoint",
    "save_checkpoint": "spoofscope.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spoofscope' has no attribute {name!r}")
