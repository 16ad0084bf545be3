"""RawBoost: data boosting on the raw waveform (Hemlata Tak, Madhu Kamble, Jose Patino,
Massimiliano Todisco and Nicholas Evans, "RawBoost: A Raw Data Boosting and Augmentation
Method applied to Automatic Speaker Verification Anti-Spoofing", ICASSP 2022).

Three noise algorithms, written from the paper and its reference code
(``TakHemlata/SSL_Anti-spoofing``, ``RawBoost.py``):

1. linear and non-linear convolutive noise: ``sum_i filter_i(x ** i)`` for ``i = 1..N_f``,
   each ``filter_i`` a cascade of ``n_bands`` random FIR notch (band-stop) filters whose peak
   response is set to a random gain (0 dB for the linear term, -20..-5 dB for the powers);
2. impulsive signal-dependent additive noise: up to ``impulse_percent`` % of the samples
   get ``x[n] * g_sd * (2u1 - 1)(2u2 - 1)`` added;
3. stationary signal-independent additive noise: white noise coloured by a random notch
   cascade, added at a random SNR (on the whole-signal energy).

and their combinations, numbered as in the paper: 4 = 1+2+3 in series, 5 = 1+2, 6 = 1+3,
7 = 2+3, 8 = 1 and 2 in parallel (their sum, peak-normalised).

Differences from the reference code: filters are applied by FFT convolution with the exact
linear-phase delay removed (the reference shifts by one sample more), and every draw comes from
the caller's generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from spoofscope.data.augment_util import check_prob

__all__ = [
    "ALGOS",
    "RawBoostConfig",
    "impulsive_noise",
    "linear_nonlinear_noise",
    "notch_cascade",
    "rawboost",
    "stationary_noise",
]

#: Algorithm id -> the basic algorithms it applies in series (8 is 1 and 2 in parallel).
ALGOS: dict[int, tuple[int, ...]] = {
    1: (1,), 2: (2,), 3: (3,), 4: (1, 2, 3), 5: (1, 2), 6: (1, 3), 7: (2, 3), 8: (1, 2),
}  # fmt: skip


@dataclass
class RawBoostConfig:
    """RawBoost settings; the defaults are the paper's (names of its code in brackets).

    Attributes:
        p: probability of applying RawBoost to a clip.
        algos: algorithm ids (1..8, see :data:`ALGOS`) drawn uniformly per clip. The default
            holds the authors' recipes for ASVspoof 2021 LA (5) and DF (3).
        n_bands: notch filters per cascade [nBands].
        min_f, max_f: notch centre frequency range in Hz [minF, maxF].
        min_bw, max_bw: notch bandwidth range in Hz [minBW, maxBW].
        min_coeff, max_coeff: notch filter length range in taps [minCoeff, maxCoeff].
        min_g, max_g: gain range in dB of the linear filter [minG, maxG].
        min_bias, max_bias: dB subtracted from the gain for the non-linear terms
            [minBiasLinNonLin, maxBiasLinNonLin].
        n_f: highest power of the non-linear terms [N_f].
        impulse_percent: at most this % of samples get impulsive noise [P].
        g_sd: impulsive noise gain [g_sd].
        snr_min, snr_max: SNR range in dB of the stationary noise [SNRmin, SNRmax].
    """

    p: float = 0.5
    algos: tuple[int, ...] = (5, 3)
    n_bands: int = 5
    min_f: float = 20.0
    max_f: float = 8000.0
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: int = 10
    max_coeff: int = 100
    min_g: float = 0.0
    max_g: float = 0.0
    min_bias: float = 5.0
    max_bias: float = 20.0
    n_f: int = 5
    impulse_percent: float = 10.0
    g_sd: float = 2.0
    snr_min: float = 10.0
    snr_max: float = 40.0

    def __post_init__(self) -> None:
        self.p = check_prob("rawboost.p", self.p)
        algos = (self.algos,) if isinstance(self.algos, int) else tuple(self.algos)
        self.algos = tuple(int(a) for a in algos)
        if not self.algos or any(a not in ALGOS for a in self.algos):
            raise ValueError(f"rawboost.algos got {list(algos)!r}; valid ids: 1..8")
        for lo, hi in (("min_f", "max_f"), ("min_bw", "max_bw"), ("min_coeff", "max_coeff"),
                       ("snr_min", "snr_max")):  # fmt: skip
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"rawboost.{lo} must be <= rawboost.{hi}")
        if self.n_bands < 1 or self.n_f < 1 or self.min_coeff < 1 or self.min_f < 0:
            raise ValueError("rawboost.n_bands, n_f and min_coeff must be >= 1, min_f >= 0")
        if not 0 <= self.impulse_percent <= 100:
            raise ValueError(
                f"rawboost.impulse_percent must be in [0, 100], got {self.impulse_percent!r}"
            )


def _peak_normalise(y: np.ndarray, always: bool = False) -> np.ndarray:
    peak = np.max(np.abs(y)) if len(y) else 0.0
    return y / peak if peak > 0 and (always or peak > 1) else y


def _uniform(rng: np.random.Generator, a: float, b: float) -> float:
    return a + (b - a) * rng.random()


def notch_cascade(
    rng: np.random.Generator, cfg: RawBoostConfig, sample_rate: int, gain_db: tuple[float, float]
) -> np.ndarray:
    """A cascade of ``cfg.n_bands`` random FIR notch filters, peak response at a random gain.

    Returns:
        the symmetric (linear-phase) filter taps, float64 of odd length.
    """
    nyquist = sample_rate / 2
    b = np.ones(1)
    for _ in range(cfg.n_bands):
        fc = _uniform(rng, cfg.min_f, cfg.max_f)
        bw = _uniform(rng, cfg.min_bw, cfg.max_bw)
        taps = int(_uniform(rng, cfg.min_coeff, cfg.max_coeff))
        taps += 1 - taps % 2  # odd: a band-stop FIR needs a centre tap
        f1 = max(fc - bw / 2, 1e-3)
        f2 = min(fc + bw / 2, nyquist - 1e-3)
        if f1 >= f2:  # the band lies beyond Nyquist: this filter passes all
            continue
        b = np.convolve(signal.firwin(taps, [f1, f2], window="hamming", fs=sample_rate), b)
    _, h = signal.freqz(b, 1, fs=sample_rate)
    gain = 10 ** (_uniform(rng, *gain_db) / 20)
    return gain * b / np.max(np.abs(h))


def _fir(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Zero-phase FIR filtering: convolve and drop the ``(len(b) - 1) / 2`` samples of delay."""
    delay = (len(b) - 1) // 2
    return signal.oaconvolve(x, b)[delay : delay + len(x)]


