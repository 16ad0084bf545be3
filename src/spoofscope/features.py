"""Cepstral front ends of the ASVspoof baselines: LFCC, deltas and the DCT (CQCC: :mod:`.cqt`).

Everything runs in torch on batched waveforms, so a model can compute its features inside
``forward`` on any device. Two documented LFCC settings are provided:

* :data:`LFCC_LCNN_2021` -- the LFCC of the ASVspoof 2021 LA LFCC-LCNN baseline (Xin Wang's
  ``sandbox/util_frontend.py:LFCC`` as called by ``LA/Baseline-LFCC-LCNN/project/baseline_LA/
  model.py``): pre-emphasis 0.97, 20 ms periodic-Hamming frames every 10 ms (320 / 160
  samples, ``torch.stft`` with ``center=True`` and zero padding), 1024-point FFT, only the
  lowest half of the spectrum (``max_freq=0.5`` -> bins 0..255, 0-4 kHz, with the NII
  "stretched" frequency grid), 20 triangular filters, ``log10``, orthonormal DCT-II,
  coefficient 0 replaced by the log10 frame energy, and unnormalised width-3 deltas
  (``x[t+1] - x[t-1]``) and delta-deltas: 60 dims.
* :data:`LFCC_GMM_2021` -- the LFCC of the ASVspoof 2021 LA LFCC-GMM baseline (Matlab
  ``LA/Baseline-LFCC-GMM/matlab``: ``LFCC_GMM_ASVspoof_2021_baseline.m`` + ``lfcc_bp.m``):
  30 ms symmetric-Hamming frames with 50 % overlap (480 / 240 samples, frames start at
  sample 0, last frame zero-padded like Matlab ``buffer(..., 'nodelay')``), 1024-point FFT,
  bins 0..256 (0-4 kHz), 70 filters, ``log10(. + eps)``, DCT-II, 19 coefficients including
  c0, no pre-emphasis, HTK deltas of width 3 normalised by 2 (``Deltas(x, 1)``): 57 dims.
  The 2021 *python* port (``LFCC_pipeline.py``) differs: 20 coefficients and unnormalised
  deltas; we follow the Matlab reference, whose pre-trained models were published.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LFCC",
    "LFCC_GMM_2021",
    "LFCC_LCNN_2021",
    "add_deltas",
    "dct_matrix",
    "delta",
    "linear_filterbank",
]

FLOAT32_EPS = float(np.finfo(np.float32).eps)
MATLAB_EPS = float(np.finfo(np.float64).eps)

LFCC_LCNN_2021: dict[str, Any] = {
    "n_fft": 1024,
    "win_length": 320,
    "hop_length": 160,
    "n_filters": 20,
    "n_ceps": 20,
    "f_min": 0.0,
    "f_max": 4000.0,
    "with_energy": True,
    "deltas": 2,
    "delta_width": 3,
    "delta_normalize": False,
    "pre_emphasis": 0.97,
    "center": True,
    "periodic_window": True,
    "freq_grid": "stretched",
    "log_eps": FLOAT32_EPS,
}
"""LFCC arguments of the 2021 LA LFCC-LCNN baseline (see the module docstring)."""

LFCC_GMM_2021: dict[str, Any] = {
    "n_fft": 1024,
    "win_length": 480,
    "hop_length": 240,
    "n_filters": 70,
    "n_ceps": 19,
    "f_min": 0.0,
    "f_max": 4000.0,
    "with_energy": False,
    "deltas": 2,
    "delta_width": 3,
    "delta_normalize": True,
    "pre_emphasis": 0.0,
    "center": False,
    "periodic_window": False,
    "freq_grid": "fft",
    "log_eps": MATLAB_EPS,
}
"""LFCC arguments of the 2021 LA LFCC-GMM Matlab baseline (see the module docstring)."""


def delta(x: torch.Tensor, width: int = 3, normalize: bool = True) -> torch.Tensor:
    """Regression deltas along the last (time) axis, as in the HTK book and the baselines.

    ``D[t] = sum_{k=1..h} k * (x[t+k] - x[t-k])`` with ``h = width // 2`` and the edge frames
    repeated (replicate padding); divided by ``2 * sum k^2`` when ``normalize``. With
    normalisation a linear ramp of slope ``s`` gives ``D = s`` away from the edges. The
    ASVspoof Matlab baselines normalise (LFCC: width 3; CQCC: ``Deltas(x, 3)``, i.e. width 7);
    the NII LFCC used by LFCC-LCNN does not (``x[t+1] - x[t-1]``).

    Args:
        x: tensor of shape ``(..., frames)``.
        width: odd window length (3 -> ``h = 1``).
        normalize: divide by ``2 * sum_{k=1..h} k^2``.

    Returns:
        Tensor of the same shape as ``x``.
    """
    if width < 3 or width % 2 == 0:
        raise ValueError(f"delta width must be an odd integer >= 3, got {width}")
    half = width // 2
    shape = x.shape
    flat = x.reshape(-1, 1, shape[-1])
    padded = F.pad(flat, (half, half), mode="replicate").squeeze(1)
    frames = shape[-1]
    out = torch.zeros_like(flat.squeeze(1))
    for k in range(1, half + 1):
        out = out + k * (
            padded[:, half + k : half + k + frames] - padded[:, half - k : half - k + frames]
        )
    if normalize:
        out = out / (2.0 * sum(k * k for k in range(1, half + 1)))
    return out.reshape(shape)


def add_deltas(
    static: torch.Tensor, order: int, width: int = 3, normalize: bool = True
) -> torch.Tensor:
    """Stack ``static`` with its deltas up to ``order`` along the feature axis.

    Args:
        static: ``(B, D, frames)``.
        order: 0 (static only), 1 (+ delta) or 2 (+ delta-delta).
        width: delta window (see :func:`delta`).
        normalize: see :func:`delta`.

    Returns:
        ``(B, D * (1 + order), frames)``: ``[static, delta, delta-delta]``.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"delta order must be 0, 1 or 2, got {order}")
    parts = [static]
    for _ in range(order):
        parts.append(delta(parts[-1], width, normalize))
    return torch.cat(parts, dim=1)


