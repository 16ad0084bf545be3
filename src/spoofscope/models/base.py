"""The contract every spoofscope countermeasure model follows."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn


class SpoofModel(nn.Module):
    """Base class: ``forward(wave (B, T) float32) -> logits (B, 2)``, index 1 = bona fide.

    Subclasses set ``config`` (a dataclass instance) in ``__init__`` and implement
    ``forward_logits``. A model owns its front end, so callers only ever pass raw 16 kHz
    waveforms. ``forward`` validates the input and then calls ``forward_logits``.

    Attributes:
        name: registry name the model was built under (set by ``build_model``).
        sample_rate: expected input sample rate in Hz.
        segment_samples: the fixed input length the model was trained on.
        trainable_by_gradient: False for models fitted otherwise (the GMM baselines).
    """

    name: str = ""
    trainable_by_gradient: ClassVar[bool] = True
    sample_rate: ClassVar[int] = 16000
    segment_samples: int = 64600
    config: Any

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Score a batch of waveforms.

        Args:
            wave: float32 tensor of shape ``(B, T)`` at ``sample_rate``.

        Returns:
            float32 logits of shape ``(B, 2)``: index 0 = spoof, index 1 = bona fide.
        """
        check_wave(wave, self.min_samples())
        return self.forward_logits(wave)

    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def min_samples(self) -> int:
        """Shortest input (in samples) the model accepts."""
        return 1

    def fuse_for_inference(self) -> SpoofModel:
        """Return a model for fast, lossless evaluation (BN folded, constants precomputed).

        The default returns ``self``; models with a faster eval path override it. The result
        gives the same logits (to float rounding) and must not be trained.
        """
        return self

    def config_dict(self) -> dict[str, Any]:
        """The model config as a JSON-serializable dict."""
        return dataclasses.asdict(self.config)


def check_wave(wave: object, min_samples: int = 1) -> None:
    """Raise ``ValueError`` unless ``wave`` is a float32 tensor of shape ``(B, T)``.

    Args:
        wave: the candidate input.
        min_samples: the smallest accepted ``T``.
    """
    if not isinstance(wave, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor waveform, got {type(wave).__name__}")
    if wave.dim() != 2:
        raise ValueError(
            f"expected waveform shape (batch, samples), got {tuple(wave.shape)}; "
            "add a batch dimension with wave[None] for a single clip"
        )
    if wave.dtype != torch.float32:
        raise ValueError(f"expected float32 waveform, got {wave.dtype}; use wave.float()")
    if wave.shape[0] < 1 or wave.shape[1] < min_samples:
        raise ValueError(
            f"waveform of shape {tuple(wave.shape)} is too short: need batch >= 1 and "
            f">= {min_samples} samples"
        )
