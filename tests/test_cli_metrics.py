"""``spoofscope metrics`` run in-process through ``spoofscope.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spoofscope.cli import main


@pytest.fixture(scope="module")
def expected(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "metrics" / "expected_metrics.json").read_text())


@pytest.fixture(scope="module")
def files(reference_dir: Path) -> dict[str, str]:
    base = reference_dir / "asvspoof2019"
    return {
        "softmax": str(base / "air-softmax.cm_scores.txt"),
        "ocsoftmax": str(base / "air-ocsoftmax.cm_scores.txt"),
        "protocol": str(base / "protocols_original_5col" / "ASVspoof2019.LA.cm.eval.trl.txt"),
        "asv": str(base / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"),
        "tiny": str(reference_dir / "metrics" / "synth_tiny.txt"),
        "allequal": str(reference_dir / "metrics" / "synth_allequal.txt"),
    }


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["metrics", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_air_softmax_json_and_text_match_official(capsys, files, expected):
    want = expected["score_sets"]["air-softmax"]["metrics"]
    args = ["--scores", files["softmax"], "--protocol", files["protocol"]]
    args += ["--asv-scores", files["asv"]]
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["eer"] == want["asvspoof2019.eer"]["value"]
    assert report["min_tdcf_legacy"] == pytest.approx(
        want["asvspoof2019.min_tdcf_legacy"]["value"], rel=1e-12
    )
    assert report["min_tdcf_revised"] == pytest.approx(
        want["asvspoof2021.min_tdcf_revised"]["value"], rel=1e-12
    )
    assert report["teer_percent"] == pytest.approx(want["asvspoof5.teer"]["value"], rel=1e-12)
    for key in ("min_dcf", "act_dcf", "cllr"):
        assert report[key] == pytest.approx(want[f"asvspoof5.{key}"]["value"], rel=1e-12)
    assert (report["n_bonafide"], report["n_spoof"]) == (7355, 63882)
    rows = {r["group"]: r["eer"] for r in report["breakdown"]["rows"]}
    assert rows == want["asvspoof2019.eer_per_attack"]["value"]
    assert report["errors"] == {}

    code, text, _ = run(capsys, *args)
    assert code == 0
    assert f"EER                       {want['asvspoof2019.eer']['value'] * 100:.6f} %" in text
    assert f"min t-DCF (2019 legacy)   {want['asvspoof2019.min_tdcf_legacy']['value']:.10f}" in text
    assert "A17" in text and "EER per attack" in text


def test_negate_and_keys_from_score_file(capsys, files, expected):
    want = expected["score_sets"]["air-ocsoftmax.negated"]["metrics"]
    code, out, err = run(capsys, "--scores", files["ocsoftmax"], "--negate", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["negated"] is True
    assert report["eer"] == want["asvspoof2019.eer"]["value"]
    assert "min_tdcf_legacy" not in report  # no ASV scores given
    assert report["breakdown"]["by"] == "attack"  # the AIR file names its attacks


def test_bootstrap_and_synthetic_set(capsys, files, expected):
    want = expected["score_sets"]["synth_tiny"]["metrics"]
    code, out, _ = run(capsys, "--scores", files["tiny"], "--json", "--bootstrap", "50")
    assert code == 0
    report = json.loads(out)
    assert report["eer"] == want["asvspoof2019.eer"]["value"]
    boot = report["bootstrap"]
    assert boot["eer_low"] <= report["eer"] <= boot["eer_high"]
    assert (boot["n_resamples"], boot["level"], boot["seed"]) == (50, 0.95, 0)
    assert report["breakdown"] is None
    code, text, _ = run(capsys, "--scores", files["tiny"], "--bootstrap", "20", "--seed", "3")
    assert "95% CI (bootstrap)" in text and "seed 3" in text


def test_hard_decisions_are_reported_not_fatal(capsys, files):
    code, out, _ = run(capsys, "--scores", files["allequal"], "--asv-scores", files["asv"])
    assert code == 0
    assert "min t-DCF (2019 legacy)   n/a" in out
    assert "note: min_tdcf_legacy not computed: t-DCF needs soft CM scores" in out
    assert "EER                       100.000000 %" in out


def test_by_condition(capsys, tmp_path):
    keys = tmp_path / "trial_metadata.txt"
    scores = tmp_path / "score.txt"
    keys.write_text(
        "LA_0009 LA_E_1000001 alaw ita_tx A07 spoof notrim eval\n"
        "LA_0009 LA_E_1000002 alaw ita_tx bonafide bonafide notrim eval\n"
        "LA_0010 LA_E_1000003 gsm loc_tx A08 spoof notrim eval\n"
        "LA_0010 LA_E_1000004 gsm loc_tx bonafide bonafide notrim eval\n"
    )
    scores.write_text("LA_E_1000001 -1\nLA_E_1000002 2\nLA_E_1000003 3\nLA_E_1000004 1\n")
    code, out, err = run(
        capsys, "--scores", str(scores), "--protocol", str(keys), "--by", "condition", "--json"
    )
    assert code == 0, err
    rows = {r["group"]: r["eer"] for r in json.loads(out)["breakdown"]["rows"]}
    assert rows == {"alaw": 0.0, "gsm": 1.0}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scores", "/nonexistent/scores.txt"], "scores.txt: file not found"),
        (["--scores", "{tiny}", "--protocol", "{protocol}"], "has no utterance ids"),
        (["--scores", "{tiny}", "--by", "condition"], "no condition (codec) column"),
        (["--scores", "{tiny}", "--by", "attack"], "name no attack"),
        (["--scores", "{tiny}", "--bootstrap", "-1"], "--bootstrap must be >= 0"),
        (["--scores", "{tiny}", "--bootstrap", "5", "--confidence", "1.5"], "--confidence"),
        (["--scores", "{mismatch}", "--protocol", "{protocol}"], "have no score"),
        (["--scores", "{nan}"], "is not a finite number"),
        (["--scores", "{tiny}", "--subset", "eval"], "give --protocol too"),
    ],
)
def test_user_errors_exit_2_without_traceback(capsys, tmp_path, files, argv, message):
    (tmp_path / "mismatch.txt").write_text("LA_E_2834763 0.5\nLA_E_0000001 0.1\n")
    (tmp_path / "nan.txt").write_text("0.5 bonafide\nnan spoof\n")
    paths = {**files, "mismatch": str(tmp_path / "mismatch.txt"), "nan": str(tmp_path / "nan.txt")}
    code, out, err = run(capsys, *(a.format(**paths) for a in argv))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.startswith("spoofscope metrics: error:")
