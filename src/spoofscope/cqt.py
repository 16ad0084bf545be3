"""Constant-Q transform and CQCC (Todisco, Delgado and Evans, Odyssey 2016), in torch.

The transform follows the non-stationary Gabor CQT that the ASVspoof CQCC baselines use
(Schoerkhuber et al. 2014 toolbox, ``cqt(x, B, fs, fmin, fmax, 'rasterize', 'full', 'gamma',
gamma)``), written from its definition:

* centre frequencies ``f_k = f_min * 2^(k / B)``, ``k = 0 .. floor(B log2(f_max / f_min))``,
  minus bands whose support would cross Nyquist or 0 Hz;
* bandwidths ``bw_k = (2^(1/B) - 2^(-1/B)) f_k + gamma`` (variable-Q; ``gamma = 228.7 (2^(1/B) -
  2^(-1/B))``, an ERB-like offset, as in ``cqcc.m``), rounded to FFT bins (at least 4);
* each band is a Hann window over the FFT of the *whole* signal, centred on bin
  ``floor(f_k T / fs)``; its ``M`` time samples are the inverse FFT of the windowed spectrum
  segment, ``M`` being the width in bins of the top band for every band ("full"
  rasterisation), so frame ``m`` sits at time ``m T / M``. Hop ``= fs / bw_top`` samples.
* coefficients are scaled so a sinusoid of amplitude ``A`` centred on a band gives ``|c| = A``
  ("sine" normalisation). Phases are band-local (magnitudes equal the toolbox's).

CQCC (``cqcc.m``): ``log(|CQT|^2 + eps)``, cubic-spline resampling of the geometric
frequency axis onto a uniform grid of spacing ``f_min / d`` Hz, orthonormal DCT-II, keep
c0 (``'Z'``) .. c_cf, then HTK deltas and delta-deltas ``Deltas(x, 3)`` (window 7,
normalised by 28). Resampling and DCT are one precomputed linear map. Defaults are the
ASVspoof 2021 LA CQCC-GMM baseline (``CQCC_GMM_ASVspoof_2021_baseline.m``): ``B = 12``,
``f_min = 62.5``, ``f_max = 4000``, ``d = 16``, ``cf = 19``, ``'ZsdD'`` -> 60 dims, about
490 frames per second. The ASVspoof 2017/2019 baselines used ``B = 96``, ``f_max = 8000``,
``f_min = 8000 / 2^9 = 15.625``, ``cf = 29`` (90 dims): pass those values to :class:`CQCC`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from spoofscope.features import MATLAB_EPS, add_deltas, dct_matrix

__all__ = ["CQCC", "ConstantQTransform", "cqt_bands", "default_gamma"]

MIN_WINDOW_BINS = 4


def default_gamma(bins_per_octave: int) -> float:
    """The bandwidth offset of ``cqcc.m``: ``228.7 * (2^(1/B) - 2^(-1/B))`` Hz."""
    b = bins_per_octave
    return 228.7 * (2 ** (1 / b) - 2 ** (-1 / b))


def cqt_bands(
    sample_rate: int, bins_per_octave: int, f_min: float, f_max: float, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centre frequencies and bandwidths (Hz) of the CQT bands.

    Returns:
        ``(centres, bandwidths)``, float64 arrays of shape ``(K,)``.
    """
    nyquist = sample_rate / 2
    f_max = min(f_max, nyquist)
    if not 0 < f_min < f_max or bins_per_octave < 1:
        raise ValueError(
            f"need 0 < f_min < f_max and bins_per_octave >= 1, got f_min={f_min}, "
            f"f_max={f_max}, bins_per_octave={bins_per_octave}"
        )
    n = math.floor(bins_per_octave * math.log2(f_max / f_min) + 1e-9)
    centres = f_min * 2.0 ** (np.arange(n + 1) / bins_per_octave)
    q = 2 ** (1 / bins_per_octave) - 2 ** (-1 / bins_per_octave)
    widths = q * centres + gamma
    keep = (centres + widths / 2 <= nyquist) & (centres - widths / 2 >= 0)
    if not keep.any():
        raise ValueError(f"no CQT band fits between 0 Hz and Nyquist for f_min={f_min}")
    return centres[keep], widths[keep]


