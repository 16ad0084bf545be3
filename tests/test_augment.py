"""Augmenter, its configs, additive noise, gain/clipping, speed and SpecAugment.

RawBoost, codecs and reverberation: tests/test_augment_signal.py.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from spoofscope.data.augment import (
    AugmentConfig,
    Augmenter,
    GainConfig,
    NoiseConfig,
    SpeedConfig,
    augment_config_from_dict,
)
from spoofscope.data.noise import active_power, coloured_noise
from spoofscope.data.specaugment import spec_augment
from spoofscope.errors import SpoofscopeError
from spoofscope.models import build_model

SR = 16000


def speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with vibrato and a syllable-rate envelope, plus a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(150 + 20 * np.sin(2 * np.pi * 5 * t)) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 15)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = 0.15 * x + 0.003 * np.random.default_rng(seed).standard_normal(len(t))
    return x.astype(np.float32)


def only(stage: str, **settings) -> AugmentConfig:
    """A config running ``stage`` alone, always, with ``settings``."""
    d = {"enabled": True, "order": [stage], stage: {"p": 1.0, **settings}}
    return augment_config_from_dict(d)


# --- config -------------------------------------------------------------------------------


def test_default_config_is_disabled_and_identity():
    cfg = AugmentConfig()
    assert cfg.enabled is False
    assert all(getattr(cfg, s).p > 0 for s in ("rawboost", "noise", "reverb", "codec", "gain"))
    x = speechlike(0.5)
    aug = Augmenter(cfg)
    assert aug.active_stages == []
    y = aug(x, np.random.default_rng(0))
    assert y.dtype == np.float32 and np.array_equal(y, x) and y is not x


def test_config_from_nested_dict_round_trips():
    cfg = augment_config_from_dict(
        {
            "enabled": True,
            "order": ["noise", "codec"],
            "noise": {"p": 0.5, "snr_db": [0, 10], "colours": ["pink"]},
            "codec": {"kinds": ["mp3", "mulaw"], "mp3_kbps": 32},
            "rawboost": {"algos": 4},
        }
    )
    assert cfg.noise == NoiseConfig(p=0.5, snr_db=(0.0, 10.0), colours=("pink",))
    assert cfg.codec.kinds == ("mp3", "mulaw") and cfg.codec.mp3_kbps == (32.0, 32.0)
    assert cfg.rawboost.algos == (4,)
    assert cfg.gain == GainConfig() and cfg.speed == SpeedConfig()
    assert augment_config_from_dict(dataclasses.asdict(cfg)) == cfg
    assert augment_config_from_dict(None) == AugmentConfig()


def test_unknown_keys_name_the_valid_keys():
    with pytest.raises(TypeError, match=r"'nosie'.*valid keys: codec, enabled, gain, noise"):
        augment_config_from_dict({"nosie": {}})
    with pytest.raises(TypeError, match=r"'snr'.*augment.noise.*valid keys: colours, "):
        augment_config_from_dict({"noise": {"snr": [1, 2]}})


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ({"noise": {"p": 1.5}}, "noise.p must be a probability"),
        ({"noise": {"snr_db": [20, 10]}}, "noise.snr_db"),
        ({"noise": {"colours": ["purple"]}}, "valid choices: white, pink"),
        ({"noise": {"colours": []}}, "needs a source"),
        ({"codec": {"kinds": ["gsm"]}}, "valid choices: mp3, aac"),
        ({"rawboost": {"algos": [9]}}, "valid ids: 1..8"),
        ({"order": ["noise", "noise"]}, "repeats"),
        ({"order": ["echo"]}, "valid choices: speed, rawboost"),
        ({"enabled": "yes"}, "true or false"),
    ],
)
def test_invalid_values_are_rejected(d, match):
    with pytest.raises(ValueError, match=match):
        augment_config_from_dict(d)


def test_rejects_bad_waveforms():
    aug = Augmenter(only("gain"))
    with pytest.raises(ValueError, match="1-D"):
        aug(np.zeros((2, 100), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        aug(np.array([0.0, np.nan], np.float32), np.random.default_rng(0))


# --- determinism ----------------------------------------------------------------------------


def full_recipe() -> AugmentConfig:
    d = {name: {"p": 1.0} for name in ("rawboost", "noise", "reverb", "codec", "gain", "speed")}
    d["codec"]["kinds"] = ["mp3", "opus", "packet_loss"]
    return augment_config_from_dict({"enabled": True, **d})


def test_same_seed_same_output_other_seed_differs():
    x = speechlike(1.0)
    aug = Augmenter(full_recipe())
    assert aug.active_stages == ["speed", "rawboost", "reverb", "noise", "gain", "codec"]
    a = aug(x, np.random.default_rng(123))
    b = aug(x, np.random.default_rng(123))
    c = aug(x, np.random.default_rng(124))
    assert a.dtype == np.float32 and np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.allclose(a, c)
    again = pickle.loads(pickle.dumps(aug))  # DataLoader workers may pickle it
    assert np.array_equal(again(x, np.random.default_rng(123)), a)


def test_stages_draw_independently():
    """Extra draws inside one stage do not change what the next stage draws."""
    x = speechlike(0.5)
    base = {"enabled": True, "order": ["gain", "noise"], "noise": {"p": 1.0}}
    plain = {"p": 1.0, "gain_db": 0, "clip_p": 0.0}
    # clipping at 100 % of the peak changes nothing but consumes more random draws
    extra = {"p": 1.0, "gain_db": 0, "clip_p": 1.0, "clip_fraction": 1.0}
    a = Augmenter(augment_config_from_dict({**base, "gain": plain}))
    b = Augmenter(augment_config_from_dict({**base, "gain": extra}))
    assert np.array_equal(a(x, np.random.default_rng(5)), b(x, np.random.default_rng(5)))


# --- additive noise -------------------------------------------------------------------------


@pytest.mark.parametrize("colour", ["white", "pink", "brown", "blue"])
@pytest.mark.parametrize("snr_db", [0.0, 12.5])
def test_noise_snr_is_on_the_active_signal(colour, snr_db):
    x = speechlike(2.0)
    x[: SR // 2] = 0.0  # half a second of leading silence must not count
    aug = Augmenter(only("noise", snr_db=snr_db, colours=[colour]))
    speech_power = np.mean(x[SR // 2 :].astype(np.float64) ** 2)
    for seed in range(2):
        y = aug(x, np.random.default_rng(seed))
        noise = y.astype(np.float64) - x
        assert abs(10 * np.log10(speech_power / np.mean(noise**2)) - snr_db) < 0.5


def test_noise_snr_is_drawn_from_the_range():
    x = speechlike(1.0)
    aug = Augmenter(only("noise", snr_db=[5, 25], colours=["white"]))
    snrs = []
    for seed in range(12):
        noise = aug(x, np.random.default_rng(seed)).astype(np.float64) - x
        snrs.append(10 * np.log10(active_power(x, SR) / np.mean(noise**2)))
    assert min(snrs) > 4.9 and max(snrs) < 25.1 and np.ptp(snrs) > 5


@pytest.mark.parametrize(
    ("colour", "exponent"), [("white", 0), ("pink", 1), ("brown", 2), ("blue", -1)]
)
def test_coloured_noise_spectral_slope(colour, exponent):
    n = 2**16
    noise = coloured_noise(n, colour, np.random.default_rng(0))
    assert noise.shape == (n,) and abs(noise.std() - 1) < 1e-6
    spec = np.abs(np.fft.rfft(noise)) ** 2
    f = np.fft.rfftfreq(n, 1 / SR)
    band = (f > 100) & (f < 6000)
    slope = np.polyfit(np.log(f[band]), np.log(spec[band]), 1)[0]
    assert abs(slope + exponent) < 0.1


def test_active_power_ignores_pauses():
    x = np.zeros(SR, np.float32)
    x[:8000] = 0.5
    assert active_power(x, SR) == pytest.approx(0.25)
    assert active_power(np.zeros(SR), SR) == 0.0


def test_noise_from_a_folder_loops_short_files_and_skips_broken_ones(tmp_path, caplog):
    root = tmp_path / "musan" / "noise" / "free-sound"
    root.mkdir(parents=True)
    t = np.arange(SR // 4) / SR  # 0.25 s files, shorter than the clip: looped
    sf.write(root / "hum.wav", 0.3 * np.sin(2 * np.pi * 1000 * t), SR)
    sf.write(root / "hum2.flac", 0.1 * np.sin(2 * np.pi * 1000 * t), SR)
    (root / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (root / "notes.txt").write_text("not audio")
    x = speechlike(1.0)
    aug = Augmenter(only("noise", folders=[str(tmp_path / "musan")], colours=[], snr_db=10))
    assert len(aug._stages[0][2].folder) == 3
    with caplog.at_level(logging.WARNING):
        outs = [aug(x, np.random.default_rng(s)) for s in range(6)]
    assert "broken.wav" in caplog.text
    for y in outs:
        noise = y.astype(np.float64) - x
        spec = np.abs(np.fft.rfft(noise))
        assert abs(np.argmax(spec) * SR / len(noise) - 1000) < 5
        snr = 10 * np.log10(active_power(x, SR) / np.mean(noise**2))
        assert abs(snr - 10) < 0.5


def test_missing_noise_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SpoofscopeError, match="does not exist"):
        Augmenter(only("noise", folders=[str(tmp_path / "nope")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpoofscopeError, match="no audio files"):
        Augmenter(only("noise", folders=[str(tmp_path / "empty")]))


# --- gain, clipping, speed ------------------------------------------------------------------


def test_gain_within_range_and_clipping_at_a_fraction_of_the_peak():
    x = speechlike(0.5)
    peak = np.max(np.abs(x))
    aug = Augmenter(only("gain", gain_db=[-6, 0], clip_p=0.0))
    for seed in range(5):
        ratio_db = 20 * np.log10(np.max(np.abs(aug(x, np.random.default_rng(seed)))) / peak)
        assert -6.001 <= ratio_db <= 0.001
    clipper = Augmenter(only("gain", gain_db=0, clip_p=1.0, clip_fraction=0.5))
    y = clipper(x, np.random.default_rng(0))
    assert np.max(np.abs(y)) == pytest.approx(0.5 * peak, rel=1e-6)
    assert 0.05 < np.mean(np.abs(y) >= 0.5 * peak * 0.999999) < 0.9
    loud = Augmenter(only("gain", gain_db=40, clip_p=0.0))(x, np.random.default_rng(0))
    assert np.max(np.abs(loud)) == pytest.approx(1.0)  # scaled back under full scale


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_length_and_pitch_by_the_factor(factor):
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = Augmenter(only("speed", factor=factor))(x, np.random.default_rng(0))
    assert abs(len(y) - len(x) / factor) <= 2
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(np.argmax(spec) * SR / len(y) - 440 * factor) < 3


# --- SpecAugment ----------------------------------------------------------------------------


def test_spec_augment_masks_bands_and_spans():
    feats = torch.randn(4, 60, 200) + 5.0
    gen = torch.Generator().manual_seed(0)
    out = spec_augment(feats, 2, 10, 2, 30, generator=gen)
    again = spec_augment(feats, 2, 10, 2, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.shape == feats.shape
    assert torch.all(feats > -10)  # the input is untouched
    masked = out == 0
    assert masked.any() and torch.equal(out[~masked], feats[~masked])
    for b in range(4):  # masks are whole rows (feature dims) and whole columns (frames)
        rows = masked[b].all(dim=1).sum().item()
        cols = masked[b].all(dim=0).sum().item()
        assert rows <= 20 and cols <= 60
        assert masked[b].sum().item() == rows * 200 + cols * 60 - rows * cols
    mean = spec_augment(feats, 1, 10, 0, 0, generator=gen, fill="mean")
    changed = mean != feats
    assert torch.allclose(
        mean[changed], feats.mean(dim=(1, 2), keepdim=True).expand_as(feats)[changed]
    )
    assert torch.equal(spec_augment(feats, 0, 10, 3, 0), feats)
    with pytest.raises(ValueError, match="batch, freq, time"):
        spec_augment(feats[0])
    with pytest.raises(ValueError, match="valid choices: zero, mean"):
        spec_augment(feats, fill="noise")


def test_lcnn_spec_augment_hook_only_in_training():
    torch.manual_seed(0)
    plain = build_model("lcnn", segment_samples=8000)
    hooked = build_model("lcnn", segment_samples=8000, specaug_freq_masks=2, specaug_time_masks=2)
    hooked.load_state_dict(plain.state_dict())
    wave = torch.from_numpy(speechlike(0.5))[None]
    for model in (plain, hooked):
        model.eval()
    assert torch.equal(plain.features(wave), hooked.features(wave))
    hooked.train()
    plain.train()
    feats = hooked.features(wave)
    assert torch.equal(plain.features(wave), plain.features(wave))
    assert (feats == 0).sum() > (plain.features(wave) == 0).sum()
    hooked(wave.repeat(2, 1)).sum().backward()  # still trains
    with pytest.raises(ValueError, match="specaug_fill"):
        build_model("lcnn", specaug_fill="noise")
