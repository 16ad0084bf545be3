"""The manifest summary and ``spoofscope prepare`` end to end through ``spoofscope.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscope.cli import main
from spoofscope.data.corpora import CORPORA, prepare_corpus
from spoofscope.data.manifest import Utterance, read_manifest
from spoofscope.data.summary import format_summary, missing_paths, summarize


def audio(path: Path, seed: int = 0) -> Path:
    """0.1 s of noise at 16 kHz (format from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).normal(0, 0.1, 1600).astype(np.float32), 16000)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["prepare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def la2019(tmp_path: Path) -> Path:
    """A 2019 LA tree: 3 train trials with audio, 2 dev trials of which 1 has audio."""
    root = tmp_path / "corpus"
    protocols = root / "LA" / "ASVspoof2019_LA_cm_protocols"
    protocols.mkdir(parents=True)
    (protocols / "ASVspoof2019.LA.cm.train.trn.txt").write_text(
        "LA_0079 LA_T_1000001 - - bonafide\nLA_0079 LA_T_1000002 - A01 spoof\n"
        "LA_0080 LA_T_1000003 - A02 spoof\n"
    )
    (protocols / "ASVspoof2019.LA.cm.dev.trl.txt").write_text(
        "LA_0081 LA_D_1000001 - - bonafide\nLA_0081 LA_D_1000002 - A01 spoof\n"
    )
    for i in (1, 2, 3):
        audio(root / "LA" / "ASVspoof2019_LA_train" / "flac" / f"LA_T_100000{i}.flac", i)
    audio(root / "LA" / "ASVspoof2019_LA_dev" / "flac" / "LA_D_1000001.flac")
    return root


# ---------------------------------------------------------------- summary


def test_summary_text_counts_missing_and_duplicates(tmp_path):
    present = audio(tmp_path / "a.wav")
    utts = [
        Utterance("a", str(present), "bonafide", "demo/train"),
        Utterance("b", str(tmp_path / "b.wav"), "spoof", "demo/train", "A10"),
        Utterance("c", str(tmp_path / "c.wav"), "spoof", "demo/train", "A2"),
        Utterance("c", "a.wav", "spoof", "demo/dev"),  # relative, present; duplicate id
    ]
    summary = summarize(utts, base=tmp_path)
    assert summary.labels == {"demo/train": {"bonafide": 1, "spoof": 2},
                              "demo/dev": {"bonafide": 0, "spoof": 1}}  # fmt: skip
    assert summary.attacks == {"demo/train": {"A2": 1, "A10": 1}, "demo/dev": {"(unknown)": 1}}
    assert summary.missing == [str(tmp_path / "b.wav"), str(tmp_path / "c.wav")]
    assert summary.duplicates == {"c": 2}
    assert format_summary(summary, examples=1).splitlines() == [
        "4 utterances: 1 bona fide, 3 spoof",
        "  dataset     bonafide  spoof  total",
        "  demo/train         1      2      3",
        "  demo/dev           0      1      1",
        "  all                1      3      4",
        "spoof per attack:",
        "  attack     demo/train  demo/dev",
        "  A2                  1         -",
        "  A10                 1         -",
        "  (unknown)           -         1",
        "missing audio: 2 of 4 files not found, e.g.",
        f"  {tmp_path / 'b.wav'}",
        "duplicate ids: 1 id(s) occur more than once, e.g.",
        "  c (x2)",
    ]
    clean = summarize(utts[:1])
    text = format_summary(clean)
    assert "spoof per attack: the corpus names no attacks" in text
    assert text.endswith("missing audio: none\nduplicate ids: none")
    assert "not checked" in format_summary(summarize(utts, check_audio=False))
    assert summarize(utts).to_dict(examples=1)["n_missing"] == 3  # "a.wav" from the cwd


def test_missing_paths_lists_each_folder_once(tmp_path):
    audio(tmp_path / "d" / "x.wav")
    (tmp_path / "d" / "sub").mkdir()
    paths = ["d/x.wav", "d/y.wav", "d/sub", "nodir/z.wav", str(tmp_path / "d" / "x.wav")]
    assert missing_paths(paths, tmp_path) == ["d/y.wav", "d/sub", "nodir/z.wav"]


# ---------------------------------------------------------------- CLI


def test_prepare_writes_manifest_and_prints_summary(capsys, la2019, tmp_path):
    out = tmp_path / "m" / "train.jsonl"
    code, text, err = run(capsys, "asvspoof2019-la", "--root", str(la2019), "--out", str(out))
    assert code == 0, err
    assert "5 utterances: 2 bona fide, 3 spoof" in text
    assert "  asvspoof2019-la/train         1      2      3" in text
    assert "missing audio: 1 of 5 files not found, e.g." in text
    assert str(la2019 / "LA/ASVspoof2019_LA_dev/flac/LA_D_1000002.flac") in text
    assert "kept the utterances without audio" in text
    assert text.rstrip().endswith(f"wrote 5 utterances to {out}")
    assert read_manifest(out) == prepare_corpus("asvspoof2019-la", la2019)

    code, text, _ = run(capsys, "asvspoof2019-la", "--root", str(la2019), "--out", str(out),
                        "--split", "dev", "--skip-missing", "--relative-paths")  # fmt: skip
    assert code == 0
    assert "dropped 1 utterance(s) without audio (--skip-missing)" in text
    (only,) = read_manifest(out)
    assert only.id == "LA_D_1000001" and Path(only.path).is_file()
    raw = json.loads(out.read_text())
    assert raw["path"] == "../corpus/LA/ASVspoof2019_LA_dev/flac/LA_D_1000001.flac"

    code, text, _ = run(capsys, "asvspoof2019-la", "--root", str(la2019), "--out", str(out),
                        "--json")  # fmt: skip
    report = json.loads(text)
    assert (report["written"], report["n_missing"], report["dropped_missing"]) == (5, 1, 0)
    assert report["attacks"]["asvspoof2019-la/train"] == {"A01": 1, "A02": 1}


def test_prepare_user_errors_exit_2_without_traceback(capsys, la2019, tmp_path):
    out = str(tmp_path / "m.jsonl")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "asvspoof2019-la", "--root", str(empty), "--out", out)
    assert code == 2 and "Traceback" not in err
    assert err.startswith("spoofscope prepare: error: asvspoof2019-la: no ASVspoof2019_LA_cm_")
    assert f"expected {empty}/LA/ASVspoof2019_LA_cm_protocols/" in err
    code, _, err = run(capsys, "asvspoof2099", "--root", str(la2019), "--out", out)
    assert code == 2 and "unknown corpus 'asvspoof2099'; valid choices: asvspoof2017" in err
    code, _, err = run(capsys, "wavefake", "--root", str(la2019), "--out", out, "--name", "x")
    assert code == 2 and "has no option name; its options: ljspeech, jsut, vocoders" in err
    code, _, err = run(capsys, "asvspoof2019-la", "--root", str(la2019), "--out", out, "-O", "x")
    assert code == 2 and "expected KEY=VALUE" in err
    code, _, err = run(capsys, "bonafide-folder", "--root", str(la2019), "--out", out,
                       "-O", "speaker_from_parent=maybe")  # fmt: skip
    assert code == 2 and "expected true or false, got 'maybe'" in err
    code, _, err = run(capsys, "asvspoof2019-la", "--root", str(la2019))
    assert code == 2 and "--root and --out are required" in err
    code, _, err = run(capsys)
    assert code == 2 and "give a CORPUS" in err
    assert not Path(out).exists()


