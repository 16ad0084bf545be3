"""ASVspoof 5 metrics: minDCF, actDCF, Cllr (track 1), a-DCF, min t-DCF, t-EER (track 2).

Definitions follow the ASVspoof 5 evaluation package (``calculate_metrics.py``,
``calculate_modules.py``, ``a_dcf.py``):

* **minDCF**: ``min_k (Cmiss (1 - Pspoof) frr[k] + Cfa Pspoof far[k])`` over the official DET
  points, divided by ``min(Cmiss (1 - Pspoof), Cfa Pspoof)``; defaults Pspoof 0.05, Cmiss 1,
  Cfa 10.
* **actDCF**: the same cost at the Bayes threshold ``-ln(Cmiss (1 - Pspoof) / (Cfa Pspoof))``
  (-0.6419 by default), scores read as natural-log likelihood ratios; bona fide below it is a
  miss, spoof at or above it a false acceptance.
* **Cllr** (bits): ``(mean(log(1 + e^-bona)) + mean(log(1 + e^spoof))) / (2 ln 2)``. The official
  code evaluates ``log1p(exp(x))`` and returns inf for scores beyond about +-709; here
  ``x`` is used once ``x > 700`` (equal to float64 precision), so huge scores stay finite.
* **a-DCF**: on one SASV score per trial; see :func:`a_dcf`.
* **min t-DCF (track 2)**: the revised t-DCF (:mod:`spoofscope.metrics.tdcf`); see
  :func:`asvspoof5_min_tdcf` for the ASV rates and the wrapper quirk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spoofscope.metrics.det import DetCurve, MetricPoint, det_curve
from spoofscope.metrics.errors import EmptyClassError, MetricInputError, as_scores
from spoofscope.metrics.tdcf import (
    ASVSPOOF5_DEFAULT_ASV,
    AsvOperatingPoint,
    TDCFCosts,
    min_tdcf_from_coefficients,
    revised_coefficients,
)
from spoofscope.metrics.teer import teer

__all__ = [
    "ADCFCosts",
    "DCFCosts",
    "Track1Metrics",
    "Track2Metrics",
    "a_dcf",
    "act_dcf",
    "asvspoof5_min_tdcf",
    "cllr",
    "min_dcf",
    "track1_metrics",
    "track2_metrics",
]


@dataclass(frozen=True)
class DCFCosts:
    """Track-1 DCF prior and costs (official defaults)."""

    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa: float = 10.0

    @property
    def normaliser(self) -> float:
        """``min(Cmiss (1 - Pspoof), Cfa Pspoof)``: the cost of the best trivial system."""
        p_target = 1 - self.p_spoof
        return min(self.c_miss * p_target, self.c_fa * (1 - p_target))


def min_dcf(bonafide: object, spoof: object, costs: DCFCosts | None = None) -> MetricPoint:
    """Normalised minimum DCF of a CM over the official DET points.

    Example:
        >>> min_dcf([0.8, 0.3, 0.6], [0.1, 0.5, 0.35]).value
        0.6333333333333327
    """
    return _min_dcf_of_curve(det_curve(bonafide, spoof), costs or DCFCosts())


def _min_dcf_of_curve(curve: DetCurve, c: DCFCosts) -> MetricPoint:
    p_target = 1 - c.p_spoof
    c_det = c.c_miss * curve.frr * p_target + c.c_fa * curve.far * (1 - p_target)
    i = int(np.argmin(c_det))
    return MetricPoint(float(c_det[i] / c.normaliser), float(curve.thresholds[i]), i)


def act_dcf(bonafide: object, spoof: object, costs: DCFCosts | None = None) -> MetricPoint:
    """Normalised actual DCF at the Bayes threshold (scores read as natural-log LLRs).

    Example:
        >>> act_dcf([2.0, 1.0, -1.0], [-3.0, 0.0]).value
        1.1333333333333333
    """
    c = costs or DCFCosts()
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    threshold = -np.log(c.c_miss * (1 - c.p_spoof) / (c.c_fa * c.p_spoof))
    miss = int(np.count_nonzero(bona < threshold)) / bona.size
    fa = int(np.count_nonzero(spf >= threshold)) / spf.size
    cost = c.c_miss * (1 - c.p_spoof) * miss + c.c_fa * c.p_spoof * fa
    norm = min(c.c_fa * c.p_spoof, c.c_miss * (1 - c.p_spoof))
    return MetricPoint(float(cost / norm), float(threshold), -1)


def _softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)`` as the official ``log1p(exp(x))``, kept finite for ``x > 700``."""
    return np.where(x > 700.0, x, np.log1p(np.exp(np.minimum(x, 700.0))))


