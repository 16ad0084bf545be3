"""Tiny neural vocoders (A08, A09, A13): training within a budget, cache, copy-synthesis.

The test speech is made here: a source-filter "formant synthesizer" (glottal pulses with a
moving F0 through three moving formant resonators, noise bursts for fricatives, pauses).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from spoofscope.corpus.generators import BaseGenerator, get_generator
from spoofscope.corpus.neural_vocoder_dsp import LogMel, estimate_f0, excitation
from spoofscope.corpus.neural_vocoder_nets import build_net
from spoofscope.corpus.neural_vocoders import HifiTiny, IstftTiny, UpsampleTiny

SR = 16000
VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
          (640, 1190, 2390), (440, 1020, 2240)]  # fmt: skip
CLASSES = {"hifi-tiny": HifiTiny, "upsample-tiny": UpsampleTiny, "istft-tiny": IstftTiny}
STEPS = {"hifi-tiny": 20, "upsample-tiny": 35, "istft-tiny": 20}  # 2-5 s each, 1 thread
BUDGET_S = 30.0  # a cap only: the fixed step counts make the test independent of machine load


def _resonate(x: np.ndarray, freq: float, bw: float) -> np.ndarray:
    r = np.exp(-np.pi * bw / SR)
    a = [1.0, -2.0 * r * np.cos(2.0 * np.pi * freq / SR), r * r]
    return lfilter([1.0 - r], a, x)


def fake_speech(rng: np.random.Generator, seconds: float, f0_base: float) -> np.ndarray:
    """Syllables of 120-250 ms: voiced vowels (random formants, gliding F0) or fricatives."""
    pieces = []
    while sum(map(len, pieces)) < seconds * SR:
        n = int(rng.uniform(0.12, 0.25) * SR)
        if rng.random() < 0.2:  # fricative: high-passed noise
            noise = rng.standard_normal(n)
            piece = 0.05 * _resonate(noise, rng.uniform(3000, 6000), 1500)
        else:
            f0 = f0_base * np.exp(np.linspace(0, rng.uniform(-0.3, 0.3), n))
            phase = np.cumsum(f0 / SR)
            pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per period
            piece = pulses + 0.01 * rng.standard_normal(n)
            for freq, bw in zip(VOWELS[rng.integers(len(VOWELS))], (80, 100, 150), strict=True):
                piece = _resonate(piece, freq * rng.uniform(0.9, 1.1), bw)
            piece = piece * np.hanning(n)
        pieces.append(piece)
        if rng.random() < 0.15:
            pieces.append(np.zeros(int(0.1 * SR)))
    wave = np.concatenate(pieces)[: int(seconds * SR)]
    wave = wave / np.abs(wave).max() * 0.5 + 1e-4 * rng.standard_normal(len(wave))
    return wave.astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small convs gain little from threads and lose much on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(7)
    train = [fake_speech(rng, 2.0, f0) for f0 in (95, 120, 150, 190, 230, 110)]
    other = np.random.default_rng(99)  # another "speaker", with a pause (as real speech has)
    pause = 1e-4 * other.standard_normal(SR // 2).astype(np.float32)
    test = [np.concatenate([fake_speech(other, 1.0, 135), pause, fake_speech(other, 1.0, 170)])]
    test[0] = test[0][: len(test[0]) - 37]  # not a whole number of frames
    return {"train": train, "test": test}


def logmel_corr(a: np.ndarray, b: np.ndarray) -> float:
    mel = LogMel()
    ma, mb = (mel(torch.from_numpy(x)[None]).flatten().numpy() for x in (a, b))
    return float(np.corrcoef(ma, mb)[0, 1])


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> dict[str, tuple[object, Path, float]]:
    """Each vocoder trained once for STEPS[arch] steps (1 thread); its work dir and time."""
    out = {}
    for arch, cls in CLASSES.items():
        work = tmp_path_factory.mktemp(arch)
        gen = cls(threads=1, steps=STEPS[arch])
        t = time.perf_counter()
        gen.prepare(corpus["train"], SR, work, BUDGET_S, np.random.default_rng(1))
        out[arch] = (gen, work, time.perf_counter() - t)
    return out


def test_registry_builds_the_three_vocoders():
    for aid, cls in (("A08", HifiTiny), ("A09", UpsampleTiny), ("A13", IstftTiny)):
        gen = get_generator(aid)
        assert type(gen) is cls and isinstance(gen, BaseGenerator)
        assert gen.spec.kind == "copy" and gen.spec.family == "neural-vocoder"
        assert gen.available() is None


def test_resynthesize_before_prepare_raises():
    with pytest.raises(RuntimeError, match="hifi-tiny.*prepare"):
        HifiTiny().resynthesize(np.zeros(1600, np.float32), SR)


def test_prepare_rejects_bad_input(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="budget_s"):
        IstftTiny().prepare([np.ones(1600, np.float32)], SR, tmp_path, 0.0, rng)
    with pytest.raises(ValueError, match="1-D"):
        IstftTiny().prepare([np.ones((2, 1600), np.float32)], SR, tmp_path, 1.0, rng)
    with pytest.raises(ValueError, match="non-empty"):
        IstftTiny().prepare([np.zeros(0, np.float32)], SR, tmp_path, 1.0, rng)


def test_training_stops_at_the_budget(corpus, tmp_path):
    gen = IstftTiny(threads=1)
    t = time.perf_counter()
    gen.prepare(corpus["train"], SR, tmp_path, 1.5, np.random.default_rng(1))
    assert time.perf_counter() - t < 8.0  # the first torch optimizer imports torch._dynamo
    assert gen.meta["train_seconds"] <= 2.5 and gen.meta["steps_done"] >= 1
    assert gen.meta["steps"] is None and gen.meta["budget_s"] == 1.5


@pytest.mark.parametrize("arch", list(CLASSES))
def test_output_follows_the_input(arch, trained, corpus):
    gen = trained[arch][0]
    x = corpus["test"][0]
    y = gen.resynthesize(x, SR, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and np.abs(y).max() <= 1.0
    rms_x, rms_y = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2))
    assert 0.02 * rms_x < rms_y < 10 * rms_x, (rms_x, rms_y)  # -34 dB: early in training
    untrained = CLASSES[arch](threads=1)
    torch.manual_seed(0)
    untrained.net = build_net(arch, **gen.config.net).eval()
    corr_untrained = logmel_corr(x, untrained.resynthesize(x, SR))
    corr = logmel_corr(x, y)
    assert trained[arch][0].meta["steps_done"] == STEPS[arch]
    assert corr > 0.45 and corr > corr_untrained + 0.2, (corr, corr_untrained)


def test_cache_reuse_is_instant_and_identical(trained, corpus):
    gen, work, _ = trained["hifi-tiny"]
    assert sorted(p.name for p in work.iterdir()) == ["hifi-tiny.json", "hifi-tiny.safetensors"]
    meta = json.loads((work / "hifi-tiny.json").read_text())
    assert meta["data"]["n_waves"] == len(corpus["train"]) and meta["seed"] > 0
    again = HifiTiny(threads=1, steps=STEPS["hifi-tiny"])
    t = time.perf_counter()
    again.prepare(corpus["train"], SR, work, BUDGET_S, np.random.default_rng(1))
    assert time.perf_counter() - t < 2.0
    x = corpus["test"][0]
    np.testing.assert_array_equal(
        again.resynthesize(x, SR, np.random.default_rng(5)),
        gen.resynthesize(x, SR, np.random.default_rng(5)),
    )
    assert again.settings["train_steps"] == gen.meta["steps_done"]


def test_cache_retrains_on_other_data(trained, corpus, tmp_path):
    _, work, _ = trained["istft-tiny"]
    for p in work.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    gen = IstftTiny(threads=1, steps=2)
    gen.prepare(corpus["train"][:3], SR, tmp_path, 5.0, np.random.default_rng(1))
    assert gen.meta["steps_done"] == 2 and gen.meta["data"]["n_waves"] == 3
    assert json.loads((tmp_path / "istft-tiny.json").read_text())["steps_done"] == 2


def test_chunked_equals_single_pass(trained, corpus):
    gen = trained["upsample-tiny"][0]
    x = corpus["test"][0]
    whole = gen.resynthesize(x, SR, np.random.default_rng(3))
    gen.chunk_frames = 41
    try:
        chunked = gen.resynthesize(x, SR, np.random.default_rng(3))
    finally:
        gen.chunk_frames = 1000
    np.testing.assert_allclose(chunked, whole, atol=2e-4)


def test_output_level_follows_the_input_level(trained, corpus):
    gen = trained["hifi-tiny"][0]
    x = corpus["test"][0]
    loud = gen.resynthesize(x, SR, np.random.default_rng(2))
    quiet = gen.resynthesize(x * 0.05, SR, np.random.default_rng(2))
    np.testing.assert_allclose(quiet, loud * 0.05, atol=1e-4)


def test_other_rates_and_tiny_inputs(trained, corpus):
    gen = trained["istft-tiny"][0]
    x8 = corpus["test"][0][::2].copy()  # crude 8 kHz
    y8 = gen.resynthesize(x8, 8000, np.random.default_rng(0))
    assert y8.shape == x8.shape and y8.dtype == np.float32
    assert np.sqrt(np.mean(y8**2)) > 0.02 * np.sqrt(np.mean(x8**2))
    for n in (0, 1, 100, 161):
        y = gen.resynthesize(np.full(n, 0.1, np.float32), SR)
        assert y.shape == (n,) and np.all(np.isfinite(y))


@pytest.mark.parametrize("arch", list(CLASSES))
def test_net_variants_map_frames_to_hops(arch):
    mel = torch.randn(2, 80, 13)
    source = excitation(torch.full((2, 13), 110.0), 160)
    for kwargs in ({"source": False}, {"source": True, "act": "snake"}):
        net = build_net(arch, **kwargs)
        assert net(mel, source if kwargs["source"] else None).shape == (2, 13 * 160)
    with pytest.raises(ValueError, match="source=True"):
        build_net(arch, source=True)(mel)
    with pytest.raises(ValueError, match="valid"):
        build_net(arch, act="relu")
    with pytest.raises(ValueError, match="valid"):
        build_net("wavenet")


def test_f0_tracker_and_excitation():
    t = np.arange(SR) / SR
    for f0 in (85.0, 140.0, 260.0):
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8)) * 0.05
        est = estimate_f0(torch.from_numpy(tone.astype(np.float32))[None])[0, 5:-5]
        assert torch.all((est - f0).abs() < 0.02 * f0), (f0, est.min(), est.max())
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.05
    assert estimate_f0(torch.from_numpy(noise)[None]).gt(0).float().mean() < 0.1
    exc = excitation(torch.tensor([[120.0] * 5 + [0.0] * 5]), 160)
    assert exc.shape == (1, 6, 1600)
    assert exc[0, :5, 800:].abs().max() == 0  # no harmonics when unvoiced
    spec = torch.fft.rfft(exc[0, 0, :800]).abs()  # 20 Hz bins: harmonics at multiples of 6
    assert spec[6::6][:60].min() > 10 * spec[3::6][:60].max()