def test_prepare_duplicate_ids(capsys, tmp_path):
    audio(tmp_path / "d" / "real" / "a.wav")
    audio(tmp_path / "d" / "real" / "a.flac")
    audio(tmp_path / "d" / "fake" / "b.wav")
    out = tmp_path / "m.jsonl"
    args = ["folder", "--root", str(tmp_path / "d"), "--out", str(out), "--name", "x"]
    code, text, err = run(capsys, *args)
    assert code == 2 and "1 id(s) occur more than once (e.g. 'x/real/a'); nothing written" in err
    assert "duplicate ids: 1 id(s) occur more than once, e.g.\n  x/real/a (x2)" in text
    assert not out.exists()
    assert run(capsys, *args, "--duplicates", "rename")[0] == 0
    assert [u.id for u in read_manifest(out)] == ["x/fake/b", "x/real/a", "x/real/a#2"]
    assert run(capsys, *args, "--duplicates", "drop")[0] == 0
    assert [Path(u.path).name for u in read_manifest(out)] == ["b.wav", "a.flac"]


def test_prepare_corpus_options(capsys, tmp_path):
    audio(tmp_path / "for" / "for-norm" / "training" / "real" / "a.wav")
    audio(tmp_path / "for" / "for-2sec" / "testing" / "fake" / "b.wav")
    out = tmp_path / "m.jsonl"
    code, text, err = run(capsys, "fake-or-real", "--root", str(tmp_path / "for"), "--out",
                          str(out), "-O", "version=for-2seconds")  # fmt: skip
    assert code == 0, err
    assert [u.id for u in read_manifest(out)] == ["for-2sec/testing/fake/b"]
    assert "spoof per attack: the corpus names no attacks" in text
    audio(tmp_path / "wf" / "ljspeech_melgan" / "LJ001-0001_gen.wav")
    audio(tmp_path / "lj" / "wavs" / "LJ001-0001.wav")
    code, _, err = run(capsys, "wavefake", "--root", str(tmp_path / "wf"), "--out", str(out),
                       "--ljspeech", str(tmp_path / "lj"))  # fmt: skip
    assert code == 0, err
    got = {(u.id, u.label) for u in read_manifest(out)}
    assert got == {("wavefake/ljspeech_melgan/LJ001-0001_gen", "spoof"),
                   ("ljspeech/LJ001-0001", "bonafide")}  # fmt: skip
    audio(tmp_path / "timit" / "TRAIN" / "DR1" / "FCJF0" / "SA1.WAV")
    code, _, err = run(capsys, "bonafide-folder", "--root", str(tmp_path / "timit"), "--out",
                       str(out), "-O", "speaker-from-parent=yes")  # fmt: skip
    assert code == 0, err
    assert read_manifest(out)[0].speaker == "FCJF0"


def test_prepare_list(capsys):
    code, text, _ = run(capsys, "--list")
    assert code == 0
    for name in CORPORA.names():
        assert f"\n{name} " in f"\n{text}"
    assert "options: ljspeech, jsut, vocoders" in text
    assert "``" not in text