def dct_matrix(n_in: int, n_out: int | None = None) -> np.ndarray:
    """Orthonormal DCT-II matrix (``scipy.fft.dct(..., norm='ortho')`` / Matlab ``dct``).

    Args:
        n_in: input length N.
        n_out: number of coefficients kept (rows); defaults to ``n_in``.

    Returns:
        float64 array ``(n_out, n_in)``; ``C @ x`` is the DCT of ``x``.
    """
    n_out = n_in if n_out is None else n_out
    if not 1 <= n_out <= n_in:
        raise ValueError(f"need 1 <= n_out <= n_in, got n_out={n_out}, n_in={n_in}")
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    mat = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    mat[0] /= np.sqrt(2.0)
    return mat


def linear_filterbank(freqs: np.ndarray, n_filters: int, f_min: float, f_max: float) -> np.ndarray:
    """Triangular filters with edges equally spaced (linear scale) from ``f_min`` to ``f_max``.

    Filter ``i`` rises from edge ``i`` to 1 at edge ``i + 1`` and falls to 0 at edge ``i + 2``
    (Matlab ``trimf``), with ``n_filters + 2`` edges.

    Args:
        freqs: frequency (Hz) of each spectral bin, shape ``(n_bins,)``.
        n_filters: number of triangles.
        f_min: lowest edge (Hz).
        f_max: highest edge (Hz).

    Returns:
        float64 array ``(n_bins, n_filters)``.
    """
    if n_filters < 1 or not f_max > f_min:
        raise ValueError(
            f"need n_filters >= 1 and f_max > f_min, got {n_filters}, {f_min}, {f_max}"
        )
    edges = np.linspace(f_min, f_max, n_filters + 2)
    f = np.asarray(freqs, dtype=np.float64)[:, None]
    lo, mid, hi = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rise = (f - lo) / (mid - lo)
    fall = (hi - f) / (hi - mid)
    return np.clip(np.minimum(rise, fall), 0.0, None)


