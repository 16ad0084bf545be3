"""Voice activity: silero (fast path vs the wheel's own model), energy fallback, masks.

Speech comes from espeak-ng (synthesized here; the tests fail, not skip, without it) and from a
LibriSpeech recording read in place from the shared folder.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
import soxr
import torch

from spoofscope.audio import load_audio
from spoofscope.vad import (
    BACKENDS,
    Smoothing,
    SpeechMask,
    VadError,
    detect_speech,
    hysteresis,
    smooth,
)
from spoofscope.vad_silero import package_data_dir, single_threaded, speech_probabilities

SR = 16000
SENTENCES = [
    ("en-us", "The quick brown fox jumps over the lazy dog."),
    ("en+f3", "Please call Stella. Ask her to bring these things with her from the store."),
    ("en-us+m3", "Seven hundred and forty two. Is it raining outside today?"),
]


def espeak(text: str, voice: str = "en-us") -> np.ndarray:
    """``text`` spoken by espeak-ng, as float32 at 16 kHz."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng; scripts/setup.sh)")
    raw = subprocess.run(
        [exe, "--stdout", "-v", voice, text], capture_output=True, check=True, timeout=30
    ).stdout
    return load_audio(raw, SR)


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    return [espeak(text, voice) for voice, text in SENTENCES]


@pytest.fixture(scope="module")
def libri(shared_dir) -> np.ndarray:
    path = shared_dir / "speech" / "librispeech-train-clean-100" / "1034-121119-0000.flac"
    return load_audio(path, SR)


def chords(seconds: float, decay: bool) -> np.ndarray:
    """Triads of harmonic notes, a new chord every 0.5 s, held or decaying like a piano."""
    n, seg = int(seconds * SR), SR // 2
    out = np.zeros(n, np.float32)
    roots = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0]
    for i, start in enumerate(range(0, n, seg)):
        t = np.arange(min(seg, n - start)) / SR
        env = np.exp(-3 * t) if decay else 1.0
        notes = [roots[i % len(roots)] * r for r in (1.0, 1.26, 1.5)]
        wave = sum(0.08 / h * np.sin(2 * np.pi * f * h * t) for f in notes for h in range(1, 6))
        out[start : start + t.size] = env * wave
    return out


def non_speech(kind: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(4 * SR) / SR
    silence = np.zeros(SR, np.float32)
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)  # a speech-like 4 Hz level contour
    signals = {
        "silence": np.zeros(4 * SR, np.float32),
        "faint-noise": rng.normal(0, 1e-4, 4 * SR),
        "tone": 0.3 * np.sin(2 * np.pi * 440 * t),
        "tone-after-silence": np.concatenate([silence, 0.3 * np.sin(2 * np.pi * 300 * t)]),
        "white-noise": rng.normal(0, 0.1, 4 * SR),
        "noise-burst": np.concatenate([silence, rng.normal(0, 0.2, 2 * SR), silence]),
        "pulsed-noise": rng.normal(0, 0.1, t.size) * syllables,
        "pulsed-siren": 0.3 * syllables * np.sin(2 * np.pi * (300 * t + 150 * t**2)),
        "pulsed-vibrato": 0.3
        * syllables
        * np.sin(2 * np.pi * 440 * t + 8 * np.sin(10 * np.pi * t)),
        "held-chords": chords(4, decay=False),
        "piano-chords": chords(4, decay=True),
    }
    return signals[kind].astype(np.float32)


# the pulsed signals move like speech, so only the energy backend's noise (flatness + ZCR) and
# tone (peak share) checks reject them; the steady ones test its steadiness check
NON_SPEECH = ["silence", "faint-noise", "tone", "tone-after-silence", "white-noise",
              "noise-burst", "pulsed-noise", "pulsed-siren", "pulsed-vibrato", "held-chords",
              "piano-chords"]  # fmt: skip


