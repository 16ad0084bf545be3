"""Live detection over a stream of audio bytes: one event per window, as soon as it is complete.

A :class:`StreamSession` is the pure logic behind ``WS /v1/stream`` (no FastAPI here). It runs
the detector's own machinery on audio that arrives piece by piece:

1. bytes are decoded and resampled to the model's rate (:mod:`.stream_decode`);
2. windows are cut by :class:`~spoofscope.inference_stream.WindowCutter` (the windows of
   :func:`spoofscope.windows.window_bounds`); a window is scored in the :meth:`feed` call that
   brings its last sample (the cutter alone would wait for one more sample, because a window
   ending exactly at the end of the audio is also the end-aligned last window: such a window is
   scored early and not scored again);
3. voice activity runs on the same chunks as in :meth:`Detector.detect` (``chunk_s`` of audio,
   from the start), so the final speech fractions are the detector's. A window whose chunk is
   not complete yet gets a *provisional* fraction: the final one for its part in completed
   chunks, and voice activity on the window's own samples for the rest (``speech_final`` is
   False in its event); it is replaced by the final fraction once its chunk completes;
4. every event carries the verdict so far: the detector's aggregation, calibration and
   thresholds over the windows so far, with the best speech fractions known;
5. :meth:`finish` scores the end-aligned last window and returns the detector's result for
   the whole stream, equal to ``Detector.detect`` on the same audio.

Memory is bounded: at most one chunk of audio for voice activity (``chunk_s``, 30 s by
default), one window in the cutter, and per window a few numbers.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from spoofscope.detection import aggregate_windows
from spoofscope.errors import SpoofscopeError
from spoofscope.inference_stream import SpeechTrack, WindowCutter
from spoofscope.service.stream_decode import make_decoder

__all__ = ["StreamLimitError", "StreamSession"]

#: Default cap on the audio one stream may carry (seconds).
DEFAULT_MAX_STREAM_S = 4 * 3600.0


class StreamLimitError(SpoofscopeError):
    """The stream went over its duration limit."""


def _opt(x: float, digits: int = 6) -> float | None:
    return round(float(x), digits) if math.isfinite(x) else None


# --- the Detector's scoring and judging (private hooks of spoofscope.inference.Detector) ---
def score_windows(detector: Any, windows: list[np.ndarray]) -> np.ndarray:
    """``(N,)`` log-odds scores of ``N`` ``(segment,)`` windows, in ``batch_size`` batches."""
    import torch

    from spoofscope.scoring import flush_denormals

    with torch.inference_mode(), flush_denormals():
        return detector.score_windows(windows)


class StreamSession:
    """Incremental detection over one stream.

    Args:
        detector: a :class:`spoofscope.Detector` (shared; sessions only read it).
        encoding: ``"pcm16"`` (little-endian int16 mono at ``sample_rate``) or
            ``"container"`` (encoded bytes: WAV, FLAC, Ogg, MP3, WebM, ...).
        sample_rate: rate of ``pcm16`` input, 8000-48000 Hz (resampled to the model's).
        max_duration_s: refuse audio beyond this many seconds (:class:`StreamLimitError`).
        lower: ``p_spoof`` threshold below which the verdict is bona fide (None = detector's).
        upper: ``p_spoof`` threshold above which it is spoof (None = detector's).

    Raises:
        ValueError: unknown encoding, rate out of range, invalid thresholds.
    """

    def __init__(
        self,
        detector: Any,
        *,
        encoding: str = "pcm16",
        sample_rate: int = 16000,
        max_duration_s: float | None = DEFAULT_MAX_STREAM_S,
        lower: float | None = None,
        upper: float | None = None,
    ) -> None:
        self.detector = detector
        self.rate = int(detector.sample_rate)
        self.encoding = encoding
        self.lower, self.upper = detector.thresholds(lower, upper)
        self.max_samples = None if max_duration_s is None else round(max_duration_s * self.rate)
        self.max_duration_s = max_duration_s
        self._decoder = make_decoder(encoding, sample_rate, self.rate)
        self._cutter = WindowCutter(detector.segment, detector.hop)
        self._vad = detector.speech_detector  # None when the detector's vad is "none"
        self._track = SpeechTrack(self._vad)
        self._chunk = int(detector.chunk_samples)
        self._pending: list[np.ndarray] = []  # audio from self._final_end on, not yet in a chunk
        self._pending_n = 0
        self._final_end = 0  # speech is final for samples before this
        self.bounds: list[tuple[int, int]] = []
        self.scores: list[float] = []
        self.speech: list[float] = []
        self._provisional: list[int] = []  # windows whose speech fraction is provisional
        self._early: tuple[int, int] | None = None
        self._flushed = False
        self._closed = False
        self.compute_s = 0.0

    # --- input ---
    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add audio bytes; returns the events of the windows they complete (maybe none).

        Each event: ``{"type": "window", "index", "start_s", "end_s", "score", "p_spoof",
        "speech", "speech_final", "no_speech", "verdict_so_far", "p_spoof_so_far"}``.

        Raises:
            AudioError: undecodable bytes (``container``).
            StreamLimitError: the stream went over ``max_duration_s``.
            RuntimeError: the session is finished.
        """
        if self._flushed or self._closed:
            raise RuntimeError("the stream is finished; start a new session")
        t0 = time.perf_counter()
        if not data:
            return []
        events = self._process(self._decoder.decode(data))
        self.compute_s += time.perf_counter() - t0
        return events

    def flush(self) -> list[dict[str, Any]]:
        """End of input: the events of the last windows (the end-aligned one). Idempotent.

        Raises:
            EmptyAudioError: the stream held no audio.
        """
        if self._flushed:
            return []
        t0 = time.perf_counter()
        events = self._process(self._decoder.flush())
        self._flushed = True
        if self._pending_n:
            self._add_chunk(np.concatenate(self._pending))
        start, end, window = self._cutter.finish()
        if (start, end) != self._early:
            events += self._emit([(start, end, window)])
        self._refresh_speech()
        self.compute_s += time.perf_counter() - t0
        return events

    def finish(self) -> dict[str, Any]:
        """The detector's result for the whole stream: ``{"type": "summary", ...}``.

        Equal to ``Detector.detect`` on the same audio (same windows, scores, speech
        fractions and verdict); ``runtime_s`` is the compute time spent on the stream.
        """
        self.flush()
        result = self.detector.decide(
            np.asarray(self.scores, np.float64),
            self.bounds,
            self._track,
            self._cutter.total,
            self.lower,
            self.upper,
        )
        result.source = "<stream>"
        result.runtime_s = self.compute_s
        self.close()
        return {"type": "summary", **result.to_dict()}

    def close(self) -> None:
        """Release the decoder (a stream abandoned mid-way)."""
        self._closed = True
        self._decoder.close()

    @property
    def window_s(self) -> float:
        """Window length in seconds."""
        return self._cutter.segment / self.rate

    @property
    def hop_s(self) -> float:
        """Seconds between window starts."""
        return self._cutter.step / self.rate

    @property
    def duration_s(self) -> float:
        """Seconds of audio received so far (at the model's rate)."""
        return self._cutter.total / self.rate

    # --- internals ---
    def _process(self, blocks: list[np.ndarray]) -> list[dict[str, Any]]:
        items: list[tuple[int, int, np.ndarray]] = []
        for block in blocks:
            if self.max_samples is not None and self._cutter.total + len(block) > self.max_samples:
                raise StreamLimitError(
                    f"the stream is longer than the limit max_duration_s={self.max_duration_s:g} s"
                )
            items += self._cutter.feed(block)
            self._add_audio(block)
        items = [it for it in items if (it[0], it[1]) != self._early]
        cut = self._cutter
        nxt = cut.next
        if nxt + cut.segment == cut.total and (nxt, cut.total) != self._early:
            # complete now, but the cutter waits to know whether it is the last window
            i = nxt - cut.buf_start
            items.append((nxt, cut.total, cut.buf[i : i + cut.segment].copy()))
            self._early = (nxt, cut.total)
        self._refresh_speech()
        return self._emit(items) if items else []

    def _add_audio(self, block: np.ndarray) -> None:
        """Group audio into the detector's voice-activity chunks (as ``rechunk`` does)."""
        if self._vad is None:
            return
        self._pending.append(block)
        self._pending_n += len(block)
        if self._pending_n < self._chunk:
            return
        joined = np.concatenate(self._pending)
        n_full = len(joined) // self._chunk * self._chunk
        for i in range(0, n_full, self._chunk):
            self._add_chunk(joined[i : i + self._chunk])
        rest = joined[n_full:]
        self._pending, self._pending_n = ([rest.copy()] if len(rest) else []), len(rest)

    def _add_chunk(self, chunk: np.ndarray) -> None:
        self._track.add(self._final_end, chunk)
        self._final_end += len(chunk)

    def _refresh_speech(self) -> None:
        """Replace provisional speech fractions whose chunks are now complete."""
        keep = []
        for i in self._provisional:
            a, b = self.bounds[i]
            if b <= self._final_end or self._flushed:
                self.speech[i] = self._track.fraction(a, b)
            else:
                keep.append(i)
        self._provisional = keep

    def _speech(self, start: int, end: int, window: np.ndarray) -> tuple[float, bool]:
        """Speech fraction of ``[start, end)`` and whether it is final."""
        if self._vad is None:
            return 1.0, True
        if end <= self._final_end or self._flushed:
            return self._track.fraction(start, end), True
        cut = max(start, self._final_end)
        speech = self._track.fraction(start, cut) * (cut - start) if cut > start else 0.0
        mask = self._vad(window[: end - start])
        speech += mask.fraction(cut - start, end - start) * (end - cut)
        return float(min(1.0, max(0.0, speech / (end - start)))), False

    def _emit(self, items: list[tuple[int, int, np.ndarray]]) -> list[dict[str, Any]]:
        det = self.detector
        scores = score_windows(det, [w for _, _, w in items])
        p_windows = np.asarray(det.calibration.p_spoof(scores), np.float64)
        events = []
        for (start, end, window), score, p in zip(items, scores, p_windows, strict=True):
            speech, final = self._speech(start, end, window)
            if not final:
                self._provisional.append(len(self.bounds))
            self.bounds.append((start, end))
            self.scores.append(float(score))
            self.speech.append(speech)
            verdict, p_so_far = self._verdict_so_far()
            events.append(
                {
                    "type": "window",
                    "index": len(self.bounds) - 1,
                    "start_s": round(start / self.rate, 6),
                    "end_s": round(end / self.rate, 6),
                    "score": _opt(score),
                    "p_spoof": _opt(p),
                    "speech": round(speech, 4),
                    "speech_final": final,
                    "no_speech": bool(speech < det.min_speech or not math.isfinite(score)),
                    "verdict_so_far": verdict,
                    "p_spoof_so_far": None if p_so_far is None else _opt(p_so_far),
                }
            )
        return events

    def _verdict_so_far(self) -> tuple[str, float | None]:
        """The detector's verdict over the windows so far (as ``judge_windows`` decides)."""
        det = self.detector
        scores = np.asarray(self.scores, np.float64)
        speech = np.asarray(self.speech, np.float64)
        voted = (speech >= det.min_speech) & np.isfinite(scores)
        if not voted.any():
            return "no_speech", None
        score = aggregate_windows(scores[voted], speech[voted], det.aggregation, det.top_k)
        p = float(np.asarray(det.calibration.p_spoof(np.array([score])))[0])
        return det.calibration.decide(p, self.lower, self.upper), p
