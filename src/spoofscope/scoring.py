"""Turning model logits into scores, and the official fixed-length input convention.

Two score conventions (see DESIGN.md):

- ``"log-odds"`` (default): ``logit[1] - logit[0]``, the log-odds of bona fide; calibration
  starts from it.
- ``"official"``: ``logit[1]`` alone, as the official AASIST scripts write it. It ranks trials
  differently, so reproducing a published number needs it; every report names the mode used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

SCORE_MODES = ("log-odds", "official")


def check_score_mode(mode: str) -> str:
    """Return ``mode`` if valid, else raise ``ValueError`` listing the valid modes."""
    if mode not in SCORE_MODES:
        raise ValueError(f"unknown score mode {mode!r}; valid choices: {', '.join(SCORE_MODES)}")
    return mode


def scores_from_logits(logits: torch.Tensor | np.ndarray, mode: str = "log-odds") -> np.ndarray:
    """Scores (higher = more bona fide) from ``(B, 2)`` logits.

    Args:
        logits: array or tensor of shape ``(B, 2)``; index 1 = bona fide.
        mode: ``"log-odds"`` (``logit[1] - logit[0]``) or ``"official"`` (``logit[1]``).

    Returns:
        float64 array of shape ``(B,)``.

    Example:
        >>> scores_from_logits(np.array([[-1.0, 2.0]]))
        array([3.])
        >>> scores_from_logits(np.array([[-1.0, 2.0]]), "official")
        array([2.])
    """
    check_score_mode(mode)
    arr = logits.detach().cpu().numpy() if hasattr(logits, "detach") else np.asarray(logits)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected logits of shape (B, 2), got {arr.shape}")
    arr = arr.astype(np.float64)
    return arr[:, 1] - arr[:, 0] if mode == "log-odds" else arr[:, 1]


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block (a no-op where the CPU cannot).

    Quiet or tonal input drives some activations into the denormal range, where x86 CPUs
    are 10-20x slower; flushing them changes logits far less than float32 rounding.
    """
    import torch

    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


def score_segments(
    model: torch.nn.Module, segments: np.ndarray, mode: str = "log-odds", batch_size: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over fixed-length segments in batches.

    Args:
        model: a :class:`~spoofscope.models.SpoofModel` (put in eval mode by the caller).
        segments: float32 array of shape ``(N, T)``.
        mode: score convention, see :data:`SCORE_MODES`.
        batch_size: segments per forward pass.

    Returns:
        ``(scores (N,), logits (N, 2))`` as float64 / float32 numpy arrays.
    """
    import torch

    check_score_mode(mode)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    outputs = []
    with torch.inference_mode(), flush_denormals():
        for start in range(0, len(segments), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(segments[start : start + batch_size]))
            outputs.append(model(batch.float()).float().cpu().numpy())
    logits = np.concatenate(outputs) if outputs else np.zeros((0, 2), np.float32)
    return scores_from_logits(logits, mode), logits
