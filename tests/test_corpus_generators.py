"""The attack registry, the classical TTS engines and the copy-synthesis vocoders.

Speech for the vocoders is made here with espeak-ng (installed by scripts/setup.sh); no audio is
committed. Tools the setup installs are required: a missing one fails the test, it does not skip.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly
from scipy.signal import stft as scipy_stft

from spoofscope.corpus import generators
from spoofscope.corpus.generators import (
    ATTACKS,
    AttackSpec,
    Generator,
    get_generator,
    list_attacks,
)
from spoofscope.corpus.tts_engines import ESPEAK_VARIANTS, SPLITS, EspeakNg, Flite, sanitize_text

SENTENCE = "Please call the billing office back before five o'clock on Tuesday."
TTS_IDS = [spec.id for spec in ATTACKS.values() if spec.kind == "tts"]
CLASSICAL_COPY_IDS = ["A05", "A06", "A07", "A12", "A14", "A15"]
NATIVE_RATES = {
    "A01": {22050}, "A02": {8000, 16000}, "A03": {16000}, "A04": {22050}, "A10": {32000},
    "A11": {16000},
}  # fmt: skip


def usable(attack_id: str, **overrides: object) -> Generator:
    gen = get_generator(attack_id, **overrides)
    reason = gen.available()
    assert reason is None, f"{attack_id} should be installed by scripts/setup.sh: {reason}"
    return gen


def log_mel(x: np.ndarray, rate: int) -> np.ndarray:
    """Log mel energies (frames, 40): triangular filters on a 32 ms / 10 ms STFT."""
    _, _, spec = scipy_stft(x, rate, nperseg=int(0.032 * rate), noverlap=int(0.022 * rate))
    power = np.abs(spec.T) ** 2
    freqs = np.linspace(0, rate / 2, power.shape[1])
    edges = 700 * (10 ** (np.linspace(0, 2595 * np.log10(1 + rate / 2 / 700), 42) / 2595) - 1)
    bank = np.maximum(
        0,
        np.minimum(
            (freqs - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None],
            (edges[2:, None] - freqs) / (edges[2:] - edges[1:-1])[:, None],
        ),
    )
    return np.log(power @ bank.T + 1e-10)


def envelope_correlation(x: np.ndarray, y: np.ndarray, rate: int) -> float:
    """Mean correlation of log-mel frames of x and y over x's loud frames (within 20 dB)."""
    a, b = log_mel(x, rate), log_mel(y, rate)
    energy = np.log(np.exp(a).sum(axis=1))
    loud = np.where(energy > energy.max() - np.log(100))[0]
    with np.errstate(invalid="ignore", divide="ignore"):  # a silent frame correlates as 0
        return float(np.mean([np.nan_to_num(np.corrcoef(a[i], b[i])[0, 1]) for i in loud]))


@pytest.fixture(scope="module")
def speech16k() -> np.ndarray:
    """About 3 s of espeak-ng speech at 16 kHz."""
    wave, rate = usable("A01", voices=["en-us+m3"]).synthesize(SENTENCE, np.random.default_rng(0))
    assert rate == 22050
    return resample_poly(wave, 160, 441).astype(np.float32)


# --- registry -----------------------------------------------------------------------------


def test_registry_ids_roles_and_fields() -> None:
    assert list(ATTACKS) == [f"A{i:02d}" for i in range(1, 16)]
    assert [s.id for s in list_attacks("eval")] == ["A10", "A11", "A12", "A13"]
    assert len(list_attacks("train")) + len(list_attacks("eval")) == len(list_attacks())
    for attack_id, spec in ATTACKS.items():
        assert spec.id == attack_id
        assert spec.kind in generators.KINDS and spec.role in generators.ROLES
        assert spec.factory.startswith("spoofscope.corpus.") and ":" in spec.factory
    # unseen attacks cover at least two families that no seen attack has
    seen = {s.family for s in list_attacks("train")}
    assert len({s.family for s in list_attacks("eval")} - seen) >= 2
    assert ATTACKS["A08"].factory.endswith("neural_vocoders:HifiTiny")
    assert ATTACKS["A13"].kwargs == {}


def test_unknown_attack_and_role_errors_list_the_valid_choices() -> None:
    with pytest.raises(ValueError, match=r"'A99'.*valid ids: A01, A02.*A15"):
        get_generator("A99")
    with pytest.raises(ValueError, match=r"'seen'.*train, eval"):
        list_attacks("seen")


def test_spec_hashable_and_generator_gets_its_spec() -> None:
    assert len({ATTACKS["A02"], ATTACKS["A02"]}) == 1
    gen = get_generator("A11")
    assert gen.spec is ATTACKS["A11"] and gen.voices == ("awb", "rms", "slt")
    assert isinstance(gen, Generator)


@pytest.mark.parametrize("attack_id", list(ATTACKS))
def test_every_generator_is_usable_or_says_what_is_missing(attack_id: str) -> None:
    reason = get_generator(attack_id).available()
    assert reason is None or (isinstance(reason, str) and len(reason) > 10)


def test_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "nosuchvoice" in Flite(voices=["kal", "nosuchvoice"]).available()
    assert "m99" in EspeakNg(voices=["en-us+m99"]).available()
    assert "en-zz" in EspeakNg(voices=["en-zz+m1", "en+m1"]).available()
    monkeypatch.setitem(
        ATTACKS, "A02", replace(ATTACKS["A02"], factory="spoofscope.corpus.nosuchmodule:X")
    )
    assert "nosuchmodule" in get_generator("A02").available()
    monkeypatch.setattr(generators.shutil, "which", lambda name: None)
    assert "flite" in Flite().available()


