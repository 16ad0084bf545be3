"""What the detector returns: per-window results, the recording's verdict, and how to get there.

A recording is cut into windows (:mod:`spoofscope.windows`); each window gets a score
(log-odds of bona fide, higher = more bona fide), a calibrated ``p_spoof`` and the share of
its samples that voice activity detection called speech. Windows with less speech than
``min_speech`` do not vote. The voting windows' scores are combined by an aggregation
(:data:`AGGREGATIONS`), the result calibrated to ``p_spoof`` and compared with two thresholds:
``bonafide`` below the lower, ``spoof`` above the upper, ``review`` between them, and
``no_speech`` when no window votes (``score`` and ``p_spoof`` are then ``None``).

Aggregations (see :data:`DEFAULT_AGGREGATION` for how the default was chosen):

* ``"mean"``: mean window score;
* ``"min"``: the most spoof-like window (the highest ``p_spoof``); the default;
* ``"top-k"``: mean of the ``k`` most spoof-like windows;
* ``"weighted"``: mean weighted by each window's speech fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spoofscope.windows import AGGREGATIONS, aggregate

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_AGGREGATION",
    "DEFAULT_MIN_SPEECH",
    "VERDICTS",
    "DetectionError",
    "DetectionResult",
    "WindowResult",
    "aggregate_windows",
    "check_aggregation",
    "flagged_ranges",
    "judge_windows",
]

#: The four verdicts a recording can get.
VERDICTS = ("bonafide", "spoof", "review", "no_speech")
#: Chosen by measurement (``benchmarks/bench_aggregation.py``): on long bona fide recordings
#: with one short spoofed stretch (3-9 % of the recording), the most spoof-like window gave the
#: lowest recording-level EER in every setting measured, top-2 / top-3 next, mean and weighted
#: far behind. EER % for min / top-2 / top-3 / mean / weighted / first window only (silero VAD,
#: hop 0.5; LibriSpeech bona fide, spoof = espeak-ng and/or ASVspoof 2019 LA clips):
#:
#: * AASIST, espeak-ng + ASVspoof, 60 s (30 + 30): 23.3 / 26.7 / 30.0 / 43.3 / 36.7 / 40.0
#: * AASIST, espeak-ng, 60 s (30 + 30): 3.3 / 3.3 / 6.7 / 30.0 / 23.3 / 50.0
#: * AASIST, ASVspoof clips, 60 s (30 + 30): 46.7 / 46.7 / 46.7 / 50.0 / 46.7 / 46.7
#: * AASIST-L, espeak-ng + ASVspoof, 60 s (30 + 30): 13.3 / 20.0 / 23.3 / 30.0 / 30.0 / 36.7
#: * AASIST-L, espeak-ng, 197 s (20 + 20): 5.0 / 10.0 / 10.0 / 30.0 / 25.0 / 45.0
#:
#: The 95 % bootstrap intervals are about +-10 points, and these are the official AASIST
#: weights out of their domain: re-measure with the shipped default model (issue 5).
DEFAULT_AGGREGATION = "min"
#: A window votes when at least this share of it is speech.
DEFAULT_MIN_SPEECH = 0.3


def check_aggregation(method: str, k: int = 3) -> str:
    """Return ``method`` if it names an aggregation and ``k`` is valid, else raise ValueError."""
    if method not in AGGREGATIONS:
        raise ValueError(
            f"unknown aggregation {method!r}; valid choices: {', '.join(AGGREGATIONS)}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top-k needs k >= 1, got {k!r}")
    return method


def _opt(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


@dataclass(frozen=True)
class WindowResult:
    """One window of a recording.

    Attributes:
        start_s: where the window starts in the recording (seconds).
        end_s: where it ends (seconds; for input shorter than a window, the input's end).
        score: log-odds of bona fide (higher = more bona fide).
        p_spoof: calibrated probability of spoof.
        speech_fraction: share of the window that is speech, in ``[0, 1]``.
        voted: whether the window took part in the recording's verdict.
    """

    start_s: float
    end_s: float
    score: float
    p_spoof: float
    speech_fraction: float
    voted: bool

    def to_dict(self) -> dict[str, Any]:
        """The window as a JSON-serializable dict (non-finite numbers become ``None``)."""
        return {
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "score": _opt(self.score),
            "p_spoof": _opt(self.p_spoof),
            "speech_fraction": round(self.speech_fraction, 4),
            "voted": self.voted,
        }


@dataclass
class DetectionResult:
    """The detector's answer for one recording.

    Attributes:
        verdict: one of :data:`VERDICTS`.
        p_spoof: calibrated probability of spoof of the aggregated score (``None`` for
            ``no_speech``).
        score: the aggregated log-odds of bona fide (``None`` for ``no_speech``).
        windows: every window, in time order.
        duration_s: length of the recording in seconds.
        model: ``{"name", "id", "version", "backend"}``.
        runtime_s: wall-clock seconds the detection took.
        aggregation: ``{"method", "k" (top-k only), "min_speech"}``.
        thresholds: ``{"lower", "upper"}`` applied to ``p_spoof``.
        flagged: merged ``[start_s, end_s]`` ranges of voting windows with ``p_spoof`` above
            the upper threshold.
        source: what was analysed (a path, ``<bytes, N bytes>``, ``<array>``, ...).
        envelope: optional ``(2, bins)`` float32 min/max waveform envelope for plotting, with
            ``envelope_rate`` bins per second; never serialized.
    """

    verdict: str
    p_spoof: float | None
    score: float | None
    windows: list[WindowResult]
    duration_s: float
    model: dict[str, Any]
    runtime_s: float
    aggregation: dict[str, Any]
    thresholds: dict[str, float]
    flagged: list[list[float]]
    source: str
    envelope: np.ndarray | None = field(default=None, repr=False, compare=False)
    envelope_rate: float | None = field(default=None, repr=False, compare=False)

    ok = True

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-serializable dict (``json.dumps`` works on it)."""
        return {
            "source": self.source,
            "verdict": self.verdict,
            "p_spoof": _opt(self.p_spoof),
            "score": _opt(self.score),
            "duration_s": round(self.duration_s, 6),
            "flagged": [[round(a, 6), round(b, 6)] for a, b in self.flagged],
            "thresholds": dict(self.thresholds),
            "aggregation": dict(self.aggregation),
            "model": dict(self.model),
            "runtime_s": round(self.runtime_s, 4),
            "windows": [w.to_dict() for w in self.windows],
        }


@dataclass(frozen=True)
class DetectionError:
    """An input that could not be analysed (see :meth:`Detector.detect_many`).

    Attributes:
        source: the input's description.
        error: why (an :class:`~spoofscope.audio.AudioError` message, usually).
    """

    source: str
    error: str

    ok = False

    def to_dict(self) -> dict[str, Any]:
        """``{"source", "verdict": None, "error"}``."""
        return {"source": self.source, "verdict": None, "error": self.error}


def aggregate_windows(scores: np.ndarray, speech: np.ndarray, method: str, k: int = 3) -> float:
    """One score from the voting windows' scores.

    Args:
        scores: ``(N,)`` window scores of the voting windows (N >= 1).
        speech: ``(N,)`` their speech fractions (the weights of ``"weighted"``).
        method: one of :data:`AGGREGATIONS`.
        k: for ``"top-k"``.

    Example:
        >>> aggregate_windows(np.array([2.0, -4.0]), np.array([1.0, 0.5]), "weighted")
        0.0
    """
    check_aggregation(method, k)
    weights = speech if method == "weighted" else None
    return aggregate(scores, method, k=k, weights=weights)


def flagged_ranges(starts: np.ndarray, ends: np.ndarray, flags: np.ndarray) -> list[list[float]]:
    """Merge the ``[start, end]`` ranges of flagged windows that overlap or touch.

    Args:
        starts: ``(N,)`` window starts in seconds, ascending.
        ends: ``(N,)`` window ends in seconds.
        flags: ``(N,)`` bool, True for flagged windows.

    Example:
        >>> flagged_ranges(np.array([0.0, 2.0, 4.0, 8.0]), np.array([4.0, 6.0, 8.0, 12.0]),
        ...                np.array([True, True, False, True]))
        [[0.0, 6.0], [8.0, 12.0]]
    """
    out: list[list[float]] = []
    for a, b, flag in zip(starts.tolist(), ends.tolist(), flags.tolist(), strict=True):
        if not flag:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def judge_windows(
    starts: np.ndarray,
    ends: np.ndarray,
    scores: np.ndarray,
    speech: np.ndarray,
    calibration: Any,
    *,
    method: str,
    k: int,
    min_speech: float,
    lower: float,
    upper: float,
) -> dict[str, Any]:
    """From window scores to a verdict: who votes, the aggregate, ``p_spoof``, flagged ranges.

    Args:
        starts: ``(N,)`` window starts in seconds.
        ends: ``(N,)`` window ends in seconds.
        scores: ``(N,)`` window scores (log-odds of bona fide).
        speech: ``(N,)`` speech fractions; windows below ``min_speech`` (or with a non-finite
            score) do not vote.
        calibration: a :class:`spoofscope.calibration.Calibration`.
        method: the aggregation; ``k`` its top-k.
        min_speech: the speech fraction a window needs to vote.
        lower: ``p_spoof`` below it is ``bonafide``.
        upper: ``p_spoof`` above it is ``spoof``; voting windows above it are flagged.

    Returns:
        ``{"verdict", "p_spoof", "score", "windows", "flagged"}`` (the matching fields of
        :class:`DetectionResult`); ``no_speech`` with ``None`` scores when no window votes.
    """
    p_windows = np.asarray(calibration.p_spoof(scores), np.float64)
    voted = (speech >= min_speech) & np.isfinite(scores)
    score: float | None = None
    p_spoof: float | None = None
    verdict = "no_speech"
    if voted.any():
        score = aggregate_windows(scores[voted], speech[voted], method, k)
        p_spoof = float(np.asarray(calibration.p_spoof(np.array([score])))[0])
        verdict = calibration.decide(p_spoof, lower, upper)
    rows = zip(starts, ends, scores, p_windows, speech, voted, strict=True)
    return {
        "verdict": verdict,
        "p_spoof": p_spoof,
        "score": score,
        "windows": [
            WindowResult(float(a), float(b), float(s), float(p), float(f), bool(v))
            for a, b, s, p, f, v in rows
        ],
        "flagged": flagged_ranges(starts, ends, voted & (p_windows > upper)),
    }