@pytest.mark.parametrize("backend", ["silero", "energy"])
@pytest.mark.parametrize("kind", NON_SPEECH)
def test_non_speech_gives_no_speech(kind, backend):
    wave = non_speech(kind)
    mask = detect_speech(wave, SR, backend)
    assert mask.hop == 512 and mask.speech.size == -(-wave.size // 512)
    assert mask.fraction(0, wave.size) <= 0.02, (kind, backend, mask.regions())


@pytest.mark.parametrize("backend", ["silero", "energy"])
def test_speech_is_mostly_speech(sentences, libri, backend):
    for wave in sentences:
        share = detect_speech(wave, SR, backend).fraction(0, wave.size)
        assert share >= 0.8, (backend, share)
    # this LibriSpeech utterance pauses from 3.3 s to 5.9 s (level -40 dB vs -16..-25 dB)
    mask = detect_speech(libri, SR, backend)
    assert mask.fraction(int(0.3 * SR), int(1.7 * SR)) >= 0.9
    assert mask.fraction(int(6.1 * SR), int(7.7 * SR)) >= 0.9
    assert mask.fraction(int(3.3 * SR), int(5.9 * SR)) <= 0.05


@pytest.mark.parametrize("backend", ["silero", "energy"])
@pytest.mark.parametrize("rate", [16000, 8000, 44100])
def test_speech_inside_long_silence_is_found_in_place(sentences, backend, rate):
    for speech in sentences[:2]:
        loud = np.flatnonzero(np.abs(speech) > 0.01 * np.abs(speech).max())
        quiet = np.zeros(10 * SR, np.float32)
        wave = np.concatenate([quiet, speech, quiet])
        onset, offset = (quiet.size + loud[0]) / SR, (quiet.size + loud[-1] + 1) / SR
        if rate != SR:
            wave = soxr.resample(wave, SR, rate).astype(np.float32)
        regions = detect_speech(wave, rate, backend).regions()
        assert regions, "no speech found"
        found_on, found_off = regions[0][0] / rate, regions[-1][1] / rate
        assert abs(found_on - onset) <= 0.1 and abs(found_off - offset) <= 0.1, regions
        # nothing but the sentence (its pauses may split it into a few regions)
        assert onset - 0.1 <= found_on and found_off <= offset + 0.1


@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")
def test_silero_fast_path_equals_the_wheels_streaming_model(sentences):
    """Our batched network gives upstream's chunk-by-chunk probabilities (TorchScript)."""
    wave = np.concatenate([np.zeros(SR // 2, np.float32), sentences[0], np.zeros(777, np.float32)])
    upstream = torch.jit.load(str(package_data_dir() / "silero_vad.jit"), map_location="cpu")
    with torch.no_grad(), single_threaded():  # upstream's 1-chunk steps crawl on 2 threads
        expected = upstream.audio_forward(torch.from_numpy(wave), SR)[0].numpy()
    for block in (7, 2048):  # the state is carried across blocks
        probs = speech_probabilities(wave, block=block)
        assert probs.shape == expected.shape == (-(-wave.size // 512),)
        np.testing.assert_allclose(probs, expected, atol=1e-4)
    assert expected.max() > 0.9 and expected[:10].max() < 0.2  # a real check: speech is there


def test_none_backend_is_all_speech():
    mask = detect_speech(np.zeros(1000, np.float32), SR, "none")
    assert mask.hop == 512 and mask.speech.tolist() == [True, True]
    assert mask.fraction(0, 1000) == 1.0
    assert mask.fraction(0, 64600) == 1.0  # a repeat-padded window is judged on its audio


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_and_short_input(backend):
    assert detect_speech(np.zeros(0, np.float32), SR, backend).speech.size == 0
    mask = detect_speech(np.zeros(100, np.float32), SR, backend)
    assert mask.speech.size == 1 and mask.fraction(0, 100) == (backend == "none")


@pytest.mark.parametrize("frames", range(1, 9))
def test_energy_backend_takes_every_short_length(frames):
    # 4 and 5 frames (between one and two similarity lags) once raised a broadcast error
    rng = np.random.default_rng(frames)
    wave = (0.1 * rng.standard_normal(frames * 512 - 100)).astype(np.float32)
    mask = detect_speech(wave, SR, "energy")
    assert mask.speech.size == frames and mask.speech.dtype == bool


def test_bad_arguments_are_clear():
    with pytest.raises(VadError, match="unknown VAD backend 'webrtc'; valid choices: silero, "):
        detect_speech(np.zeros(10, np.float32), SR, "webrtc")
    with pytest.raises(VadError, match=r"shape \(T,\), got shape \(2, 10\)"):
        detect_speech(np.zeros((2, 10), np.float32), SR, "energy")
    with pytest.raises(VadError, match="sample_rate"):
        detect_speech(np.zeros(10, np.float32), 0, "energy")
    with pytest.raises(VadError, match="hop must be >= 1"):
        SpeechMask(0, np.zeros(3, bool))


def test_fraction_is_exact_sample_arithmetic():
    speech = np.array([True, False, True, True, False, True])
    mask = SpeechMask(hop=4, speech=speech)
    per_sample = np.repeat(speech, 4)  # 24 samples
    for start in range(-3, 27):
        for end in range(start, 30):
            s, e = min(max(start, 0), 24), min(max(end, 0), 24)
            expected = Fraction(int(per_sample[s:e].sum()), e - s) if e > s else Fraction(0)
            assert mask.fraction(start, end) == float(expected), (start, end)
    assert mask.fraction(2, 10) == 0.5  # 2 speech + 4 silence + 2 speech samples of 8
    assert mask.fraction(5, 7) == 0.0 and mask.fraction(9, 11) == 1.0
    assert mask.regions() == [(0, 4), (8, 16), (20, 24)]
    with pytest.raises(VadError, match="end 3 is before start 5"):
        mask.fraction(5, 3)


def test_hysteresis_and_smoothing():
    probs = np.array([0.1, 0.6, 0.4, 0.3, 0.2, 0.9, 0.45, 0.34])
    assert hysteresis(probs, 0.5, 0.35).tolist() == [0, 1, 1, 0, 0, 1, 1, 0]
    assert hysteresis(np.array([0.4, 0.4]), 0.5, 0.35).tolist() == [False, False]
    # frames of 0.1 s (hop 100 at 1 kHz)
    cfg = Smoothing(min_gap_s=0.25, min_speech_s=0.25, pad_before_s=0.1, pad_after_s=0.2)
    frames = np.array([0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0], bool)
    out = smooth(frames, hop=100, sample_rate=1000, cfg=cfg)
    # run at 2 (0.1 s) dropped; 6-7 and 9-10 joined (gap 0.1 s); padded 1 before, 2 after
    assert out.astype(int).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]


def test_energy_features_do_not_depend_on_the_block_size(sentences, monkeypatch):
    from spoofscope import vad_energy

    wave = np.concatenate([sentences[1], chords(2, decay=True), sentences[0]])
    whole = vad_energy._features(wave, SR, 512)
    hop, frames = vad_energy.speech_frames(wave, SR)
    monkeypatch.setattr(vad_energy, "BLOCK", 5)  # blocks shorter than the spectral lag chain
    pieces = vad_energy._features(wave, SR, 512)
    for a, b in zip(whole, pieces, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.array_equal(vad_energy.speech_frames(wave, SR)[1], frames) and frames.any()
    # the similarity is the cosine of spectra 3 frames apart, computed here directly
    power = np.abs(np.fft.rfft(wave[512 * 100 : 512 * 104].reshape(4, 512) * np.hanning(512))) ** 2
    band = np.sqrt(power[:, 2:129] + 1e-20)  # 60-4000 Hz at 31.25 Hz per bin
    cos = band[3] @ band[0] / np.linalg.norm(band[3]) / np.linalg.norm(band[0])
    assert pieces[3][103] == pytest.approx(cos, rel=1e-6)
