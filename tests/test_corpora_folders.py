"""Folder-based adapters (Fake-or-Real, In-the-Wild, WaveFake, real/fake folders, bona-fide
folders) and CSV manifests, on small trees with synthetic audio built here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscope.data.corpora import CorpusError, prepare_corpus
from spoofscope.data.corpora.fake_or_real import canonical_version
from spoofscope.data.summary import summarize


def audio(path: Path, seed: int = 0) -> Path:
    """0.1 s of noise at 16 kHz (format from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).normal(0, 0.1, 1600).astype(np.float32), 16000)
    return path


def touch(root: Path, *relpaths: str) -> None:
    for i, rel in enumerate(relpaths):
        audio(root / rel, i)


# ---------------------------------------------------------------- Fake-or-Real


@pytest.mark.parametrize(
    ("name", "want"),
    [("for-2seconds", "for-2sec"), ("FoR_2sec", "for-2sec"), ("for-rerecorded", "for-rerec"),
     ("for-rerec", "for-rerec"), ("For-Norm", "for-norm"), ("for-original", "for-original"),
     ("training", None), ("for-3sec", None)],
)  # fmt: skip
def test_for_version_names(name, want):
    assert canonical_version(name) == want


def test_fake_or_real_versions_splits_and_case(tmp_path):
    touch(
        tmp_path,
        "for-2sec/for-2seconds/training/real/file1.wav",
        "for-2sec/for-2seconds/training/fake/file1.wav",
        "for-2sec/for-2seconds/testing/fake/file9.mp3",
        "for-rerec/for-rerecorded/Validation/Real/r1.wav",
        "for-rerec/for-rerecorded/Validation/Fake/f1.wav",
        "for-norm/for-norm/training/real/file1.wav_16k.wav_norm.wav",
    )
    (tmp_path / "for-2sec/for-2seconds/training/real/notes.txt").write_text("not audio")
    utts = prepare_corpus("fake-or-real", tmp_path)
    got = {(u.id, u.label, u.dataset, u.extra["version"]) for u in utts}
    assert got == {
        ("for-2sec/training/real/file1", "bonafide", "for-2sec/training", "for-2sec"),
        ("for-2sec/training/fake/file1", "spoof", "for-2sec/training", "for-2sec"),
        ("for-2sec/testing/fake/file9", "spoof", "for-2sec/testing", "for-2sec"),
        ("for-rerec/validation/real/r1", "bonafide", "for-rerec/validation", "for-rerec"),
        ("for-rerec/validation/fake/f1", "spoof", "for-rerec/validation", "for-rerec"),
        ("for-norm/training/real/file1.wav_16k.wav_norm", "bonafide", "for-norm/training",
         "for-norm"),
    }  # fmt: skip
    assert all(u.attack is None and Path(u.path).is_file() for u in utts)
    assert summarize(utts).duplicates == {}
    dev = prepare_corpus("fake-or-real", tmp_path, "dev")  # alias of validation
    assert {u.dataset for u in dev} == {"for-rerec/validation"}
    two = prepare_corpus("fake-or-real", tmp_path, "training", version="2seconds")
    assert [u.id for u in two] == ["for-2sec/training/fake/file1", "for-2sec/training/real/file1"]
    # root = one version's folder
    one = prepare_corpus("fake-or-real", tmp_path / "for-norm" / "for-norm")
    assert [u.dataset for u in one] == ["for-norm/training"]


def test_fake_or_real_errors(tmp_path):
    touch(tmp_path, "for-norm/training/real/a.wav", "other/real/b.wav")
    with pytest.raises(CorpusError, match="version for-2sec not found .* versions there: for-norm"):
        prepare_corpus("fake-or-real", tmp_path, version="for-2sec")
    with pytest.raises(CorpusError, match="unknown version 'for-5sec'; valid versions: for-orig"):
        prepare_corpus("fake-or-real", tmp_path, version="for-5sec")
    with pytest.raises(CorpusError, match="valid splits: training, validation, testing"):
        prepare_corpus("fake-or-real", tmp_path, "holdout")
    with pytest.raises(CorpusError, match="no training|validation|testing folder with real/"):
        prepare_corpus("fake-or-real", tmp_path / "other")
    plain = prepare_corpus("fake-or-real", tmp_path / "for-norm")  # version from root's name
    assert [(u.dataset, u.extra) for u in plain] == [("for-norm/training", {"version": "for-norm"})]


