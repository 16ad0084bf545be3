"""Score calibration and the three-way decision.

A model's score is the log-odds ``logit[1] - logit[0]`` (higher = more bona fide), but
nothing makes it a true log-likelihood ratio: trained networks are over- or under-confident.
:func:`~spoofscope.calibration_fit.fit_calibration` fits, on held-out scores, the affine map of
logistic calibration (linear LLR)::

    z = a * score + b            p_spoof = sigmoid(-z)        (a > 0: monotone)

by prior-weighted maximum likelihood: the bona fide and spoof trials each carry a total
weight of ``target_prior`` and ``1 - target_prior`` whatever their counts, so ``z`` is the
posterior log-odds of bona fide when a fraction ``target_prior`` of inputs are bona fide,
and ``z - logit(target_prior)`` is a log-likelihood ratio. The default prior 0.5 makes ``z``
itself the LLR (an even-odds posterior). Targets are smoothed as in Platt scaling (bona fide
``(Nb + 1) / (Nb + 2)``, spoof ``1 / (Ns + 2)``): negligible for large sets, it keeps ``a``
finite when the calibration set is perfectly separated. The fit is a few Newton steps on
standardized scores (the loss is strictly convex).

Two thresholds on ``p_spoof`` give three outcomes (:meth:`Calibration.decide`): ``bonafide``
below ``lower``, ``spoof`` above ``upper``, ``review`` (for a human) between. Their defaults
are measured on the calibration set:

* ``upper`` = ``p_spoof`` at the score threshold of the (official) EER point, where bona fide
  trials flagged and spoofs passed balance; but at least 0.5, so that a ``spoof`` verdict
  always means the calibrated model finds spoof more likely than not;
* ``lower`` = the ``p_spoof`` below which only ``spoof_pass_rate`` (1 %) of the spoof trials
  fall: a ``bonafide`` verdict lets through at most 1 % of spoofs like those in the set (with
  fewer than 100 spoof trials: none of them); but at most 0.5, so that a ``bonafide`` verdict
  always means bona fide is more likely than not (then fewer than 1 % of spoofs pass).

So ``lower <= 0.5 <= upper``, and ``review`` is the zone of real uncertainty: a trial neither
safely bona fide (1 % of spoofs would get through) nor beyond the EER point. With well
separated classes the band is narrow; it closes (``lower == upper == 0.5``) only when both
points fall on the wrong side of 0.5. The measured points before the 0.5 limits are kept in
``source`` (``p_spoof_at_eer``, ``p_spoof_at_spoof_pass_rate``). Both thresholds can be
overridden per call.

Checkpoints without a calibration use :data:`DEFAULT_CALIBRATION`: the identity (``p_spoof``
is the model's own softmax probability of spoof), uncalibrated, with a wide review band
``[0.3, 0.7]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spoofscope.errors import SpoofscopeError

__all__ = [
    "DEFAULT_CALIBRATION",
    "METHODS",
    "VERDICTS",
    "Calibration",
    "CalibrationError",
    "calibration_from_metadata",
]

METHODS = ("logistic", "identity")
VERDICTS = ("bonafide", "spoof", "review")


class CalibrationError(SpoofscopeError, ValueError):
    """Scores or parameters that cannot make a calibration (the message says which)."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _check_threshold(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CalibrationError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise CalibrationError(f"{name} must be in [0, 1], got {value!r}")
    return number


