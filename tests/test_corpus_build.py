"""The corpus builder: sources, texts, conditioning, splits, and a tiny real build end to end.

The tiny build reads FSDD and LibriSpeech in place from ../shared/speech (the ``shared_dir``
fixture fails when it is missing) plus the asterisk prompts when installed, and uses four fast
attacks: A01 espeak-ng and A02 flite (TTS, seen), A07 LPC copy-synthesis (seen) and A11 flite
clustergen (TTS, eval only).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscope.cli import main
from spoofscope.corpus import condition, sources, splits, texts
from spoofscope.data.manifest import read_manifest
from test_corpus_audit import speechlike

ATTACKS = ("A01", "A02", "A07", "A11")


# ---------------------------------------------------------------- sources


def _write(path: Path, seconds: float, rate: int = 8000, gaps: tuple[float, ...] = ()) -> None:
    """A harmonic 'voice' with silent gaps at the given times (seconds)."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.1 * np.sin(2 * np.pi * 450 * t)
    for g in gaps:
        x[int(g * rate) : int((g + 0.3) * rate)] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), rate)


def test_folder_layouts_give_speakers_and_texts(tmp_path: Path) -> None:
    _write(tmp_path / "fsdd" / "7_george_3.wav", 0.5)
    _write(tmp_path / "libri" / "103" / "1240" / "103-1240-0002.flac", 1.0, 16000)
    (tmp_path / "libri" / "103" / "1240" / "103-1240.trans.txt").write_text(
        "103-1240-0002 HELLO THERE\n"
    )
    _write(tmp_path / "mine" / "alice" / "take1.wav", 1.0)
    recs = {r.source_id: r for r in sources.folder_recordings(tmp_path)}
    assert recs["fsdd:7_george_3"].speaker == "fsdd-george"
    assert recs["fsdd:7_george_3"].text == "seven"
    assert recs["librispeech:103-1240-0002"].speaker == "librispeech-103"
    assert recs["librispeech:103-1240-0002"].text == "hello there"
    other = [r for r in recs.values() if r.source not in ("fsdd", "librispeech")]
    assert len(other) == 1 and other[0].speaker.endswith("-alice")


def test_no_bonafide_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(sources.CorpusBuildError, match="scripts/setup.sh"):
        sources.find_bonafide([], use_asterisk=False)
    with pytest.raises(sources.CorpusBuildError, match="not found"):
        sources.find_bonafide([tmp_path / "missing"], use_asterisk=False)
    with pytest.raises(sources.CorpusBuildError, match="no audio files"):
        sources.find_bonafide([tmp_path], use_asterisk=False)


def test_long_recordings_are_cut_at_pauses(tmp_path: Path) -> None:
    gaps = (3.0, 6.5, 10.0, 13.2)
    _write(tmp_path / "long" / "a" / "x.wav", 16.0, 16000, gaps)
    (rec,) = sources.folder_recordings(tmp_path / "long")
    pieces = sources.split_long(rec, max_s=6.0, min_s=2.0)
    assert len(pieces) >= 3
    for p in pieces:
        assert 2.0 <= p.duration_s <= 6.0
    for a, b in zip(pieces, pieces[1:], strict=False):
        cut = b.start_s
        assert a.start_s + a.duration_s == pytest.approx(cut)
        assert any(g <= cut <= g + 0.3 for g in gaps), f"cut at {cut} s is not in a pause"


def test_asterisk_transcripts_are_matched_by_relative_name(tmp_path: Path) -> None:
    _write(tmp_path / "snd" / "digits" / "1.wav", 0.5)
    _write(tmp_path / "snd" / "hello.wav", 0.5)
    _write(tmp_path / "snd" / "beep.wav", 0.5)
    _write(tmp_path / "snd" / "silence" / "1.wav", 0.5)
    (tmp_path / "snd" / "core-sounds-en.txt").write_text(
        "; comment\ndigits/1: one\nhello: Hello...\nbeep: [a beep]\nsilence/1: [silence]\n"
    )
    recs = sources.asterisk_recordings(tmp_path / "snd")
    assert {r.source_id: r.text for r in recs} == {
        "asterisk:digits/1": "one",
        "asterisk:hello": "Hello...",
    }


