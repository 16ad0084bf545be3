"""Voice activity: which stretches of a recording hold speech.

Windows with too little speech do not vote in the detector, and a recording without speech
(silence, a tone, music, noise) gets the verdict ``no_speech`` instead of a score: this also
guards against the known silence shortcut of anti-spoofing models.

Backends (:data:`BACKENDS`):

* ``"silero"`` (default): Silero VAD, whose model ships inside the ``silero-vad`` wheel
  (:mod:`spoofscope.vad_silero`; nothing is downloaded). One speech probability per 512-sample
  chunk (32 ms) at 16 kHz; other rates are resampled to 16 kHz for the network and the mask is
  mapped back onto frames of ``round(0.032 * sample_rate)`` samples. The input is first scaled
  to a peak of 0.5 (at most +30 dB): silero misses quiet speech (measured on every 10th FSDD
  clip: speech found in 77 % of the clips at their own level, 87 % after scaling; 98 % with
  the 150-ms minimum below), while scaled noise, tones and chords still give no speech.
* ``"energy"``: a dependency-free fallback (:mod:`spoofscope.vad_energy`): energy over the noise
  floor, with spectral-flatness / zero-crossing, tonality and steadiness checks so that noise,
  a pure tone or a held chord is not speech. Coarser than silero; read its limitations.
* ``"none"``: everything is speech (VAD off).

Frame decisions are smoothed (:class:`Smoothing`): silero probabilities go through a hysteresis
(speech starts at ``p >= 0.5`` and lasts until ``p < 0.35``, as upstream's own segmenter); then
for both backends gaps shorter than 100 ms inside speech are filled, speech runs shorter than
150 ms are dropped (clicks; a spoken digit lasts 250 ms or more), and every remaining run is
widened (a hangover, so word onsets and endings are not cut): by 64 ms on both sides for the
energy backend; for silero by 64 ms before only, because its decisions come 15-70 ms late at
both ends of speech (measured on 8 espeak-ng sentences in silence: onsets then within -49..+5 ms
and ends within +16..+74 ms of the true ones; :func:`detect_speech` is tested to +-100 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spoofscope.errors import SpoofscopeError

__all__ = [
    "BACKENDS",
    "ENERGY_SMOOTHING",
    "SILERO_SMOOTHING",
    "Smoothing",
    "SpeechMask",
    "VadError",
    "detect_speech",
]

BACKENDS = ("silero", "energy", "none")
#: silero input is scaled to this peak, with at most MAX_GAIN of amplification (30 dB).
TARGET_PEAK = 0.5
MAX_GAIN = 31.6


class VadError(SpoofscopeError, ValueError):
    """Bad VAD arguments (unknown backend, wrong array shape, bad sample rate)."""


@dataclass(frozen=True)
class Smoothing:
    """How raw frame decisions become speech regions.

    Attributes:
        threshold: silero probability at which speech starts.
        release: silero probability below which speech ends (hysteresis; <= ``threshold``).
        min_gap_s: silences shorter than this between speech runs are filled.
        min_speech_s: speech runs shorter than this (after filling) are dropped.
        pad_before_s: each speech run starts this much earlier.
        pad_after_s: each speech run ends this much later.
    """

    threshold: float = 0.5
    release: float = 0.35
    min_gap_s: float = 0.1
    min_speech_s: float = 0.15
    pad_before_s: float = 0.064
    pad_after_s: float = 0.064


#: silero decides 15-70 ms late at both ends of speech (measured), so only onsets are padded.
SILERO_SMOOTHING = Smoothing(pad_before_s=0.064, pad_after_s=0.0)
ENERGY_SMOOTHING = Smoothing()


@dataclass
class SpeechMask:
    """Per-frame speech decisions of one recording.

    Attributes:
        hop: samples per frame; frame ``i`` covers samples ``[i * hop, (i + 1) * hop)``.
        speech: ``(n_frames,)`` bool, True where the frame holds speech. The mask covers
            ``n_frames * hop`` samples, i.e. the recording rounded up to whole frames.
    """

    hop: int
    speech: np.ndarray

    def __post_init__(self) -> None:
        if int(self.hop) < 1:
            raise VadError(f"hop must be >= 1 sample, got {self.hop}")
        self.hop = int(self.hop)
        self.speech = np.asarray(self.speech, dtype=bool).reshape(-1)

    @property
    def n_samples(self) -> int:
        """Samples covered by the mask (``n_frames * hop``)."""
        return self.speech.size * self.hop

    def fraction(self, start: int, end: int) -> float:
        """Share of the samples in ``[start, end)`` that lie in speech frames.

        Frames are weighted by their overlap with the range, so the result is exact sample
        arithmetic. The range is clipped to the samples the mask covers (a window reaching
        past the end, as a repeat-padded short input does, is judged on the audio there is);
        an empty range gives 0.0.

        Example:
            >>> SpeechMask(hop=4, speech=np.array([True, False])).fraction(2, 6)
            0.5
        """
        start, end = int(start), int(end)
        if end < start:
            raise VadError(f"fraction: end {end} is before start {start}")
        s = min(max(start, 0), self.n_samples)
        e = min(max(end, s), self.n_samples)
        if e <= s:
            return 0.0
        first, last = s // self.hop, (e - 1) // self.hop
        if first == last:
            return float(self.speech[first])
        count = int(self.speech[first]) * ((first + 1) * self.hop - s)
        count += int(np.count_nonzero(self.speech[first + 1 : last])) * self.hop
        count += int(self.speech[last]) * (e - last * self.hop)
        return count / (e - s)

    def regions(self) -> list[tuple[int, int]]:
        """Speech runs as ``[start, end)`` sample ranges, in order."""
        starts, ends = _runs(self.speech)
        return [(int(a) * self.hop, int(b) * self.hop) for a, b in zip(starts, ends, strict=True)]


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the True runs of ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def hysteresis(probs: np.ndarray, on: float, off: float) -> np.ndarray:
    """Speech from probabilities: on at ``p >= on``, off at ``p < off``, else unchanged.

    Example:
        >>> hysteresis(np.array([0.1, 0.6, 0.4, 0.3, 0.4]), 0.5, 0.35).tolist()
        [False, True, True, False, False]
    """
    decided = np.where(probs >= on, 1, np.where(probs < off, 0, -1))
    index = np.where(decided >= 0, np.arange(probs.size), -1)
    last = np.maximum.accumulate(index) if index.size else index
    return (last >= 0) & (decided[np.maximum(last, 0)] == 1)


def smooth(
    frames: np.ndarray, hop: int, sample_rate: int, cfg: Smoothing = ENERGY_SMOOTHING
) -> np.ndarray:
    """Fill short gaps, drop short runs, pad runs (see the module docstring).

    Args:
        frames: ``(N,)`` bool raw decisions.
        hop: samples per frame.
        sample_rate: Hz (turns the durations in ``cfg`` into frames).
        cfg: the durations.

    Returns:
        ``(N,)`` bool smoothed decisions.
    """
    per_s = sample_rate / hop
    out = frames.astype(bool).copy()
    starts, ends = _runs(out)
    for gap_start, gap_end in zip(ends[:-1], starts[1:], strict=True):
        if gap_end - gap_start < cfg.min_gap_s * per_s:
            out[gap_start:gap_end] = True
    starts, ends = _runs(out)
    before, after = round(cfg.pad_before_s * per_s), round(cfg.pad_after_s * per_s)
    result = np.zeros_like(out)
    for a, b in zip(starts, ends, strict=True):
        if b - a >= cfg.min_speech_s * per_s:
            result[max(a - before, 0) : b + after] = True
    return result


def _silero(wave: np.ndarray, sample_rate: int) -> SpeechMask:
    from spoofscope import vad_silero
    from spoofscope.scoring import flush_denormals

    rate = vad_silero.SAMPLE_RATE
    if sample_rate != rate:
        import soxr

        wave16 = soxr.resample(wave, sample_rate, rate, quality="HQ").astype(np.float32)
    else:
        wave16 = wave
    peak = max(float(wave16.max(initial=0.0)), -float(wave16.min(initial=0.0)))
    gain = min(TARGET_PEAK / peak, MAX_GAIN) if peak > 0.0 else 1.0
    with flush_denormals():
        probs = vad_silero.speech_probabilities(wave16, gain=gain)
    chunk = vad_silero.CHUNK
    cfg = SILERO_SMOOTHING
    frames = smooth(hysteresis(probs, cfg.threshold, cfg.release), chunk, rate, cfg)
    if sample_rate == rate:
        return SpeechMask(chunk, frames)
    hop = max(1, round(chunk * sample_rate / rate))
    n = -(-wave.size // hop)
    centres = (np.arange(n) + 0.5) * hop / sample_rate  # seconds
    index = np.minimum((centres * rate / chunk).astype(np.int64), max(frames.size - 1, 0))
    return SpeechMask(hop, frames[index] if frames.size else np.zeros(n, dtype=bool))


def detect_speech(
    wave: np.ndarray, sample_rate: int = 16000, backend: str = "silero"
) -> SpeechMask:
    """Find the speech in a recording.

    Args:
        wave: ``(T,)`` float samples in [-1, 1] (mono).
        sample_rate: Hz.
        backend: ``"silero"`` (default), ``"energy"`` or ``"none"`` (all speech); see the
            module docstring.

    Returns:
        A :class:`SpeechMask` with frames of 32 ms (``hop`` = 512 samples at 16 kHz) covering
        ``ceil(T / hop)`` frames.

    Raises:
        VadError: unknown backend, a wave that is not 1-D, or a non-positive sample rate.
        spoofscope.vad_silero.SileroUnavailableError: backend ``"silero"`` without the
            ``silero-vad`` package.
    """
    if backend not in BACKENDS:
        raise VadError(f"unknown VAD backend {backend!r}; valid choices: {', '.join(BACKENDS)}")
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise VadError(f"expected a mono wave of shape (T,), got shape {wave.shape}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise VadError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    sample_rate = int(sample_rate)
    wave = wave.astype(np.float32, copy=False)
    if backend == "silero":
        return _silero(wave, sample_rate)
    from spoofscope import vad_energy

    hop = vad_energy.frame_hop(sample_rate)
    if backend == "none":
        return SpeechMask(hop, np.ones(-(-wave.size // hop), dtype=bool))
    hop, frames = vad_energy.speech_frames(wave, sample_rate)
    return SpeechMask(hop, smooth(frames, hop, sample_rate, ENERGY_SMOOTHING))
