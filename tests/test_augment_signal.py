"""RawBoost, codec/channel simulation and reverberation: measurable effects on the signal."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from spoofscope.data.augment import Augmenter, augment_config_from_dict
from spoofscope.data.codecs import (
    CodecConfig,
    align,
    av_roundtrip,
    g711_roundtrip,
    packet_loss,
    telephone_band,
    vorbis_roundtrip,
)
from spoofscope.data.rawboost import (
    RawBoostConfig,
    impulsive_noise,
    notch_cascade,
    rawboost,
    stationary_noise,
)
from spoofscope.data.room import apply_rir, simulate_rir

SR = 16000


def speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with vibrato and a syllable-rate envelope, plus a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(150 + 20 * np.sin(2 * np.pi * 5 * t)) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 15)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = 0.15 * x + 0.003 * np.random.default_rng(seed).standard_normal(len(t))
    return x.astype(np.float32)


def band_energy(x: np.ndarray, low: float, high: float) -> float:
    """Energy between ``low`` and ``high`` Hz (Hann window: no leakage from the clip edges)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[(f >= low) & (f < high)].sum())


# --- RawBoost -------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", range(1, 9))
def test_rawboost_changes_the_signal_keeps_it_finite_and_scaled(algo):
    x = speechlike(1.0)
    cfg = RawBoostConfig()
    y = rawboost(x, algo, np.random.default_rng(algo), cfg, SR)
    assert y.dtype == np.float32 and y.shape == x.shape and np.all(np.isfinite(y))
    assert np.max(np.abs(y - x)) > 1e-3
    assert 0.05 < y.std() / x.std() < 3.0 and np.max(np.abs(y)) <= 1.0 + 0.2
    assert np.array_equal(y, rawboost(x, algo, np.random.default_rng(algo), cfg, SR))


def test_notch_cascade_is_linear_phase_with_the_drawn_peak_gain():
    cfg = RawBoostConfig()
    for seed in range(5):
        b = notch_cascade(np.random.default_rng(seed), cfg, SR, (-12.0, -12.0))
        assert len(b) % 2 == 1 and np.allclose(b, b[::-1])
        _, h = signal.freqz(b, 1, worN=4096, fs=SR)
        assert 20 * np.log10(np.max(np.abs(h))) == pytest.approx(-12.0, abs=0.1)
        assert np.min(np.abs(h)) < 0.1 * np.max(np.abs(h))  # it does notch something


def test_impulsive_noise_touches_at_most_p_percent_of_samples():
    x = speechlike(1.0).astype(np.float64)
    cfg = RawBoostConfig(impulse_percent=10.0)
    counts = []
    for seed in range(10):
        y = impulsive_noise(x, np.random.default_rng(seed), cfg)
        changed = np.abs(y - x) > 1e-12
        counts.append(changed.mean())
        assert np.all(np.abs(y - x)[changed] <= cfg.g_sd * np.abs(x[changed]) + 1e-12)
    assert max(counts) <= 0.1 and np.ptp(counts) > 0.02


def test_stationary_noise_snr_in_range():
    x = speechlike(1.0).astype(np.float64)
    cfg = RawBoostConfig()
    for seed in range(8):
        noise = stationary_noise(x, np.random.default_rng(seed), cfg, SR) - x
        snr = 20 * np.log10(np.linalg.norm(x) / np.linalg.norm(noise))
        assert cfg.snr_min - 1e-6 <= snr <= cfg.snr_max + 1e-6


# --- codecs and channels --------------------------------------------------------------------


def test_align_recovers_a_known_delay():
    x = speechlike(0.5)
    for lag in (0, 37, 1024, -25):
        y = np.roll(np.pad(x, 2000), lag)[2000:-2000] if lag >= 0 else x[-lag:]
        out = align(x, y, 2000)
        assert out.shape == x.shape
        assert np.allclose(out[100:-1100], x[100:-1100], atol=1e-6)


@pytest.mark.parametrize(
    ("kind", "kbps"), [("mp3", 16), ("aac", 16), ("opus", 8), ("mp3", 64), ("opus", 32)]
)
def test_lossy_codec_round_trip_keeps_length_and_shape(kind, kbps):
    x = speechlike(1.0)
    y = av_roundtrip(x, SR, kind, kbps)
    assert y.dtype == np.float32 and y.shape == x.shape
    corr = np.corrcoef(x, y)[0, 1]
    assert 0.8 < corr < 0.99999, corr


@pytest.mark.parametrize("compression", [0.3, 1.0])
def test_vorbis_round_trip(compression):
    x = speechlike(1.0)
    y = vorbis_roundtrip(x, SR, compression)
    assert y.shape == x.shape and 0.8 < np.corrcoef(x, y)[0, 1] < 0.99999


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_close_but_not_identical(law):
    x = speechlike(0.5)
    y = g711_roundtrip(x, law)
    assert y.shape == x.shape and y.dtype == np.float32
    err = np.abs(y - x)
    assert 0 < np.max(err) < 0.02
    assert np.corrcoef(x, y)[0, 1] > 0.999
    assert len(np.unique(y)) <= 256  # 8-bit code words


