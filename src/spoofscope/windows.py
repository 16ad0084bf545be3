"""Sliding windows over audio of any length, and ways to turn window scores into one score.

A countermeasure sees fixed-length segments (``model.segment_samples``; 64,600 samples for
RawNet2 / AASIST). To score a whole recording, it is cut into windows of that length:

* windows start every ``hop`` (a fraction of the window; 0.5 = 50 % overlap, the default);
* the last window is aligned to the end of the audio, so every sample is seen and no window
  holds padding (it overlaps its neighbour more than the others do);
* audio shorter than one window gives a single window, repeat-padded
  (:func:`spoofscope.audio.repeat_pad`), as the official ASVspoof scripts pad short clips.

Window scores follow the score convention (higher = more bona fide), so the most spoof-like
window is the one with the *lowest* score (the highest ``p_spoof``). :func:`aggregate` names the
ways to combine them: ``"mean"`` (the default), ``"min"``, ``"top-k"`` and ``"weighted"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spoofscope.audio import repeat_pad

__all__ = [
    "AGGREGATIONS",
    "Windows",
    "aggregate",
    "count_windows",
    "hop_samples",
    "make_windows",
    "mean_score",
    "min_score",
    "topk_low_mean",
    "weighted_mean",
    "window_bounds",
]

#: Names accepted by :func:`aggregate`.
AGGREGATIONS = ("mean", "min", "top-k", "weighted")


@dataclass(frozen=True)
class Windows:
    """The windows of one recording.

    Attributes:
        starts: ``(N,)`` int64 first sample of each window in the original audio.
        ends: ``(N,)`` int64 one past the last original sample of each window (for input
            shorter than a window: the input length; the segment itself is repeat-padded).
        segments: ``(N, segment)`` float32 window contents.
    """

    starts: np.ndarray
    ends: np.ndarray
    segments: np.ndarray

    def __len__(self) -> int:
        return int(self.starts.size)


def hop_samples(segment: int, hop: float = 0.5) -> int:
    """The hop in samples for a hop given as a fraction of the window.

    Args:
        segment: window length in samples (>= 1).
        hop: fraction of the window between window starts, in ``(0, 1]``.

    Raises:
        ValueError: ``segment`` < 1 or ``hop`` outside ``(0, 1]``.

    Example:
        >>> hop_samples(64600), hop_samples(64600, 1.0), hop_samples(10, 0.01)
        (32300, 64600, 1)
    """
    if isinstance(segment, bool) or not isinstance(segment, int | np.integer) or segment < 1:
        raise ValueError(f"segment must be a positive number of samples, got {segment!r}")
    if isinstance(hop, bool) or not isinstance(hop, int | float) or not 0.0 < hop <= 1.0:
        raise ValueError(
            f"hop must be a fraction of the window in (0, 1] (0.5 = 50% overlap), got {hop!r}"
        )
    return max(1, round(hop * int(segment)))


def window_bounds(n_samples: int, segment: int, hop: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Start and end sample of every window over ``n_samples`` samples.

    Windows start at ``0, h, 2h, ...`` (``h`` = :func:`hop_samples`) while they end before the
    audio does; then one last window ends exactly at ``n_samples``. Input of at most one window
    gives the single window ``[0, n_samples)``.

    Args:
        n_samples: audio length (>= 1).
        segment: window length in samples.
        hop: fraction of the window between starts, in ``(0, 1]``.

    Returns:
        ``(starts (N,), ends (N,))`` int64 arrays, ``N = ceil((n - segment) / h) + 1`` for
        ``n > segment``.

    Example:
        >>> starts, ends = window_bounds(10, 4, 0.5)
        >>> starts.tolist(), ends.tolist()
        ([0, 2, 4, 6], [4, 6, 8, 10])
        >>> [b.tolist() for b in window_bounds(11, 4, 0.5)]  # last window end-aligned
        [[0, 2, 4, 6, 7], [4, 6, 8, 10, 11]]
        >>> [b.tolist() for b in window_bounds(3, 4)]  # shorter than a window
        [[0], [3]]
    """
    step = hop_samples(segment, hop)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise ValueError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"cannot cut windows from empty audio (n_samples={n_samples})")
    if n_samples <= segment:
        return np.zeros(1, np.int64), np.array([n_samples], np.int64)
    last = n_samples - segment
    starts = np.append(np.arange(0, last, step, dtype=np.int64), np.int64(last))
    return starts, np.minimum(starts + segment, n_samples)


def count_windows(n_samples: int, segment: int, hop: float = 0.5) -> int:
    """How many windows :func:`window_bounds` gives, without building them.

    Example:
        >>> count_windows(64600 * 3, 64600), count_windows(100, 64600)
        (5, 1)
    """
    step = hop_samples(segment, hop)
    if n_samples <= segment:
        return 1
    return math.ceil((n_samples - segment) / step) + 1


