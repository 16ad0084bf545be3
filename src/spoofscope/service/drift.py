"""Score drift: how far the recent scores have moved from a reference distribution.

The reference comes, in order of preference, from the model's calibration
(``Calibration.source``, what the calibration was fitted on) or from the service's own
first detections with this model (a *baseline*):

* ``source["score_quantiles"]``: equally spaced quantiles ``q_0 .. q_n`` of the calibration
  scores (``q_0`` the minimum, ``q_n`` the maximum);
* ``source["score_mean"]`` and ``source["score_std"]``: a normal approximation;
  (:func:`spoofscope.calibration_fit.fit_calibration` stores both);
* neither (calibrations made before the quantiles were stored): the baseline.

Two statistics compare the recent scores with the reference:

* PSI (population stability index) over ten bins of equal reference mass:
  ``sum((r - e) * ln(r / e))``, ``r`` the recent share of a bin, ``e = 0.1``;
  rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift;
* KS: the largest gap between the recent empirical CDF and the reference CDF.

Both compare distributions whatever their mix: a change in the share of spoofed traffic moves
them as much as a change in the audio, and calibration sets are often balanced where traffic
is not. They are an alarm to look at the data, not a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["N_BINS", "Reference", "ks_statistic", "psi", "reference_from_calibration"]

N_BINS = 10
_EPS = 1e-4


@dataclass(frozen=True)
class Reference:
    """A reference score distribution.

    Attributes:
        kind: ``"calibration"`` or ``"baseline"``.
        quantiles: ``(n + 1,)`` equally spaced quantiles (None for a normal reference).
        mean: mean of a normal reference (None for quantiles).
        std: standard deviation of a normal reference.
    """

    kind: str
    quantiles: np.ndarray | None = None
    mean: float | None = None
    std: float | None = None

    @classmethod
    def from_scores(cls, scores: np.ndarray, kind: str = "baseline") -> Reference:
        """A quantile reference from ``(N,)`` scores (N >= 2)."""
        scores = np.asarray(scores, np.float64)
        return cls(kind, quantiles=np.quantile(scores, np.linspace(0.0, 1.0, 4 * N_BINS + 1)))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The reference CDF at ``x`` (piecewise linear between quantiles), same shape."""
        x = np.asarray(x, np.float64)
        if self.quantiles is None:
            dist = NormalDist(float(self.mean or 0.0), float(self.std or 1.0))
            return np.vectorize(dist.cdf, otypes=[np.float64])(x)
        q = self.quantiles
        levels = np.linspace(0.0, 1.0, len(q))
        keep = np.concatenate([[True], np.diff(q) > 0])  # ties: keep the first level
        return np.interp(x, q[keep], levels[keep], left=0.0, right=1.0)

    def edges(self) -> np.ndarray:
        """``(N_BINS - 1,)`` inner bin edges of equal reference mass."""
        levels = np.arange(1, N_BINS) / N_BINS
        if self.quantiles is None:
            dist = NormalDist(float(self.mean or 0.0), float(self.std or 1.0))
            return np.array([dist.inv_cdf(p) for p in levels])
        q = self.quantiles
        return np.interp(levels, np.linspace(0.0, 1.0, len(q)), q)


def reference_from_calibration(calibration: Any) -> Reference | None:
    """The reference distribution a calibration's ``source`` describes, or None."""
    source = getattr(calibration, "source", None) or {}
    quantiles = source.get("score_quantiles")
    if isinstance(quantiles, list | tuple) and len(quantiles) >= 3:
        q = np.sort(np.asarray(quantiles, np.float64))
        if np.isfinite(q).all():
            return Reference("calibration", quantiles=q)
    mean, std = source.get("score_mean"), source.get("score_std")
    numbers = isinstance(mean, int | float) and isinstance(std, int | float)
    if numbers and math.isfinite(mean) and math.isfinite(std) and std > 0:
        return Reference("calibration", mean=float(mean), std=float(std))
    return None


def psi(scores: np.ndarray, reference: Reference) -> float:
    """Population stability index of ``(N,)`` scores against ``reference`` (NaN if N = 0).

    Example:
        >>> ref = Reference("calibration", mean=0.0, std=1.0)
        >>> round(psi(np.random.default_rng(0).normal(0, 1, 20000), ref), 3)
        0.001
    """
    scores = np.asarray(scores, np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        return math.nan
    counts = np.bincount(np.searchsorted(reference.edges(), scores), minlength=N_BINS)
    recent = np.maximum(counts / scores.size, _EPS)
    expected = 1.0 / N_BINS
    return float(np.sum((recent - expected) * np.log(recent / expected)))


def ks_statistic(scores: np.ndarray, reference: Reference) -> float:
    """Largest gap between the empirical CDF of ``(N,)`` scores and the reference CDF."""
    x = np.sort(np.asarray(scores, np.float64))
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    ref = reference.cdf(x)
    n = x.size
    above = np.arange(1, n + 1) / n - ref
    below = ref - np.arange(0, n) / n
    return float(max(above.max(), below.max()))