@dataclass
class Calibration:
    """An affine score calibration and the two decision thresholds.

    Attributes:
        method: ``"logistic"`` (fitted) or ``"identity"`` (uncalibrated default).
        a: slope, > 0.
        b: offset.
        lower: ``p_spoof`` below this is ``bonafide``.
        upper: ``p_spoof`` above this is ``spoof``; ``lower <= upper``.
        source: how it was made (trial counts, EER, score mode, date, manifest, ...).
    """

    method: str
    a: float
    b: float
    lower: float
    upper: float
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise CalibrationError(
                f"unknown calibration method {self.method!r}; valid choices: {', '.join(METHODS)}"
            )
        try:
            self.a, self.b = float(self.a), float(self.b)
        except (TypeError, ValueError):
            raise CalibrationError(f"a and b must be numbers, got {self.a!r}, {self.b!r}") from None
        if not (math.isfinite(self.a) and self.a > 0.0 and math.isfinite(self.b)):
            raise CalibrationError(
                f"calibration needs a finite slope a > 0 (monotone) and a finite b, got "
                f"a={self.a!r}, b={self.b!r}"
            )
        self.lower = _check_threshold("lower", self.lower)
        self.upper = _check_threshold("upper", self.upper)
        if self.lower > self.upper:
            raise CalibrationError(f"lower {self.lower} is above upper {self.upper}")
        if not isinstance(self.source, dict):
            raise CalibrationError(f"source must be a dict, got {type(self.source).__name__}")

    def log_odds(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of bona fide ``a * score + b``, same shape as ``scores``."""
        return self.a * np.asarray(scores, dtype=np.float64) + self.b

    def p_spoof(self, scores: np.ndarray) -> np.ndarray:
        """Probability of spoof ``sigmoid(-(a * score + b))``, decreasing in the score.

        Args:
            scores: log-odds scores of any shape (higher = more bona fide).

        Returns:
            float64 array of the same shape, in [0, 1].

        Example:
            >>> Calibration("logistic", 2.0, 0.0, 0.2, 0.8).p_spoof(np.array([0.0, 1.0]))
            array([0.5       , 0.11920292])
        """
        return _sigmoid(-self.log_odds(scores))

    def decide(self, p_spoof: float, lower: float | None = None, upper: float | None = None) -> str:
        """``"bonafide"`` if ``p_spoof < lower``, ``"spoof"`` if ``p_spoof > upper``, else
        ``"review"``; ``lower`` / ``upper`` default to the calibration's.

        Example:
            >>> cal = Calibration("logistic", 1.0, 0.0, 0.2, 0.8)
            >>> cal.decide(0.1), cal.decide(0.5), cal.decide(0.9), cal.decide(0.5, upper=0.4)
            ('bonafide', 'review', 'spoof', 'spoof')
        """
        lo = self.lower if lower is None else _check_threshold("lower", lower)
        hi = self.upper if upper is None else _check_threshold("upper", upper)
        if lo > hi:
            raise CalibrationError(f"lower {lo} is above upper {hi}")
        p = float(p_spoof)
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise CalibrationError(f"p_spoof must be in [0, 1], got {p_spoof!r}")
        if p < lo:
            return "bonafide"
        if p > hi:
            return "spoof"
        return "review"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (the checkpoint metadata's ``calibration`` slot)."""
        return {
            "method": self.method,
            "a": self.a,
            "b": self.b,
            "lower": self.lower,
            "upper": self.upper,
            "source": dict(self.source),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        """The inverse of :meth:`to_dict` (unknown keys are ignored)."""
        if not isinstance(d, dict):
            raise CalibrationError(f"a calibration must be a JSON object, got {type(d).__name__}")
        missing = [k for k in ("method", "a", "b", "lower", "upper") if k not in d]
        if missing:
            raise CalibrationError(f"calibration is missing {', '.join(missing)}: {d!r}")
        return cls(d["method"], d["a"], d["b"], d["lower"], d["upper"], dict(d.get("source") or {}))


#: For checkpoints without a calibration: the model's own softmax, a wide review band.
DEFAULT_CALIBRATION = Calibration(
    method="identity",
    a=1.0,
    b=0.0,
    lower=0.3,
    upper=0.7,
    source={
        "calibrated": False,
        "note": "uncalibrated: p_spoof is the model's own softmax probability of spoof; run "
        "`spoofscope calibrate` on held-out data for calibrated p_spoof and measured thresholds",
    },
)


def calibration_from_metadata(meta: dict[str, Any] | None) -> Calibration:
    """The calibration stored in checkpoint metadata, else :data:`DEFAULT_CALIBRATION`.

    Args:
        meta: checkpoint metadata (:func:`spoofscope.checkpoint.read_metadata`), or None.
            Its ``calibration`` may be a dict or a JSON string (ONNX metadata props).

    Raises:
        CalibrationError: a stored calibration that is malformed.
    """
    stored = (meta or {}).get("calibration")
    if stored is None or stored == "" or stored == "null":
        return DEFAULT_CALIBRATION
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"stored calibration is not valid JSON ({exc})") from None
        if stored is None:
            return DEFAULT_CALIBRATION
    return Calibration.from_dict(stored)


def __getattr__(name: str) -> Any:
    """``fit_calibration`` lives in :mod:`spoofscope.calibration_fit` (which needs the classes
    above); it is importable from here too."""
    if name == "fit_calibration":
        from spoofscope.calibration_fit import fit_calibration

        return fit_calibration
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
