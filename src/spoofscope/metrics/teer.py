"""Concurrent tandem equal error rate (t-EER) of a CM and an ASV system (ASVspoof 5).

Definition (Kinnunen et al., IEEE TPAMI 2023, as computed by the ASVspoof 5 evaluation package
``compute_teer``), with ``rho = 0.5`` (any rho gives the same concurrent t-EER):

* CM curves ``(Pmiss_CM[k], Pfa_CM[k])``: the official DET curve of (bona fide, spoof) CM scores.
* ASV curves over all ASV scores (target, nontarget, spoof; stable ascending sort):
  ``Pmiss_ASV = [0] + cumsum(is_target) / n_tar``,
  ``Pfa_non_ASV = [1] + 1 - cumsum(is_nontarget) / n_non``,
  ``Pfa_spf_ASV = [1] + 1 - cumsum(is_spoof) / n_spf``.
* For each ASV point ``j``: ``Pmiss_tdm = Pmiss_CM + (1 - Pmiss_CM) Pmiss_ASV[j]``,
  ``Pfa_tdm = 0.5 (1 - Pmiss_CM) Pfa_non_ASV[j] + 0.5 Pfa_CM Pfa_spf_ASV[j]`` and
  ``k_j = first argmin_k |Pmiss_tdm - Pfa_tdm|``.
* Admissible ``j``: ``Pmiss_ASV[j] < 0.5 Pfa_non_ASV[j] + 0.5 Pfa_spf_ASV[j]``. Among them take
  the first ``j`` minimising
  ``|Pfa_non_ASV[j] / Pfa_spf_ASV[j] - Pfa_CM[k_j] / (1 - Pmiss_CM[k_j])|``.
* ``t-EER = 100 * Pfa_spf_ASV[j] * Pfa_CM[k_j]`` (percent).

The official code loops over every ASV point and scans the whole CM curve at each one
(O(N M)); its ``compute_teer_accelerated`` searches a decimated grid first. Here ``k_j`` is
found for all ``j`` at once by bisection, which is exact because ``Pmiss_tdm - Pfa_tdm`` is
non-decreasing in ``k``. The result equals the full official search (``compute_teer``), and
every float is computed with the same expression, so values match bit for bit; any ``j``
whose bisection answer fails a consistency check is re-scanned in full.
"""

from __future__ import annotations

import numpy as np

from spoofscope.metrics.det import det_curve
from spoofscope.metrics.errors import UndefinedMetricError, as_scores

__all__ = ["asv_error_curves", "teer"]

_RHO = 0.5


