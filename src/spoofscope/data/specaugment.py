"""SpecAugment-style masking of feature maps (Daniel S. Park et al., "SpecAugment: A Simple
Data Augmentation Method for Automatic Speech Recognition", Interspeech 2019): frequency and
time masks, without time warping."""

from __future__ import annotations

import torch

__all__ = ["FILLS", "spec_augment"]

#: What a masked cell becomes: ``"zero"``, or ``"mean"`` (the example's mean feature value).
FILLS = ("zero", "mean")


def _band_mask(
    batch: int, size: int, count: int, width: int, generator: torch.Generator | None, device
) -> torch.Tensor:
    """``(B, size)`` bool: ``count`` bands per row, each of width uniform in ``[0, width]``."""
    mask = torch.zeros(batch, size, dtype=torch.bool, device=device)
    if count <= 0 or width <= 0 or size <= 0:
        return mask
    width = min(width, size)
    pos = torch.arange(size, device=device)
    for _ in range(count):
        w = torch.randint(0, width + 1, (batch, 1), generator=generator).to(device)
        start = (torch.rand(batch, 1, generator=generator).to(device) * (size - w + 1)).long()
        mask |= (pos >= start) & (pos < start + w)
    return mask


def spec_augment(
    features: torch.Tensor,
    freq_masks: int = 2,
    freq_width: int = 8,
    time_masks: int = 2,
    time_width: int = 20,
    generator: torch.Generator | None = None,
    fill: str = "zero",
) -> torch.Tensor:
    """Mask random frequency bands and time spans of each example, independently.

    Args:
        features: ``(B, F, T)`` feature maps (F frequency bins or coefficients, T frames).
        freq_masks: frequency masks per example.
        freq_width: largest frequency mask width (each width is uniform in ``[0, freq_width]``).
        time_masks: time masks per example.
        time_width: largest time mask width in frames.
        generator: a CPU ``torch.Generator`` for reproducible masks; None = the global one.
        fill: ``"zero"`` or ``"mean"`` (each example's mean over ``F`` and ``T``).

    Returns:
        a new tensor of shape ``(B, F, T)``; ``features`` is not modified.
    """
    if features.dim() != 3:
        raise ValueError(f"spec_augment expects (batch, freq, time), got {tuple(features.shape)}")
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; valid choices: {', '.join(FILLS)}")
    b, f, t = features.shape
    device = features.device
    fmask = _band_mask(b, f, freq_masks, freq_width, generator, device)
    tmask = _band_mask(b, t, time_masks, time_width, generator, device)
    mask = fmask[:, :, None] | tmask[:, None, :]
    if fill == "zero":
        value = torch.zeros((), dtype=features.dtype, device=device)
    else:
        value = features.detach().mean(dim=(1, 2), keepdim=True)
    return torch.where(mask, value, features)
