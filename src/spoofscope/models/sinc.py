"""Fixed mel-scaled sinc band-pass filters (RawNet2, AASIST front ends).

Band edges are equally spaced on the mel scale between 0 Hz and Nyquist (computed on the
257-point grid of a 512-point FFT, as in the baselines); filter ``i`` is the difference of two
windowed sinc low-pass filters with cut-offs ``edges[i]`` and ``edges[i+1]``.
"""

from __future__ import annotations

import numpy as np


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """HTK mel scale: ``2595 * log10(1 + hz / 700)``."""
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_band_edges(n_filters: int, sample_rate: int = 16000, n_fft: int = 512) -> np.ndarray:
    """``n_filters + 1`` band edges in Hz, equally spaced in mel from 0 Hz to Nyquist.

    Args:
        n_filters: number of bands.
        sample_rate: sample rate in Hz.
        n_fft: FFT size whose bin grid sets the mel range (512 in the baselines).

    Returns:
        float64 array of shape ``(n_filters + 1,)``.
    """
    f = (sample_rate // 2) * np.linspace(0.0, 1.0, n_fft // 2 + 1)
    mel = hz_to_mel(f)
    return mel_to_hz(np.linspace(mel.min(), mel.max(), n_filters + 1))


def mel_sinc_filters(
    n_filters: int,
    kernel_size: int,
    sample_rate: int = 16000,
    dtype: type = np.float32,
) -> np.ndarray:
    """Hamming-windowed sinc band-pass filters with mel-spaced band edges.

    Args:
        n_filters: number of filters.
        kernel_size: taps per filter; an even value is increased by one (as upstream).
        sample_rate: sample rate in Hz.
        dtype: the float type the support and sinc are evaluated in. ``np.float32``
            reproduces the official AASIST/RawNet2 filters bit for bit.

    Returns:
        Array of shape ``(n_filters, kernel_size | 1)``.
    """
    if n_filters < 1 or kernel_size < 1:
        raise ValueError(
            f"need n_filters >= 1 and kernel_size >= 1, got {n_filters}, {kernel_size}"
        )
    if kernel_size % 2 == 0:
        kernel_size += 1
    edges = mel_band_edges(n_filters, sample_rate)
    half = (kernel_size - 1) / 2
    support = np.arange(-half, half + 1).astype(dtype)
    window = np.hamming(kernel_size).astype(dtype)
    out = np.empty((n_filters, kernel_size), dtype=dtype)
    for i in range(n_filters):
        fmin, fmax = edges[i], edges[i + 1]
        high = (2 * fmax / sample_rate) * _sinc(support, 2 * fmax, sample_rate)
        low = (2 * fmin / sample_rate) * _sinc(support, 2 * fmin, sample_rate)
        out[i] = window * (high - low).astype(dtype)
    return out


def _sinc(support: np.ndarray, scale: float, sample_rate: int) -> np.ndarray:
    """``sinc(scale * support / sample_rate)`` evaluated in ``support.dtype``, returned as float64.

    Upstream multiplies a float32 torch support vector by the float64 scalar (torch rounds the
    scalar to float32 first), divides by the sample rate, and lets ``np.sinc`` work in float32;
    the scale factors and the difference of the two low-pass filters are then float64. Doing the
    same steps here reproduces the official filter bank bit for bit.
    """
    dtype = support.dtype.type
    arg = (support * dtype(scale)) / dtype(sample_rate)
    return np.sinc(arg).astype(np.float64)
