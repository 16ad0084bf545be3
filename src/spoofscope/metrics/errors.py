"""Errors raised by :mod:`spoofscope.metrics` and input checks shared by its modules.

Every error is both a :class:`~spoofscope.errors.SpoofscopeError` (the CLI prints it without a
traceback) and a :class:`ValueError` (what a library user expects for bad input).
"""

from __future__ import annotations

import numpy as np

from spoofscope.errors import SpoofscopeError

__all__ = [
    "EmptyClassError",
    "HardDecisionError",
    "InvalidCostError",
    "MetricInputError",
    "NonFiniteScoreError",
    "UndefinedMetricError",
    "as_scores",
]


class MetricInputError(SpoofscopeError, ValueError):
    """Base class: the scores or costs given to a metric cannot be evaluated."""


class NonFiniteScoreError(MetricInputError):
    """A score is NaN or infinite."""


class EmptyClassError(MetricInputError):
    """A class (bona fide, spoof, target, ...) has no trials."""


class HardDecisionError(MetricInputError):
    """t-DCF needs soft scores: the CM scores hold fewer than 3 distinct values.

    The official ASVspoof t-DCF functions ``sys.exit`` here with "You should provide soft CM
    scores - not binary decisions".
    """


class InvalidCostError(MetricInputError):
    """Priors that do not sum to one, negative costs, or negative t-DCF weights."""


class UndefinedMetricError(MetricInputError):
    """The metric has no value for this input (e.g. no admissible t-EER operating point)."""


def as_scores(values: object, name: str) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array with at least one element.

    Args:
        values: a sequence or array of scores, any shape that flattens to 1-D ``(N,)``.
        name: the class name used in error messages (``"bona fide"``, ``"spoof"``, ...).

    Raises:
        EmptyClassError: ``values`` is empty.
        NonFiniteScoreError: a value is NaN or +-inf (the message gives its index and value).
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise EmptyClassError(f"no {name} trials: every metric needs at least one {name} score")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise NonFiniteScoreError(
            f"{int(bad.sum())} {name} score(s) are NaN or infinite "
            f"(first at index {idx}: {arr[idx]!r}); scores must be finite numbers"
        )
    return arr