def linear_nonlinear_noise(
    x: np.ndarray, rng: np.random.Generator, cfg: RawBoostConfig, sample_rate: int
) -> np.ndarray:
    """Algorithm 1: ``sum_{i=1..n_f} notch_i(x ** i)``, mean removed, peak <= 1. ``(T,)->(T,)``."""
    y = np.zeros(len(x))
    power = np.ones(len(x))
    for i in range(1, cfg.n_f + 1):
        power *= x  # x ** i, without the slow generic pow
        if i == 1:
            gains = (cfg.min_g, cfg.max_g)
        else:
            gains = (cfg.min_g - cfg.min_bias, cfg.max_g - cfg.max_bias)
        y += _fir(power, notch_cascade(rng, cfg, sample_rate, gains))
    return _peak_normalise(y - y.mean())


def impulsive_noise(x: np.ndarray, rng: np.random.Generator, cfg: RawBoostConfig) -> np.ndarray:
    """Algorithm 2: signal-dependent impulses on a random share of the samples. ``(T,)->(T,)``."""
    y = np.array(x, dtype=np.float64)
    n = int(len(x) * _uniform(rng, 0.0, cfg.impulse_percent) / 100)
    where = rng.permutation(len(x))[:n]
    factor = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
    y[where] += cfg.g_sd * y[where] * factor
    return _peak_normalise(y)


def stationary_noise(
    x: np.ndarray, rng: np.random.Generator, cfg: RawBoostConfig, sample_rate: int
) -> np.ndarray:
    """Algorithm 3: coloured noise added at an SNR in [snr_min, snr_max] dB. ``(T,)->(T,)``."""
    noise = rng.standard_normal(len(x))
    noise = _peak_normalise(
        _fir(noise, notch_cascade(rng, cfg, sample_rate, (cfg.min_g, cfg.max_g))), always=True
    )
    snr = _uniform(rng, cfg.snr_min, cfg.snr_max)
    norm = np.linalg.norm(noise)
    if norm == 0:
        return np.asarray(x, dtype=np.float64)
    return x + noise / norm * np.linalg.norm(x) / 10 ** (snr / 20)


def rawboost(
    x: np.ndarray, algo: int, rng: np.random.Generator, cfg: RawBoostConfig, sample_rate: int
) -> np.ndarray:
    """Apply RawBoost algorithm ``algo`` (1..8, see :data:`ALGOS`).

    Args:
        x: samples of shape ``(T,)``.
        algo: the algorithm id.
        rng: the random generator.
        cfg: the parameters.
        sample_rate: rate in Hz.

    Returns:
        float32 array of shape ``(T,)``.
    """
    if algo not in ALGOS:
        raise ValueError(f"unknown RawBoost algorithm {algo!r}; valid ids: 1..8")
    x = np.asarray(x, dtype=np.float64)

    def basic(step: int, v: np.ndarray) -> np.ndarray:
        if step == 1:
            return linear_nonlinear_noise(v, rng, cfg, sample_rate)
        if step == 2:
            return impulsive_noise(v, rng, cfg)
        return stationary_noise(v, rng, cfg, sample_rate)

    if algo == 8:
        y = _peak_normalise(basic(1, x) + basic(2, x))
    else:
        y = x
        for step in ALGOS[algo]:
            y = basic(step, y)
    return y.astype(np.float32)


class RawBoostAugment:
    """Applies one algorithm drawn from ``config.algos``; ``(T,) -> (T,)`` float32."""

    def __init__(self, config: RawBoostConfig, sample_rate: int) -> None:
        self.config = config
        self.sample_rate = sample_rate

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        algo = self.config.algos[int(rng.integers(len(self.config.algos)))]
        return rawboost(x, algo, rng, self.config, self.sample_rate)
