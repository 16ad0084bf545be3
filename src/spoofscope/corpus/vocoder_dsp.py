"""Signal helpers of the copy-synthesis vocoders: framing, STFT, mel filters, pitch, excitation.

All arrays are float64 numpy; frames are centred (frame i is centred on sample ``i * hop``).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt


def frame_signal(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Centred frames ``(n_frames, frame)``, n_frames = len(x) // hop + 1 (zero-padded ends)."""
    padded = np.pad(x, (frame // 2, frame // 2 + hop))
    n_frames = x.size // hop + 1
    index = np.arange(frame)[None, :] + hop * np.arange(n_frames)[:, None]
    return padded[index]


def overlap_add(frames: np.ndarray, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`frame_signal` (sum of frames, no normalisation) -> ``(length,)``."""
    n_frames, frame = frames.shape
    out = np.zeros(hop * (n_frames - 1) + frame)
    for i in range(n_frames):
        out[i * hop : i * hop + frame] += frames[i]
    return out[frame // 2 : frame // 2 + length]


def highpass(x: np.ndarray, sample_rate: int, cutoff_hz: float = 80.0) -> np.ndarray:
    """Zero-phase high-pass (removes mains hum before pitch tracking), C-contiguous float64."""
    sos = butter(4, cutoff_hz, "highpass", fs=sample_rate, output="sos")
    return np.ascontiguousarray(sosfiltfilt(sos, x))


def track_f0(x: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    """A plain autocorrelation pitch tracker: f0 in Hz per hop (0 = unvoiced), ``(T//hop+1,)``."""
    frame = int(0.04 * sample_rate)
    x = highpass(x, sample_rate)
    frames = frame_signal(x, frame, hop) * np.hanning(frame)
    spectrum = np.fft.rfft(frames, 2 * frame)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:, :frame]
    window_acf = np.correlate(np.hanning(frame), np.hanning(frame), "full")[frame - 1 :]
    acf = acf / np.maximum(acf[:, :1], 1e-12) / np.maximum(window_acf / window_acf[0], 1e-3)
    lo, hi = int(sample_rate / 400), int(sample_rate / 60)
    rows = np.arange(len(acf))
    lag = lo + np.argmax(acf[:, lo:hi], axis=1)
    peak = acf[rows, lag]
    for divisor in (3, 2):  # octave errors: prefer a sub-multiple lag that is nearly as good
        short = np.round(lag / divisor).astype(int)
        better = (short >= lo) & (acf[rows, np.maximum(short, 0)] > 0.85 * peak)
        lag = np.where(better, short, lag)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    voiced = (peak > 0.45) & (energy > 0.03 * max(float(energy.max()), 1e-9))
    f0 = np.where(voiced, sample_rate / lag, 0.0)
    # drop isolated voiced frames
    isolated = voiced & ~np.roll(voiced, 1) & ~np.roll(voiced, -1)
    return np.where(isolated, 0.0, f0)


def excitation(
    f0: np.ndarray, hop: int, length: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit-power pulse train where f0 > 0 (phase carried across frames), noise elsewhere."""
    per_sample = np.repeat(f0, hop)[:length]
    per_sample = np.pad(per_sample, (0, length - per_sample.size))
    phase = np.cumsum(per_sample / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=0.0) > 0
    period = sample_rate / np.maximum(per_sample, 1.0)
    voiced = per_sample > 0
    source = np.where(pulses & voiced, np.sqrt(period), 0.0)
    noise = rng.standard_normal(length)
    return np.where(voiced, source + 0.05 * noise, noise)


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT ``(frames, n_fft//2+1)``, periodic Hann window, centred frames."""
    return np.fft.rfft(frame_signal(x, n_fft, hop) * np.hanning(n_fft + 1)[:-1], axis=1)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Least-squares inverse of :func:`stft` -> ``(length,)``."""
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n_fft, axis=1) * window
    norm = overlap_add(np.tile(window**2, (spec.shape[0], 1)), hop, length)
    return overlap_add(frames, hop, length) / np.maximum(norm, 1e-8)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters (HTK mel scale) ``(n_mels, n_fft//2+1)``, 0 Hz to Nyquist."""
    mel = np.linspace(0.0, 2595 * np.log10(1 + sample_rate / 2 / 700), n_mels + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(lower, upper))