# --- TTS engines ----------------------------------------------------------------------------


def test_sanitize_text() -> None:
    assert sanitize_text("  --[[h@l]] <b>hi</b>\x07 there\n") == "h@l b hi /b there"
    with pytest.raises(ValueError, match="nothing speakable"):
        sanitize_text(" [ ] -- \n")


@pytest.mark.parametrize("attack_id", TTS_IDS)
def test_tts_engine_speaks_a_sentence(attack_id: str) -> None:
    gen = usable(attack_id)
    wave, rate = gen.synthesize(SENTENCE, np.random.default_rng(1))
    assert rate in NATIVE_RATES[attack_id]
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 1.5 < wave.size / rate < 8.0  # 11 words
    assert 0.05 < np.abs(wave).max() <= 1.0 and np.sqrt(np.mean(wave**2)) > 0.005
    assert gen.settings["voice"] in getattr(gen, "voices", [gen.settings["voice"]])


@pytest.mark.parametrize("attack_id", ["A01", "A03", "A04", "A11"])
def test_tts_is_deterministic_for_a_seed(attack_id: str) -> None:
    gen = usable(attack_id)
    first, _ = gen.synthesize("Press one now.", np.random.default_rng(7))
    settings = dict(gen.settings)
    gen.synthesize("Something else.", np.random.default_rng(8))  # the order must not matter
    again, _ = gen.synthesize("Press one now.", np.random.default_rng(7))
    assert gen.settings == settings
    np.testing.assert_array_equal(first, again)


def test_no_shell_is_involved(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    wave, _ = usable("A01").synthesize(
        f"hello $(touch {marker}); touch {marker}", np.random.default_rng(0)
    )
    assert wave.size > 0 and not marker.exists()


def test_espeak_voice_pools_are_disjoint_by_split() -> None:
    gen = EspeakNg()
    pools = {split: gen.voice_pool(split) for split in SPLITS}
    variants = {split: {v.partition("+")[2] for v in pools[split]} for split in SPLITS}
    assert variants == {split: set(ESPEAK_VARIANTS[split]) for split in SPLITS}
    assert not (variants["train"] & variants["eval"]) and not (variants["dev"] & variants["eval"])
    assert sorted(sum(pools.values(), [])) == sorted(gen.voices)
    eval_only = get_generator("A01", voices=pools["eval"])
    rng = np.random.default_rng(3)
    drawn = set()
    for _ in range(3):
        eval_only.synthesize("One.", rng)
        drawn.add(eval_only.settings["voice"])
    assert drawn <= set(pools["eval"])
    assert Flite(voices=["kal", "kal16"]).voice_pool("dev") == ["kal", "kal16"]
    with pytest.raises(ValueError, match="valid splits: train, dev, eval"):
        gen.voice_pool("test")


# --- copy-synthesis vocoders ---------------------------------------------------------------


@pytest.mark.parametrize("attack_id", CLASSICAL_COPY_IDS)
def test_copy_vocoder_keeps_length_and_envelope(attack_id: str, speech16k: np.ndarray) -> None:
    gen = usable(attack_id)
    out = gen.resynthesize(speech16k, 16000, np.random.default_rng(2))
    assert out.dtype == np.float32 and out.shape == speech16k.shape
    assert np.abs(out).max() <= 1.0 and np.isfinite(out).all()
    assert not np.allclose(out, speech16k, atol=1e-3)  # it is a resynthesis, not a copy
    assert envelope_correlation(speech16k, out, 16000) > 0.8
    again = gen.resynthesize(speech16k, 16000, np.random.default_rng(2))
    np.testing.assert_array_equal(out, again)


def test_envelope_check_tells_speech_from_other_speech(speech16k: np.ndarray) -> None:
    """Control for the test above: a different sentence is far below the 0.8 bar."""
    other, rate = usable("A01", voices=["en-us+m3"]).synthesize(
        "Goodbye, and thank you for waiting so patiently today.", np.random.default_rng(0)
    )
    other = resample_poly(other, 160, 441)
    other = np.resize(other, speech16k.size)
    assert envelope_correlation(speech16k, other, 16000) < 0.5


@pytest.mark.parametrize("attack_id", ["A05", "A07", "A12", "A14"])
def test_copy_vocoder_at_8k(attack_id: str, speech16k: np.ndarray) -> None:
    x = resample_poly(speech16k[:24000], 1, 2).astype(np.float32)
    out = usable(attack_id).resynthesize(x, 8000, np.random.default_rng(0))
    assert out.shape == x.shape and envelope_correlation(x, out, 8000) > 0.75


def test_copy_vocoder_rejects_bad_input() -> None:
    gen = usable("A06")
    with pytest.raises(ValueError, match="at least 0.1 s"):
        gen.resynthesize(np.zeros(100, np.float32), 16000, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(2, 16000\)"):
        gen.resynthesize(np.zeros((2, 16000), np.float32), 16000, np.random.default_rng(0))


def test_spec_kwargs_reach_the_generator() -> None:
    spec = AttackSpec("A02", "x", "diphone-tts", "tts", "train", "m:C", {"voices": ["kal"]})
    assert spec.kwargs == {"voices": ["kal"]}
    assert get_generator("A03").voices == ("kal_diphone", "ked_diphone")
    assert get_generator("A03", voices=["ked_diphone"]).voices == ("ked_diphone",)