# ---------------------------------------------------------------- In-the-Wild


def test_in_the_wild(tmp_path):
    root = tmp_path / "release_in_the_wild"
    touch(root, "0.wav", "1.wav")
    (root / "meta.csv").write_text(
        'file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,"Obama, Barack",bona-fide\n'
        "2.wav,Alec Guinness,bona-fide\n\n"
    )
    utts = prepare_corpus("in-the-wild", tmp_path)  # the parent folder works too
    assert [(u.id, u.label, u.speaker, u.dataset, u.attack) for u in utts] == [
        ("in-the-wild/0", "spoof", "Alec Guinness", "in-the-wild/eval", None),
        ("in-the-wild/1", "bonafide", "Obama, Barack", "in-the-wild/eval", None),
        ("in-the-wild/2", "bonafide", "Alec Guinness", "in-the-wild/eval", None),
    ]
    assert summarize(utts).missing == [str(root / "2.wav")]
    (root / "meta.csv").write_text("file,speaker,label\n0.wav,X,maybe\n")
    with pytest.raises(CorpusError, match=r"meta\.csv:2: unknown label 'maybe'"):
        prepare_corpus("in-the-wild", root)
    (root / "meta.csv").write_text("name,speaker,class\n")
    with pytest.raises(CorpusError, match="no file, label column"):
        prepare_corpus("in-the-wild", root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no meta.csv under .*empty; expected .*meta.csv"):
        prepare_corpus("in-the-wild", tmp_path / "empty")
    with pytest.raises(CorpusError, match="unknown split 'train'; valid splits: eval"):
        prepare_corpus("in-the-wild", root, "train")


# ---------------------------------------------------------------- WaveFake


@pytest.fixture
def wavefake(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "wavefake/generated_audio/ljspeech_melgan/LJ001-0001_gen.wav",
        "wavefake/generated_audio/ljspeech_hifiGAN/LJ001-0001_generated.wav",
        "wavefake/generated_audio/jsut_multi_band_melgan/BASIC5000_0001_gen.wav",
        "wavefake/generated_audio/common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech"
        "/generated/gen_0.wav",
        "LJSpeech-1.1/wavs/LJ001-0001.wav",
        "LJSpeech-1.1/wavs/LJ001-0002.wav",
        "jsut_ver1.1/basic5000/wav/BASIC5000_0001.wav",
    )
    return tmp_path


def test_wavefake_with_ljspeech_option(wavefake):
    utts = prepare_corpus(
        "wavefake", wavefake / "wavefake", ljspeech=str(wavefake / "LJSpeech-1.1")
    )
    by_id = {u.id: u for u in utts}
    assert set(by_id) == {
        "wavefake/ljspeech_melgan/LJ001-0001_gen",
        "wavefake/ljspeech_hifiGAN/LJ001-0001_generated",
        "wavefake/jsut_multi_band_melgan/BASIC5000_0001_gen",
        "wavefake/common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech/generated/gen_0",
        "ljspeech/LJ001-0001",
        "ljspeech/LJ001-0002",
    }  # no JSUT bona fide: none under the root and no jsut option
    hifi = by_id["wavefake/ljspeech_hifiGAN/LJ001-0001_generated"]
    assert (hifi.label, hifi.attack, hifi.speaker, hifi.dataset) == (
        "spoof", "ljspeech_hifiGAN", "ljspeech", "wavefake/all")  # fmt: skip
    assert hifi.extra == {"vocoder": "hifiGAN", "source": "ljspeech", "language": "en",
                          "source_utt": "LJ001-0001"}  # fmt: skip
    jsut = by_id["wavefake/jsut_multi_band_melgan/BASIC5000_0001_gen"]
    assert jsut.extra["language"] == "ja" and jsut.speaker == "jsut"
    bona = by_id["ljspeech/LJ001-0001"]
    assert (bona.label, bona.attack, bona.extra["source"]) == ("bonafide", None, "ljspeech")
    assert summarize(utts).attacks["wavefake/all"]["ljspeech_melgan"] == 1


def test_wavefake_finds_bonafide_under_root_and_filters_vocoders(wavefake):
    utts = prepare_corpus("wavefake", wavefake, vocoders="JSUT_multi_band_melgan")
    assert Counter((u.label, u.speaker) for u in utts) == {
        ("spoof", "jsut"): 1,
        ("bonafide", "jsut"): 1,
    }
    assert {u.id for u in utts if u.label == "bonafide"} == {"jsut/wav/BASIC5000_0001"}
    with pytest.raises(
        CorpusError, match="unknown vocoder folder.*melgan2.*found: .*ljspeech_melgan"
    ):
        prepare_corpus("wavefake", wavefake, vocoders=["melgan2"])
    with pytest.raises(CorpusError, match="no vocoder folders .* expected e.g."):
        prepare_corpus("wavefake", wavefake / "LJSpeech-1.1")
    with pytest.raises(CorpusError, match="LJSpeech folder .* does not exist"):
        prepare_corpus("wavefake", wavefake, ljspeech=str(wavefake / "nope"))


# ---------------------------------------------------------------- generic folders


def test_folder_nearest_label_dir_attack_and_split(tmp_path):
    root = tmp_path / "mydata"
    touch(
        root,
        "train/real/a.wav",
        "train/fake/melgan/b.flac",
        "train/fake/c.wav",
        "test/speaker1/Bona-Fide/d.wav",
        "test/speaker1/synthetic/vits/deep/e.wav",
        "fake/real/f.wav",  # the nearest label folder decides: real
        "misc/g.wav",  # no label folder: skipped
    )
    utts = prepare_corpus("folder", root)
    got = {(u.id, u.label, u.attack, u.dataset) for u in utts}
    assert got == {
        ("mydata/train/real/a", "bonafide", None, "mydata/train"),
        ("mydata/train/fake/melgan/b", "spoof", "melgan", "mydata/train"),
        ("mydata/train/fake/c", "spoof", None, "mydata/train"),
        ("mydata/test/speaker1/Bona-Fide/d", "bonafide", None, "mydata/test"),
        ("mydata/test/speaker1/synthetic/vits/deep/e", "spoof", "vits", "mydata/test"),
        ("mydata/fake/real/f", "bonafide", None, "mydata/all"),
    }
    assert [u.id for u in prepare_corpus("folder", root, "testing", name="X")] == [
        "x/test/speaker1/Bona-Fide/d", "x/test/speaker1/synthetic/vits/deep/e"]  # fmt: skip
    # the root itself may be the label folder
    fake = prepare_corpus("folder", root / "train" / "fake")
    assert {(u.id, u.label, u.attack, u.dataset) for u in fake} == {
        ("fake/melgan/b", "spoof", "melgan", "fake/all"),
        ("fake/c", "spoof", None, "fake/all"),
    }


def test_folder_errors_and_duplicate_ids(tmp_path):
    touch(tmp_path, "plain/a.wav", "d/real/a.wav", "d/real/a.flac")
    with pytest.raises(CorpusError, match="no audio files under real|bonafide.*expected e.g."):
        prepare_corpus("folder", tmp_path / "plain")
    with pytest.raises(CorpusError, match="unknown split 'x'; valid splits: all, dev, eval"):
        prepare_corpus("folder", tmp_path / "d", "x")
    summary = summarize(prepare_corpus("folder", tmp_path / "d"))
    assert summary.duplicates == {"d/real/a": 2}


def test_bonafide_folder_timit_like(tmp_path):
    root = tmp_path / "TIMIT"
    touch(root, "TRAIN/DR1/FCJF0/SA1.WAV", "TRAIN/DR1/FCJF0/SA2.WAV", "TEST/DR2/MABC0/SI1.wav")
    (root / "TRAIN/DR1/FCJF0/SA1.PHN").write_text("0 3050 h#\n")
    utts = prepare_corpus("bonafide-folder", root, speaker_from_parent=True)
    assert [(u.id, u.label, u.speaker, u.dataset) for u in utts] == [
        ("timit/TEST/DR2/MABC0/SI1", "bonafide", "MABC0", "timit/test"),
        ("timit/TRAIN/DR1/FCJF0/SA1", "bonafide", "FCJF0", "timit/train"),
        ("timit/TRAIN/DR1/FCJF0/SA2", "bonafide", "FCJF0", "timit/train"),
    ]
    assert len(prepare_corpus("bonafide-folder", root, "train", name="t")) == 2
    assert prepare_corpus("bonafide-folder", root)[0].speaker is None
    with pytest.raises(CorpusError, match="no audio files of split 'dev'"):
        prepare_corpus("bonafide-folder", root, "dev")


# ---------------------------------------------------------------- CSV manifests


def test_csv_manifest(tmp_path):
    touch(tmp_path, "clips/a.wav", "clips/b.wav", "abs/c.wav")
    table = tmp_path / "list.csv"
    table.write_text(
        "Path,Label,Attack,Speaker,Split,Note\n"
        "clips/a.wav,bona fide,-,p225,train,first\n"
        "./clips/b.wav,FAKE,A07,p225,train,\n"
        f"{tmp_path / 'abs' / 'c.wav'},0,,p226,test,x\n"
        "clips/d.wav,1,A01,,test,\n"
    )
    utts = prepare_corpus("csv", table)
    assert [(u.id, u.label, u.attack, u.speaker, u.dataset, u.extra) for u in utts] == [
        ("list/clips/a", "bonafide", None, "p225", "list/train", {"Note": "first"}),
        ("list/clips/b", "spoof", "A07", "p225", "list/train", {}),
        (f"list/{(tmp_path / 'abs' / 'c').as_posix().lstrip('/')}", "spoof", None, "p226",
         "list/test", {"Note": "x"}),
        ("list/clips/d", "bonafide", None, None, "list/test", {}),
    ]  # fmt: skip
    assert utts[0].path == str(tmp_path / "clips/a.wav")
    assert summarize(utts).missing == [str(tmp_path / "clips/d.wav")]
    test = prepare_corpus("csv", tmp_path, "TEST", name="mine", audio_root=str(tmp_path / "x"))
    assert [u.dataset for u in test] == ["mine/test", "mine/test"]
    assert test[1].path == str(tmp_path / "x" / "clips/d.wav")


def test_csv_tsv_ids_and_errors(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("utt_id\tfile\tkey\nu1\ta.flac\tspoof\nu2\tb.flac\tgenuine\n")
    assert [(u.id, u.label, u.dataset) for u in prepare_corpus("csv", tsv)] == [
        ("u1", "spoof", "t/all"), ("u2", "bonafide", "t/all")]  # fmt: skip
    with pytest.raises(CorpusError, match="no split column"):
        prepare_corpus("csv", tsv, "train")
    with pytest.raises(CorpusError, match="holds 2 .csv/.tsv files"):
        (tmp_path / "u.csv").write_text("path,label\n")
        prepare_corpus("csv", tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.wav,bonafide\nb.wav,maybe\n")
    with pytest.raises(CorpusError, match=r"bad\.csv:3: unknown label 'maybe'; expected bonafide"):
        prepare_corpus("csv", bad)
    bad.write_text("path,cls\na.wav,bonafide\n")
    with pytest.raises(CorpusError, match="no label column .* accepted names: label: label, key"):
        prepare_corpus("csv", bad)
    bad.write_text("path,label\na.wav,spoof,extra\n")
    with pytest.raises(CorpusError, match=r"bad\.csv:2: 3 fields, the header has 2"):
        prepare_corpus("csv", bad)
    with pytest.raises(CorpusError, match="does not exist"):
        prepare_corpus("csv", tmp_path / "none.csv")
