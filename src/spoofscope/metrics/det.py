"""DET curve and equal error rate, exactly as the official ASVspoof scripts compute them.

Conventions (ASVspoof 2019 ``tDCF_python``, ASVspoof 2021 eval-package and ASVspoof 5
evaluation-package all share them):

* higher score = more bona fide (the positive class);
* the pooled scores are sorted with a **stable** sort, bona fide first then spoof, so inside a run
  of tied scores every bona fide trial comes before every spoof trial;
* point ``k`` (``k = 0..N``) of the curve has ``frr[k]`` = fraction of bona fide trials among the
  ``k`` lowest scores and ``far[k]`` = fraction of spoof trials *not* among them
  (``frr[0] = 0``, ``far[0] = 1``); ``thresholds = [lowest - 0.001, sorted scores...]``;
* EER = ``(frr[i] + far[i]) / 2`` at the first ``i`` minimising ``|frr - far|``. It is not
  interpolated, and inside a run of tied scores the curve has points no real threshold can
  produce (an all-equal score set has EER 1.0, not 0.5). This is the official behaviour and is
  kept on purpose so published numbers reproduce bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spoofscope.metrics.errors import MetricInputError, as_scores

__all__ = [
    "BootstrapCI",
    "DetCurve",
    "MetricPoint",
    "bootstrap_eer",
    "det_curve",
    "eer",
    "eer_point",
]


@dataclass(frozen=True)
class MetricPoint:
    """A metric value and the score threshold where it is reached.

    Attributes:
        value: the metric (a fraction for EER, a normalised cost for DCFs).
        threshold: the score threshold of that DET point (``thresholds[index]``).
        index: the index of the point on the DET curve, ``0..N``.
    """

    value: float
    threshold: float
    index: int


@dataclass(frozen=True)
class DetCurve:
    """Miss and false-alarm rates of a CM at every official DET point.

    Attributes:
        frr: ``(N + 1,)`` bona fide miss rate (false rejection rate), non-decreasing.
        far: ``(N + 1,)`` spoof false acceptance rate, non-increasing.
        thresholds: ``(N + 1,)`` the threshold of each point.
        n_bonafide: number of bona fide trials.
        n_spoof: number of spoof trials.
    """

    frr: np.ndarray
    far: np.ndarray
    thresholds: np.ndarray
    n_bonafide: int
    n_spoof: int

    def eer_point(self) -> MetricPoint:
        """The official EER: first ``argmin |frr - far|``, value ``(frr + far) / 2``."""
        i = int(np.argmin(np.abs(self.frr - self.far)))
        value = float((self.frr[i] + self.far[i]) / 2.0)
        return MetricPoint(value, float(self.thresholds[i]), i)


def _sorted_labels(bona: np.ndarray, spoof: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable ascending order of ``concat(bona, spoof)`` and its labels (True = bona fide)."""
    scores = np.concatenate((bona, spoof))
    order = np.argsort(scores, kind="stable")
    labels = order < bona.size
    return order, labels


