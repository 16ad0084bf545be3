"""Scoring a manifest with a model, and the ASVspoof metrics of the result.

Two window conventions (every report names the one used):

* ``"official"``: the first ``model.segment_samples`` samples of each file (64,600 for
  RawNet2 / AASIST), shorter input repeated (:func:`spoofscope.audio.repeat_pad`), as the
  official ASVspoof scripts score. Only that prefix is decoded.
* ``"full"``: every window over the whole file (:mod:`spoofscope.windows`: hop a fraction of
  the window, last window end-aligned), window scores combined by an aggregation
  (:data:`spoofscope.windows.AGGREGATIONS`; the mean by default).

Files are decoded one by one (a few ahead in threads) and their windows scored in batches that
mix files, so memory holds at most ``batch_size`` windows plus the files being decoded.
Unreadable files are logged and returned as failures, never raised. While scoring, denormal
floats are flushed to zero (``torch.set_flush_denormal``): quiet or tonal input drives some
activations into the denormal range, where x86 CPUs run 10-20x slower (measured: AASIST-L on
pure tones, 2.1 s vs 0.11 s per window); the scores change by far less than float32 rounding.

The reporting side (files, tables) is :mod:`spoofscope.report`; plots are
:mod:`spoofscope.plots`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spoofscope.data.manifest import Utterance
from spoofscope.scoring import flush_denormals
from spoofscope.windows import AGGREGATIONS, aggregate, hop_samples, window_bounds

__all__ = [
    "WINDOW_MODES",
    "EvalOptions",
    "Failure",
    "ScoredSet",
    "ScoredUtterance",
    "condition_keys",
    "score_utterances",
]

log = logging.getLogger(__name__)

WINDOW_MODES = ("official", "full")
#: An extra-field key is a condition (codec, channel, ...) when it has 2..this many values.
MAX_CONDITION_VALUES = 50


@dataclass(frozen=True)
class EvalOptions:
    """How files are turned into scores.

    Attributes:
        window_mode: ``"official"`` (first segment) or ``"full"`` (every window).
        score_mode: ``"log-odds"`` or ``"official"`` (:mod:`spoofscope.scoring`).
        hop: window hop as a fraction of the window, ``(0, 1]`` (full mode).
        aggregation: one of :data:`spoofscope.windows.AGGREGATIONS` except ``"weighted"``.
        top_k: ``k`` of the ``"top-k"`` aggregation.
        batch_size: windows per forward pass.
        workers: decoding threads (0 = decode in the calling thread).
    """

    window_mode: str = "official"
    score_mode: str = "log-odds"
    hop: float = 0.5
    aggregation: str = "mean"
    top_k: int = 3
    batch_size: int = 16
    workers: int = 2

    def __post_init__(self) -> None:
        from spoofscope.scoring import check_score_mode

        if self.window_mode not in WINDOW_MODES:
            raise ValueError(
                f"unknown window mode {self.window_mode!r}; valid choices: "
                f"{', '.join(WINDOW_MODES)}"
            )
        check_score_mode(self.score_mode)
        hop_samples(64600, self.hop)  # validates the hop
        usable = [a for a in AGGREGATIONS if a != "weighted"]
        if self.aggregation not in usable:
            raise ValueError(
                f"unknown aggregation {self.aggregation!r}; valid choices: {', '.join(usable)}"
            )
        if self.top_k < 1 or self.batch_size < 1 or self.workers < 0:
            raise ValueError(f"top_k and batch_size must be >= 1 and workers >= 0: {self}")

    def describe(self, segment_samples: int, sample_rate: int) -> dict[str, Any]:
        """The convention as a JSON-able dict, with a sentence for humans."""
        seconds = segment_samples / sample_rate
        if self.window_mode == "official":
            text = (
                f"official: first {segment_samples} samples ({seconds:.3f} s) of each file, "
                "shorter files repeated to that length"
            )
        else:
            text = (
                f"full: windows of {segment_samples} samples ({seconds:.3f} s), hop "
                f"{self.hop:g} of a window, last window aligned to the end, shorter files "
                f"repeated; file score = {self.aggregation} of window scores"
            )
        doc: dict[str, Any] = {
            "window_mode": self.window_mode,
            "segment_samples": segment_samples,
            "sample_rate": sample_rate,
            "description": text,
        }
        if self.window_mode == "full":
            doc.update(hop=self.hop, aggregation=self.aggregation)
            if self.aggregation == "top-k":
                doc["top_k"] = self.top_k
        return doc


@dataclass(frozen=True)
class ScoredUtterance:
    """One scored utterance: its manifest entry, score and window count."""

    utt: Utterance
    score: float
    n_windows: int
    n_samples: int | None


@dataclass(frozen=True)
class Failure:
    """An utterance that could not be scored, and why."""

    id: str
    path: str
    error: str


@dataclass
class ScoredSet:
    """The scores of one manifest.

    Attributes:
        name: a short name for the test set (the manifest's file stem).
        manifest: the manifest path.
        scored: the utterances scored, in manifest order.
        failures: those that could not be read.
    """

    name: str
    manifest: str
    scored: list[ScoredUtterance] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def scores(self) -> np.ndarray:
        """``(N,)`` float64 scores of the scored utterances."""
        return np.array([s.score for s in self.scored], dtype=np.float64)

    @property
    def is_bonafide(self) -> np.ndarray:
        """``(N,)`` bool, True for bona fide."""
        return np.array([s.utt.label == "bonafide" for s in self.scored], dtype=bool)

    @property
    def datasets(self) -> list[str]:
        """The distinct ``dataset`` values of the scored utterances, sorted."""
        return sorted({s.utt.dataset for s in self.scored if s.utt.dataset})


def condition_keys(utterances: Sequence[Utterance]) -> list[str]:
    """Keys of ``extra`` usable as conditions (codec, channel, ...), sorted.

    A key qualifies when its values are strings / numbers / booleans and it takes between 2 and
    :data:`MAX_CONDITION_VALUES` distinct values, fewer than the utterances carrying it (so
    per-utterance fields such as transcripts are left out).
    """
    values: dict[str, set] = {}
    counts: dict[str, int] = {}
    bad: set[str] = set()
    for utt in utterances:
        for key, value in utt.extra.items():
            if value is None:
                continue
            if not isinstance(value, str | int | float | bool):
                bad.add(key)
                continue
            values.setdefault(key, set()).add(str(value))
            counts[key] = counts.get(key, 0) + 1
    return sorted(
        k
        for k, v in values.items()
        if k not in bad and 2 <= len(v) <= MAX_CONDITION_VALUES and len(v) < counts[k]
    )


def _loader(options: EvalOptions, segment: int, sample_rate: int) -> Callable[[str], np.ndarray]:
    from spoofscope.audio import load_audio

    if options.window_mode == "official":
        # decode only the prefix (plus a margin so resampling sees the same context)
        seconds = segment / sample_rate + 0.25
        return lambda path: load_audio(path, sample_rate, duration_s=seconds)[:segment]
    return lambda path: load_audio(path, sample_rate)


def _decoded(
    utterances: Sequence[Utterance], load: Callable[[str], np.ndarray], workers: int
) -> Iterator[tuple[Utterance, np.ndarray | Exception]]:
    """``(utt, wave or the error)`` in manifest order, decoding up to ``2 * workers`` ahead."""
    from spoofscope.audio import AudioError

    def one(utt: Utterance) -> np.ndarray | Exception:
        try:
            return load(utt.path)
        except AudioError as exc:
            return exc
        except Exception as exc:  # one bad file must not end a long evaluation
            return RuntimeError(f"{utt.path}: {type(exc).__name__}: {exc}")

    if workers == 0:
        for utt in utterances:
            yield utt, one(utt)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        ahead: list[tuple[Utterance, Future]] = []
        items = iter(utterances)
        for utt in items:
            ahead.append((utt, pool.submit(one, utt)))
            if len(ahead) >= 2 * workers:
                break
        while ahead:
            utt, future = ahead.pop(0)
            nxt = next(items, None)
            if nxt is not None:
                ahead.append((nxt, pool.submit(one, nxt)))
            yield utt, future.result()


class _Batcher:
    """Collects windows of several files and scores them ``batch_size`` at a time."""

    def __init__(self, model: Any, score_mode: str, batch_size: int) -> None:
        self.model, self.score_mode, self.batch_size = model, score_mode, batch_size
        self.owners: list[int] = []
        self.segments: list[np.ndarray] = []
        self.window_scores: dict[int, list[float]] = {}

    def add(self, owner: int, segment: np.ndarray) -> None:
        self.owners.append(owner)
        self.segments.append(segment)
        if len(self.segments) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        from spoofscope.scoring import score_segments

        if not self.segments:
            return
        batch = np.stack(self.segments).astype(np.float32, copy=False)
        scores, _ = score_segments(self.model, batch, self.score_mode, self.batch_size)
        for owner, score in zip(self.owners, scores.tolist(), strict=True):
            self.window_scores.setdefault(owner, []).append(score)
        self.owners.clear()
        self.segments.clear()


def _feed(utterances, load, options, batcher, kept, failures, progress) -> None:
    """Decode every utterance and hand its windows to ``batcher``; record failures."""
    from spoofscope.audio import repeat_pad

    segment = int(batcher.model.segment_samples)
    for utt, wave in _decoded(utterances, load, options.workers):
        if progress:
            progress(1)
        if isinstance(wave, Exception):
            log.warning("skipping %s (%s): %s", utt.id, utt.path, wave)
            failures.append(Failure(utt.id, utt.path, str(wave)))
            continue
        owner = len(kept)
        kept.append((utt, None if options.window_mode == "official" else int(wave.size)))
        if wave.size <= segment:  # always so in official mode: only the prefix is decoded
            batcher.add(owner, repeat_pad(wave, segment))
            continue
        starts, _ = window_bounds(int(wave.size), segment, options.hop)
        for start in starts.tolist():
            batcher.add(owner, wave[start : start + segment])
    batcher.flush()


def score_utterances(
    model: Any,
    utterances: Sequence[Utterance],
    options: EvalOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[ScoredUtterance], list[Failure]]:
    """Score every utterance with ``model`` by the convention in ``options``.

    Args:
        model: a :class:`~spoofscope.models.SpoofModel` in eval mode (ideally
            ``model.fuse_for_inference()``); it sees float32 ``(B, segment_samples)`` batches.
        utterances: what to score (``path`` must be readable from here).
        options: window mode, score mode, hop, aggregation, batch size, decoding threads.
        progress: called with 1 after each file is decoded (for a progress bar).

    Returns:
        ``(scored, failures)``: scored utterances in input order, and the unreadable ones
        (each logged as a warning).
    """
    segment, rate = int(model.segment_samples), int(model.sample_rate)
    batcher = _Batcher(model, options.score_mode, options.batch_size)
    kept: list[tuple[Utterance, int | None]] = []
    failures: list[Failure] = []
    load = _loader(options, segment, rate)
    with flush_denormals():
        _feed(utterances, load, options, batcher, kept, failures, progress)
    scored = []
    for owner, (utt, n_samples) in enumerate(kept):
        windows = batcher.window_scores[owner]
        score = aggregate(windows, options.aggregation, k=options.top_k)
        if not np.isfinite(score):
            log.warning("excluding %s (%s): the model gave score %r", utt.id, utt.path, score)
            failures.append(Failure(utt.id, utt.path, f"non-finite model score {score!r}"))
            continue
        scored.append(ScoredUtterance(utt, score, len(windows), n_samples))
    return scored, failures
