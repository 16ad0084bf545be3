"""Batch samplers: length buckets for full-length evaluation, and rank sharding."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from spoofscope.audio import AudioError, audio_info
from spoofscope.data.manifest import Utterance

__all__ = ["LengthBucketSampler", "probe_lengths", "shard"]

log = logging.getLogger(__name__)


def shard(n: int, rank: int, world_size: int) -> list[int]:
    """Indices ``rank, rank + world_size, ...`` of ``range(n)``: disjoint, no padding."""
    return list(range(rank, n, world_size))


def probe_lengths(utterances: Sequence[Utterance], sample_rate: int = 16000) -> list[int]:
    """Length in samples at ``sample_rate`` of each file, from its header (0 if unreadable).

    A header without an exact frame count (compressed formats) gives an estimate from its
    duration; the bucketing only needs lengths to be close.
    """
    out = []
    for utt in utterances:
        try:
            info = audio_info(utt.path)
        except AudioError as exc:
            log.debug("cannot read the header of %s: %s", utt.path, exc)
            out.append(0)
            continue
        if info.frames is not None:
            out.append(round(info.frames * sample_rate / info.sample_rate))
        else:
            out.append(round((info.duration_s or 0.0) * sample_rate))
    return out


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar-length items, so full-length batches carry little padding.

    Items are sorted by length (longest first) and cut into batches of at most
    ``batch_size`` items and, when ``max_batch_samples`` is given, at most that many
    samples after padding to the batch's longest item (a single item always forms a batch).

    Args:
        lengths: length of every dataset item, indexed like the dataset.
        batch_size: most items per batch.
        indices: the dataset indices to cover (e.g. this rank's :func:`shard`); all if None.
        max_batch_samples: cap on ``len(batch) * longest``; ``None`` = no cap.
        shuffle: shuffle the order of the batches (not their content) each epoch.
        seed: base seed of the shuffle; the epoch is added (see :meth:`set_epoch`).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        indices: Sequence[int] | None = None,
        max_batch_samples: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = list(lengths)
        self.indices = list(range(len(self.lengths))) if indices is None else list(indices)
        self.batch_size = batch_size
        self.max_batch_samples = max_batch_samples
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.batches = self._make_batches()

    def _make_batches(self) -> list[list[int]]:
        order = sorted(self.indices, key=lambda i: (-self.lengths[i], i))
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            longest = self.lengths[current[0]] if current else self.lengths[i]
            too_many = len(current) >= self.batch_size
            too_big = (
                self.max_batch_samples is not None
                and current
                and (len(current) + 1) * longest > self.max_batch_samples
            )
            if current and (too_many or too_big):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the shuffle seed."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            yield from (list(b) for b in self.batches)
            return
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.batches))
        yield from (list(self.batches[k]) for k in order)

    def __len__(self) -> int:
        return len(self.batches)