# ---------------------------------------------------------------- texts


def test_prompts_are_cleaned_and_numbers_spelled() -> None:
    assert texts.clean_prompt("[ascending tones]") is None
    assert texts.clean_prompt("Press 1 or 22...") == "Press one or twenty two."
    assert texts.clean_prompt("...has joined the conference.") == "Has joined the conference."
    assert texts.number_words(1005) == "one thousand five"


def test_texts_have_one_split_each() -> None:
    pool = texts.generated_texts(300, seed=1)
    fixed = {texts.text_key(pool[0]): "eval"}
    out = texts.assign_texts(pool + [p.upper() for p in pool[:20]], seed=1, fixed=fixed)
    keys = {s: {texts.text_key(t) for t in out[s]} for s in texts.SPLITS}
    assert not keys["train"] & keys["dev"] and not keys["train"] & keys["eval"]
    assert not keys["dev"] & keys["eval"]
    assert texts.text_key(pool[0]) in keys["eval"]
    assert sum(len(v) for v in keys.values()) == len({texts.text_key(t) for t in pool})
    assert min(len(v) for v in out.values()) > 30


# ---------------------------------------------------------------- conditioning


def test_conditioning_bandlimits_trims_and_levels() -> None:
    rate = 22050
    rng = np.random.default_rng(0)
    voice = speechlike(1.2, rate, rng)
    t = np.arange(voice.size) / rate
    voice += 0.05 * np.sin(2 * np.pi * 5000 * t).astype(np.float32)  # above the 4 kHz band
    wave = np.concatenate([np.zeros(rate), voice, np.zeros(rate)]).astype(np.float32)
    cfg = condition.ConditionConfig(vad_backend="energy")
    clean = condition.clean(wave, rate, rng, cfg)
    assert clean is not None
    seconds = clean.size / 16000
    assert 1.2 + 2 * cfg.margin_s[0] - 0.25 <= seconds <= 1.2 + 2 * cfg.margin_s[1] + 0.25
    assert condition.speech_level_db(clean) == pytest.approx(condition.REF_DB, abs=3.0)
    pcm = condition.finish(clean, rng, cfg)
    assert pcm.dtype == np.int16 and pcm.size == clean.size
    x = pcm.astype(np.float64) / 32768
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 16000)
    assert spec[freqs > 4100].sum() / spec.sum() < 1e-4  # the 5 kHz tone is gone
    assert np.count_nonzero(pcm[:400]) > 300  # a noise floor, no digital silence
    assert condition.clean(np.zeros(rate, np.float32), rate, rng, cfg) is None