def _merged(bona: np.ndarray, spoof: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted pooled scores and their labels (True = bona fide), bona fide first in ties.

    Same sequence as a stable argsort of ``concat(bona, spoof)``, but each class is sorted on
    its own and the two are merged by ``searchsorted``, which is about twice as fast.
    """
    bona_sorted, spoof_sorted = np.sort(bona), np.sort(spoof)
    pos = np.arange(bona.size) + np.searchsorted(spoof_sorted, bona_sorted, side="left")
    labels = np.zeros(bona.size + spoof.size, dtype=bool)
    labels[pos] = True
    scores = np.empty(labels.size)
    scores[pos] = bona_sorted
    scores[~labels] = spoof_sorted
    return scores, labels


def _rates(labels: np.ndarray, n_bona: int, n_spoof: int) -> tuple[np.ndarray, np.ndarray]:
    """frr, far ``(N + 1,)`` from sorted labels ``(N,)`` (True = bona fide)."""
    n = labels.size
    tar_sums = np.cumsum(labels, dtype=np.int64)
    frr = np.empty(n + 1)
    frr[0] = 0.0
    np.divide(tar_sums, n_bona, out=frr[1:])
    far = np.empty(n + 1)
    far[0] = 1.0
    np.divide(n_spoof - (np.arange(1, n + 1, dtype=np.int64) - tar_sums), n_spoof, out=far[1:])
    return frr, far


def det_curve(bonafide: object, spoof: object) -> DetCurve:
    """The official DET curve of a countermeasure.

    Args:
        bonafide: ``(Nb,)`` scores of bona fide trials (higher = more bona fide).
        spoof: ``(Ns,)`` scores of spoof trials.

    Returns:
        A :class:`DetCurve` with ``Nb + Ns + 1`` points.

    Raises:
        EmptyClassError: a class has no trials.
        NonFiniteScoreError: a score is NaN or infinite.

    Example:
        >>> curve = det_curve([0.8, 0.3, 0.6], [0.1, 0.5, 0.35])
        >>> curve.frr.tolist()[:3], curve.far.tolist()[:3]
        ([0.0, 0.0, 0.3333333333333333], [1.0, 0.6666666666666666, 0.6666666666666666])
    """
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    sorted_scores, labels = _merged(bona, spf)
    frr, far = _rates(labels, bona.size, spf.size)
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores))
    return DetCurve(frr, far, thresholds, bona.size, spf.size)


def eer_point(bonafide: object, spoof: object) -> MetricPoint:
    """Official EER with its threshold (see :func:`eer`).

    Example:
        >>> eer_point([0.8, 0.3, 0.6], [0.1, 0.5, 0.35])
        MetricPoint(value=0.3333333333333333, threshold=0.35, index=3)
    """
    return det_curve(bonafide, spoof).eer_point()


def eer(bonafide: object, spoof: object) -> float:
    """Equal error rate as a fraction, identical (float64 ``==``) to the official scripts.

    Args:
        bonafide: ``(Nb,)`` bona fide scores (higher = more bona fide).
        spoof: ``(Ns,)`` spoof scores.

    Example:
        >>> eer([0.8, 0.3, 0.6], [0.1, 0.5, 0.35])
        0.3333333333333333
        >>> eer([0.5] * 10, [0.5] * 10)  # official tie handling: not 0.5
        1.0
        >>> eer([2.0, 3.0], [0.0, 1.0])
        0.0
    """
    return det_curve(bonafide, spoof).eer_point().value


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap percentile confidence interval of the EER.

    Attributes:
        eer: the EER of the full score set (fraction).
        low: lower bound, the ``(1 - level) / 2`` quantile of the bootstrap EERs.
        high: upper bound, the ``(1 + level) / 2`` quantile.
        level: the confidence level, e.g. 0.95.
        n_resamples: number of bootstrap resamples.
        seed: the seed of ``numpy.random.default_rng`` used to draw them.
    """

    eer: float
    low: float
    high: float
    level: float
    n_resamples: int
    seed: int


def bootstrap_eer(
    bonafide: object,
    spoof: object,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapCI:
    """EER with a seeded, stratified bootstrap percentile confidence interval.

    Method: each resample draws ``Nb`` bona fide trials and ``Ns`` spoof trials with replacement,
    independently per class (stratified, so class sizes stay fixed), with
    ``numpy.random.default_rng(seed)``: per resample first ``integers(0, Nb, Nb)`` then
    ``integers(0, Ns, Ns)``. The official EER of each resample is computed exactly (same tie
    rule). The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those
    EERs (``numpy.quantile``, linear interpolation). Trials are assumed independent; with
    repeated speakers or utterances the interval is too narrow.

    The scores are sorted once; a resample only changes how often each sorted trial repeats,
    so each resample costs O(N) without re-sorting.

    Args:
        bonafide: ``(Nb,)`` bona fide scores.
        spoof: ``(Ns,)`` spoof scores.
        n_resamples: number of resamples (>= 1).
        level: confidence level in (0, 1).
        seed: seed for ``numpy.random.default_rng``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ci = bootstrap_eer(rng.normal(1, 1, 200), rng.normal(-1, 1, 300), 200, 0.9, seed=1)
        >>> ci.low <= ci.eer <= ci.high, ci.level, ci.n_resamples
        (True, 0.9, 200)
    """
    if int(n_resamples) < 1:
        raise MetricInputError(f"n_resamples must be >= 1, got {n_resamples!r}")
    if not 0.0 < float(level) < 1.0:
        raise MetricInputError(f"level must be in (0, 1), got {level!r}")
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    nb, ns = bona.size, spf.size
    order, labels = _sorted_labels(bona, spf)
    bona_pos = np.flatnonzero(labels)
    spoof_pos = np.flatnonzero(~labels)
    bona_src = order[bona_pos]  # original bona fide index at each sorted bona fide position
    spoof_src = order[spoof_pos] - nb
    rng = np.random.default_rng(seed)
    counts = np.empty(nb + ns, dtype=np.int64)
    eers = np.empty(int(n_resamples))
    for r in range(int(n_resamples)):
        cb = np.bincount(rng.integers(0, nb, nb), minlength=nb)
        cs = np.bincount(rng.integers(0, ns, ns), minlength=ns)
        counts[bona_pos] = cb[bona_src]
        counts[spoof_pos] = cs[spoof_src]
        frr, far = _rates(np.repeat(labels, counts), nb, ns)
        i = int(np.argmin(np.abs(frr - far)))
        eers[r] = (frr[i] + far[i]) / 2.0
    low, high = np.quantile(eers, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    frr, far = _rates(labels, nb, ns)
    i = int(np.argmin(np.abs(frr - far)))
    point = float((frr[i] + far[i]) / 2.0)
    return BootstrapCI(point, float(low), float(high), float(level), int(n_resamples), int(seed))
