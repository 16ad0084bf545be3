"""The detector: any audio of any length in, a calibrated verdict with a per-window timeline out.

>>> from spoofscope import Detector                                  # doctest: +SKIP
>>> detector = Detector.from_pretrained("model.safetensors", vad="energy")  # doctest: +SKIP
>>> result = detector.detect("call.wav")                             # doctest: +SKIP
>>> result.verdict, result.p_spoof, result.flagged                   # doctest: +SKIP
('spoof', 0.97, [[12.0, 20.08]])

How a recording is analysed (memory stays bounded whatever its length):

1. decoded as a stream (:func:`spoofscope.inference_stream.stream_audio`) and regrouped into
   chunks of ``chunk_s`` seconds;
2. voice activity detected per chunk (:func:`spoofscope.vad.detect_speech`);
3. cut into windows of ``model.segment_samples`` with a hop of ``hop`` windows, the last one
   aligned to the end, input shorter than a window repeat-padded (:mod:`spoofscope.windows`);
4. windows scored in batches of ``batch_size`` (log-odds of bona fide), inside
   ``torch.inference_mode`` with denormals flushed;
5. windows with less speech than ``min_speech`` do not vote; the voting scores are aggregated
   and calibrated (:mod:`spoofscope.calibration`) and compared with two thresholds
   (:mod:`spoofscope.detection`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from spoofscope.audio import (
    DEFAULT_MAX_DURATION_S,
    AudioError,
)
from spoofscope.detection import (
    DEFAULT_AGGREGATION,
    DEFAULT_MIN_SPEECH,
    DetectionError,
    DetectionResult,
    check_aggregation,
    judge_windows,
)
from spoofscope.inference_model import (
    BACKENDS,
    DEFAULT_MODEL_PATH,
    load_backend,
    resolve_model_path,
)
from spoofscope.inference_stream import (
    Envelope,
    SpeechTrack,
    WindowCutter,
    describe_source,
    open_input,
    rechunk,
)
from spoofscope.windows import hop_samples

__all__ = ["BACKENDS", "DEFAULT_MODEL_PATH", "Detector", "DetectionError", "DetectionResult"]

log = logging.getLogger(__name__)

VAD_BACKENDS = ("silero", "energy", "none")
#: Envelope bins per second kept for plots.
ENVELOPE_RATE = 100


class Detector:
    """A model, a calibration and the settings that turn audio into a :class:`DetectionResult`.

    Build one with :meth:`from_pretrained`. Thread-safe: :meth:`detect_many` runs
    :meth:`detect` in threads (voice activity detection is serialized).

    Args:
        model: callable ``(B, T) float32 tensor -> (B, 2) logits`` with ``segment_samples``
            and ``sample_rate`` (a fused :class:`~spoofscope.models.SpoofModel` or an
            :class:`~spoofscope.onnx_backend.OnnxModel`).
        calibration: a :class:`spoofscope.calibration.Calibration`.
        model_info: ``{"name", "id", "version", "backend"}`` reported with every result.
        vad: ``"silero"``, ``"energy"`` or ``"none"`` (every sample is speech).
        hop: hop between windows as a fraction of a window, ``(0, 1]``.
        aggregation: see :data:`spoofscope.detection.AGGREGATIONS`.
        top_k: ``k`` of the ``"top-k"`` aggregation.
        min_speech: windows with a smaller speech fraction do not vote, in ``[0, 1]``.
        batch_size: windows per forward pass.
        lower: ``p_spoof`` below it is ``bonafide`` (None = the calibration's).
        upper: ``p_spoof`` above it is ``spoof`` (None = the calibration's).
        device: torch device of the model's inputs.
        chunk_s: seconds of audio decoded (and voice-activity-detected) at a time.
        max_duration_s: refuse longer recordings (None = no limit).
    """

    def __init__(
        self,
        model: Any,
        calibration: Any,
        model_info: dict[str, Any],
        *,
        vad: str = "silero",
        hop: float = 0.5,
        aggregation: str = DEFAULT_AGGREGATION,
        top_k: int = 3,
        min_speech: float = DEFAULT_MIN_SPEECH,
        batch_size: int = 16,
        lower: float | None = None,
        upper: float | None = None,
        device: str = "cpu",
        chunk_s: float = 30.0,
        max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
    ) -> None:
        self.model = model
        self.calibration = calibration
        self.model_info = dict(model_info)
        self.sample_rate = int(model.sample_rate)
        self.segment = int(model.segment_samples)
        hop_samples(self.segment, hop)  # validates
        check_aggregation(aggregation, top_k)
        if vad not in VAD_BACKENDS:
            raise ValueError(f"unknown vad {vad!r}; valid choices: {', '.join(VAD_BACKENDS)}")
        if not 0.0 <= min_speech <= 1.0:
            raise ValueError(f"min_speech must be in [0, 1], got {min_speech!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if not (math.isfinite(chunk_s) and chunk_s > 0):
            raise ValueError(f"chunk_s must be > 0 seconds, got {chunk_s!r}")
        self.vad, self.hop, self.aggregation, self.top_k = vad, hop, aggregation, top_k
        self.min_speech, self.batch_size, self.device = min_speech, batch_size, device
        self.lower, self.upper = self._thresholds(lower, upper)
        bin_samples = max(1, self.sample_rate // ENVELOPE_RATE)
        self.envelope_bin = bin_samples
        self.chunk_samples = max(1, math.ceil(chunk_s * self.sample_rate / bin_samples)) * (
            bin_samples
        )
        self.max_duration_s = max_duration_s
        self._vad_lock = threading.Lock()
        self._detect_speech: Callable[[np.ndarray], Any] | None = None
        if vad != "none":
            from spoofscope.vad import detect_speech

            def run_vad(wave: np.ndarray) -> Any:
                with self._vad_lock:
                    return detect_speech(wave, self.sample_rate, vad)

            run_vad(np.zeros(self.sample_rate // 10, np.float32))  # load the VAD model now
            self._detect_speech = run_vad

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        backend: str = "torch",
        *,
        device: str = "cpu",
        **settings: Any,
    ) -> Detector:
        """Load a model and its calibration.

        Args:
            name_or_path: a spoofscope checkpoint (``.safetensors`` file or directory), an
                official AASIST ``.pth``, an ``.onnx`` file (``backend="onnx"``), or
                ``None`` / ``"default"`` for the model shipped in ``spoofscope/weights/``.
            backend: ``"torch"`` or ``"onnx"`` (ONNX Runtime).
            device: torch device (torch backend).
            **settings: the keyword arguments of :class:`Detector` (``vad``, ``hop``,
                ``aggregation``, ``top_k``, ``min_speech``, ``batch_size``, ``lower``,
                ``upper``, ``chunk_s``, ``max_duration_s``).

        Raises:
            SpoofscopeError: unknown name, missing file, wrong backend for the file.
            ValueError: an invalid setting (the message lists the valid choices).
        """
        from spoofscope.calibration import calibration_from_metadata

        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid choices: {', '.join(BACKENDS)}")
        path = resolve_model_path(name_or_path)
        model, meta, info = load_backend(path, backend, device)
        return cls(model, calibration_from_metadata(meta), info, device=device, **settings)

    def _thresholds(self, lower: float | None, upper: float | None) -> tuple[float, float]:
        lo = float(self.calibration.lower if lower is None else lower)
        hi = float(self.calibration.upper if upper is None else upper)
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= lower <= upper <= 1, got {lo}, {hi}")
        return lo, hi

    # --- public hooks for incremental callers (the service's streaming session) ---

    def thresholds(
        self, lower: float | None = None, upper: float | None = None
    ) -> tuple[float, float]:
        """The ``(lower, upper)`` p_spoof thresholds in force: the arguments, else the
        detector's. Raises ``ValueError`` unless ``0 <= lower <= upper <= 1``."""
        return self._thresholds(
            self.lower if lower is None else lower, self.upper if upper is None else upper
        )

    def score_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """``(N,)`` float64 log-odds of ``N`` ``(segment,)`` windows, in ``batch_size``
        batches (call under ``torch.inference_mode()`` and ``flush_denormals()``)."""
        out = [
            self._score(list(windows[i : i + self.batch_size]))
            for i in range(0, len(windows), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    @property
    def speech_detector(self) -> Callable[[np.ndarray], Any] | None:
        """``wave -> SpeechMask`` as :meth:`detect` runs it (None when ``vad="none"``)."""
        return self._detect_speech

    def _input(self, src: Any, sample_rate: int | None) -> Iterator[np.ndarray]:
        return open_input(src, self.sample_rate, sample_rate, self.max_duration_s)

    def _score(self, windows: list[np.ndarray]) -> np.ndarray:
        import torch

        from spoofscope.scoring import scores_from_logits

        batch = torch.from_numpy(np.stack(windows)).to(self.device)
        return scores_from_logits(self.model(batch), "log-odds")

    def detect(
        self,
        src: Any,
        *,
        sample_rate: int | None = None,
        lower: float | None = None,
        upper: float | None = None,
        envelope: bool = False,
    ) -> DetectionResult:
        """Analyse one recording.

        Args:
            src: a path, bytes, a binary file object, or a ``(T,)`` float waveform.
            sample_rate: the waveform's rate (arrays only; default the model's, 16 kHz).
            lower: override of the lower ``p_spoof`` threshold for this call.
            upper: override of the upper threshold for this call.
            envelope: also keep a min/max waveform envelope (for plots).

        Raises:
            AudioError: the audio cannot be read (a subclass naming the source and cause).
        """
        import torch

        from spoofscope.scoring import flush_denormals

        t0 = time.perf_counter()
        lo, hi = self.thresholds(lower, upper)
        cutter = WindowCutter(self.segment, self.hop)
        track = SpeechTrack(self._detect_speech)
        env = Envelope(self.envelope_bin) if envelope else None
        bounds: list[tuple[int, int]] = []
        scores: list[np.ndarray] = []
        pending: list[np.ndarray] = []

        def take(items: list[tuple[int, int, np.ndarray]], final: bool = False) -> None:
            for start, end, window in items:
                bounds.append((start, end))
                pending.append(window)
                if len(pending) >= self.batch_size:
                    scores.append(self._score(pending))
                    pending.clear()
            if final and pending:
                scores.append(self._score(pending))
                pending.clear()

        with torch.inference_mode(), flush_denormals():
            offset = 0
            for chunk in rechunk(self._input(src, sample_rate), self.chunk_samples):
                track.add(offset, chunk)
                offset += len(chunk)
                if env is not None:
                    env.add(chunk)
                take(cutter.feed(chunk))
            take([cutter.finish()], final=True)
        result = self.decide(np.concatenate(scores), bounds, track, cutter.total, lo, hi)
        result.source = describe_source(src)
        if env is not None:
            result.envelope, result.envelope_rate = env.array(), self.sample_rate / env.bin
        result.runtime_s = time.perf_counter() - t0
        return result

    def decide(
        self,
        scores: np.ndarray,
        bounds: list[tuple[int, int]],
        track: SpeechTrack,
        n_samples: int,
        lower: float,
        upper: float,
    ) -> DetectionResult:
        """The result for window ``scores`` at sample ``bounds`` with speech ``track``, as
        :meth:`detect` makes it (``source`` and ``runtime_s`` left for the caller)."""
        rate = self.sample_rate
        judged = judge_windows(
            np.array([b[0] for b in bounds], np.float64) / rate,
            np.array([b[1] for b in bounds], np.float64) / rate,
            scores,
            np.array([track.fraction(a, b) for a, b in bounds], np.float64),
            self.calibration,
            method=self.aggregation,
            k=self.top_k,
            min_speech=self.min_speech,
            lower=lower,
            upper=upper,
        )
        aggregation: dict[str, Any] = {"method": self.aggregation, "min_speech": self.min_speech}
        if self.aggregation == "top-k":
            aggregation["k"] = self.top_k
        aggregation.update(hop=self.hop, vad=self.vad)
        return DetectionResult(
            **judged,
            duration_s=n_samples / rate,
            model=dict(self.model_info),
            runtime_s=0.0,
            aggregation=aggregation,
            thresholds={"lower": lower, "upper": upper},
            source="",
        )

    def detect_many(
        self,
        srcs: Sequence[Any],
        *,
        workers: int = 1,
        progress: Callable[[DetectionResult | DetectionError], None] | None = None,
        **kwargs: Any,
    ) -> list[DetectionResult | DetectionError]:
        """Analyse several recordings; a bad one gives a :class:`DetectionError`, the rest go on.

        Args:
            srcs: inputs as for :meth:`detect`.
            workers: threads analysing files at the same time (>= 1).
            progress: called with each result as it completes (any order).
            **kwargs: passed to :meth:`detect` (``lower``, ``upper``, ``envelope``).

        Returns:
            One entry per input, in input order.
        """
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self._thresholds(kwargs.get("lower", self.lower), kwargs.get("upper", self.upper))

        def one(src: Any) -> DetectionResult | DetectionError:
            try:
                out: DetectionResult | DetectionError = self.detect(src, **kwargs)
            except AudioError as exc:
                out = DetectionError(describe_source(src), str(exc))
            except Exception as exc:  # one bad input must not end a batch
                log.warning("%s failed", describe_source(src), exc_info=True)
                out = DetectionError(describe_source(src), f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(out)
            return out

        if workers == 1 or len(srcs) < 2:
            return [one(src) for src in srcs]
        with ThreadPoolExecutor(min(workers, len(srcs)), thread_name_prefix="detect") as pool:
            return list(pool.map(one, srcs))
