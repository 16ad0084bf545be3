"""``spoofscope demo``: it makes its own clips (a real Asterisk prompt, two TTS copies of its
words, a splice) and analyses them with the model it is given."""

from __future__ import annotations

import soundfile as sf

from spoofscope.cli import main


def test_demo_makes_four_clips_and_prints_a_verdict_for_each(tmp_path, capsys, service_checkpoint):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--out", str(out_dir), "--model", str(service_checkpoint)]) == 0
    out = capsys.readouterr().out
    names = ["real-asterisk.wav", "tts-piper.wav", "tts-espeak.wav", "spliced.wav"]
    durations = {}
    for name in names:
        info = sf.info(out_dir / name)
        assert info.samplerate == 16000 and info.frames > 16000
        durations[name] = info.frames
        assert name in out
    # the splice is the real recording plus a sentence and two pauses
    assert durations["spliced.wav"] > durations["real-asterisk.wav"] + 16000
    table = [line for line in out.splitlines() if line.startswith(str(out_dir))]
    assert len(table) == 4
    assert all(any(v in line for v in ("bonafide", "spoof", "review")) for line in table)


def test_demo_without_a_default_model_says_what_to_do(tmp_path, capsys, monkeypatch):
    import spoofscope.inference_model as im

    monkeypatch.setattr(im, "DEFAULT_MODEL_PATH", tmp_path / "missing.safetensors")
    assert main(["demo", "--out", str(tmp_path / "demo")]) != 0
    err = capsys.readouterr().err
    assert "no default model is installed" in err and "--model" in err
    assert "Traceback" not in err
