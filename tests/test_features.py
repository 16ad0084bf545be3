"""LFCC, deltas, DCT, filter banks, CQT and CQCC: known answers and independent re-derivations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from spoofscope.cqt import CQCC, ConstantQTransform, cqt_bands, default_gamma
from spoofscope.features import (
    LFCC,
    LFCC_GMM_2021,
    LFCC_LCNN_2021,
    add_deltas,
    dct_matrix,
    delta,
    linear_filterbank,
)

SR = 16000


def noise(n: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, generator=gen) * 0.1


def tone(freq: float, n: int, amp: float = 0.5) -> torch.Tensor:
    t = np.arange(n) / SR
    return torch.tensor(amp * np.cos(2 * np.pi * freq * t), dtype=torch.float32)[None]


# --- DCT, deltas, filter bank ---------------------------------------------------------------


def test_dct_matrix_is_orthonormal_and_equals_scipy():
    c = dct_matrix(70)
    np.testing.assert_allclose(c @ c.T, np.eye(70), atol=1e-12)
    np.testing.assert_allclose(c, scipy.fft.dct(np.eye(70), norm="ortho", axis=0), atol=1e-12)
    np.testing.assert_allclose(dct_matrix(70, 19), c[:19])


@pytest.mark.parametrize("width", [3, 5, 7])
def test_normalized_delta_of_a_ramp_is_its_slope(width):
    ramp = (0.25 * torch.arange(40.0) + 3).expand(2, 3, 40)
    d = delta(ramp, width)
    half = width // 2
    torch.testing.assert_close(d[..., half:-half], torch.full((2, 3, 40 - 2 * half), 0.25))
    # edges repeat the first/last frame: at t=0 only the forward half sees the slope
    expected0 = sum(k * k * 0.25 for k in range(1, half + 1)) / (
        2 * sum(k * k for k in range(1, half + 1))
    )
    torch.testing.assert_close(d[..., 0], torch.full((2, 3), expected0))


def test_unnormalized_delta_is_the_nii_difference():
    x = torch.randn(2, 5, 30)
    padded = torch.cat([x[..., :1], x, x[..., -1:]], dim=-1)
    torch.testing.assert_close(delta(x, 3, normalize=False), padded[..., 2:] - padded[..., :-2])


def test_delta_of_a_constant_is_zero_and_bad_width_fails():
    assert torch.equal(delta(torch.full((1, 2, 9), 4.0)), torch.zeros(1, 2, 9))
    with pytest.raises(ValueError, match="odd"):
        delta(torch.zeros(1, 1, 5), 4)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        add_deltas(torch.zeros(1, 2, 5), 3)
    assert add_deltas(torch.zeros(1, 2, 5), 2).shape == (1, 6, 5)


def test_linear_filterbank_triangles_sum_to_one_inside():
    freqs = np.arange(513) * SR / 1024
    fb = linear_filterbank(freqs, 20, 0.0, 8000.0)
    assert fb.shape == (513, 20)
    edges = np.linspace(0, 8000, 22)
    inside = (freqs >= edges[1]) & (freqs <= edges[-2])
    np.testing.assert_allclose(fb[inside].sum(axis=1), 1.0, atol=1e-12)
    # each filter peaks (value 1) at its centre edge and is 0 outside its two neighbours
    for i in (0, 7, 19):
        centre = np.argmin(np.abs(freqs - edges[i + 1]))
        assert fb[:, i].argmax() == centre
        assert np.all(fb[(freqs <= edges[i]) | (freqs >= edges[i + 2]), i] == 0)


# --- LFCC -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [480, 1000, 16000, 64600])
def test_lfcc_frame_counts(n):
    gmm, lcnn = LFCC(**LFCC_GMM_2021), LFCC(**LFCC_LCNN_2021)
    assert gmm(noise(n)).shape == (1, 57, max(1, math.ceil((n - 240) / 240)))  # Matlab buffer
    assert lcnn(noise(n)).shape == (1, 60, 1 + n // 160)  # torch.stft, center=True
    assert gmm.n_frames(n) == gmm(noise(n)).shape[2]


def _matlab_lfcc(x: np.ndarray) -> np.ndarray:
    """Straight float64 re-derivation of lfcc_bp.m (2021 LA LFCC-GMM), (57, frames)."""
    win, hop, nfft, nfilt, ncoef = 480, 240, 1024, 70, 19
    n_frames = math.ceil((len(x) - (win - hop)) / hop)
    x = np.concatenate([x, np.zeros(win)])
    frames = np.stack([x[t * hop : t * hop + win] * np.hamming(win) for t in range(n_frames)])
    power = np.abs(np.fft.fft(frames, nfft, axis=1)) ** 2
    f = SR / 2 * np.linspace(0, 1, nfft // 2 + 1)
    hi = int(np.argmin(np.abs(f - 4000)))
    power, f = power[:, : hi + 1], f[: hi + 1]
    edges = np.linspace(0, 4000, nfilt + 2)
    fb = np.zeros((len(f), nfilt))
    for i in range(nfilt):
        a, b, c = edges[i : i + 3]
        fb[:, i] = np.maximum(0, np.minimum((f - a) / (b - a), (c - f) / (c - b)))
    stat = scipy.fft.dct(np.log10(power @ fb + np.finfo(float).eps), norm="ortho", axis=1)
    stat = stat[:, :ncoef].T

    def deltas(z):
        p = np.concatenate([z[:, :1], z, z[:, -1:]], axis=1)
        return (p[:, 2:] - p[:, :-2]) / 2

    return np.concatenate([stat, deltas(stat), deltas(deltas(stat))])


def _nii_lfcc(x: np.ndarray) -> np.ndarray:
    """Float64 re-derivation of the NII LFCC of the 2021 LFCC-LCNN baseline, (60, frames)."""
    hop, win, nfft, ndim = 160, 320, 1024, 20
    n_frames = 1 + len(x) // hop
    padded = np.concatenate([np.zeros(win), x, np.zeros(win)])
    window = np.hamming(win + 1)[:-1]  # periodic
    frames = np.stack(
        [
            padded[win + t * hop - win // 2 : win + t * hop + win // 2] * window
            for t in range(n_frames)
        ]
    )
    power = np.abs(np.fft.rfft(frames, nfft, axis=1)) ** 2
    n_keep = int(0.5 * (nfft // 2 + 1))
    power = power[:, :n_keep]
    f = 4000 * np.linspace(0, 1, n_keep)
    edges = np.linspace(0, 4000, ndim + 2)
    fb = np.stack(
        [
            np.maximum(0, np.minimum((f - a) / (b - a), (c - f) / (c - b)))
            for a, b, c in (edges[i : i + 3] for i in range(ndim))
        ],
        axis=1,
    )
    eps = np.finfo(np.float32).eps
    lfcc = scipy.fft.dct(np.log10(power @ fb + eps), norm="ortho", axis=1)
    lfcc[:, 0] = np.log10(power.sum(axis=1) / nfft + eps)
    lfcc = lfcc.T

    def deltas(z):
        p = np.concatenate([z[:, :1], z, z[:, -1:]], axis=1)
        return p[:, 2:] - p[:, :-2]

    return np.concatenate([lfcc, deltas(lfcc), deltas(deltas(lfcc))])


def test_lfcc_gmm_preset_matches_a_float64_rederivation_of_the_matlab_baseline():
    x = noise(8000, seed=3)
    ours = LFCC(**LFCC_GMM_2021)(x)[0].double().numpy()
    np.testing.assert_allclose(ours, _matlab_lfcc(x[0].double().numpy()), atol=2e-3, rtol=1e-3)


def test_lfcc_lcnn_preset_matches_a_float64_rederivation_of_the_nii_front_end():
    x = noise(8000, seed=4)
    pre = x.clone()
    pre[:, 1:] = x[:, 1:] - 0.97 * x[:, :-1]
    ours = LFCC(**LFCC_LCNN_2021)(x)[0].double().numpy()
    np.testing.assert_allclose(ours, _nii_lfcc(pre[0].double().numpy()), atol=2e-3, rtol=1e-3)


def test_lfcc_energy_of_a_sine_is_far_above_silence():
    lfcc = LFCC(**LFCC_LCNN_2021)
    silence, sine = lfcc(torch.zeros(1, 4000)), lfcc(tone(1000, 4000))
    c0_floor = math.log10(np.finfo(np.float32).eps)
    torch.testing.assert_close(silence[0, 0], torch.full_like(silence[0, 0], c0_floor))
    assert sine[0, 0, 2:-2].min() > c0_floor + 5


def test_lfcc_filterbank_peak_follows_a_tone():
    lfcc = LFCC(**LFCC_GMM_2021)
    centres = np.linspace(0, 4000, 72)[1:-1]
    for freq in (500.0, 1000.0, 3000.0):
        energies = lfcc.power_spectrum(tone(freq, 4800)) @ lfcc.fbank  # (1, frames, 70)
        assert energies[0, 3].argmax().item() == int(np.argmin(np.abs(centres - freq)))


def test_lfcc_is_batch_independent_and_validates_arguments():
    lfcc = LFCC(**LFCC_GMM_2021)
    x = noise(5000, batch=3)
    torch.testing.assert_close(lfcc(x)[1:2], lfcc(x[1:2]), atol=1e-4, rtol=1e-4)
    assert lfcc.n_features == 57 and len(lfcc.state_dict()) == 0
    with pytest.raises(ValueError, match="freq_grid"):
        LFCC(freq_grid="mel")
    with pytest.raises(ValueError, match="f_min < f_max"):
        LFCC(f_min=5000, f_max=4000)
    with pytest.raises(ValueError, match="n_ceps"):
        LFCC(n_filters=10, n_ceps=20)


# --- CQT / CQCC -------------------------------------------------------------------------------


def test_cqt_bands_of_the_baseline_configs():
    centres, widths = cqt_bands(SR, 12, 62.5, 4000, default_gamma(12))  # 2021 LA
    assert len(centres) == 73 and centres[0] == 62.5
    assert centres[-1] == pytest.approx(4000)
    np.testing.assert_allclose(np.diff(np.log2(centres)), 1 / 12)
    assert widths[-1] == pytest.approx((2 ** (1 / 12) - 2 ** (-1 / 12)) * (4000 + 228.7))
    # 2019: B = 96 from 15.625 Hz to Nyquist; the top band would cross 8 kHz and is dropped,
    # leaving the 863 rows that the 2021 python port reports for its LogP_absCQT
    assert len(cqt_bands(SR, 96, SR / 2**10, SR / 2, default_gamma(96))[0]) == 863


@pytest.mark.parametrize("band", [5, 30, 52, 72])
def test_cqt_of_a_tone_peaks_at_its_band_with_its_amplitude(band):
    cqt = ConstantQTransform()
    mag = cqt(tone(cqt.centres[band], 16000, amp=0.4)).abs()[0]  # (K, M)
    assert mag.mean(dim=1).argmax().item() == band
    steady = mag[band, 50:-50]
    torch.testing.assert_close(steady, torch.full_like(steady, 0.4), atol=4e-3, rtol=0)


@pytest.mark.parametrize("n", [1000, 16000, 64600])
def test_cqt_frame_count_is_the_top_band_width_in_bins(n):
    cqt = ConstantQTransform()
    expected = math.floor(cqt.widths[-1] * n / SR + 0.5)
    assert cqt(noise(n)).shape == (1, 73, expected) and cqt.n_frames(n) == expected


def test_cqcc_projection_is_spline_resampling_then_dct():
    cqcc = CQCC()
    proj = cqcc.projection.double().numpy()  # (20, 73)
    n_uniform = math.floor((4000 - 62.5) / (62.5 / 16)) + 1
    # a flat log spectrum has only c0 = sqrt(U) * level; a linear one is resampled exactly
    np.testing.assert_allclose(
        proj @ np.full(73, 2.0), [2.0 * math.sqrt(n_uniform)] + [0] * 19, atol=1e-4
    )
    uniform = 62.5 + 62.5 / 16 * np.arange(n_uniform)
    line = lambda f: 1e-3 * f - 1.0  # noqa: E731
    expected = scipy.fft.dct(line(uniform), norm="ortho")[:20]
    np.testing.assert_allclose(proj @ line(cqcc.cqt.centres), expected, rtol=1e-5, atol=1e-5)


def test_cqcc_shapes_options_and_batch_independence():
    cqcc = CQCC()
    x = noise(16000, batch=2)
    out = cqcc(x)
    assert out.shape == (2, 60, cqcc.n_frames(16000)) and cqcc.n_features == 60
    torch.testing.assert_close(out[1:], cqcc(x[1:]), atol=1e-4, rtol=1e-4)
    assert CQCC(include_c0=False, deltas=0)(x).shape[1] == 19
    assert len(cqcc.state_dict()) == 0
    with pytest.raises(ValueError, match="invalid CQCC"):
        CQCC(n_ceps=5000)


def test_cqcc_separates_spectral_tilts():
    """c1 (the spectral slope term) is higher for low-pass than for high-pass noise."""
    x = noise(16000, seed=7)
    low = torch.cumsum(x, dim=1) * 0.05
    high = x[:, 1:] - x[:, :-1]
    cqcc = CQCC(deltas=0)
    assert cqcc(low)[0, 1].mean() > cqcc(high)[0, 1].mean() + 5