class ConstantQTransform(nn.Module):
    """Variable-Q transform: ``(B, T) float -> (B, K, M)`` complex, K bands, M frames.

    Args:
        sample_rate: input rate in Hz.
        bins_per_octave: bands per octave (B).
        f_min: centre of the lowest band (Hz).
        f_max: highest analysed frequency (Hz).
        gamma: bandwidth offset in Hz (0 = constant Q); ``None`` = :func:`default_gamma`.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        bins_per_octave: int = 12,
        f_min: float = 62.5,
        f_max: float = 4000.0,
        gamma: float | None = None,
    ) -> None:
        super().__init__()
        gamma = default_gamma(bins_per_octave) if gamma is None else float(gamma)
        self.sample_rate = sample_rate
        self.centres, self.widths = cqt_bands(sample_rate, bins_per_octave, f_min, f_max, gamma)
        self._plans: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def n_bins(self) -> int:
        """Number of bands K."""
        return len(self.centres)

    def n_frames(self, n_samples: int) -> int:
        """Time samples per band for an input of ``n_samples``: the top band's width in bins."""
        return max(MIN_WINDOW_BINS, _round(self.widths[-1] * n_samples / self.sample_rate))

    def plan(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Spectrum index and weight for every ``(band, slot)``: two ``(K, M)`` arrays."""
        res = self.sample_rate / n_samples
        m = self.n_frames(n_samples)
        index = np.zeros((self.n_bins, m), dtype=np.int64)
        weight = np.zeros((self.n_bins, m), dtype=np.float64)
        for k, (centre, width) in enumerate(zip(self.centres, self.widths, strict=True)):
            size = max(MIN_WINDOW_BINS, _round(width / res))
            if size > m:  # cannot happen: widths grow with frequency
                raise RuntimeError(f"CQT band {k} is wider ({size}) than the frame count {m}")
            offsets = np.arange(-(size // 2), (size + 1) // 2)
            hann = np.where(
                np.abs(offsets) < size / 2, 0.5 + 0.5 * np.cos(2 * np.pi * offsets / size), 0.0
            )
            slots = offsets % m
            index[k, slots] = (math.floor(centre / res) + offsets) % n_samples
            weight[k, slots] = hann * 2.0 * m / n_samples
        return index, weight

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` float waveform -> ``(B, K, M)`` complex coefficients."""
        n = wave.shape[-1]
        key = (n, str(wave.device))
        if key not in self._plans:
            if len(self._plans) > 8:
                self._plans.clear()
            index, weight = self.plan(n)
            self._plans[key] = (
                torch.from_numpy(index).to(wave.device),
                torch.from_numpy(weight).to(device=wave.device, dtype=wave.dtype),
            )
        index, weight = self._plans[key]
        spectrum = torch.fft.fft(wave, dim=-1)
        return torch.fft.ifft(spectrum[:, index] * weight, dim=-1)


class CQCC(nn.Module):
    """Constant-Q cepstral coefficients: ``(B, T) -> (B, n_coeffs * (1 + deltas), M)``.

    Args:
        sample_rate: input rate in Hz.
        bins_per_octave: CQT bands per octave (B).
        f_min: lowest CQT centre frequency (Hz).
        f_max: highest analysed frequency (Hz).
        d: uniform samples in the first octave; the uniform grid spacing is ``f_min / d``.
        n_ceps: cepstral coefficients excluding c0 (``cf``).
        include_c0: keep c0 (``'Z'`` in ``ZsdD``).
        deltas: 0, 1 or 2 orders of deltas (``'s'``, ``'sd'``, ``'sdD'``).
        delta_width: odd delta window; 7 = the baseline's ``Deltas(x, 3)``.
        gamma: CQT bandwidth offset; ``None`` = :func:`default_gamma`.
        log_eps: floor added to ``|CQT|^2`` before the natural log (Matlab ``eps``).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        bins_per_octave: int = 12,
        f_min: float = 62.5,
        f_max: float = 4000.0,
        d: int = 16,
        n_ceps: int = 19,
        include_c0: bool = True,
        deltas: int = 2,
        delta_width: int = 7,
        gamma: float | None = None,
        log_eps: float = MATLAB_EPS,
    ) -> None:
        super().__init__()
        from scipy.interpolate import CubicSpline

        self.cqt = ConstantQTransform(sample_rate, bins_per_octave, f_min, f_max, gamma)
        self.deltas, self.delta_width, self.log_eps = deltas, delta_width, log_eps
        centres = self.cqt.centres
        step = f_min / d
        n_uniform = math.floor((centres[-1] - centres[0]) / step + 1e-9) + 1
        self.n_coeffs = n_ceps + int(include_c0)
        if d < 1 or n_ceps < 0 or self.n_coeffs < 1 or n_ceps + 1 > n_uniform or len(centres) < 4:
            raise ValueError(
                f"invalid CQCC settings: d={d}, n_ceps={n_ceps}, include_c0={include_c0} "
                f"({len(centres)} CQT bands, {n_uniform} uniform samples)"
            )
        uniform = centres[0] + step * np.arange(n_uniform)
        resample = CubicSpline(centres, np.eye(len(centres)), axis=0)(uniform)  # (U, K)
        dct = dct_matrix(n_uniform, n_ceps + 1)[1 - int(include_c0) :]
        self.register_buffer(
            "projection", torch.from_numpy(dct @ resample).float(), persistent=False
        )

    @property
    def n_features(self) -> int:
        """Output feature dimension."""
        return self.n_coeffs * (1 + self.deltas)

    def n_frames(self, n_samples: int) -> int:
        """Frames for an input of ``n_samples`` samples."""
        return self.cqt.n_frames(n_samples)

    def log_power(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, K, M)`` natural-log CQT power."""
        c = self.cqt(wave)
        return torch.log(c.real.square() + c.imag.square() + self.log_eps)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` float waveform -> ``(B, n_features, M)`` CQCC (+ deltas)."""
        static = self.projection @ self.log_power(wave)
        return add_deltas(static, self.deltas, self.delta_width, normalize=True)


def _round(x: float) -> int:
    """Round half away from zero (Matlab ``round``) for non-negative values."""
    return int(math.floor(x + 0.5))
