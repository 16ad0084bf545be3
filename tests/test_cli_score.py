"""The ``score`` command end to end, with the official AASIST weights, and CLI basics."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from spoofscope.cli import main

CLIPS = ["LA_T_1272637", "LA_D_1003356", "LA_E_6163791"]


@pytest.fixture(scope="module")
def expected(reference_dir):
    doc = json.loads((reference_dir / "aasist" / "expected_logits.json").read_text())
    outputs = doc["results"]["AASIST.pth"]["outputs"]
    return {clip: outputs[f"{clip}.model_input.npy"]["logits"] for clip in CLIPS}


def test_help_is_fast_and_imports_no_torch():
    code = (
        "import sys, spoofscope.cli as c\n"
        "c.build_parser()\n"
        "heavy = [m for m in ('torch', 'av', 'soundfile', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-m", "spoofscope", "--help"], capture_output=True, text=True, check=True
    )
    assert "score" in out.stdout and "models" in out.stdout


@pytest.mark.parametrize("mode", ["official", "log-odds"])
def test_score_reference_clips_with_official_weights(reference_dir, expected, mode, capsys):
    inputs = reference_dir / "aasist" / "inputs"
    ckpt = reference_dir / "aasist" / "AASIST.pth"
    code = main(["score", "--checkpoint", str(ckpt), "--score-mode", mode, str(inputs)])
    assert code == 0
    lines = dict(line.split() for line in capsys.readouterr().out.strip().splitlines())
    assert sorted(lines) == sorted(CLIPS)  # .npy files in the folder are not audio
    for clip, (spoof, bona) in expected.items():
        want = bona if mode == "official" else bona - spoof
        assert float(lines[clip]) == pytest.approx(want, abs=2e-4)


def test_bad_file_is_reported_and_the_rest_go_on(reference_dir, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    good = tmp_path / "tone.wav"
    sf.write(good, 0.3 * np.sin(np.arange(20000) * 0.2), 16000)
    ckpt = reference_dir / "aasist" / "AASIST-L.pth"
    out_json = tmp_path / "out.json"
    code = main(["score", "--checkpoint", str(ckpt), str(bad), str(good), "--json", str(out_json)])
    captured = capsys.readouterr()
    assert code == 0
    assert "broken.wav" in captured.err and "1 of 2" in captured.err
    assert captured.out.split()[0] == "tone"
    doc = json.loads(out_json.read_text())
    rows = {r["id"]: r for r in doc["results"]}
    assert rows["broken"]["error"] and rows["broken"]["score"] is None
    assert rows["tone"]["error"] is None and np.isfinite(rows["tone"]["score"])
    assert doc["score_mode"] == "log-odds" and doc["model"] == "aasist-l"


def test_every_file_failing_exits_non_zero(reference_dir, tmp_path, capsys):
    ckpt = reference_dir / "aasist" / "AASIST-L.pth"
    code = main(["score", "--checkpoint", str(ckpt), str(tmp_path / "missing.wav")])
    assert code == 1
    assert "missing.wav" in capsys.readouterr().err


def test_user_errors_end_without_traceback(reference_dir, tmp_path, capsys):
    assert main(["score", "--checkpoint", str(tmp_path / "none.pth"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    ckpt = reference_dir / "aasist" / "AASIST-L.pth"
    assert main(["score", "--checkpoint", str(ckpt), "--model", "aasist", str(tmp_path)]) == 2
    assert "does not match" in capsys.readouterr().err


def test_models_command_lists_models(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "aasist" in out and "rawnet2-lite" in out and "cqcc-gmm" in out