def test_telephone_band_has_no_energy_above_4_khz():
    x = speechlike(1.0) + 0.05 * np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    y = telephone_band(x, SR)
    assert y.shape == x.shape
    total = band_energy(y, 0, SR / 2)
    assert band_energy(y, 4000, SR / 2) < 1e-9 * total
    assert band_energy(y, 0, 150) < 0.01 * band_energy(x, 0, 150)  # below the pass band
    ref = signal.sosfiltfilt(signal.butter(4, [300, 3400], "bandpass", output="sos", fs=SR), x)
    assert np.corrcoef(ref, y)[0, 1] > 0.99  # aligned, the band itself intact


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_packet_loss_zeroes_about_rate_of_the_frames(rate):
    x = np.random.default_rng(0).uniform(0.1, 0.5, 20 * SR).astype(np.float32)  # no zeros
    y = packet_loss(x, SR, rate, np.random.default_rng(1), packet_ms=20, concealment="zero")
    frames = y.reshape(-1, 320)
    lost = np.all(frames == 0, axis=1)
    assert abs(lost.mean() - rate) < 0.03
    kept = ~lost
    assert np.array_equal(frames[kept], x.reshape(-1, 320)[kept])
    rep = packet_loss(x, SR, rate, np.random.default_rng(1), packet_ms=20, concealment="repeat")
    rep_frames = rep.reshape(-1, 320)
    for i in np.flatnonzero(lost)[:50]:
        expected = rep_frames[i - 1] if i > 0 else np.zeros(320)
        assert np.array_equal(rep_frames[i], expected)


@pytest.mark.parametrize("kind", CodecConfig().kinds)
def test_every_codec_kind_through_the_augmenter(kind):
    x = speechlike(1.0)
    d = {"enabled": True, "order": ["codec"], "codec": {"p": 1.0, "kinds": [kind]}}
    aug = Augmenter(augment_config_from_dict(d))
    y = aug(x, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32 and not np.array_equal(y, x)
    assert np.array_equal(y, aug(x, np.random.default_rng(0)))
    if kind not in ("telephone", "packet_loss"):
        assert np.corrcoef(x, y)[0, 1] > 0.8


@pytest.mark.parametrize("n", [1, 50, 3000])
def test_tiny_and_silent_clips_survive_every_stage(n):
    kinds = list(CodecConfig().kinds)
    d = {s: {"p": 1.0} for s in ("rawboost", "noise", "reverb", "gain", "speed")}
    for kind in kinds:
        cfg = {"enabled": True, **d, "codec": {"p": 1.0, "kinds": [kind]}}
        cfg["rawboost"]["algos"] = [4]
        aug = Augmenter(augment_config_from_dict(cfg))
        for x in (np.zeros(n, np.float32), np.full(n, 0.1, np.float32)):
            y = aug(x, np.random.default_rng(0))
            assert (
                y.dtype == np.float32 and np.all(np.isfinite(y)) and abs(len(y) - n) <= n * 0.2 + 1
            )


# --- reverberation --------------------------------------------------------------------------


def schroeder_rt60(rir: np.ndarray) -> float:
    """RT60 from the -5..-25 dB slope of the backward-integrated energy (T20 x 3)."""
    edc = np.cumsum(rir[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    i5, i25 = np.argmax(edc_db < -5), np.argmax(edc_db < -25)
    return 3 * (i25 - i5) / SR


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_simulated_rir_decays_at_its_rt60(rt60):
    rir = simulate_rir(np.random.default_rng(0), SR, rt60, drr_db=0.0, n_early=8)
    assert np.sum(rir**2) == pytest.approx(1.0) and np.argmax(np.abs(rir)) == 0
    assert len(rir) == int(np.ceil(rt60 * SR)) + 1
    assert schroeder_rt60(rir) == pytest.approx(rt60, rel=0.3)
    reverberant = np.sum(rir[1:] ** 2) / rir[0] ** 2
    assert 10 * np.log10(1 / reverberant) == pytest.approx(0.0, abs=0.01)


def test_reverb_adds_a_decaying_tail_and_keeps_alignment_and_level():
    x = np.zeros(SR, np.float32)
    x[: SR // 2] = speechlike(0.5)
    x[3000] = 0.9  # a click: the output peak must stay there
    d = {"enabled": True, "order": ["reverb"], "reverb": {"p": 1.0, "rt60_s": [0.4, 0.6]}}
    aug = Augmenter(augment_config_from_dict(d))
    for seed in range(3):
        y = aug(x, np.random.default_rng(seed))
        assert y.shape == x.shape
        assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-4)
        tail = y[SR // 2 + 800 : SR // 2 + 4000]  # 50-250 ms after the signal ends
        assert np.mean(tail**2) > 1e-4 * np.mean(y[: SR // 2] ** 2)
        assert np.mean(y[SR // 2 + 800 :] ** 2) < np.mean(y[: SR // 2] ** 2)  # it decays
        assert abs(int(np.argmax(np.abs(y[2000:4000]))) + 2000 - 3000) <= 1


def test_measured_rirs_from_a_folder_are_aligned_on_their_direct_path(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(4000) / SR
    rir = np.zeros(4000 + 250)
    rir[250] = 1.0  # 250 samples of propagation delay before the direct path
    rir[251:] += 0.2 * rng.standard_normal(4000 - 1) * np.exp(-6.9 * t[1:] / 0.3)
    (tmp_path / "rirs" / "room1").mkdir(parents=True)
    sf.write(tmp_path / "rirs" / "room1" / "rir.wav", 0.5 * rir / np.max(np.abs(rir)), SR)
    d = {"enabled": True, "order": ["reverb"], "reverb": {"p": 1.0, "folders": [str(tmp_path)]}}
    x = np.zeros(SR, np.float32)
    x[5000] = 0.8
    y = Augmenter(augment_config_from_dict(d))(x, np.random.default_rng(0))
    assert np.argmax(np.abs(y)) == 5000
    assert np.mean(y[5100:9000] ** 2) > 0  # the measured tail follows
    direct = apply_rir(x, rir)
    assert np.argmax(np.abs(direct)) == 5000
