"""``spoofscope detect`` end to end: table, JSON, CSV, JSONL, PNG, errors and exit codes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from spoofscope import inference_model
from spoofscope.cli import main
from spoofscope.detect_output import format_ranges
from test_inference import SR, export_lag_onnx, noise, tiny_checkpoint, tone


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    sf.write(folder / "clean.wav", tone(1.0, 220.0), SR)
    sf.write(folder / "mixed.flac", np.concatenate([tone(0.6), noise(0.4, 2), tone(0.6)]), SR)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (sub := folder / "sub").mkdir()
    sf.write(sub / "deep.wav", tone(0.5, 330.0), SR)
    return folder


def run(capsys, *argv):
    code = main(["detect", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_mixed_good_and_corrupt_files(ckpt, audio_dir, tmp_path, capsys):
    out_json, out_csv, plots = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "plots"
    code, stdout, stderr = run(
        capsys, audio_dir, "--model", ckpt, "--vad", "none", "--json", out_json,
        "--csv", out_csv, "--plot", plots, "--workers", 2,
    )  # fmt: skip
    assert code == 0
    lines = stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["FILE", "VERDICT", "P_SPOOF", "DURATION"]
    rows = {line.split()[0].rsplit("/", 1)[-1]: line for line in lines[1:]}
    assert set(rows) == {"clean.wav", "corrupt.wav", "mixed.flac"}  # not recursive by default
    assert rows["clean.wav"].split()[1] == "bonafide"
    assert rows["mixed.flac"].split()[1] == "spoof"
    assert rows["corrupt.wav"].split()[1] == "error" and "corrupt.wav" in rows["corrupt.wav"]
    assert "1 of 3 file(s) failed" in stderr

    doc = json.loads(out_json.read_text())
    assert doc["summary"] == {"files": 3, "failed": 1, "verdicts": {"bonafide": 1, "spoof": 1}}
    by_name = {r["source"].rsplit("/", 1)[-1]: r for r in doc["results"]}
    assert by_name["corrupt.wav"]["error"] and by_name["corrupt.wav"]["verdict"] is None
    mixed = by_name["mixed.flac"]
    assert mixed["duration_s"] == pytest.approx(1.6)
    (start, end), *more = mixed["flagged"]  # the noise is at 0.6-1.0 s, windows are 0.1 s
    assert 0.5 <= start <= 0.6 and 1.0 <= end <= 1.1 and not more
    assert rows["mixed.flac"].endswith(format_ranges(mixed["flagged"]))
    assert mixed["windows"][0]["start_s"] == 0.0 and mixed["windows"][-1]["end_s"] == 1.6

    with out_csv.open() as handle:
        table = {r["source"].rsplit("/", 1)[-1]: r for r in csv.DictReader(handle)}
    assert table["corrupt.wav"]["verdict"] == "error" and table["corrupt.wav"]["error"]
    assert float(table["mixed.flac"]["p_spoof"]) == pytest.approx(mixed["p_spoof"], abs=1e-6)
    assert int(table["mixed.flac"]["n_windows"]) == len(mixed["windows"])
    assert table["mixed.flac"]["flagged"] == ";".join(f"{a:g}-{b:g}" for a, b in mixed["flagged"])

    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["clean.png", "mixed.png"]
    for png in plots.iterdir():
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_recursive_thresholds_and_jsonl_out(ckpt, audio_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    code, stdout, _ = run(
        capsys, audio_dir, "--recursive", "--model", ckpt, "--vad", "energy",
        "--out", out, "--lower", "0", "--upper", "1", "--aggregation", "mean",
    )  # fmt: skip
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["clean", "corrupt", "mixed", "deep"]
    assert all(r["thresholds"] == {"lower": 0.0, "upper": 1.0} for r in records if "error" not in r)
    ok = [r for r in records if "error" not in r]
    assert {r["verdict"] for r in ok} <= {"review", "no_speech"}  # nothing is below 0 / above 1
    assert all(r["aggregation"]["method"] == "mean" for r in ok)
    assert "deep.wav" in stdout


def test_json_to_stdout_is_pure_json(ckpt, audio_dir, capsys):
    code, stdout, _ = run(capsys, audio_dir / "clean.wav", "--model", ckpt, "--vad", "none",
                          "--json", "-")  # fmt: skip
    assert code == 0
    assert json.loads(stdout)["results"][0]["verdict"] == "bonafide"


def test_onnx_model_runs_through_onnx_runtime(audio_dir, tmp_path, capsys):
    onnx = export_lag_onnx(tmp_path / "lag.onnx")
    out = tmp_path / "r.json"
    code, _, _ = run(capsys, audio_dir / "mixed.flac", "--model", onnx, "--vad", "none",
                     "--json", out)  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())["results"][0]
    assert result["model"]["backend"] == "onnx" and result["verdict"] == "spoof"
    code, _, stderr = run(capsys, audio_dir / "mixed.flac", "--model", onnx, "--backend", "torch")
    assert code == 2 and "--backend onnx" in stderr


def test_every_file_failing_exits_1(ckpt, audio_dir, tmp_path, capsys):
    code, stdout, stderr = run(
        capsys, audio_dir / "corrupt.wav", tmp_path / "missing.wav", "--model", ckpt,
        "--vad", "none",
    )  # fmt: skip
    assert code == 1
    assert "missing.wav" in stdout and "2 of 2 file(s) failed" in stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give audio PATHs or --manifest"),
        (["x.wav", "--lower", "0.9", "--upper", "0.1"], "--lower 0.9 is above --upper 0.1"),
        (["x.wav", "--hop", "0"], "--hop must be"),
        (["x.wav", "--model", "nope"], "neither an existing checkpoint"),
        (["x.wav"], "no default model is installed"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(inference_model, "DEFAULT_MODEL_PATH", tmp_path / "absent.safetensors")
    code, _, stderr = run(capsys, *argv)
    assert code == 2 and message in stderr and "Traceback" not in stderr