def asv_error_curves(
    target: object, nontarget: object, spoof: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ASV miss and false-acceptance curves over all ASV scores.

    Args:
        target: ``(Nt,)`` ASV target scores.
        nontarget: ``(Nn,)`` ASV nontarget scores.
        spoof: ``(Ns,)`` ASV spoof scores.

    Returns:
        ``(pmiss, pfa_nontarget, pfa_spoof, thresholds)``, each ``(Nt + Nn + Ns + 1,)``.

    Example:
        >>> pmiss, pfa_non, pfa_spf, thr = asv_error_curves([2.0], [0.0], [1.0])
        >>> pmiss.tolist(), pfa_non.tolist(), pfa_spf.tolist()
        ([0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0])
    """
    tar = as_scores(target, "target")
    non = as_scores(nontarget, "nontarget")
    spf = as_scores(spoof, "spoof (ASV)")
    scores = np.concatenate((tar, non, spf))
    order = np.argsort(scores, kind="stable")
    n_tar, n_non = tar.size, non.size
    is_tar = order < n_tar
    is_spf = order >= n_tar + n_non
    is_non = ~(is_tar | is_spf)
    pmiss = np.concatenate(([0.0], np.cumsum(is_tar, dtype=np.int64) / n_tar))
    pfa_non = np.concatenate(([1.0], 1 - np.cumsum(is_non, dtype=np.int64) / n_non))
    pfa_spf = np.concatenate(([1.0], 1 - np.cumsum(is_spf, dtype=np.int64) / spf.size))
    sorted_scores = scores[order]
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores))
    return pmiss, pfa_non, pfa_spf, thresholds


class _TandemGap:
    """``h_j(k) = Pmiss_tdm - Pfa_tdm`` evaluated with the official float expressions."""

    def __init__(self, pmiss_cm: np.ndarray, pfa_cm: np.ndarray) -> None:
        self.pmiss = pmiss_cm
        self.one_minus = 1 - pmiss_cm
        self.half_one_minus = (1 - _RHO) * self.one_minus
        self.half_pfa = _RHO * pfa_cm

    def __call__(self, k: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        pmiss_tdm = self.pmiss[k] + self.one_minus[k] * a
        pfa_tdm = self.half_one_minus[k] * b + self.half_pfa[k] * c
        return pmiss_tdm - pfa_tdm

    def first_at_least(self, target: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
        """Per row, the first ``k`` in ``0..N`` with ``h(k) >= target`` (``N + 1`` if none)."""
        n_points = self.pmiss.size
        lo = np.zeros(a.size, dtype=np.int64)
        hi = np.full(a.size, n_points, dtype=np.int64)
        while True:
            active = lo < hi
            if not active.any():
                return lo
            mid = (lo + hi) // 2
            ok = self(np.minimum(mid, n_points - 1), a, b, c) >= target
            hi = np.where(active & ok, mid, hi)
            lo = np.where(active & ~ok, mid + 1, lo)


def _cm_indices(gap: _TandemGap, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``k_j = first argmin_k |h_j(k)|`` for every row ``j``."""
    last = gap.pmiss.size - 1
    kpos = gap.first_at_least(np.zeros(a.size), a, b, c)
    left = np.maximum(kpos - 1, 0)
    right = np.minimum(kpos, last)
    v_left = np.where(kpos >= 1, np.abs(gap(left, a, b, c)), np.inf)
    v_right = np.where(kpos <= last, np.abs(gap(right, a, b, c)), np.inf)
    v = np.minimum(v_left, v_right)
    k = np.minimum(gap.first_at_least(-v, a, b, c), last)
    suspect = np.flatnonzero(np.abs(gap(k, a, b, c)) != v)
    all_k = np.arange(last + 1)
    for j in suspect:  # only if rounding broke monotonicity: rescan the whole curve
        k[j] = int(np.argmin(np.abs(gap(all_k, a[j], b[j], c[j]))))
    return k


def teer(
    bonafide_cm: object,
    spoof_cm: object,
    target_asv: object,
    nontarget_asv: object,
    spoof_asv: object,
) -> float:
    """Concurrent t-EER in **percent** (as the official ASVspoof 5 code returns it).

    CM and ASV trials need not be paired: the CM curve uses the CM scores, the ASV curves the
    ASV scores. In the ASVspoof 5 track-2 wrapper the CM bona fide set is the CM scores of the
    target and nontarget trials (see :func:`spoofscope.metrics.asvspoof5.track2_metrics`).

    Args:
        bonafide_cm: ``(Nb,)`` CM scores of bona fide trials (higher = more bona fide).
        spoof_cm: ``(Ns,)`` CM scores of spoof trials.
        target_asv: ``(Nt,)`` ASV scores of target trials.
        nontarget_asv: ``(Nn,)`` ASV scores of nontarget trials.
        spoof_asv: ``(Nsa,)`` ASV scores of spoof trials.

    Raises:
        UndefinedMetricError: no admissible ASV operating point exists.

    Example:
        >>> teer([0.8, 0.3, 0.6], [0.1, 0.5, 0.35], [2.0, 3.0], [-1.0, 0.5], [1.0, 2.5])
        33.33333333333333
    """
    cm = det_curve(bonafide_cm, spoof_cm)
    pmiss_asv, pfa_non, pfa_spf, _ = asv_error_curves(target_asv, nontarget_asv, spoof_asv)
    admissible = np.flatnonzero(pmiss_asv < (1 - _RHO) * pfa_non + _RHO * pfa_spf)
    a, b, c = pmiss_asv[admissible], pfa_non[admissible], pfa_spf[admissible]
    gap = _TandemGap(cm.frr, cm.far)
    k = _cm_indices(gap, a, b, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = np.abs(b / c - cm.far[k] / gap.one_minus[k])
    crit[np.isnan(crit)] = np.inf
    if crit.size == 0 or not np.isfinite(crit.min()):
        raise UndefinedMetricError(
            "t-EER is undefined: no ASV threshold has Pmiss_ASV < (Pfa_nontarget + Pfa_spoof) / 2 "
            "with a finite crossing criterion (check the ASV target/nontarget/spoof scores)"
        )
    j = int(np.argmin(crit))
    return float(c[j] * cm.far[k[j]] * 100)
