"""Reading CM protocols / keys, score files and ASV score files (spoofscope.protocols)."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

from spoofscope import protocols
from spoofscope.errors import SpoofscopeError
from spoofscope.protocols import IdMismatchError, ProtocolError, parse_protocol_line, read_protocol
from spoofscope.scorefiles import join_scores, read_asv_scores, read_scores


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# (line, utt_id, label, attack, speaker, subset of extra)
LINES = [
    ("LA_0039 LA_E_2834763 - A11 spoof", "LA_E_2834763", "spoof", "A11", "LA_0039", {}),
    ("LA_0030 LA_E_5849185 - - bonafide", "LA_E_5849185", "bonafide", None, "LA_0030", {}),
    ("flac LA_E_2834763 A11 spoof", "LA_E_2834763", "spoof", "A11", None, {}),
    ("flac LA_T_1138215 - bonafide", "LA_T_1138215", "bonafide", None, None, {}),
    ("PA_0079 PA_T_0000031 aaa AA spoof", "PA_T_0000031", "spoof", "AA", "PA_0079",
     {"environment": "aaa"}),
    ("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval", "LA_E_9332881", "spoof", "A07",
     "LA_0009", {"codec": "alaw", "transmission": "ita_tx", "subset": "eval",
                 "condition": "alaw", "trim": "notrim"}),
    ("LA_0020 LA_E_7294490 g722 loc_tx bonafide bonafide notrim progress", "LA_E_7294490",
     "bonafide", None, "LA_0020", {"codec": "g722", "subset": "progress"}),
    ("TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval "
     "neural_vocoder_nonautoregressive Task1 team20 FF E", "DF_E_2000013", "spoof",
     "Task1-team20", "TEF2", {"codec": "low_m4a", "source": "vcc2020", "language": "E",
                              "vocoder": "neural_vocoder_nonautoregressive"}),
    ("LA_0023 DF_E_2000011 nocodec asvspoof - bonafide notrim progress bonafide - - - -",
     "DF_E_2000011", "bonafide", None, "LA_0023", {"condition": "nocodec", "subset": "progress"}),
    ("PA_0010 PA_E_1000001 R3 M3 d4 r1 m1 s4 c4 spoof notrim eval", "PA_E_1000001", "spoof",
     "r1-m1-s4-c4", "PA_0010", {"asv_room": "R3", "att_to_spk": "c4", "subset": "eval"}),
    ("T_4850 T_0000000000 F - - - AC3 A05 spoof -", "T_0000000000", "spoof", "A05", "T_4850",
     {"attack_tag": "AC3", "codec": "-", "condition": "none", "gender": "F"}),
    ("E_0101 E_0000000003 M C05 3 1234 - bonafide bonafide -", "E_0000000003", "bonafide", None,
     "E_0101", {"codec": "C05", "codec_q": "3", "condition": "C05"}),
    ("T_1000001.wav genuine M0001 S01 - - -", "T_1000001.wav", "bonafide", None, "M0001",
     {"phrase": "S01"}),
    ("T_1001509.wav spoof M0005 S01 E02 P02 R02", "T_1001509.wav", "spoof", "E02-P02-R02",
     "M0005", {"environment": "E02"}),
    ("T_4850 T_0000000000 F - A05 spoof", "T_0000000000", "spoof", "A05", "T_4850", {}),
    ("utt_17 Bona-Fide", "utt_17", "bonafide", None, None, {}),
    ("spk1 clip_9 A03 spoof", "clip_9", "spoof", "A03", "spk1", {}),
]  # fmt: skip


@pytest.mark.parametrize(("line", "utt", "label", "attack", "speaker", "extra"), LINES)
def test_protocol_layouts_by_value(line, utt, label, attack, speaker, extra):
    rec = parse_protocol_line(line)
    assert (rec.utt_id, rec.label, rec.attack, rec.speaker) == (utt, label, attack, speaker)
    assert extra.items() <= rec.extra.items()
    assert rec.is_bonafide == (label == "bonafide")


def test_protocol_line_errors_name_the_line():
    with pytest.raises(ProtocolError, match=r"f\.txt:7: no label field"):
        parse_protocol_line("LA_0039 LA_E_2834763 - A11 spooof", "f.txt:7")
    with pytest.raises(ProtocolError, match="conflicting labels"):
        parse_protocol_line("x LA_E_1 bonafide spoof", "f.txt:1")


def test_reference_protocols_4_and_5_columns_agree(reference_dir):
    base = reference_dir / "asvspoof2019"
    five = read_protocol(base / "protocols_original_5col" / "ASVspoof2019.LA.cm.eval.trl.txt")
    four = read_protocol(base / "ASVspoof2019.LA.cm.eval.trl.txt")
    assert [(r.utt_id, r.label, r.attack) for r in five] == [
        (r.utt_id, r.label, r.attack) for r in four
    ]
    assert len(five) == 71237
    assert sum(r.is_bonafide for r in five) == 7355
    assert {r.attack for r in five if not r.is_bonafide} == {f"A{i:02d}" for i in range(7, 20)}
    assert five[0].speaker == "LA_0039" and four[0].speaker is None


def test_protocol_header_and_csv(tmp_path):
    itw = write(tmp_path, "meta.csv", "file,speaker,label\n0.wav,Alec Guinness,spoof\n"
                "1.wav,Alec Guinness,bona-fide\n")  # fmt: skip
    recs = read_protocol(itw)
    assert [(r.utt_id, r.speaker, r.label, r.attack) for r in recs] == [
        ("0.wav", "Alec Guinness", "spoof", None),
        ("1.wav", "Alec Guinness", "bonafide", None),
    ]
    key5 = write(tmp_path, "key.tsv", "filename\tcm-label\nE_0000000001\tbonafide\n"
                 "E_0000000002\tspoof\n")  # fmt: skip
    assert [(r.utt_id, r.label) for r in read_protocol(key5)] == [
        ("E_0000000001", "bonafide"),
        ("E_0000000002", "spoof"),
    ]


def test_read_protocol_errors(tmp_path):
    with pytest.raises(ProtocolError, match="file not found"):
        read_protocol(tmp_path / "nope.txt")
    bad = write(tmp_path, "p.txt", "LA_0001 LA_E_1000001 - A01 spoof\n\nLA_0001 LA_E_1000002 -\n")
    with pytest.raises(ProtocolError, match=r"p\.txt:3: no label"):
        read_protocol(bad)
    dup = write(tmp_path, "d.txt", "s LA_E_1000001 - A01 spoof\ns LA_E_1000001 - - bonafide\n")
    with pytest.raises(IdMismatchError, match="duplicated.*LA_E_1000001"):
        read_protocol(dup)
    with pytest.raises(ProtocolError, match="no trials"):
        read_protocol(write(tmp_path, "e.txt", "# only a comment\n"))


def test_score_file_formats(tmp_path):
    two = read_scores(write(tmp_path, "a.txt", "LA_E_1 0.5\nLA_E_2 -1e-3\n"))
    assert two.utt_ids == ["LA_E_1", "LA_E_2"] and two.labels is None
    assert two.scores.tolist() == [0.5, -0.001]
    air = read_scores(write(tmp_path, "b.txt", "LA_E_1 A11 spoof 0.1\nLA_E_2 A00 bonafide 0.9\n"))
    assert air.labels == ["spoof", "bonafide"] and air.attacks == ["A11", None]
    synth = read_scores(write(tmp_path, "c.txt", "0.5 bonafide\n-2 spoof\n"))
    assert synth.utt_ids is None and synth.labels == ["bonafide", "spoof"]
    tsv = read_scores(write(tmp_path, "d.tsv", "filename\tcm-score\nE_0000000001\t3.5\n"))
    assert tsv.utt_ids == ["E_0000000001"] and tsv.scores.tolist() == [3.5]
    stage1 = read_scores(
        write(tmp_path, "e.txt", "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval -5.85\n"
              "LA_0020 LA_E_7294490 g722 loc_tx bonafide bonafide notrim eval 1.5\n")
    )  # fmt: skip
    assert stage1.utt_ids == ["LA_E_9332881", "LA_E_7294490"]
    assert stage1.labels == ["spoof", "bonafide"] and stage1.attacks == ["A07", None]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("LA_E_1 0.5\nLA_E_2 nan\n", r"x\.txt:2: score 'nan' is not a finite number"),
        ("LA_E_1 0.5\nLA_E_2 inf\n", r"x\.txt:2: score 'inf'"),
        ("LA_E_1 0.5\nLA_E_2 0.1 0.2\n", r"x\.txt:2: expected 2 fields"),
        ("LA_E_1 0.5\nLA_E_2 high\n", r"x\.txt:2: score 'high'"),
        ("LA_E_1 0.5\nLA_E_1 0.7\n", "duplicated utterance id"),
        ("\n# nothing\n", "no scores found"),
    ],
)
def test_score_file_errors(tmp_path, text, match):
    with pytest.raises(ProtocolError, match=match) as info:
        read_scores(write(tmp_path, "x.txt", text))
    assert isinstance(info.value, ValueError) and isinstance(info.value, SpoofscopeError)


def test_asv_scores(reference_dir, tmp_path):
    asv = read_asv_scores(reference_dir / "asvspoof2019/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt")
    assert (asv.target.size, asv.nontarget.size, asv.spoof.size) == (5370, 33327, 63882)
    assert asv.target[0] == 7.98153
    with pytest.raises(ProtocolError, match="no 'spoof' trials"):
        read_asv_scores(write(tmp_path, "a.txt", "bonafide target 1\nbonafide nontarget -1\n"))
    with pytest.raises(ProtocolError, match=r"a2\.txt:2: expected"):
        read_asv_scores(write(tmp_path, "a2.txt", "bonafide target 1\nbonafide 2\n"))


PROTO = "s LA_E_1000001 - A01 spoof\ns LA_E_1000002 - - bonafide\ns LA_E_1000003 - A02 spoof\n"


def test_join_by_id_in_any_order(tmp_path):
    proto = read_protocol(write(tmp_path, "p.txt", PROTO))
    scores = read_scores(write(tmp_path, "s.txt", "LA_E_1000003 0.3\nLA_E_1000001 0.1\n"
                               "LA_E_1000002.flac 0.9\n"))  # fmt: skip
    trials = join_scores(scores, proto)
    assert trials.scores.tolist() == [0.1, 0.9, 0.3]
    assert trials.is_bonafide.tolist() == [False, True, False]
    assert trials.attacks == ["A01", None, "A02"]
    assert trials.bonafide.tolist() == [0.9] and trials.spoof.tolist() == [0.1, 0.3]


def test_join_errors(tmp_path):
    proto = read_protocol(write(tmp_path, "p.txt", PROTO))
    missing = read_scores(write(tmp_path, "m.txt", "LA_E_1000001 0.1\nLA_E_1000002 0.2\n"))
    with pytest.raises(IdMismatchError, match=r"1 protocol trial\(s\) have no score.*1000003"):
        join_scores(missing, proto)
    extra = read_scores(write(tmp_path, "x.txt", "LA_E_1000001 0.1\nLA_E_1000002 0.2\n"
                              "LA_E_1000003 0.3\nLA_E_1000009 0.4\n"))  # fmt: skip
    with pytest.raises(IdMismatchError, match=r"1 scored id\(s\) are not in the protocol"):
        join_scores(extra, proto)
    wrong = read_scores(
        write(
            tmp_path,
            "w.txt",
            "LA_E_1000001 A01 bonafide 0.1\n"
            "LA_E_1000002 - bonafide 0.2\nLA_E_1000003 A02 spoof 0.3\n",
        )
    )
    with pytest.raises(IdMismatchError, match="labelled differently.*LA_E_1000001"):
        join_scores(wrong, proto)
    no_ids = read_scores(write(tmp_path, "n.txt", "0.1 spoof\n0.2 bonafide\n0.3 spoof\n"))
    with pytest.raises(ProtocolError, match="no utterance ids"):
        join_scores(no_ids, proto)
    with pytest.raises(ProtocolError, match="carries no bonafide/spoof keys"):
        join_scores(missing)


def test_join_subset(tmp_path):
    proto = read_protocol(write(tmp_path, "k.txt", (
        "LA_0009 LA_E_1000001 alaw ita_tx A07 spoof notrim eval\n"
        "LA_0009 LA_E_1000002 alaw ita_tx - bonafide notrim eval\n"
        "LA_0009 LA_E_1000003 gsm loc_tx A08 spoof notrim progress\n"
    )))  # fmt: skip
    scores = read_scores(write(tmp_path, "s.txt", "LA_E_1000001 0.1\nLA_E_1000002 0.9\n"))
    trials = join_scores(scores, proto, subset="eval")
    assert trials.conditions == ["alaw", "alaw"] and trials.utt_ids == [
        "LA_E_1000001",
        "LA_E_1000002",
    ]
    with pytest.raises(ProtocolError, match="subset 'hidden'"):
        join_scores(scores, proto, subset="hidden")


def test_reference_air_scores_join_5col_protocol(reference_dir):
    base = reference_dir / "asvspoof2019"
    proto = read_protocol(base / "protocols_original_5col/ASVspoof2019.LA.cm.eval.trl.txt")
    scores = read_scores(base / "air-amsoftmax.cm_scores.txt")
    trials = join_scores(scores, proto)
    own = join_scores(scores)  # the AIR file carries its own keys and attack ids
    assert np.array_equal(trials.scores, own.scores)
    assert trials.attacks == own.attacks
    assert int(trials.is_bonafide.sum()) == 7355


def test_doctests():
    result = doctest.testmod(protocols)
    assert result.failed == 0 and result.attempted > 0
