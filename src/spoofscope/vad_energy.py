"""A dependency-free fallback voice activity detector: energy over a noise floor, plus checks
that keep tones, noise and steady chords out.

Per frame of 32 ms (512 samples at 16 kHz, no overlap, Hann-windowed spectrum), a frame is a
speech candidate when all of these hold:

1. **energy**: its level is at least :data:`FLOOR_MARGIN_DB` above the recording's noise floor
   (below) and above :data:`ABSOLUTE_FLOOR_DB` dBFS;
2. **not noise**: it is not both spectrally flat (flatness over 250-4000 Hz above
   :data:`MAX_FLATNESS`) and fast-crossing (zero-crossing rate above :data:`NOISY_ZCR`) — white
   or pink noise is both, voiced speech neither (fricatives are, briefly: the smoothing in
   :mod:`spoofscope.vad` bridges them);
3. **not a tone**: less than :data:`MAX_PEAK_SHARE` of its energy above 60 Hz lies within
   two bins of the strongest bin — a pure tone puts ~100 % there, voiced speech (many
   harmonics) measured 20-85 %;
4. **not steady**: among the active frames within +-0.5 s (at least 3 of them), the level
   varies (standard deviation at least :data:`MIN_MODULATION_DB` dB) and the spectrum moves:
   at most :data:`MAX_HELD_SHARE` of them have a magnitude spectrum (60-4000 Hz) with cosine
   similarity above :data:`SAME_SPECTRUM` to the frame 3 frames (96 ms) earlier. Speech rises
   and falls with every syllable and its pitch and formants move (similarity medians measured
   0.3-0.9 on espeak-ng, LibriSpeech and FSDD); a hum, a steady noise or a held or decaying
   chord keeps its spectrum (0.98-1.0 except where the chord changes).

The noise floor is the 10th percentile of frame levels, but at most :data:`MIN_RANGE_DB` below
the 90th percentile, so a clip that is speech from end to end (no quiet stretch) still has
active frames.

Measured: speech found in 94 % of every 10th FSDD clip (silero: 98 %); frame decisions agree
with silero's on 84.5 % of the frames of 25 LibriSpeech utterances and 150 FSDD clips; one hour
of audio in ~3 s, in blocks of :data:`BLOCK` frames.

Limitations (use the ``silero`` backend when they matter): music with fast-changing notes,
drums, babble or a television in the background can pass; a lone singer does.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.032
FLOOR_PERCENTILE = 10.0
FLOOR_MARGIN_DB = 6.0
MIN_RANGE_DB = 20.0
ABSOLUTE_FLOOR_DB = -55.0
MAX_FLATNESS = 0.45
NOISY_ZCR = 0.3
MAX_PEAK_SHARE = 0.95
MIN_MODULATION_DB = 3.0
SAME_SPECTRUM = 0.95
MAX_HELD_SHARE = 0.5
SIMILARITY_LAG = 3
MODULATION_S = 1.0
#: Frames per block of spectra (~2 min at 16 kHz; ~40 MB of float64 work arrays).
BLOCK = 4096


def frame_hop(sample_rate: int) -> int:
    """Samples per frame at ``sample_rate`` (32 ms: 512 at 16 kHz)."""
    return max(1, round(FRAME_S * sample_rate))


def _block_features(
    frames: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame level (dB), noise-like flag, tone flag and unit band-magnitude spectra."""
    hop = frames.shape[1]
    level = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    power = np.abs(np.fft.rfft(frames * np.hanning(hop), axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(hop, 1.0 / sample_rate)
    band = power[:, (freqs >= 250) & (freqs <= 4000)]
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    noisy = (flatness > MAX_FLATNESS) & (zcr > NOISY_ZCR)

    audible = power[:, freqs >= 60]
    peak = np.argmax(audible, axis=1)
    cum = np.concatenate([np.zeros((len(audible), 1)), np.cumsum(audible, axis=1)], axis=1)
    rows = np.arange(len(audible))
    lo, hi = np.maximum(peak - 2, 0), np.minimum(peak + 3, audible.shape[1])
    tonal = (cum[rows, hi] - cum[rows, lo]) / cum[:, -1] > MAX_PEAK_SHARE

    magnitude = np.sqrt(power[:, (freqs >= 60) & (freqs <= 4000)])
    unit = magnitude / (np.linalg.norm(magnitude, axis=1, keepdims=True) + 1e-12)
    return level, noisy, tonal, unit


def _features(wave: np.ndarray, sample_rate: int, hop: int):
    """:func:`_block_features` over the whole recording, ``BLOCK`` frames at a time, and the
    similarity of each frame's spectrum with the one ``SIMILARITY_LAG`` frames earlier (later,
    for the first frames; 1.0 when there is no other)."""
    n, lag = -(-wave.size // hop), SIMILARITY_LAG
    level, similarity = np.empty(n), np.ones(n)
    noisy, tonal = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    previous = None  # the last `lag` unit spectra of the block before
    for first in range(0, n, BLOCK):
        last = min(first + BLOCK, n)
        frames = np.zeros((last - first) * hop)
        piece = wave[first * hop : last * hop]
        frames[: piece.size] = piece
        out = _block_features(frames.reshape(-1, hop), sample_rate)
        level[first:last], noisy[first:last], tonal[first:last], unit = out
        chained = unit if previous is None else np.concatenate([previous, unit])
        offset = 0 if previous is None else lag
        pairs = np.sum(chained[lag:] * chained[:-lag], axis=1)  # frame j vs j - lag
        similarity[first + lag - offset : last] = pairs
        previous = chained[-lag:]
    if n > lag:  # frame j < lag against frame j + lag, where that exists
        m = min(lag, n - lag)
        similarity[:m] = similarity[lag : lag + m]
    return level, noisy, tonal, similarity


def _local_stats(
    values: np.ndarray, active: np.ndarray, half: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and standard deviation of ``values`` over the active frames within
    ``+-half`` frames of each frame (all ``(N,)``)."""
    weight = active.astype(np.float64)
    kernel = np.ones(2 * half + 1)

    def window_sum(x: np.ndarray) -> np.ndarray:
        return np.convolve(x, kernel)[half : half + x.size]

    count = window_sum(weight)
    mean = window_sum(weight * values) / np.maximum(count, 1.0)
    var = window_sum(weight * values**2) / np.maximum(count, 1.0) - mean**2
    return count, mean, np.sqrt(np.maximum(var, 0.0))


def speech_frames(wave: np.ndarray, sample_rate: int) -> tuple[int, np.ndarray]:
    """Raw (unsmoothed) per-frame speech decisions.

    Args:
        wave: ``(T,)`` float samples in [-1, 1].
        sample_rate: Hz.

    Returns:
        ``(hop, frames)``: samples per frame and a ``(ceil(T / hop),)`` bool array.
    """
    hop = frame_hop(sample_rate)
    if wave.size == 0:
        return hop, np.zeros(0, dtype=bool)
    level, noisy, tonal, similarity = _features(wave, sample_rate, hop)
    p10, p90 = np.percentile(level, [FLOOR_PERCENTILE, 90.0])
    floor = float(min(p10, p90 - MIN_RANGE_DB))
    active = level > max(floor + FLOOR_MARGIN_DB, ABSOLUTE_FLOOR_DB)
    if not active.any():
        return hop, active
    half = max(1, round(MODULATION_S / 2 / FRAME_S))
    count, _, level_std = _local_stats(level, active, half)
    _, held, _ = _local_stats((similarity > SAME_SPECTRUM).astype(np.float64), active, half)
    steady = (count < 3) | (level_std < MIN_MODULATION_DB) | (held > MAX_HELD_SHARE)
    return hop, active & ~noisy & ~tonal & ~steady
