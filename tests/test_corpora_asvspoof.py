"""ASVspoof adapters (2017, 2019 LA/PA, 2021 LA/DF/PA, 5) on small trees built here, and the
2019 LA counts from the reference protocols (no audio there)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscope.data.corpora import CORPORA, CorpusError, prepare_corpus
from spoofscope.data.summary import summarize


def audio(path: Path, seed: int = 0) -> Path:
    """0.1 s of noise at 16 kHz (format from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).normal(0, 0.1, 1600).astype(np.float32), 16000)
    return path


def text(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- reference counts (no audio)

OFFICIAL = {  # split: (trials, bona fide, attacks, trials per attack)
    "train": (25380, 2580, [f"A{i:02d}" for i in range(1, 7)], 3800),
    "dev": (24844, 2548, [f"A{i:02d}" for i in range(1, 7)], 3716),
    "eval": (71237, 7355, [f"A{i:02d}" for i in range(7, 20)], 4914),
}
NAMES = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
         "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}  # fmt: skip


def link_protocols(root: Path, sources: dict[str, Path]) -> Path:
    folder = root / "LA" / "ASVspoof2019_LA_cm_protocols"
    folder.mkdir(parents=True)
    for split, src in sources.items():
        (folder / NAMES[split]).symlink_to(src)
    return root


def test_2019_la_reference_protocols_give_official_counts(tmp_path, reference_dir):
    ref = reference_dir / "asvspoof2019"
    root = link_protocols(tmp_path, {s: ref / n for s, n in NAMES.items()})
    utts = CORPORA.get("asvspoof2019-la")(root)
    summary = summarize(utts)
    assert summary.total == 25380 + 24844 + 71237
    assert summary.duplicates == {}
    assert len(summary.missing) == summary.total  # no audio in the reference folder
    for split, (n, bona, attacks, per_attack) in OFFICIAL.items():
        dataset = f"asvspoof2019-la/{split}"
        assert summary.labels[dataset] == {"bonafide": bona, "spoof": n - bona}
        assert summary.attacks[dataset] == dict.fromkeys(attacks, per_attack)
    first = utts[0]
    assert (first.id, first.label, first.speaker, first.attack) == (
        "LA_T_1138215", "bonafide", None, None)  # fmt: skip
    assert first.path == str(tmp_path / "LA/ASVspoof2019_LA_train/flac/LA_T_1138215.flac")


def test_2019_la_original_five_column_eval(tmp_path, reference_dir):
    src = reference_dir / "asvspoof2019" / "protocols_original_5col" / NAMES["eval"]
    root = link_protocols(tmp_path, {"eval": src})
    utts = prepare_corpus("asvspoof2019-la", root / "LA", "eval")
    summary = summarize(utts, check_audio=False)
    n, bona, attacks, per_attack = OFFICIAL["eval"]
    assert summary.labels == {"asvspoof2019-la/eval": {"bonafide": bona, "spoof": n - bona}}
    assert summary.attacks["asvspoof2019-la/eval"] == dict.fromkeys(attacks, per_attack)
    assert utts[0].speaker == "LA_0039" and utts[0].id == "LA_E_2834763"
    assert all(u.speaker for u in utts)
    # the same trials, labels and attacks as the 4-column variant
    four = link_protocols(
        tmp_path / "four", {"eval": reference_dir / "asvspoof2019" / NAMES["eval"]}
    )
    other = prepare_corpus("asvspoof2019-la", four, "eval")
    assert [(u.id, u.label, u.attack) for u in utts] == [(u.id, u.label, u.attack) for u in other]


# ---------------------------------------------------------------- 2019 LA / PA trees


@pytest.fixture
def la2019(tmp_path: Path) -> Path:
    base = tmp_path / "LA"
    protocols = base / "ASVspoof2019_LA_cm_protocols"
    text(protocols / NAMES["train"], ["LA_0079 LA_T_1000001 - - bonafide",
                                      "LA_0079 LA_T_1000002 - A01 spoof",
                                      "LA_0080 LA_T_1000003 - A02 spoof"])  # fmt: skip
    text(protocols / NAMES["dev"], ["flac LA_D_1000001 - bonafide", "flac LA_D_1000002 A05 spoof"])
    text(protocols / NAMES["eval"], ["LA_0001 LA_E_1000001 - A19 spoof"])
    for i in (1, 2, 3):
        audio(base / "ASVspoof2019_LA_train" / "flac" / f"LA_T_100000{i}.flac", i)
    audio(base / "ASVspoof2019_LA_dev" / "flac" / "LA_D_1000001.flac")  # LA_D_1000002 missing
    return tmp_path


def test_2019_la_tree(la2019):
    utts = prepare_corpus("asvspoof2019-la", la2019)
    by_id = {u.id: u for u in utts}
    assert list(by_id) == ["LA_T_1000001", "LA_T_1000002", "LA_T_1000003", "LA_D_1000001",
                           "LA_D_1000002", "LA_E_1000001"]  # fmt: skip
    t2 = by_id["LA_T_1000002"]
    assert (t2.label, t2.attack, t2.speaker, t2.dataset) == (
        "spoof", "A01", "LA_0079", "asvspoof2019-la/train")  # fmt: skip
    assert Path(t2.path).is_file() and sf.info(t2.path).samplerate == 16000
    assert by_id["LA_D_1000002"].speaker is None and by_id["LA_D_1000002"].attack == "A05"
    summary = summarize(utts)
    assert summary.missing == [
        str(la2019 / "LA/ASVspoof2019_LA_dev/flac/LA_D_1000002.flac"),
        str(la2019 / "LA/ASVspoof2019_LA_eval/flac/LA_E_1000001.flac"),
    ]
    # split selection; root may be the LA folder; an explicit protocol file
    assert [u.id for u in prepare_corpus("asvspoof2019-la", la2019 / "LA", "dev")] == [
        "LA_D_1000001", "LA_D_1000002"]  # fmt: skip
    extra = text(la2019 / "mine.txt", ["LA_0001 LA_T_1000003 - - bonafide"])
    mine = prepare_corpus("asvspoof2019-la", la2019, "train", protocol=str(extra))
    assert [(u.id, u.label) for u in mine] == [("LA_T_1000003", "bonafide")]
    assert Path(mine[0].path).is_file()


def test_2019_errors(la2019, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        CorpusError, match=r"no ASVspoof2019_LA_cm_protocols folder .* under .*empty"
    ):
        prepare_corpus("asvspoof2019-la", empty)
    with pytest.raises(CorpusError, match="does not exist"):
        prepare_corpus("asvspoof2019-la", tmp_path / "nowhere")
    with pytest.raises(CorpusError, match="unknown split 'test'; valid splits: train, dev, eval"):
        prepare_corpus("asvspoof2019-la", la2019, "test")
    with pytest.raises(CorpusError, match="give the split too"):
        prepare_corpus("asvspoof2019-la", la2019, protocol=str(la2019 / "x.txt"))
    with pytest.raises(CorpusError, match="no option 'vocoders'; its options: protocol"):
        prepare_corpus("asvspoof2019-la", la2019, vocoders="x")
    with pytest.raises(
        CorpusError, match="unknown corpus 'asvspoof2018'; valid choices: .*wavefake"
    ):
        prepare_corpus("asvspoof2018", la2019)


def test_2019_pa(tmp_path):
    protocols = tmp_path / "PA" / "ASVspoof2019_PA_cm_protocols"
    text(protocols / "ASVspoof2019.PA.cm.train.trn.txt",
         ["PA_0079 PA_T_0000001 aaa - bonafide", "PA_0079 PA_T_0000002 bbc AB spoof"])  # fmt: skip
    audio(tmp_path / "PA" / "ASVspoof2019_PA_train" / "flac" / "PA_T_0000002.flac")
    utts = prepare_corpus("asvspoof2019-pa", tmp_path)
    assert [(u.id, u.label, u.attack, u.extra) for u in utts] == [
        ("PA_T_0000001", "bonafide", None, {"environment": "aaa"}),
        ("PA_T_0000002", "spoof", "AB", {"environment": "bbc"}),
    ]
    assert summarize(utts).missing == [utts[0].path]


# ---------------------------------------------------------------- 2021 LA / DF / PA

LA21 = [
    "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
    "LA_0020 LA_E_7294490 g722 loc_tx bonafide bonafide notrim progress",
    "LA_0021 LA_E_1000003 none - A10 spoof notrim hidden",
    "LA_0022 LA_E_1000004 ulaw sin_tx bonafide bonafide notrim eval",
]


def test_2021_la_subsets_and_metadata(tmp_path):
    text(tmp_path / "LA-keys-full" / "keys" / "LA" / "CM" / "trial_metadata.txt", LA21)
    text(tmp_path / "LA-keys-full" / "keys" / "LA" / "ASV" / "trial_metadata.txt", ["x"])
    flac = tmp_path / "ASVspoof2021_LA_eval" / "flac"
    for uid in ("LA_E_9332881", "LA_E_7294490", "LA_E_1000004"):
        audio(flac / f"{uid}.flac")
    utts = prepare_corpus("asvspoof2021-la", tmp_path)
    counts = Counter(u.dataset.split("/")[1] for u in utts)
    assert counts == {"eval": 2, "progress": 1, "hidden": 1}
    assert {u.dataset.split("/")[0] for u in utts} == {"asvspoof2021-la"}
    first = utts[0]
    assert (first.id, first.label, first.attack, first.speaker) == (
        "LA_E_9332881", "spoof", "A07", "LA_0009")  # fmt: skip
    assert first.extra == {"codec": "alaw", "transmission": "ita_tx", "trim": "notrim",
                           "subset": "eval", "condition": "alaw"}  # fmt: skip
    assert summarize(utts).missing == [str(flac / "LA_E_1000003.flac")]
    progress = prepare_corpus("asvspoof2021-la", tmp_path, "progress")
    assert [(u.id, u.label, u.attack) for u in progress] == [("LA_E_7294490", "bonafide", None)]
    assert [u.id for u in prepare_corpus("asvspoof2021-la", tmp_path, "EVAL")] == [
        "LA_E_9332881", "LA_E_1000004"]  # fmt: skip
    with pytest.raises(CorpusError, match="valid splits: eval, progress, hidden"):
        prepare_corpus("asvspoof2021-la", tmp_path, "train")
    with pytest.raises(CorpusError, match="no CM key file with DF trials .* DF-keys-full"):
        prepare_corpus("asvspoof2021-df", tmp_path)  # an LA key is not a DF key


def test_2021_df_parts_and_vocoder_columns(tmp_path):
    key = tmp_path / "keys" / "DF" / "CM" / "trial_metadata.txt"
    text(key, [
        "TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval "
        "neural_vocoder_nonautoregressive Task1 team20 FF E",
        "LA_0023 DF_E_2000011 nocodec asvspoof - bonafide notrim progress bonafide - - - -",
    ])  # fmt: skip
    audio(
        tmp_path
        / "ASVspoof2021_DF_eval_part00"
        / "ASVspoof2021_DF_eval"
        / "flac"
        / "DF_E_2000013.flac"
    )
    audio(
        tmp_path
        / "ASVspoof2021_DF_eval_part01"
        / "ASVspoof2021_DF_eval"
        / "flac"
        / "DF_E_2000011.flac"
    )
    utts = prepare_corpus("asvspoof2021-df", tmp_path)
    assert summarize(utts).missing == []
    spoof = utts[0]
    assert spoof.attack == "Task1-team20" and spoof.dataset == "asvspoof2021-df/eval"
    assert spoof.extra["vocoder"] == "neural_vocoder_nonautoregressive"
    assert spoof.extra["source"] == "vcc2020" and spoof.extra["codec"] == "low_m4a"
    assert utts[1].label == "bonafide" and utts[1].extra["condition"] == "nocodec"
    with pytest.raises(
        CorpusError, match=r"no trials of subset 'hidden' .* subsets there: eval, progress"
    ):
        prepare_corpus("asvspoof2021-df", tmp_path, "hidden")
    # a 2019-style protocol given as the key has no subset column
    plain = text(tmp_path / "plain.txt", ["LA_0001 DF_E_1 - A01 spoof"])
    with pytest.raises(CorpusError, match="no subset column"):
        prepare_corpus("asvspoof2021-df", tmp_path, protocol=str(plain))


def test_2021_pa(tmp_path):
    text(tmp_path / "PA-keys-full/keys/PA/CM/trial_metadata.txt",
         ["PA_0010 PA_E_1000001 R3 M3 d4 r1 m1 s4 c4 spoof notrim eval"])  # fmt: skip
    (u,) = prepare_corpus("asvspoof2021-pa", tmp_path)
    assert (u.attack, u.extra["asv_room"], u.dataset) == (
        "r1-m1-s4-c4",
        "R3",
        "asvspoof2021-pa/eval",
    )


# ---------------------------------------------------------------- ASVspoof 5 and 2017


def test_asvspoof5(tmp_path):
    protocols = tmp_path / "ASVspoof5_protocols"
    train = ["T_4850 T_0000000000 F - - - AC3 A05 spoof -",
             "T_4851 T_0000000001 M - - - - bonafide bonafide -"]  # fmt: skip
    text(protocols / "ASVspoof5.train.tsv", train)
    text(protocols / "ASVspoof5.dev.track_1.tsv", ["D_0062 D_0000000001 F - - - AC1 A11 spoof -"])
    text(protocols / "ASVspoof5.dev.track_2.trial.tsv", ["not a CM protocol"])
    text(protocols / "ASVspoof5.eval.track_1.tsv",
         ["E_0101 E_0000000003 M C05 3 1234 - bonafide bonafide -"])  # fmt: skip
    audio(tmp_path / "flac_T" / "flac_T" / "T_0000000000.flac")  # nested once, as unpacked
    audio(tmp_path / "flac_T" / "flac_T" / "T_0000000001.flac")
    audio(tmp_path / "flac_E_eval" / "E_0000000003.flac")
    utts = prepare_corpus("asvspoof5", tmp_path)
    assert [(u.id, u.label, u.attack, u.dataset) for u in utts] == [
        ("T_0000000000", "spoof", "A05", "asvspoof5/train"),
        ("T_0000000001", "bonafide", None, "asvspoof5/train"),
        ("D_0000000001", "spoof", "A11", "asvspoof5/dev"),
        ("E_0000000003", "bonafide", None, "asvspoof5/eval"),
    ]
    assert utts[0].extra == {"gender": "F", "codec": "-", "codec_q": "-", "codec_seed": "-",
                             "attack_tag": "AC3", "condition": "none"}  # fmt: skip
    assert utts[3].extra["condition"] == "C05"
    assert summarize(utts).missing == [str(tmp_path / "flac_D" / "D_0000000001.flac")]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match=r"no protocol file .* expected .*ASVspoof5\.train\.tsv"):
        prepare_corpus("asvspoof5", empty)