def test_copy_quality_gate() -> None:
    rng = np.random.default_rng(5)
    src = speechlike(2.0, 16000, rng)
    condition.check_copy(src, src + 0.01 * rng.standard_normal(src.size).astype(np.float32))
    with pytest.raises(condition.CopyQualityError, match="silent"):
        condition.check_copy(src, src * 1e-4)
    with pytest.raises(condition.CopyQualityError, match="does not follow"):
        condition.check_copy(src, 0.1 * rng.standard_normal(src.size).astype(np.float32))
    with pytest.raises(condition.CopyQualityError, match="samples"):
        condition.check_copy(src, src[: src.size // 2])


def test_match_durations_equalises_distributions() -> None:
    rng = np.random.default_rng(0)
    bona = rng.uniform(0.5, 3.0, 400)
    spoof = rng.uniform(1.5, 6.0, 500)
    dur = np.r_[bona, spoof]
    is_b = np.r_[np.ones(400, bool), np.zeros(500, bool)]
    keep = condition.match_durations(dur, is_b, rng)
    kb, ks = dur[keep & is_b], dur[keep & ~is_b]
    assert abs(np.median(kb) - np.median(ks)) < 0.2
    assert keep.sum() > 300


# ---------------------------------------------------------------- splits


def test_speakers_are_dealt_to_disjoint_splits() -> None:
    recs = [
        sources.Recording(f"x:{s}{i}", Path("x"), src, f"{src}-{s}")
        for src, n in (("fsdd", 6), ("librispeech", 40))
        for s in range(n)
        for i in range(2)
    ]
    recs.append(sources.Recording("a:1", Path("x"), "asterisk", sources.ASTERISK_SPEAKER))
    split_of = splits.assign_speakers(recs, seed=3)
    assert split_of[sources.ASTERISK_SPEAKER] == "train"
    fsdd = [split_of[f"fsdd-{s}"] for s in range(6)]
    assert sorted(fsdd) == ["dev", "eval", "eval", "train", "train", "train"]
    digits = splits.digit_splits(3)
    assert sorted(digits.values()).count("train") == 6


class _TwoVoices:
    def voice_pool(self, split: str) -> list[str]:
        return ["v1", "v2"]


def test_voice_pools_of_unsplit_engines_are_split() -> None:
    pools = {s: splits.voices_for(_TwoVoices(), s) for s in texts.SPLITS}
    assert pools == {"train": ["v1"], "dev": ["v2"], "eval": ["v2"]}
    assert splits.voices_for(_TwoVoices(), "eval", role="eval") == ["v1", "v2"]
    assert splits.voices_for(object(), "train") is None


# ---------------------------------------------------------------- a tiny real build


@pytest.fixture(scope="module")
def tiny(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from spoofscope.corpus.build import build_corpus

    out = tmp_path_factory.mktemp("corpus")
    speech = shared_dir / "speech"
    extra = [speech / "fsdd" / "recordings", speech / "librispeech-train-clean-100"]
    report = build_corpus(out, "tiny", extra, seed=0, workers=1, attacks=ATTACKS,
                          check_audit=False)  # fmt: skip
    manifests = {s: read_manifest(out / f"{s}.jsonl") for s in texts.SPLITS}
    return out, report, manifests, extra


def test_tiny_build_manifests(tiny) -> None:
    out, report, manifests, _ = tiny
    for split, utts in manifests.items():
        labels = {u.label for u in utts}
        assert labels == {"bonafide", "spoof"}, f"{split}: {labels}"
        for u in utts:
            assert u.dataset == f"spoofscope-corpus/{split}"
            assert (u.attack is None) == (u.label == "bonafide")
            assert u.speaker
            assert {"family", "kind", "text", "source_id", "sha256", "settings"} <= set(u.extra)
    data = json.loads((out / "report.json").read_text())
    assert data["counts"] == report.counts and "eer" in data["audit"]


def test_tiny_build_splits_are_disjoint(tiny) -> None:
    _, _, manifests, _ = tiny
    rows = [
        {"split": s, "speaker": u.speaker, "text": u.extra["text"] and texts.text_key(
            u.extra["text"]), "label": u.label, "kind": u.extra["kind"], "attack": u.attack}
        for s, utts in manifests.items() for u in utts
    ]  # fmt: skip
    human = [r for r in rows if r["kind"] != "tts"]  # bona fide and copy-synthesis speakers
    assert splits.check_disjoint(human, "speaker") == {}
    assert splits.check_disjoint(rows, "text") == {}
    voices = defaultdict(set)  # espeak-ng variants: disjoint between the splits
    for r in rows:
        if r["attack"] == "A01":
            voices[r["split"]].add(r["speaker"].partition("+")[2])
    assert voices["train"] and not voices["train"] & voices["eval"]
    bona_speakers = {s: {u.speaker for u in m if u.label == "bonafide"} for s, m in
                     manifests.items()}  # fmt: skip
    for split, utts in manifests.items():
        for u in utts:
            if u.extra["kind"] == "copy":
                others = set().union(*(v for k, v in bona_speakers.items() if k != split))
                assert u.speaker not in others


def test_tiny_build_eval_only_attacks(tiny) -> None:
    _, _, manifests, _ = tiny
    where = {s: {u.attack for u in utts if u.attack} for s, utts in manifests.items()}
    assert "A11" in where["eval"]
    assert "A11" not in where["train"] | where["dev"]
    assert {"A01", "A07"} <= where["train"]


def test_tiny_build_checksums_and_audio_format(tiny) -> None:
    out, _, manifests, _ = tiny
    listed = dict(
        reversed(line.split("  ", 1)) for line in (out / "SHA256SUMS").read_text().splitlines()
    )
    n = 0
    for utts in manifests.values():
        for u in utts:
            rel = Path(u.path).relative_to(out).as_posix()
            digest = hashlib.sha256(Path(u.path).read_bytes()).hexdigest()
            assert listed[rel] == digest == u.extra["sha256"]
            info = sf.info(u.path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            x, _ = sf.read(u.path, dtype="float64")
            spec = np.abs(np.fft.rfft(x)) ** 2
            freqs = np.fft.rfftfreq(x.size, 1 / 16000)
            assert spec[freqs > 4100].sum() / spec.sum() < 1e-3, u.id
            n += 1
    assert n == len(listed)


def test_tiny_build_rerun_reuses_clips(tiny) -> None:
    from spoofscope.corpus.build import build_corpus

    out, _, _, extra = tiny
    before = (out / "SHA256SUMS").read_text()
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/*/*.wav")}
    build_corpus(out, "tiny", extra, seed=0, workers=1, attacks=ATTACKS, check_audit=False)
    assert (out / "SHA256SUMS").read_text() == before
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*/*.wav")} == mtimes  # not remade


def test_cli_reports_user_errors_without_traceback(tmp_path: Path, capsys) -> None:
    code = main(["corpus", "build", "--out", str(tmp_path / "c"), "--extra-bonafide",
                 str(tmp_path / "nowhere")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "folder not found" in err and "Traceback" not in err
    assert main(["corpus", "build", "--out", str(tmp_path), "--attacks", "A99"]) == 2
    assert "valid ids" in capsys.readouterr().err
    assert main(["corpus", "audit", str(tmp_path)]) == 2
    assert "not a built corpus" in capsys.readouterr().err


def test_build_fails_when_spoofs_carry_a_shortcut(shared_dir: Path, tmp_path: Path, monkeypatch):
    """Plant 0.8 s of extra leading silence in every spoof: the audit must stop the build."""
    from spoofscope.corpus import jobs
    from spoofscope.corpus.build import build_corpus

    make = jobs._make_wave

    def planted(ctx, job, rng):
        wave, settings = make(ctx, job, rng)
        if wave is not None and job.kind != "bonafide":
            wave = np.concatenate([np.zeros(12800, np.float32), wave])
        return wave, settings

    monkeypatch.setattr(jobs, "_make_wave", planted)
    speech = shared_dir / "speech"
    extra = [speech / "fsdd" / "recordings", speech / "librispeech-train-clean-100"]
    with pytest.raises(sources.AuditFailedError, match="'silence'") as info:
        build_corpus(tmp_path, "tiny", extra, seed=1, workers=1, attacks=("A01", "A07", "A11"))
    assert not info.value.report.audit["passed"]
    assert json.loads((tmp_path / "report.json").read_text())["audit"]["failures"]


def test_a_generator_that_cannot_prepare_is_skipped(shared_dir: Path, tmp_path: Path, monkeypatch):
    from spoofscope.corpus import build, jobs

    real = jobs.get_generator_for

    def broken(ctx, attack, voices):
        if attack == "A07":
            raise RuntimeError("out of memory")
        return real(ctx, attack, voices)

    monkeypatch.setattr(build, "_needs_training", lambda gen: gen.spec.id == "A07")
    monkeypatch.setattr(jobs, "get_generator_for", broken)
    speech = shared_dir / "speech"
    extra = [speech / "fsdd" / "recordings", speech / "librispeech-train-clean-100"]
    report = build.build_corpus(tmp_path, "tiny", extra, seed=2, workers=1,
                                attacks=("A01", "A07", "A11"), check_audit=False)  # fmt: skip
    assert report.skipped_attacks["A07"].startswith("prepare failed: RuntimeError: out of memory")
    made = {u.attack for s in texts.SPLITS for u in read_manifest(tmp_path / f"{s}.jsonl")}
    assert "A07" not in made and "A01" in made
