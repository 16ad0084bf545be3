"""Signal processing of the tiny neural vocoders: the log-mel front end, pitch, excitation.

The mel front end (:class:`LogMel`) is fixed: 16 kHz, ``n_fft`` 1024, Hann window of 640
samples (40 ms), hop 160 (10 ms), ``center=True`` (frame ``f`` is centred on sample
``f * 160``), 80 HTK-mel triangular filters between 0 and 8 kHz on the magnitude spectrum,
natural log clamped at 1e-5. A waveform of ``T`` samples gives ``T // 160 + 1`` frames.

A pure mel-to-wave net trained for minutes on a CPU learns the spectral envelope but not the
harmonics (it sounds whispered). Given an explicit excitation (:func:`excitation`: a
band-limited pulse train and sines at the first harmonics of F0 in voiced frames, plus noise)
it learns to shape it into voiced speech within a few hundred steps, as the neural
source-filter vocoders (NSF, the NSF-HiFiGAN of common voice conversion tools) do. F0 comes
from the input waveform itself (copy-synthesis), so training and resynthesis see the same kind
of pitch track.

:func:`estimate_f0` is a plain normalised-cross-correlation tracker (40 ms frames every 10 ms,
60-400 Hz); octave errors and voicing mistakes are accepted as part of the artefacts.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "HOP",
    "N_HARMONICS",
    "N_MELS",
    "SAMPLE_RATE",
    "SOURCE_CHANNELS",
    "LogMel",
    "estimate_f0",
    "excitation",
    "mel_filterbank",
]

SAMPLE_RATE = 16000
HOP = 160
N_MELS = 80
N_FFT = 1024
WIN = 640
LOG_FLOOR = 1e-5


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float
) -> np.ndarray:
    """HTK-mel triangular filters (peak 1) as a float32 array ``(n_mels, n_fft // 2 + 1)``."""

    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    edges_mel = np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


class LogMel(nn.Module):
    """Waveform ``(B, T)`` -> natural-log mel magnitude ``(B, 80, T // 160 + 1)``."""

    def __init__(self) -> None:
        super().__init__()
        fb = mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE, 0.0, SAMPLE_RATE / 2.0)
        self.register_buffer("fb", torch.from_numpy(fb), persistent=False)
        self.register_buffer("window", torch.hann_window(WIN), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wave,
            N_FFT,
            HOP,
            WIN,
            self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        ).abs()
        return torch.log(torch.clamp(self.fb @ spec, min=LOG_FLOOR))


N_HARMONICS = 4
SOURCE_CHANNELS = N_HARMONICS + 2  # band-limited pulse train + harmonics 1..4 + noise
_HP_TAPS = 321