def cllr(bonafide: object, spoof: object) -> float:
    """Log-likelihood-ratio cost in bits (scores read as natural-log LLRs).

    Example:
        >>> cllr([0.0], [0.0])
        1.0
    """
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    return float(0.5 * (np.mean(_softplus(-bona)) + np.mean(_softplus(spf))) / np.log(2))


@dataclass(frozen=True)
class ADCFCosts:
    """a-DCF priors and costs. Defaults are the ASVspoof 5 track-2 wrapper's.

    ``a_dcf.CostModel()`` in the official package has *different* defaults; get them with
    :meth:`cost_model_defaults`.
    """

    p_tar: float = 0.9405
    p_non: float = 0.0095
    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa_asv: float = 10.0
    c_fa_cm: float = 10.0

    @classmethod
    def cost_model_defaults(cls) -> ADCFCosts:
        """``a_dcf.CostModel()``: Ptrg 0.9, Pnontrg 0.05, Pspf 0.05, Cmiss 1, Cfa_asv 10, Cfa_cm 20.

        Example:
            >>> ADCFCosts.cost_model_defaults().c_fa_cm
            20.0
        """
        return cls(p_tar=0.9, p_non=0.05, p_spoof=0.05, c_miss=1.0, c_fa_asv=10.0, c_fa_cm=20.0)


def a_dcf(
    target: object, nontarget: object, spoof: object, costs: ADCFCosts | None = None
) -> MetricPoint:
    """Minimum normalised architecture-agnostic DCF (a-DCF) of SASV scores.

    The SASV scores of all trials are sorted (stable; target, nontarget, spoof order in ties).
    At each point, ``a-DCF = Cmiss Ptar Pmiss + Cfa_asv Pnon Pfa_non + Cfa_cm Pspoof Pfa_spoof``,
    normalised by ``min(Cfa_asv Pnon + Cfa_cm Pspoof, Cmiss Ptar)``; the minimum is returned.

    Args:
        target: ``(Nt,)`` SASV scores of target trials.
        nontarget: ``(Nn,)`` SASV scores of nontarget trials.
        spoof: ``(Ns,)`` SASV scores of spoof trials.
        costs: priors and costs (the track-2 wrapper's by default).

    Example:
        >>> a_dcf([2.0, 3.0], [0.0], [1.0]).value
        0.0
    """
    c = costs or ADCFCosts()
    tar = as_scores(target, "target")
    non = as_scores(nontarget, "nontarget")
    spf = as_scores(spoof, "spoof (SASV)")
    scores = np.concatenate((tar, non, spf))
    order = np.argsort(scores, kind="stable")
    is_tar = order < tar.size
    is_spf = order >= tar.size + non.size
    is_non = ~(is_tar | is_spf)
    frr = np.concatenate(([0.0], np.cumsum(is_tar, dtype=np.int64) / tar.size))
    far_asv = np.concatenate(([1.0], (non.size - np.cumsum(is_non, dtype=np.int64)) / non.size))
    far_cm = np.concatenate(([1.0], (spf.size - np.cumsum(is_spf, dtype=np.int64)) / spf.size))
    costs_k = (
        (c.c_miss * c.p_tar) * frr
        + (c.c_fa_asv * c.p_non) * far_asv
        + (c.c_fa_cm * c.p_spoof) * far_cm
    )
    normed = costs_k / min(c.c_fa_asv * c.p_non + c.c_fa_cm * c.p_spoof, c.c_miss * c.p_tar)
    i = int(np.argmin(normed))
    thresholds = np.concatenate(([float(scores[order[0]]) - 1e-8], scores[order]))
    return MetricPoint(float(normed[i]), float(thresholds[i]), i)


def asvspoof5_min_tdcf(
    bonafide: object,
    spoof: object,
    asv: AsvOperatingPoint | None = None,
    *,
    wrapper_quirk: bool = False,
    costs: TDCFCosts | None = None,
) -> MetricPoint:
    """Track-2 min t-DCF (revised formula) with the ASV rates the ASVspoof 5 wrapper uses.

    Args:
        bonafide: ``(Nb,)`` CM bona fide scores.
        spoof: ``(Ns,)`` CM spoof scores.
        asv: the organisers' ASV operating point; None uses the rates the official wrapper
            hard-codes for ASVspoof 5 (:data:`~spoofscope.metrics.tdcf.ASVSPOOF5_DEFAULT_ASV`).
        wrapper_quirk: reproduce the official ``calculate_aDCF_tdcf_tEER`` when it is given ASV
            scores: it passes ``obtain_asv_error_rates(...)[2]``, the spoof *rejection* rate
            ``Pmiss_spoof_asv``, where the spoof false acceptance rate belongs. Off by default
            (the correct rate, which equals the ASVspoof 2021 revised t-DCF). Ignored when
            ``asv`` is None (the hard-coded rates are used as they are).
        costs: priors and costs (official defaults if None).
    """
    if asv is None:
        rates, pfa_spoof = ASVSPOOF5_DEFAULT_ASV, ASVSPOOF5_DEFAULT_ASV.pfa_spoof
    else:
        rates, pfa_spoof = asv, (asv.pmiss_spoof if wrapper_quirk else asv.pfa_spoof)
    c0, c1, c2 = revised_coefficients(rates, costs, pfa_spoof=pfa_spoof)
    return min_tdcf_from_coefficients(bonafide, spoof, c0, c1, c2)


