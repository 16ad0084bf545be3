"""Additive noise at a chosen signal-to-noise ratio: generated coloured noise or noise files.

The SNR is the ratio of the *active* signal power (the mean power of the 20 ms frames within
:data:`ACTIVE_RANGE_DB` of the loud frames, so pauses and leading silence do not count) to the
mean power of the noise excerpt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from spoofscope.data.augment_util import (
    AudioFolder,
    as_paths,
    check_choices,
    check_prob,
    check_range,
)

__all__ = ["COLOURS", "NoiseAugment", "NoiseConfig", "active_power", "add_noise", "coloured_noise"]

logger = logging.getLogger(__name__)

#: Power-spectrum exponents: the noise power density goes as ``f ** -exponent``.
_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "red": 2.0, "blue": -1.0, "violet": -2.0}
#: Noise colours :func:`coloured_noise` generates ("red" is "brown").
COLOURS = tuple(_EXPONENTS)
#: Frames quieter than the loud frames (95th percentile of frame power) by more than this are
#: pauses, left out of the active signal power.
ACTIVE_RANGE_DB = 35.0


@dataclass
class NoiseConfig:
    """Additive noise.

    Attributes:
        p: probability of adding noise to a clip.
        snr_db: SNR range in dB, drawn uniformly per clip.
        colours: generated noise colours drawn from (any of :data:`COLOURS`); empty = none.
        folders: folders of noise files (e.g. ``musan/noise``, ``musan/music``), scanned
            recursively once; empty = none.
        folder_fraction: when both colours and folders are given, the share of clips that get
            noise from the folders.
    """

    p: float = 0.3
    snr_db: tuple[float, float] = (5.0, 30.0)
    colours: tuple[str, ...] = ("white", "pink", "brown", "blue")
    folders: tuple[str, ...] = ()
    folder_fraction: float = 0.5

    def __post_init__(self) -> None:
        self.p = check_prob("noise.p", self.p)
        self.snr_db = check_range("noise.snr_db", self.snr_db)
        self.colours = check_choices("noise.colours", self.colours, COLOURS, allow_empty=True)
        self.folders = as_paths(self.folders)
        self.folder_fraction = check_prob("noise.folder_fraction", self.folder_fraction)
        if not self.colours and not self.folders:
            raise ValueError("noise needs a source: give noise.colours or noise.folders")


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``n`` samples with power density ``∝ f ** -exponent``, unit variance.

    Args:
        n: number of samples.
        colour: one of :data:`COLOURS`.
        rng: the random generator.

    Returns:
        float64 array of shape ``(n,)``.
    """
    if colour not in _EXPONENTS:
        raise ValueError(f"unknown noise colour {colour!r}; valid choices: {', '.join(COLOURS)}")
    white = rng.standard_normal(n)
    exponent = _EXPONENTS[colour]
    if exponent == 0.0 or n < 4:
        return white / (white.std() or 1.0)
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0  # the DC bin keeps the first bin's weight, then is removed
    spec *= f ** (-exponent / 2.0)
    spec[0] = 0.0
    out = np.fft.irfft(spec, n)
    return out / (out.std() or 1.0)


def active_power(x: np.ndarray, sample_rate: int, frame_ms: float = 20.0) -> float:
    """Mean power of the active frames of ``x`` (see :data:`ACTIVE_RANGE_DB`).

    Args:
        x: samples of shape ``(T,)``.
        sample_rate: rate in Hz (sets the frame length).
        frame_ms: frame length in milliseconds.

    Returns:
        the power (mean square); 0.0 for a silent signal.
    """
    x = np.asarray(x, dtype=np.float64)
    frame = max(1, round(frame_ms * sample_rate / 1000))
    n = len(x) // frame
    if n < 2:
        return float(np.mean(x**2)) if len(x) else 0.0
    powers = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    loud = np.percentile(powers, 95)
    if loud <= 0:
        return 0.0
    return float(powers[powers >= loud * 10 ** (-ACTIVE_RANGE_DB / 10)].mean())


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float, sample_rate: int) -> np.ndarray:
    """``x`` plus ``noise`` scaled to ``snr_db`` (active power of ``x`` / mean power of noise).

    Args:
        x: clean samples of shape ``(T,)``.
        noise: noise samples of shape ``(T,)``.
        snr_db: the wanted SNR in dB.
        sample_rate: rate in Hz.

    Returns:
        float32 array of shape ``(T,)``; ``x`` itself when it or the noise is silent.
    """
    if len(noise) != len(x):
        raise ValueError(f"noise has {len(noise)} samples, the signal {len(x)}")
    signal_power = active_power(x, sample_rate)
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    if signal_power <= 0 or noise_power <= 0:
        return np.asarray(x, dtype=np.float32)
    gain = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (x + gain * noise).astype(np.float32)


class NoiseAugment:
    """Adds noise drawn as :class:`NoiseConfig` says; ``(T,) -> (T,)`` float32.

    Args:
        config: the noise settings (folders are scanned here, once).
        sample_rate: rate of the audio in Hz.
    """

    def __init__(self, config: NoiseConfig, sample_rate: int) -> None:
        self.config = config
        self.sample_rate = sample_rate
        self.folder = AudioFolder(config.folders, "noise") if config.folders else None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        snr = rng.uniform(*cfg.snr_db)
        use_folder = self.folder is not None and (
            not cfg.colours or rng.random() < cfg.folder_fraction
        )
        noise = None
        if use_folder:
            noise = self.folder.excerpt(rng, len(x), self.sample_rate)
            if noise is None:
                logger.warning("no readable noise file left; using white noise")
        if noise is None:
            colour = cfg.colours[int(rng.integers(len(cfg.colours)))] if cfg.colours else "white"
            noise = coloured_noise(len(x), colour, rng)
        return add_noise(x, noise, snr, self.sample_rate)