def make_windows(wave: np.ndarray, segment: int, hop: float = 0.5) -> Windows:
    """Cut ``wave`` into windows (see :func:`window_bounds`).

    Args:
        wave: ``(T,)`` samples, T >= 1.
        segment: window length in samples (``model.segment_samples``).
        hop: fraction of the window between starts, in ``(0, 1]``.

    Returns:
        :class:`Windows` with ``segments`` of shape ``(N, segment)`` float32 (a copy).

    Raises:
        ValueError: ``wave`` is not 1-D or empty, or ``segment`` / ``hop`` is invalid.

    Example:
        >>> w = make_windows(np.arange(5, dtype=np.float32), 4, 0.5)
        >>> w.segments.tolist(), w.starts.tolist()
        ([[0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]], [0, 1])
        >>> make_windows(np.array([1.0, 2.0]), 5).segments.tolist()  # repeat-padded
        [[1.0, 2.0, 1.0, 2.0, 1.0]]
    """
    x = np.asarray(wave)
    if x.ndim != 1:
        raise ValueError(f"expected 1-D audio of shape (T,), got shape {x.shape}")
    starts, ends = window_bounds(int(x.size), segment, hop)
    if x.size <= segment:
        segments = repeat_pad(x, segment).astype(np.float32)[None]
    else:
        segments = np.stack([x[s : s + segment] for s in starts.tolist()]).astype(np.float32)
    return Windows(starts, ends, segments)


def _scores(scores: object) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ValueError("no window scores to aggregate")
    return s


def mean_score(scores: object) -> float:
    """Mean of the window scores (the default aggregation).

    Example:
        >>> mean_score([1.0, 2.0, 6.0])
        3.0
    """
    return float(np.mean(_scores(scores)))


def min_score(scores: object) -> float:
    """The lowest window score: the most spoof-like window (highest ``p_spoof``).

    Example:
        >>> min_score([1.0, -2.0, 6.0])
        -2.0
    """
    return float(np.min(_scores(scores)))


def topk_low_mean(scores: object, k: int = 3) -> float:
    """Mean of the ``k`` lowest window scores (all of them when there are fewer).

    Args:
        scores: ``(N,)`` window scores.
        k: how many of the most spoof-like windows to average (>= 1).

    Example:
        >>> topk_low_mean([5.0, -1.0, 3.0, -3.0], k=2)
        -2.0
        >>> topk_low_mean([5.0], k=3)
        5.0
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    s = _scores(scores)
    return float(np.mean(np.sort(s)[: min(int(k), s.size)]))


def weighted_mean(scores: object, weights: object) -> float:
    """Weighted mean of the window scores, e.g. weighted by each window's speech fraction.

    Args:
        scores: ``(N,)`` window scores.
        weights: ``(N,)`` non-negative finite weights with a positive sum.

    Example:
        >>> weighted_mean([1.0, 3.0], [3.0, 1.0])
        1.5
    """
    s = _scores(scores)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != s.size:
        raise ValueError(f"got {w.size} weights for {s.size} window scores")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all zero, got {w.tolist()[:8]}")
    return float(np.dot(s, w) / w.sum())


def aggregate(
    scores: object, method: str = "mean", *, k: int = 3, weights: object | None = None
) -> float:
    """One score from window scores, by the method named in :data:`AGGREGATIONS`.

    Args:
        scores: ``(N,)`` window scores (higher = more bona fide).
        method: ``"mean"`` (default), ``"min"`` (most spoof-like window), ``"top-k"`` (mean of
            the ``k`` lowest) or ``"weighted"`` (needs ``weights``).
        k: for ``"top-k"``.
        weights: ``(N,)`` for ``"weighted"``.

    Raises:
        ValueError: unknown method (the valid ones are listed), or bad ``k`` / ``weights``.

    Example:
        >>> s = [4.0, -2.0, 1.0]
        >>> aggregate(s), aggregate(s, "min"), aggregate(s, "top-k", k=2)
        (1.0, -2.0, -0.5)
        >>> aggregate(s, "weighted", weights=[0.0, 1.0, 1.0])
        -0.5
        >>> aggregate(s, "median")
        Traceback (most recent call last):
        ...
        ValueError: unknown aggregation 'median'; valid choices: mean, min, top-k, weighted
    """
    if method == "mean":
        return mean_score(scores)
    if method == "min":
        return min_score(scores)
    if method == "top-k":
        return topk_low_mean(scores, k)
    if method == "weighted":
        if weights is None:
            raise ValueError("aggregation 'weighted' needs weights (one per window)")
        return weighted_mean(scores, weights)
    raise ValueError(f"unknown aggregation {method!r}; valid choices: {', '.join(AGGREGATIONS)}")
