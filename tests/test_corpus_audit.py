"""The shortcut audit: passes on a clean synthetic set, catches planted shortcuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from spoofscope.cli import main
from spoofscope.corpus import audit
from spoofscope.corpus.condition import ConditionConfig, finish
from spoofscope.data.manifest import Utterance, write_manifest


def speechlike(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Syllables: glottal pulses with a gliding f0 through two resonances, with short gaps.

    Returns:
        ``(T,)`` float32, T about ``seconds * rate``.
    """
    out = []
    for _ in range(max(1, int(seconds / 0.28))):
        n = int(0.2 * rate)
        f0 = np.linspace(rng.uniform(100, 140), rng.uniform(150, 220), n)
        pulses = (np.diff(np.floor(np.cumsum(f0 / rate)), prepend=0) > 0).astype(float)
        x = pulses + 0.05 * rng.standard_normal(n)
        for f in (rng.uniform(400, 900), rng.uniform(1000, 2500)):
            r = np.exp(-np.pi * 120 / rate)
            x = lfilter([1.0], [1, -2 * r * np.cos(2 * np.pi * f / rate), r * r], x)
        x *= np.hanning(n)
        out += [x / np.abs(x).max() * 0.5, np.zeros(int(0.08 * rate))]
    return np.concatenate(out).astype(np.float32)


def _clip(rng: np.random.Generator, lead_s: float = 0.0, lowpass: bool = False) -> np.ndarray:
    """A synthetic clip through the corpus' finishing stage (gain, noise floor, 16 bit).

    ``lead_s`` plants extra leading silence (before the noise floor is added); ``lowpass``
    plants a narrower band (after it, as if one class skipped the common band limit).
    """
    voice = speechlike(rng.uniform(0.8, 3.0), 16000, rng)
    margin = np.zeros(int(rng.uniform(0.08, 0.3) * 16000), np.float32)
    wave = np.concatenate([np.zeros(int(lead_s * 16000), np.float32), margin, voice, margin])
    out = finish(wave * 0.1, rng, ConditionConfig()).astype(np.float32) / 32768
    if lowpass:
        from scipy.signal import butter, sosfilt

        out = sosfilt(butter(8, 1500, fs=16000, output="sos"), out).astype(np.float32)
    return out


def _rows(seed: int, n: int = 40, **spoof_kwargs) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("train", "dev", "eval"):
        for label in ("bonafide", "spoof"):
            for i in range(n):
                kw = spoof_kwargs if label == "spoof" else {}
                feats = audit.clip_features(_clip(rng, **kw))
                rows.append({"split": split, "label": label, "attack": None if label ==
                             "bonafide" else f"A0{1 + i % 2}", **feats})  # fmt: skip
    return rows


def test_eer_interpolated_handles_ties_and_order() -> None:
    assert audit.eer_interpolated(np.array([0.5] * 10), np.array([0.5] * 10)) == pytest.approx(0.5)
    assert audit.eer_interpolated(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert audit.eer_interpolated(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    rng = np.random.default_rng(0)
    value = audit.eer_interpolated(rng.normal(1, 1, 4000), rng.normal(0, 1, 4000))
    assert value == pytest.approx(0.3085, abs=0.02)  # Phi(-0.5)


def test_features_measure_what_they_say() -> None:
    rng = np.random.default_rng(1)
    plain = audit.clip_features(_clip(rng))
    late = audit.clip_features(_clip(rng, lead_s=1.0))
    narrow = audit.clip_features(_clip(rng, lowpass=True))
    assert late["lead_s"] > plain["lead_s"] + 0.7
    assert narrow["rolloff95_hz"] < 1800 < plain["rolloff95_hz"] + 400
    assert narrow["hf_ratio_db"] < plain["hf_ratio_db"] - 15
    assert 0.2 < plain["speech_fraction"] < 1.0
    assert plain["floor_to_speech_db"] < -15


def test_audit_passes_on_a_clean_set() -> None:
    result = audit.run_audit(_rows(seed=2))
    assert result.passed, result.table()
    assert set(result.eer["eval"]) == {*audit.FEATURE_GROUPS, "all"}
    assert min(v for g in result.eer["eval"].values() for v in g.values()) >= audit.MIN_EER


@pytest.mark.parametrize(
    ("plant", "group"), [({"lead_s": 0.6}, "silence"), ({"lowpass": True}, "bandwidth")]
)
def test_audit_catches_a_planted_shortcut(plant: dict, group: str) -> None:
    result = audit.run_audit(_rows(seed=3, n=25, **plant))
    assert not result.passed
    assert result.eer["eval"][group]["tree"] < 0.1
    assert any(f"'{group}'" in f for f in result.failures)
    assert "!" in result.table()


def test_cli_audit_fails_with_the_group_named(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(4)
    for split in ("train", "dev", "eval"):
        utts = []
        for label in ("bonafide", "spoof"):
            for i in range(25):
                path = tmp_path / split / f"{label}{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, _clip(rng, lead_s=0.6 if label == "spoof" else 0.0), 16000)
                utts.append(Utterance(f"{split}-{label}-{i}", f"{split}/{label}{i}.wav", label,
                                      attack=None if label == "bonafide" else "A01"))  # fmt: skip
        write_manifest(utts, tmp_path / f"{split}.jsonl")
    assert main(["corpus", "audit", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "audit FAILED" in captured.err and "'silence'" in captured.err
    assert "Traceback" not in captured.err
    assert "silence" in captured.out  # the table is printed before the error
