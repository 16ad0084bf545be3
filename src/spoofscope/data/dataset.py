"""A map-style dataset over a manifest: decode, crop or pad, augment.

Crop policies (``crop=``):

- ``"random"``: a random ``segment_samples`` window (training); shorter clips are
  repeat-padded (:func:`spoofscope.audio.repeat_pad`, as the official scripts do).
- ``"first"``: the first ``segment_samples`` (the official evaluation convention), also
  repeat-padded; only that span is decoded.
- ``"full"``: the whole clip (at least ``min_samples``, repeat-padded up to it); batch such
  items with :class:`~spoofscope.data.sampler.LengthBucketSampler` and :func:`collate`,
  which pads within the batch and returns the true lengths.

Randomness (crop offset, augmentation) comes from ``numpy.random.default_rng([seed, epoch,
index])``, so an item is the same whichever DataLoader worker decodes it and however many
workers there are. An unreadable file is logged and yields ``None``; :func:`collate` drops
it and counts it in ``batch["skipped"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from spoofscope.audio import AudioError, load_audio, repeat_pad
from spoofscope.data.manifest import Utterance
from spoofscope.errors import SpoofscopeError

__all__ = ["CROP_MODES", "AudioDataset", "build_augmenter", "collate"]

log = logging.getLogger(__name__)

CROP_MODES = ("random", "first", "full")

AugmentFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class AudioDataset(Dataset):
    """Items ``{"wave": float32 (T,), "label": int, "index": int}`` or ``None`` (unreadable).

    Args:
        utterances: the manifest entries.
        sample_rate: decoding rate in Hz.
        segment_samples: crop length for ``"random"`` and ``"first"``.
        crop: one of :data:`CROP_MODES`.
        min_samples: shortest item returned in ``"full"`` mode (repeat-padded up to it).
        augment: ``f(wave (T,), rng) -> wave (T',)``, applied to the cropped clip (training);
            the result is cut or repeat-padded back to ``segment_samples``.
        seed: base seed of the per-item generators.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        *,
        sample_rate: int = 16000,
        segment_samples: int | None = None,
        crop: str = "random",
        min_samples: int = 1,
        augment: AugmentFn | None = None,
        seed: int = 0,
    ) -> None:
        if crop not in CROP_MODES:
            raise ValueError(f"unknown crop {crop!r}; valid choices: {', '.join(CROP_MODES)}")
        if crop != "full" and (segment_samples is None or segment_samples < 1):
            raise ValueError(f"crop {crop!r} needs segment_samples >= 1, got {segment_samples}")
        self.utterances = list(utterances)
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.crop = crop
        self.min_samples = max(1, min_samples)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.utterances)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch used in the per-item seeds (call before iterating)."""
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def read(self, index: int) -> np.ndarray:
        """Decode item ``index`` (only the first segment in ``"first"`` mode).

        Raises:
            AudioError: the file is missing or cannot be decoded.
        """
        utt = self.utterances[index]
        duration = None
        if self.crop == "first":
            duration = self.segment_samples / self.sample_rate  # type: ignore[operator]
        return load_audio(utt.path, self.sample_rate, duration_s=duration)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        utt = self.utterances[index]
        try:
            wave = self.read(index)
        except AudioError as exc:
            log.warning("skipping unreadable file (id %s): %s", utt.id, exc)
            return None
        rng = self.rng(index)
        seg = self.segment_samples
        if self.crop == "full":
            wave = repeat_pad(wave, max(len(wave), self.min_samples))
        else:
            assert seg is not None
            wave = self._crop(wave, seg, rng)
        if self.augment is not None:
            wave = np.asarray(self.augment(wave, rng), dtype=np.float32)
            if seg is not None and self.crop != "full":
                wave = repeat_pad(wave, seg) if len(wave) else np.zeros(seg, np.float32)
        return {
            "wave": np.ascontiguousarray(wave, dtype=np.float32),
            "label": utt.target,
            "index": index,
        }

    def _crop(self, wave: np.ndarray, seg: int, rng: np.random.Generator) -> np.ndarray:
        if len(wave) > seg and self.crop == "random":
            start = int(rng.integers(0, len(wave) - seg + 1))
            return wave[start : start + seg]
        return repeat_pad(wave, seg)


def collate(items: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack items into a batch; ``None`` items (unreadable files) are dropped and counted.

    Items of unequal length are repeat-padded to the longest (the models cannot mask, and
    repeating is the convention they are trained with); ``length`` keeps the true lengths.

    Returns:
        ``{"wave": float32 (B, T), "label": int64 (B,), "index": int64 (B,),
        "length": int64 (B,), "skipped": int}``; ``B`` may be 0 when every item failed.
    """
    good = [it for it in items if it is not None]
    skipped = len(items) - len(good)
    if not good:
        empty = torch.zeros(0, dtype=torch.int64)
        return {
            "wave": torch.zeros(0, 0),
            "label": empty,
            "index": empty,
            "length": empty,
            "skipped": skipped,
        }
    lengths = [len(it["wave"]) for it in good]
    longest = max(lengths)
    waves = np.stack([repeat_pad(it["wave"], longest) for it in good])
    return {
        "wave": torch.from_numpy(waves),
        "label": torch.tensor([it["label"] for it in good], dtype=torch.int64),
        "index": torch.tensor([it["index"] for it in good], dtype=torch.int64),
        "length": torch.tensor(lengths, dtype=torch.int64),
        "skipped": skipped,
    }


def build_augmenter(settings: dict[str, Any], sample_rate: int = 16000) -> AugmentFn | None:
    """An augmenter from the ``data.augment`` config mapping, or ``None`` when disabled.

    Raises:
        SpoofscopeError: the settings are invalid or the augmentation module is missing.
    """
    if not settings or settings.get("enabled") is False:
        return None
    try:
        from spoofscope.data.augment import Augmenter, augment_config_from_dict
    except ImportError as exc:
        raise SpoofscopeError(
            f"data.augment is set but augmentation is unavailable: {exc}"
        ) from exc
    try:
        config = augment_config_from_dict(dict(settings))
    except SpoofscopeError as exc:
        raise SpoofscopeError(f"data.augment: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise SpoofscopeError(f"data.augment: {exc}") from None
    if not getattr(config, "enabled", True):
        return None
    return Augmenter(config, sample_rate=sample_rate)
