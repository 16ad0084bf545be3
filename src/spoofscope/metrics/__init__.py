"""ASVspoof metrics equal to the official scripts (2019 ``tDCF_python``, 2021 eval-package,
ASVspoof 5 evaluation-package), written from their published definitions.

Scores follow the ASVspoof convention: higher = more bona fide (negate scores that point the
other way, e.g. OC-softmax cosines). Every metric raises a
:class:`~spoofscope.metrics.errors.MetricInputError` (a ``ValueError``) on NaN / infinite scores
or an empty class.

Modules: :mod:`~spoofscope.metrics.det` (DET curve, EER, bootstrap CI),
:mod:`~spoofscope.metrics.tdcf` (legacy and revised min t-DCF, ASV operating point),
:mod:`~spoofscope.metrics.asvspoof5` (minDCF, actDCF, Cllr, a-DCF, track wrappers),
:mod:`~spoofscope.metrics.teer` (t-EER), :mod:`~spoofscope.metrics.breakdown` (per attack /
condition).
"""

from __future__ import annotations

from spoofscope.metrics.asvspoof5 import (
    ADCFCosts,
    DCFCosts,
    Track1Metrics,
    Track2Metrics,
    a_dcf,
    act_dcf,
    asvspoof5_min_tdcf,
    cllr,
    min_dcf,
    track1_metrics,
    track2_metrics,
)
from spoofscope.metrics.breakdown import GroupEER, eer_by_attack, eer_by_condition
from spoofscope.metrics.det import (
    BootstrapCI,
    DetCurve,
    MetricPoint,
    bootstrap_eer,
    det_curve,
    eer,
    eer_point,
)
from spoofscope.metrics.errors import (
    EmptyClassError,
    HardDecisionError,
    InvalidCostError,
    MetricInputError,
    NonFiniteScoreError,
    UndefinedMetricError,
)
from spoofscope.metrics.tdcf import (
    ASVSPOOF5_DEFAULT_ASV,
    AsvOperatingPoint,
    TDCFCosts,
    asv_operating_point,
    legacy_coefficients,
    min_tdcf_from_coefficients,
    min_tdcf_legacy,
    min_tdcf_revised,
    revised_coefficients,
)
from spoofscope.metrics.teer import asv_error_curves, teer

__all__ = [
    "ADCFCosts",
    "ASVSPOOF5_DEFAULT_ASV",
    "AsvOperatingPoint",
    "BootstrapCI",
    "DCFCosts",
    "DetCurve",
    "EmptyClassError",
    "GroupEER",
    "HardDecisionError",
    "InvalidCostError",
    "MetricInputError",
    "MetricPoint",
    "NonFiniteScoreError",
    "TDCFCosts",
    "Track1Metrics",
    "Track2Metrics",
    "UndefinedMetricError",
    "a_dcf",
    "act_dcf",
    "asv_error_curves",
    "asv_operating_point",
    "asvspoof5_min_tdcf",
    "bootstrap_eer",
    "cllr",
    "det_curve",
    "eer",
    "eer_by_attack",
    "eer_by_condition",
    "eer_point",
    "legacy_coefficients",
    "min_dcf",
    "min_tdcf_from_coefficients",
    "min_tdcf_legacy",
    "min_tdcf_revised",
    "revised_coefficients",
    "teer",
    "track1_metrics",
    "track2_metrics",
]