class LFCC(nn.Module):
    """Linear-frequency cepstral coefficients: ``(B, T) -> (B, n_ceps * (1 + deltas), frames)``.

    Pipeline: optional pre-emphasis -> Hamming-windowed frames -> ``|FFT|^2`` -> bins between
    ``f_min`` and ``f_max`` -> linear triangular filter bank -> ``log10(. + log_eps)`` ->
    orthonormal DCT-II (first ``n_ceps``) -> optional log-energy in c0 -> deltas. The filter
    bank and DCT are non-persistent buffers (recomputed from the arguments).

    Args:
        sample_rate: input rate in Hz.
        n_fft: FFT size (frames are zero-padded to it).
        win_length: frame length in samples.
        hop_length: frame shift in samples.
        n_filters: triangular filters.
        n_ceps: cepstral coefficients kept (c0 included).
        f_min: lowest analysed frequency (Hz).
        f_max: highest analysed frequency (Hz); ``None`` = Nyquist.
        with_energy: replace c0 by ``log10(sum(power of the kept bins) / n_fft + log_eps)``
            (NII LCNN front end).
        deltas: 0, 1 or 2 orders of deltas appended.
        delta_width: odd delta window (see :func:`delta`).
        delta_normalize: normalise the deltas (see :func:`delta`).
        pre_emphasis: ``y[t] = x[t] - a * x[t-1]`` (``y[0] = x[0]``); 0 disables it.
        center: ``True``: ``torch.stft`` framing, ``1 + T // hop`` frames, signal zero-padded
            by ``n_fft // 2`` on both sides. ``False``: frames start at sample 0 and the end is
            zero-padded to complete the last frame (Matlab ``buffer(x, win, win - hop,
            'nodelay')``): ``max(1, ceil((T - win + hop) / hop))`` frames.
        periodic_window: periodic Hamming (torch default) or symmetric (Matlab ``hamming``).
        freq_grid: ``"fft"``: bins nearest to ``f_min``..``f_max`` inclusive, at their true
            frequencies (Matlab). ``"stretched"``: bins ``int(f/(sr/2) * (n_fft//2 + 1))``
            from ``f_min`` (inclusive) to ``f_max`` (exclusive), assigned frequencies
            ``linspace(f_min, f_max, n)`` (the NII implementation).
        log_eps: floor added before the log.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 320,
        hop_length: int = 160,
        n_filters: int = 20,
        n_ceps: int = 20,
        f_min: float = 0.0,
        f_max: float | None = None,
        with_energy: bool = False,
        deltas: int = 2,
        delta_width: int = 3,
        delta_normalize: bool = True,
        pre_emphasis: float = 0.0,
        center: bool = True,
        periodic_window: bool = True,
        freq_grid: str = "fft",
        log_eps: float = FLOAT32_EPS,
    ) -> None:
        super().__init__()
        nyquist = sample_rate / 2
        f_max = nyquist if f_max is None else float(f_max)
        if not 0 < win_length <= n_fft or hop_length < 1:
            raise ValueError(
                f"need 0 < win_length <= n_fft and hop_length >= 1, got win_length={win_length},"
                f" n_fft={n_fft}, hop_length={hop_length}"
            )
        if not 0 <= f_min < f_max <= nyquist:
            raise ValueError(f"need 0 <= f_min < f_max <= {nyquist}, got {f_min}, {f_max}")
        if not 1 <= n_ceps <= n_filters:
            raise ValueError(f"need 1 <= n_ceps <= n_filters, got {n_ceps}, {n_filters}")
        if deltas not in (0, 1, 2):
            raise ValueError(f"deltas must be 0, 1 or 2, got {deltas}")
        self.sample_rate, self.n_fft = sample_rate, n_fft
        self.win_length, self.hop_length = win_length, hop_length
        self.n_ceps, self.with_energy, self.deltas = n_ceps, with_energy, deltas
        self.delta_width, self.delta_normalize = delta_width, delta_normalize
        self.pre_emphasis, self.center, self.log_eps = pre_emphasis, center, log_eps
        self.lo, self.hi, freqs = _bin_range(sample_rate, n_fft, f_min, f_max, freq_grid)
        fbank = linear_filterbank(freqs, n_filters, f_min, f_max)
        window = torch.hamming_window(win_length, periodic=periodic_window, dtype=torch.float64)
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("fbank", torch.from_numpy(fbank).float(), persistent=False)
        dct = torch.from_numpy(dct_matrix(n_filters, n_ceps)).float()
        self.register_buffer("dct", dct, persistent=False)

    @property
    def n_features(self) -> int:
        """Output feature dimension ``n_ceps * (1 + deltas)``."""
        return self.n_ceps * (1 + self.deltas)

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for an input of ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        span = n_samples - self.win_length + self.hop_length
        return max(1, math.ceil(span / self.hop_length))

    def power_spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, frames, n_kept_bins)`` power of the kept bins."""
        x = wave
        if self.pre_emphasis:
            x = torch.cat([x[:, :1], x[:, 1:] - self.pre_emphasis * x[:, :-1]], dim=1)
        if self.center:
            spec = torch.stft(
                x,
                self.n_fft,
                self.hop_length,
                self.win_length,
                window=self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            ).transpose(1, 2)
        else:
            n = self.n_frames(x.shape[1])
            total = (n - 1) * self.hop_length + self.win_length
            x = F.pad(x, (0, max(0, total - x.shape[1])))[:, :total]
            frames = x.unfold(1, self.win_length, self.hop_length) * self.window
            spec = torch.fft.rfft(frames, n=self.n_fft)
        spec = spec[:, :, self.lo : self.hi]
        return spec.real.square() + spec.imag.square()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` float waveform -> ``(B, n_features, frames)`` LFCC (+ deltas)."""
        power = self.power_spectrum(wave)
        ceps = torch.log10(power @ self.fbank + self.log_eps) @ self.dct.T  # (B, F, n_ceps)
        if self.with_energy:
            energy = torch.log10(power.sum(dim=2) / self.n_fft + self.log_eps)
            ceps = torch.cat([energy.unsqueeze(2), ceps[:, :, 1:]], dim=2)
        return add_deltas(ceps.transpose(1, 2), self.deltas, self.delta_width, self.delta_normalize)


def _bin_range(
    sample_rate: int, n_fft: int, f_min: float, f_max: float, grid: str
) -> tuple[int, int, np.ndarray]:
    """``(first bin, end bin (exclusive), frequencies of the kept bins)`` for a grid type."""
    n_bins = n_fft // 2 + 1
    if grid == "fft":
        bin_freqs = np.arange(n_bins) * sample_rate / n_fft
        lo = int(np.argmin(np.abs(bin_freqs - f_min)))
        hi = int(np.argmin(np.abs(bin_freqs - f_max))) + 1
        return lo, hi, bin_freqs[lo:hi]
    if grid == "stretched":
        nyquist = sample_rate / 2
        lo, hi = int(f_min / nyquist * n_bins), int(f_max / nyquist * n_bins)
        return lo, hi, np.linspace(f_min, f_max, hi - lo)
    raise ValueError(f"unknown freq_grid {grid!r}; valid choices: 'fft', 'stretched'")
