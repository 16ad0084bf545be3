"""Tandem detection cost function (t-DCF): legacy ASVspoof 2019 and revised ASVspoof 2021 / 5.

Both are minimised over the official DET points of the CM (see :mod:`spoofscope.metrics.det`).
The ASV system enters only through its error rates at a fixed operating point, by default the
ASV EER threshold (:func:`asv_operating_point`).

* **Legacy** (ASVspoof 2019 challenge, what AASIST / RawNet2 papers report):
  ``C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv``,
  ``C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv)``,
  ``t-DCF(k) = (C1 frr[k] + C2 far[k]) / min(C1, C2)``. A perfect CM scores 0.
* **Revised** (Kinnunen et al., IEEE/ACM TASLP 2020; ASVspoof 2021 and 5):
  ``C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv``, ``C1 = Ptar Cmiss - C0``,
  ``C2 = Pspoof Cfa_spoof Pfa_spoof_asv``,
  ``t-DCF(k) = (C0 + C1 frr[k] + C2 far[k]) / (C0 + min(C1, C2))``.
  A perfect CM scores ``C0 / (C0 + min(C1, C2))`` (0.0627 with the 2019 LA eval ASV).

Like the official code, both refuse CM scores with fewer than 3 distinct values
(:class:`~spoofscope.metrics.errors.HardDecisionError`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spoofscope.metrics.det import DetCurve, MetricPoint, det_curve
from spoofscope.metrics.errors import HardDecisionError, InvalidCostError, as_scores

__all__ = [
    "ASVSPOOF5_DEFAULT_ASV",
    "AsvOperatingPoint",
    "TDCFCosts",
    "asv_operating_point",
    "legacy_coefficients",
    "min_tdcf_from_coefficients",
    "min_tdcf_legacy",
    "min_tdcf_revised",
    "revised_coefficients",
]

_P_SPOOF = 0.05


@dataclass(frozen=True)
class TDCFCosts:
    """Priors and costs of both t-DCF variants (defaults: ASVspoof 2019 / 2021 / 5 official).

    Attributes:
        p_spoof: prior of a spoofing attack (0.05).
        p_tar: prior of a target trial, ``(1 - p_spoof) * 0.99`` = 0.9405.
        p_non: prior of a zero-effort nontarget trial, ``(1 - p_spoof) * 0.01`` = 0.0095.
        c_miss, c_fa, c_fa_spoof: revised costs of the tandem system (1, 10, 10).
        c_miss_asv, c_fa_asv, c_miss_cm, c_fa_cm: legacy costs (1, 10, 1, 10).
    """

    p_spoof: float = _P_SPOOF
    p_tar: float = (1 - _P_SPOOF) * 0.99
    p_non: float = (1 - _P_SPOOF) * 0.01
    c_miss: float = 1.0
    c_fa: float = 10.0
    c_fa_spoof: float = 10.0
    c_miss_asv: float = 1.0
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0

    def check(self) -> None:
        """Raise :class:`InvalidCostError` unless the priors are >= 0 and sum to 1 (+-1e-10)."""
        priors = (self.p_tar, self.p_non, self.p_spoof)
        if min(priors) < 0 or abs(self.p_tar + self.p_non + self.p_spoof - 1) > 1e-10:
            raise InvalidCostError(
                f"t-DCF priors must be >= 0 and sum to one, got p_tar={self.p_tar}, "
                f"p_non={self.p_non}, p_spoof={self.p_spoof}"
            )


@dataclass(frozen=True)
class AsvOperatingPoint:
    """Error rates of the ASV system at its fixed threshold (fractions, not percent).

    Attributes:
        pfa: nontarget false acceptance rate, ``mean(nontarget >= threshold)``.
        pmiss: target miss rate, ``mean(target < threshold)``.
        pmiss_spoof: spoof rejection rate, ``mean(spoof < threshold)``.
        pfa_spoof: spoof false acceptance rate, ``mean(spoof >= threshold)``.
        threshold: the ASV threshold (NaN when only the rates are known).
        eer: the ASV EER (NaN when only the rates are known).
    """

    pfa: float
    pmiss: float
    pmiss_spoof: float
    pfa_spoof: float
    threshold: float = float("nan")
    eer: float = float("nan")


#: The ASV error rates the ASVspoof 5 track-2 wrapper (``calculate_aDCF_tdcf_tEER``) hard-codes
#: when it is given no organisers' ASV scores.
ASVSPOOF5_DEFAULT_ASV = AsvOperatingPoint(
    pfa=0.01881016557566423,
    pmiss=0.01880141010575793,
    pmiss_spoof=1 - 0.4607082907604729,
    pfa_spoof=0.4607082907604729,
)


def asv_operating_point(target: object, nontarget: object, spoof: object) -> AsvOperatingPoint:
    """ASV error rates at the ASV EER threshold, as the official scripts fix them.

    The threshold is the official EER threshold of (target, nontarget) with target as the
    positive class; spoof trials do not influence it.

    Args:
        target: ``(Nt,)`` ASV scores of target trials.
        nontarget: ``(Nn,)`` ASV scores of zero-effort nontarget trials.
        spoof: ``(Ns,)`` ASV scores of spoof trials.

    Example:
        >>> op = asv_operating_point([3.0, 4.0, 5.0], [0.0, 1.0, 3.5], [2.0, 4.5])
        >>> op.threshold, op.pfa, op.pmiss, op.pfa_spoof
        (3.0, 0.3333333333333333, 0.0, 0.5)
    """
    tar = as_scores(target, "target")
    non = as_scores(nontarget, "nontarget")
    spf = as_scores(spoof, "spoof (ASV)")
    point = det_curve(tar, non).eer_point()
    thr = point.threshold
    return AsvOperatingPoint(
        pfa=int(np.count_nonzero(non >= thr)) / non.size,
        pmiss=int(np.count_nonzero(tar < thr)) / tar.size,
        pmiss_spoof=int(np.count_nonzero(spf < thr)) / spf.size,
        pfa_spoof=int(np.count_nonzero(spf >= thr)) / spf.size,
        threshold=thr,
        eer=point.value,
    )


def legacy_coefficients(
    asv: AsvOperatingPoint, costs: TDCFCosts | None = None
) -> tuple[float, float]:
    """``(C1, C2)`` of the legacy 2019 t-DCF (see the module docstring)."""
    c = costs or TDCFCosts()
    c.check()
    c1 = c.p_tar * (c.c_miss_cm - c.c_miss_asv * asv.pmiss) - c.p_non * c.c_fa_asv * asv.pfa
    c2 = c.c_fa_cm * c.p_spoof * (1 - asv.pmiss_spoof)
    if c1 < 0 or c2 < 0:
        raise InvalidCostError(f"legacy t-DCF weights must be >= 0, got C1={c1}, C2={c2}")
    return c1, c2


def revised_coefficients(
    asv: AsvOperatingPoint, costs: TDCFCosts | None = None, *, pfa_spoof: float | None = None
) -> tuple[float, float, float]:
    """``(C0, C1, C2)`` of the revised t-DCF (see the module docstring).

    Args:
        asv: the ASV operating point.
        costs: priors and costs (official defaults if None).
        pfa_spoof: override the spoof false acceptance rate (used to reproduce the ASVspoof 5
            wrapper quirk, see :func:`spoofscope.metrics.asvspoof5.asvspoof5_min_tdcf`).
    """
    c = costs or TDCFCosts()
    c.check()
    p_fa_spoof = asv.pfa_spoof if pfa_spoof is None else pfa_spoof
    c0 = c.p_tar * c.c_miss * asv.pmiss + c.p_non * c.c_fa * asv.pfa
    c1 = c.p_tar * c.c_miss - (c.p_tar * c.c_miss * asv.pmiss + c.p_non * c.c_fa * asv.pfa)
    c2 = c.p_spoof * c.c_fa_spoof * p_fa_spoof
    if c0 < 0 or c1 < 0 or c2 < 0:
        raise InvalidCostError(f"t-DCF weights must be >= 0, got C0={c0}, C1={c1}, C2={c2}")
    return c0, c1, c2


def _soft_curve(bonafide: object, spoof: object) -> DetCurve:
    """The CM DET curve after the official 'soft scores' check."""
    curve = det_curve(bonafide, spoof)
    ordered = curve.thresholds[1:]  # the sorted scores
    n_unique = 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
    if n_unique < 3:
        raise HardDecisionError(
            f"t-DCF needs soft CM scores, but the scores hold only {n_unique} distinct "
            "value(s) (fewer than 3): provide scores, not binary decisions"
        )
    return curve


def _argmin_point(curve: DetCurve, values: np.ndarray) -> MetricPoint:
    i = int(np.argmin(values))
    return MetricPoint(float(values[i]), float(curve.thresholds[i]), i)


def min_tdcf_legacy(
    bonafide: object, spoof: object, asv: AsvOperatingPoint, costs: TDCFCosts | None = None
) -> MetricPoint:
    """Legacy ASVspoof 2019 minimum normalised t-DCF.

    Args:
        bonafide: ``(Nb,)`` CM scores of bona fide trials (higher = more bona fide).
        spoof: ``(Ns,)`` CM scores of spoof trials.
        asv: the ASV operating point (:func:`asv_operating_point`).
        costs: priors and costs (official defaults if None).

    Raises:
        HardDecisionError: fewer than 3 distinct CM scores.

    Example:
        >>> asv = AsvOperatingPoint(pfa=0.0246, pmiss=0.0246, pmiss_spoof=0.239, pfa_spoof=0.761)
        >>> round(min_tdcf_legacy([0.8, 0.3, 0.6], [0.1, 0.5, 0.35], asv).value, 6)
        0.666667
    """
    curve = _soft_curve(bonafide, spoof)
    c1, c2 = legacy_coefficients(asv, costs)
    tdcf = (c1 * curve.frr + c2 * curve.far) / min(c1, c2)
    return _argmin_point(curve, tdcf)


def min_tdcf_from_coefficients(
    bonafide: object, spoof: object, c0: float, c1: float, c2: float
) -> MetricPoint:
    """Revised minimum normalised t-DCF from precomputed ``C0, C1, C2``.

    Example:
        >>> min_tdcf_from_coefficients([2.0, 3.0, 4.0], [0.0, 1.0], 0.1, 0.9, 0.4).value
        0.2
    """
    curve = _soft_curve(bonafide, spoof)
    tdcf = (c0 + c1 * curve.frr + c2 * curve.far) / (c0 + min(c1, c2))
    return _argmin_point(curve, tdcf)


def min_tdcf_revised(
    bonafide: object, spoof: object, asv: AsvOperatingPoint, costs: TDCFCosts | None = None
) -> MetricPoint:
    """Revised (ASVspoof 2021 / 5) minimum normalised t-DCF.

    Args:
        bonafide: ``(Nb,)`` CM scores of bona fide trials.
        spoof: ``(Ns,)`` CM scores of spoof trials.
        asv: the ASV operating point; its ``pfa_spoof`` is used.
        costs: priors and costs (official defaults if None).

    Raises:
        HardDecisionError: fewer than 3 distinct CM scores.

    Example:
        >>> asv = AsvOperatingPoint(pfa=0.0, pmiss=0.0, pmiss_spoof=0.0, pfa_spoof=1.0)
        >>> min_tdcf_revised([2.0, 3.0, 4.0], [0.0, 1.0], asv).value
        0.0
    """
    c0, c1, c2 = revised_coefficients(asv, costs)
    return min_tdcf_from_coefficients(bonafide, spoof, c0, c1, c2)