def estimate_f0(
    wave: torch.Tensor,
    sample_rate: int = 16000,
    hop: int = 160,
    win: int = 640,
    fmin: float = 60.0,
    fmax: float = 400.0,
    threshold: float = 0.5,
    min_rms: float = 0.004,
) -> torch.Tensor:
    """Frame-wise F0 by normalised cross-correlation.

    Args:
        wave: ``(B, T)`` float waveforms (levelled speech: frames quieter than ``min_rms`` are
            unvoiced).
        threshold: minimum correlation of a voiced frame.

    Returns:
        F0 in Hz ``(B, T // hop + 1)`` (frame ``f`` centred on sample ``f * hop``), 0 = unvoiced.
    """
    lag_min, lag_max = int(sample_rate / fmax), int(math.ceil(sample_rate / fmin))
    pad = win // 2 + _HP_TAPS // 2
    x = F.conv1d(F.pad(wave[:, None], (pad, pad)), _highpass(wave.dtype, sample_rate))[:, 0]
    frames = x.unfold(1, win, hop)[:, : wave.shape[1] // hop + 1]  # (B, F, win)
    frames = frames - frames.mean(-1, keepdim=True)
    spec = torch.fft.rfft(frames, n=2 * win)
    acf = torch.fft.irfft(spec.abs().pow(2), n=2 * win)[..., : lag_max + 1]  # (B, F, L)
    energy = torch.cumsum(frames.pow(2), -1)
    total = energy[..., -1:]
    lags = torch.arange(lag_max + 1)
    e_head = torch.gather(energy, -1, (win - 1 - lags).expand_as(acf))  # sum x[0 : win - lag]
    e_tail = total - F.pad(energy, (1, 0))[..., : lag_max + 1]  # sum x[lag : win]
    nccf = acf / torch.sqrt(e_head * e_tail).clamp(min=1e-9)
    nccf = nccf[..., lag_min:]
    best = nccf.max(-1, keepdim=True).values
    # the first local maximum within 90% of the best: avoids picking a multiple of the period
    peak = F.pad(nccf[..., :-1] >= nccf[..., 1:], (0, 1), value=True)
    first = torch.argmax(((nccf >= 0.9 * best) & peak).to(torch.uint8), dim=-1)
    # parabolic interpolation around the peak (not at the ends of the lag range)
    i = first.clamp(1, nccf.shape[-1] - 2)[..., None]
    a, b, c = (torch.gather(nccf, -1, i + d)[..., 0] for d in (-1, 0, 1))
    shift = (0.5 * (a - c) / (a - 2 * b + c).clamp(max=-1e-6)).clamp(-0.5, 0.5)
    shift = torch.where(first == i[..., 0], shift, torch.zeros_like(shift))
    f0 = sample_rate / (first.to(wave.dtype) + shift + lag_min)
    rms = torch.sqrt(total[..., 0] / win)
    voiced = (best[..., 0] > threshold) & (rms > min_rms)
    return torch.where(voiced, f0, torch.zeros_like(f0))


def _highpass(dtype: torch.dtype, sample_rate: int, cutoff: float = 80.0) -> torch.Tensor:
    """Windowed-sinc FIR high-pass (removes hum below F0) as a conv1d kernel ``(1, 1, taps)``."""
    taps, fc = _HP_TAPS, cutoff / sample_rate
    n = torch.arange(taps, dtype=torch.float64) - taps // 2
    window = torch.hann_window(taps, periodic=False, dtype=torch.float64)
    lowpass = 2 * fc * torch.sinc(2 * fc * n) * window
    kernel = -lowpass / lowpass.sum()
    kernel[taps // 2] += 1.0
    return kernel.to(dtype)[None, None]


def excitation(
    f0: torch.Tensor,
    hop: int,
    sample_rate: int = 16000,
    phase0: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Harmonic-plus-noise excitation at the sample rate.

    Args:
        f0: ``(B, F)`` Hz per frame, 0 = unvoiced; held constant over each frame's ``hop``
            samples.
        phase0: ``(B,)`` phase (radians) at the first sample; zeros if None.
        noise: ``(B, F * hop)`` standard normal noise; drawn from ``generator`` if None.
        generator: torch RNG of the noise.

    Returns:
        ``(B, SOURCE_CHANNELS, F * hop)``: a band-limited pulse train (all harmonics of F0
        below Nyquist, cosines of amplitude ``0.1 / sqrt(K)``), sines at harmonics 1..4 (amplitude
        0.1), all zero in unvoiced frames, then Gaussian noise (std 0.003 voiced, 0.03 unvoiced).
    """
    f0_s = f0.repeat_interleave(hop, dim=1)  # (B, T)
    voiced = (f0_s > 0).to(f0.dtype)
    phase = torch.cumsum(f0_s.double() / sample_rate, dim=1)  # cycles, in float64
    if phase0 is not None:
        phase = phase + phase0.double()[:, None] / (2.0 * math.pi)
    phase = (2.0 * math.pi * torch.frac(phase)).to(f0.dtype)
    k = torch.arange(1, N_HARMONICS + 1, dtype=f0.dtype)[None, :, None]
    below = (k * f0_s[:, None] < sample_rate / 2).to(f0.dtype)
    sines = 0.1 * torch.sin(k * phase[:, None]) * below * voiced[:, None]
    # sum_{k=1..K} cos(k phase) = sin((K + 1/2) phase) / (2 sin(phase / 2)) - 1/2 (Dirichlet)
    n_harm = torch.floor(0.5 * sample_rate / f0_s.clamp(min=1.0) - 1e-3).clamp(min=1.0)
    half = torch.sin(0.5 * phase)
    safe = torch.where(half.abs() < 1e-4, torch.ones_like(half), half)
    dirichlet = torch.sin((n_harm + 0.5) * phase) / (2.0 * safe) - 0.5
    dirichlet = torch.where(half.abs() < 1e-4, n_harm, dirichlet)
    pulse = 0.1 * dirichlet / torch.sqrt(n_harm) * voiced
    if noise is None:
        noise = torch.randn(f0_s.shape, generator=generator, dtype=f0.dtype)
    noise = noise * (0.003 * voiced + 0.03 * (1.0 - voiced))
    return torch.cat([pulse[:, None], sines, noise[:, None]], dim=1)
