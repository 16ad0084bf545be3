"""Reverberation: simulated room impulse responses, or a folder of measured ones.

The simulated RIR is the classic stochastic model: a direct path, sparse early reflections
(random delays up to 50 ms, random signs, amplitudes under the decay envelope) and a late tail
of Gaussian noise under an exponential envelope reaching -60 dB at RT60. The tail decays faster
at high frequencies (RT60 × 1, 0.8 and 0.55 below 1 kHz, 1-4 kHz and above 4 kHz), as air and
wall absorption make it. The reflections and tail are scaled to a random direct-to-reverberant
ratio (DRR).

:func:`apply_rir` keeps the output aligned with the input (the direct path, index 0 of a
simulated RIR and the strongest tap of a measured one, maps to zero delay) and at the input's
RMS level.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import signal

from spoofscope.data.augment_util import AudioFolder, as_paths, check_prob, check_range

__all__ = ["ReverbAugment", "ReverbConfig", "apply_rir", "simulate_rir"]

logger = logging.getLogger(__name__)

_DECAY_60DB = 3 * np.log(10)  # amplitude envelope exp(-_DECAY_60DB * t / rt60): -60 dB at rt60
#: (upper band edge in Hz, RT60 factor) of the frequency bands of the simulated tail.
_BANDS = ((1000.0, 1.0), (4000.0, 0.8), (np.inf, 0.55))


@dataclass
class ReverbConfig:
    """Reverberation.

    Attributes:
        p: probability of reverberating a clip.
        rt60_s: RT60 range (seconds) of the simulated rooms.
        drr_db: direct-to-reverberant energy ratio range (dB) of the simulated rooms.
        early_reflections: range of the number of early reflections.
        folders: folders of measured RIR files, scanned recursively once; empty = none.
        folder_fraction: when folders are given, the share of clips reverberated with a
            measured RIR (the rest get a simulated one).
        max_rir_s: measured RIRs are cut to this many seconds.
    """

    p: float = 0.25
    rt60_s: tuple[float, float] = (0.2, 1.0)
    drr_db: tuple[float, float] = (-3.0, 12.0)
    early_reflections: tuple[int, int] = (4, 12)
    folders: tuple[str, ...] = ()
    folder_fraction: float = 1.0
    max_rir_s: float = 1.5

    def __post_init__(self) -> None:
        self.p = check_prob("reverb.p", self.p)
        self.rt60_s = check_range("reverb.rt60_s", self.rt60_s, 0.01, 10.0)
        self.drr_db = check_range("reverb.drr_db", self.drr_db)
        lo, hi = check_range("reverb.early_reflections", self.early_reflections, 0, 1000)
        self.early_reflections = (int(lo), int(hi))
        self.folders = as_paths(self.folders)
        self.folder_fraction = check_prob("reverb.folder_fraction", self.folder_fraction)
        if not self.max_rir_s > 0:
            raise ValueError(f"reverb.max_rir_s must be > 0, got {self.max_rir_s!r}")


def simulate_rir(
    rng: np.random.Generator,
    sample_rate: int,
    rt60: float,
    drr_db: float,
    n_early: int = 8,
) -> np.ndarray:
    """A stochastic room impulse response with its direct path at index 0.

    Args:
        rng: the random generator.
        sample_rate: rate in Hz.
        rt60: reverberation time in seconds (60 dB energy decay, below 1 kHz).
        drr_db: direct-to-reverberant energy ratio in dB.
        n_early: number of early reflections.

    Returns:
        float64 array of shape ``(L,)``, ``L = ceil(rt60 * sample_rate) + 1``, unit energy.
    """
    n = int(np.ceil(rt60 * sample_rate)) + 1
    t = np.arange(n) / sample_rate
    white = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    tail = np.zeros(n)
    low = 0.0
    for high, factor in _BANDS:
        band = np.where((freqs >= low) & (freqs < high), white, 0)
        tail += np.fft.irfft(band, n) * np.exp(-_DECAY_60DB * t / (rt60 * factor))
        low = high
    tail *= 1 - np.exp(-t / 0.005)  # the diffuse tail builds up over the first milliseconds
    tail[0] = 0.0
    early = np.zeros(n)
    if n_early > 0 and n > 2:
        last = min(n - 1, int(0.05 * sample_rate))
        taps = rng.integers(1, max(2, last), size=n_early)
        amps = rng.uniform(0.2, 0.7, n_early) * rng.choice([-1.0, 1.0], n_early)
        np.add.at(early, taps, amps * np.exp(-_DECAY_60DB * t[taps] / rt60))
        early /= np.sqrt(np.sum(early**2)) or 1.0
        tail /= np.sqrt(np.sum(tail**2)) or 1.0
        tail += early * 0.5
    reverb = tail * np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) or 1.0))
    rir = reverb
    rir[0] = 1.0
    return rir / np.sqrt(np.sum(rir**2))


def apply_rir(x: np.ndarray, rir: np.ndarray, direct: int | None = None) -> np.ndarray:
    """Convolve ``x`` with ``rir`` (FFT), direct path aligned, RMS level kept.

    Args:
        x: samples of shape ``(T,)``.
        rir: impulse response of shape ``(L,)``.
        direct: index of the direct path in ``rir``; None = its largest-magnitude tap.

    Returns:
        float32 array of shape ``(T,)``: ``y[n] = sum_k rir[k] x[n + d - k]``, ``d`` the
        direct-path index, scaled to the RMS of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    rir = np.asarray(rir, dtype=np.float64)
    d = int(np.argmax(np.abs(rir))) if direct is None else direct
    y = signal.oaconvolve(x, rir)[d : d + len(x)]
    rms_in, rms_out = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2))
    if rms_out > 0:
        y *= rms_in / rms_out
    return y.astype(np.float32)


class ReverbAugment:
    """Reverberates with a simulated or measured RIR; ``(T,) -> (T,)`` float32.

    Args:
        config: the reverberation settings (RIR folders are scanned here, once).
        sample_rate: rate of the audio in Hz.
    """

    def __init__(self, config: ReverbConfig, sample_rate: int) -> None:
        self.config = config
        self.sample_rate = sample_rate
        self.folder = AudioFolder(config.folders, "RIR") if config.folders else None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        rir, direct = None, None
        if self.folder is not None and rng.random() < cfg.folder_fraction:
            rir = self.folder.whole(rng, self.sample_rate, cfg.max_rir_s)
            if rir is None:
                logger.warning("no readable RIR file left; simulating rooms instead")
        if rir is None:
            rt60 = rng.uniform(*cfg.rt60_s)
            drr = rng.uniform(*cfg.drr_db)
            n_early = int(rng.integers(cfg.early_reflections[0], cfg.early_reflections[1] + 1))
            rir, direct = simulate_rir(rng, self.sample_rate, rt60, drr, n_early), 0
        return apply_rir(x, rir, direct)