def test_asvspoof2017(tmp_path):
    train = ["T_1000001.wav genuine M0001 S01 - - -", "T_1001509.wav spoof M0005 S01 E02 P02 R02"]
    text(tmp_path / "protocol_V2" / "ASVspoof2017_V2_train.trn.txt", train)
    text(
        tmp_path / "protocol_V2" / "ASVspoof2017_V2_eval.trl.txt",
        ["E_1000001.wav genuine M0010 S02 - - -"],
    )
    audio(tmp_path / "ASVspoof2017_V2_train" / "T_1000001.wav")
    audio(tmp_path / "ASVspoof2017_V2_train" / "T_1001509.wav")
    utts = prepare_corpus("asvspoof2017", tmp_path)
    assert [(u.id, u.label, u.attack, u.speaker, u.dataset) for u in utts] == [
        ("T_1000001", "bonafide", None, "M0001", "asvspoof2017/train"),
        ("T_1001509", "spoof", "E02-P02-R02", "M0005", "asvspoof2017/train"),
        ("E_1000001", "bonafide", None, "M0010", "asvspoof2017/eval"),
    ]
    assert utts[1].extra == {"phrase": "S01", "environment": "E02", "playback": "P02",
                             "recording": "R02"}  # fmt: skip
    assert summarize(utts).missing == [str(tmp_path / "ASVspoof2017_V2_eval" / "E_1000001.wav")]
    with pytest.raises(CorpusError, match="no protocol file for dev .*ASVspoof2017_V2_dev.trl.txt"):
        prepare_corpus("asvspoof2017", tmp_path, "dev")