@dataclass(frozen=True)
class Track1Metrics:
    """ASVspoof 5 track-1 metrics of a CM (EER as a fraction, Cllr in bits)."""

    min_dcf: float
    eer: float
    cllr: float
    act_dcf: float


def track1_metrics(bonafide: object, spoof: object, costs: DCFCosts | None = None) -> Track1Metrics:
    """minDCF, EER, Cllr and actDCF, as ``calculate_minDCF_EER_CLLR_actDCF`` returns them."""
    curve = det_curve(bonafide, spoof)
    return Track1Metrics(
        min_dcf=_min_dcf_of_curve(curve, costs or DCFCosts()).value,
        eer=curve.eer_point().value,
        cllr=cllr(bonafide, spoof),
        act_dcf=act_dcf(bonafide, spoof, costs).value,
    )


@dataclass(frozen=True)
class Track2Metrics:
    """ASVspoof 5 track-2 metrics: a-DCF, min t-DCF, t-EER (percent)."""

    a_dcf: float
    min_tdcf: float
    teer_percent: float


def _select(values: np.ndarray, keys: np.ndarray, key: str, what: str) -> np.ndarray:
    out = values[keys == key]
    if out.size == 0:
        raise EmptyClassError(f"no trials with {what} label {key!r}")
    return out


def track2_metrics(
    cm_scores: object,
    asv_scores: object,
    sasv_scores: object,
    cm_labels: object,
    asv_labels: object,
    asv_reference: AsvOperatingPoint | None = None,
    *,
    wrapper_quirk: bool = False,
    adcf_costs: ADCFCosts | None = None,
) -> Track2Metrics:
    """The ASVspoof 5 track-2 wrapper (``calculate_aDCF_tdcf_tEER``) on paired trials.

    Args:
        cm_scores, asv_scores, sasv_scores: ``(N,)`` scores of the same N trials.
        cm_labels: ``(N,)`` ``"bonafide"`` / ``"spoof"``.
        asv_labels: ``(N,)`` ``"target"`` / ``"nontarget"`` / ``"spoof"``.
        asv_reference: organisers' ASV operating point for min t-DCF (None: ASVspoof 5 rates).
        wrapper_quirk: see :func:`asvspoof5_min_tdcf`.
        adcf_costs: a-DCF costs (the wrapper's by default).

    The a-DCF uses the SASV scores split by ASV label. The min t-DCF uses the CM scores split by
    CM label. The t-EER uses CM bona fide = CM scores of target + nontarget trials, CM spoof =
    CM scores of spoof trials, and the ASV scores split by ASV label.
    """
    cm = np.asarray(cm_scores, dtype=np.float64).reshape(-1)
    asv = np.asarray(asv_scores, dtype=np.float64).reshape(-1)
    sasv = np.asarray(sasv_scores, dtype=np.float64).reshape(-1)
    cm_keys = np.asarray(cm_labels).reshape(-1)
    asv_keys = np.asarray(asv_labels).reshape(-1)
    if not cm.size == asv.size == sasv.size == cm_keys.size == asv_keys.size:
        raise MetricInputError(
            f"track-2 inputs must have one entry per trial, got {cm.size} CM, {asv.size} ASV, "
            f"{sasv.size} SASV scores, {cm_keys.size} CM and {asv_keys.size} ASV labels"
        )
    parts = {k: asv_keys == k for k in ("target", "nontarget", "spoof")}
    for name, mask in parts.items():
        if not mask.any():
            raise EmptyClassError(f"no trials with ASV label {name!r}")
    adcf = a_dcf(*(sasv[m] for m in parts.values()), costs=adcf_costs).value
    min_tdcf = asvspoof5_min_tdcf(
        _select(cm, cm_keys, "bonafide", "CM"),
        _select(cm, cm_keys, "spoof", "CM"),
        asv_reference,
        wrapper_quirk=wrapper_quirk,
    ).value
    bona_cm = np.concatenate((cm[parts["target"]], cm[parts["nontarget"]]))
    teer_value = teer(bona_cm, cm[parts["spoof"]], *(asv[m] for m in parts.values()))
    return Track2Metrics(a_dcf=adcf, min_tdcf=min_tdcf, teer_percent=teer_value)
