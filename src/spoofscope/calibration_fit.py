"""Fitting a :class:`~spoofscope.calibration.Calibration` on held-out scores.

The method and the threshold rules are described in :mod:`spoofscope.calibration` (and
``docs/calibration.md``); :func:`fit_calibration` is re-exported there.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np

from spoofscope.calibration import Calibration, CalibrationError, _sigmoid

__all__ = ["fit_calibration"]


#: Quantile levels (0, 0.05, .., 1) of the fitting scores kept in ``source["score_quantiles"]``.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 21)


def _as_inputs(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    raw = np.asarray(labels).reshape(-1)
    if raw.dtype.kind in "US":  # "bonafide" / "spoof" strings
        if not np.isin(raw, ["bonafide", "spoof"]).all():
            raise CalibrationError("string labels must be 'bonafide' or 'spoof'")
        y = raw == "bonafide"
    else:
        if not np.isin(raw, [0, 1]).all():
            bad = raw[~np.isin(raw, [0, 1])][:5].tolist()
            raise CalibrationError(f"labels must be 1 (bona fide) or 0 (spoof), got {bad}")
        y = raw.astype(bool)
    if s.size != y.size:
        raise CalibrationError(f"{s.size} scores but {y.size} labels")
    if not np.isfinite(s).all():
        bad = s[~np.isfinite(s)][:5].tolist()
        raise CalibrationError(f"scores must be finite, got {int((~np.isfinite(s)).sum())}: {bad}")
    n_bona, n_spoof = int(y.sum()), int((~y).sum())
    if n_bona == 0 or n_spoof == 0:
        raise CalibrationError(
            f"calibration needs both classes, got {n_bona} bona fide and {n_spoof} spoof trials"
        )
    return s, y


def _fit_logistic(x: np.ndarray, y: np.ndarray, prior: float) -> tuple[float, float]:
    """Prior-weighted logistic regression of ``y`` on standardized ``x``: ``(slope, offset)``."""
    n_bona, n_spoof = int(y.sum()), int(y.size - y.sum())
    target = np.where(y, (n_bona + 1) / (n_bona + 2), 1.0 / (n_spoof + 2))
    weight = np.where(y, prior / n_bona, (1.0 - prior) / n_spoof)
    design = np.stack([x, np.ones_like(x)], axis=1)

    def loss(theta: np.ndarray) -> float:
        z = design @ theta
        # cross-entropy with soft targets: t*softplus(-z) + (1-t)*softplus(z)
        return float(weight @ (np.logaddexp(0, -z) * target + np.logaddexp(0, z) * (1 - target)))

    theta = np.array([0.0, math.log(prior / (1.0 - prior))])
    current = loss(theta)
    for _ in range(100):
        p = _sigmoid(design @ theta)
        grad = design.T @ (weight * (p - target))
        hess = (design * (weight * p * (1 - p))[:, None]).T @ design + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while True:  # backtracking keeps every step a descent
            candidate = theta - scale * step
            value = loss(candidate)
            if value <= current or scale < 1e-6:
                break
            scale /= 2
        if value > current:  # no descent left: converged to rounding
            break
        theta, current = candidate, value
        if np.max(np.abs(scale * step)) < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def _spoof_pass_threshold(p_spoof_of_spoofs: np.ndarray, rate: float) -> float:
    """Largest threshold with at most ``rate`` of the spoof trials below it."""
    ordered = np.sort(p_spoof_of_spoofs)
    allowed = int(math.floor(rate * ordered.size + 1e-9))
    return float(ordered[min(allowed, ordered.size - 1)])


def fit_calibration(
    scores: Any,
    labels: Any,
    *,
    target_prior: float = 0.5,
    spoof_pass_rate: float = 0.01,
    source: dict[str, Any] | None = None,
) -> Calibration:
    """Fit a logistic calibration and measure its two thresholds (see the module docstring).

    Args:
        scores: ``(N,)`` log-odds scores of held-out trials (higher = more bona fide).
        labels: ``(N,)`` 1 / True / ``"bonafide"`` for bona fide, 0 / False / ``"spoof"`` for
            spoof.
        target_prior: prior probability of bona fide the posterior is computed for, in
            ``(0, 1)``; 0.5 (default) makes ``a * score + b`` an LLR.
        spoof_pass_rate: share of spoof trials allowed below ``lower`` (0.01).
        source: extra facts to record (manifest, checkpoint, window mode, ...).

    Returns:
        The :class:`Calibration`; ``source`` holds the trial counts, EER and its score
        threshold, the measured rates at both thresholds, Cllr before/after, the prior, the
        score mode and the date.

    Raises:
        CalibrationError: non-finite scores, a single class, bad labels, a prior outside
            ``(0, 1)``, or scores anti-correlated with the labels (fitted slope ``a <= 0``).
    """
    from spoofscope import metrics

    if not 0.0 < float(target_prior) < 1.0:
        raise CalibrationError(f"target_prior must be in (0, 1), got {target_prior!r}")
    if not 0.0 <= float(spoof_pass_rate) < 1.0:
        raise CalibrationError(f"spoof_pass_rate must be in [0, 1), got {spoof_pass_rate!r}")
    s, y = _as_inputs(scores, labels)
    centre, spread = float(np.mean(s)), float(np.std(s))
    if spread == 0.0:
        raise CalibrationError(f"all {s.size} scores are equal ({centre}); nothing to calibrate")
    slope, offset = _fit_logistic((s - centre) / spread, y, float(target_prior))
    a, b = slope / spread, offset - slope * centre / spread
    if not a > 0.0:
        raise CalibrationError(
            f"fitted slope a = {a:.4g} <= 0: the scores are anti-correlated with the labels "
            "(higher should mean more bona fide; check the score mode and the label mapping)"
        )
    bona, spoof = s[y], s[~y]
    point = metrics.eer_point(bona, spoof)
    cal = Calibration("logistic", a, b, 0.0, 1.0)
    at_eer = float(cal.p_spoof(np.array([point.threshold]))[0])
    at_pass = _spoof_pass_threshold(cal.p_spoof(spoof), float(spoof_pass_rate))
    upper, lower = max(at_eer, 0.5), min(at_pass, 0.5)
    llr_shift = math.log(target_prior / (1.0 - target_prior))
    facts: dict[str, Any] = {
        "n_bonafide": int(bona.size),
        "n_spoof": int(spoof.size),
        "eer": point.value,
        "eer_threshold_score": point.threshold,
        "score_mode": "log-odds",
        "target_prior": float(target_prior),
        "spoof_pass_rate": float(spoof_pass_rate),
        "p_spoof_at_eer": at_eer,
        "p_spoof_at_spoof_pass_rate": at_pass,
        "upper_rule": "p_spoof at the EER score threshold, at least 0.5",
        "lower_rule": f"at most {spoof_pass_rate:g} of spoof trials have p_spoof below it, "
        "at most 0.5",
        "spoof_pass_rate_at_lower": float(np.mean(cal.p_spoof(spoof) < lower)),
        "bonafide_flag_rate_at_upper": float(np.mean(cal.p_spoof(bona) > upper)),
        "cllr_before": metrics.cllr(bona, spoof),
        "cllr_after": metrics.cllr(cal.log_odds(bona) - llr_shift, cal.log_odds(spoof) - llr_shift),
        # the reference for the service's drift signal (service/drift.py): equally spaced
        # quantiles of every fitting score, from the minimum to the maximum
        "score_quantiles": np.quantile(np.concatenate([bona, spoof]), QUANTILE_LEVELS).tolist(),
        "score_mean": float(np.mean(np.concatenate([bona, spoof]))),
        "score_std": float(np.std(np.concatenate([bona, spoof]))),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return Calibration("logistic", a, b, lower, upper, {**(source or {}), **facts})
