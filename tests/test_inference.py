"""The detector (spoofscope.inference): windows, aggregation, voice activity, inputs, memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from spoofscope import inference, inference_model, inference_stream
from spoofscope.audio import AudioError, load_audio
from spoofscope.checkpoint import save_checkpoint
from spoofscope.detection import AGGREGATIONS, DetectionError, aggregate_windows, flagged_ranges
from spoofscope.errors import SpoofscopeError
from spoofscope.inference import Detector
from spoofscope.models import build_model
from spoofscope.scoring import scores_from_logits
from spoofscope.windows import aggregate, make_windows, window_bounds

SR = 16000
SEGMENT = 1600  # 0.1 s windows keep the tiny model fast


def tone(seconds: float, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(round(seconds * SR))).astype(np.float32)


def tiny_checkpoint(directory: Path, segment: int = SEGMENT) -> Path:
    """LFCC-GMM (4 components) fitted on tones = bona fide vs white noise = spoof, saved."""
    bona = [tone(0.5, f) for f in (150.0, 220.0, 330.0)]
    spoof = [noise(0.5, seed) for seed in range(3)]
    model = build_model("lfcc-gmm", n_components=4, max_iter=5, segment_samples=segment)
    model.fit(bona, spoof)
    return save_checkpoint(model, directory / f"tiny-{segment}.safetensors")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def detector(ckpt) -> Detector:
    return Detector.from_pretrained(ckpt, vad="none", chunk_s=0.25, batch_size=4)


def direct_scores(ckpt: Path, wave: np.ndarray, hop: float = 0.5) -> np.ndarray:
    """Window scores computed the obvious way: the whole array, every window at once."""
    from spoofscope.checkpoint import load_model

    model = load_model(ckpt)
    segments = make_windows(wave, model.segment_samples, hop).segments
    with torch.inference_mode():
        return scores_from_logits(model(torch.from_numpy(segments)))


@pytest.mark.parametrize("n", [700, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 123, 20_000])
@pytest.mark.parametrize("chunk_s", [0.05, 0.1, 0.5])
def test_windows_match_window_bounds_at_any_chunk_size(detector, ckpt, n, chunk_s):
    wave = noise(n / SR, seed=n)
    det = Detector(detector.model, detector.calibration, {}, vad="none", chunk_s=chunk_s)
    result = det.detect(wave)
    starts, ends = window_bounds(n, SEGMENT, 0.5)
    got = np.array([[w.start_s, w.end_s] for w in result.windows]) * SR
    np.testing.assert_allclose(got[:, 0], starts, atol=1e-6)
    np.testing.assert_allclose(got[:, 1], ends, atol=1e-6)
    assert got[-1, 1] == pytest.approx(n)  # the last window ends with the audio
    if n > SEGMENT:
        assert got[-1, 1] - got[-1, 0] == pytest.approx(SEGMENT)  # ... and is a full window
    assert result.duration_s == pytest.approx(n / SR)
    want = direct_scores(ckpt, wave)
    np.testing.assert_allclose([w.score for w in result.windows], want, rtol=1e-5, atol=1e-3)


def test_hop_one_gives_abutting_windows(detector):
    det = Detector(detector.model, detector.calibration, {}, vad="none", hop=1.0)
    result = det.detect(noise(0.55))
    starts = [round(w.start_s * SR) for w in result.windows]
    assert starts == [0, 1600, 3200, 4800, 6400, 7200]


def test_a_spoofed_stretch_is_flagged_where_it_is(detector):
    wave = np.concatenate([tone(1.0, 200.0), noise(0.6, seed=9), tone(1.0, 300.0)])
    result = detector.detect(wave)
    assert result.verdict == "spoof"
    (start, end), *rest = result.flagged
    assert not rest
    assert 0.9 <= start <= 1.0 and 1.6 <= end <= 1.7
    clean = detector.detect(tone(2.0, 250.0))
    assert clean.verdict == "bonafide" and clean.flagged == []
    assert clean.p_spoof < 0.01 < 0.99 < result.p_spoof


def test_result_is_json_serializable_with_the_documented_fields(detector):
    doc = json.loads(json.dumps(detector.detect(tone(0.5)).to_dict()))
    for key in ("verdict", "p_spoof", "score", "windows", "duration_s", "model", "runtime_s"):
        assert key in doc
    assert set(doc["model"]) >= {"name", "id", "version"}
    assert doc["model"]["name"] == "lfcc-gmm" and len(doc["model"]["id"]) == 12
    assert set(doc["thresholds"]) == {"lower", "upper"}
    assert set(doc["windows"][0]) == {
        "start_s", "end_s", "score", "p_spoof", "speech_fraction", "voted"
    }  # fmt: skip


@pytest.mark.parametrize("method", AGGREGATIONS)
def test_each_aggregation_combines_the_voting_windows(detector, method):
    det = Detector(
        detector.model, detector.calibration, {}, vad="none", aggregation=method, top_k=2
    )
    wave = np.concatenate([tone(0.4, 200.0), noise(0.2, seed=3), tone(0.4, 300.0)])
    result = det.detect(wave)
    scores = np.array([w.score for w in result.windows])
    weights = np.array([w.speech_fraction for w in result.windows])
    want = aggregate(scores, method, k=2, weights=weights)
    assert result.score == pytest.approx(want)
    assert result.p_spoof == pytest.approx(float(det.calibration.p_spoof(np.array([want]))[0]))
    assert result.aggregation["method"] == method


def test_aggregations_differ_as_documented():
    scores = np.array([4.0, 2.0, -6.0, 0.0])
    speech = np.array([1.0, 0.5, 0.5, 1.0])
    assert aggregate_windows(scores, speech, "mean") == pytest.approx(0.0)
    assert aggregate_windows(scores, speech, "min") == pytest.approx(-6.0)
    assert aggregate_windows(scores, speech, "top-k", k=2) == pytest.approx(-3.0)
    assert aggregate_windows(scores, speech, "weighted") == pytest.approx((4 + 1 - 3) / 3)
    with pytest.raises(ValueError, match="valid choices: mean, min, top-k, weighted"):
        aggregate_windows(scores, speech, "median")


def test_flagged_ranges_merge_overlapping_windows():
    starts, ends = np.array([0.0, 1.0, 2.0, 5.0]), np.array([2.0, 3.0, 4.0, 7.0])
    assert flagged_ranges(starts, ends, np.array([1, 1, 0, 1], bool)) == [[0.0, 3.0], [5.0, 7.0]]
    assert flagged_ranges(starts, ends, np.zeros(4, bool)) == []


class _NoSpeech:
    """A voice activity detector that hears speech only in the second half of each chunk."""

    def __init__(self, everywhere: bool = False) -> None:
        self.everywhere = everywhere

    def __call__(self, wave):
        from spoofscope.vad import SpeechMask

        speech = np.zeros(len(wave), bool)
        if not self.everywhere:
            speech[len(wave) // 2 :] = True
        return SpeechMask(hop=1, speech=speech)


def test_windows_without_speech_do_not_vote_and_none_voting_is_no_speech(detector):
    det = Detector(detector.model, detector.calibration, {}, vad="none", chunk_s=0.2)
    det._detect_speech = _NoSpeech(everywhere=True)
    result = det.detect(noise(1.0))
    assert result.verdict == "no_speech" and result.p_spoof is None and result.score is None
    assert result.flagged == [] and not any(w.voted for w in result.windows)
    assert all(w.speech_fraction == 0.0 for w in result.windows)
    det._detect_speech = _NoSpeech()  # speech in [0.1, 0.2) of every 0.2-s chunk
    result = det.detect(noise(1.0))
    fractions = [w.speech_fraction for w in result.windows]
    assert fractions[:3] == pytest.approx([0.0, 0.5, 1.0])  # windows at 0, 0.05, 0.1 s
    assert [w.voted for w in result.windows][:3] == [False, True, True]
    assert result.verdict == "spoof"


@pytest.mark.parametrize(
    "wave",
    [np.zeros(3 * SR, np.float32), tone(3.0, 440.0), noise(3.0, seed=4, amp=0.05)],
    ids=["silence", "pure-tone", "noise"],
)
@pytest.mark.parametrize("vad", ["energy", "silero"])
def test_silence_tone_and_noise_are_no_speech(ckpt, wave, vad):
    det = Detector.from_pretrained(ckpt, vad=vad)
    result = det.detect(wave)
    assert result.verdict == "no_speech" and result.p_spoof is None


def test_speech_is_not_no_speech(shared_dir, ckpt):
    path = next((shared_dir / "speech" / "librispeech-train-clean-100").glob("*.flac"))
    for vad in ("energy", "silero"):
        result = Detector.from_pretrained(ckpt, vad=vad).detect(path)
        voting = [w.speech_fraction for w in result.windows if w.voted]
        assert result.verdict != "no_speech" and len(voting) > len(result.windows) / 2


def test_path_bytes_file_object_and_array_give_the_same_result(detector, tmp_path):
    wave = np.concatenate([tone(0.7), noise(0.3, seed=5)])
    path = tmp_path / "clip.wav"
    sf.write(path, wave, SR, subtype="FLOAT")
    data = path.read_bytes()
    results = [
        detector.detect(path),
        detector.detect(str(path)),
        detector.detect(data),
        detector.detect(io.BytesIO(data)),
        detector.detect(wave),
        detector.detect(torch.from_numpy(wave)),
    ]
    reference = results[0].to_dict()
    for result in results[1:]:
        doc = result.to_dict()
        for key in ("source", "runtime_s"):
            doc.pop(key), reference.pop(key, None)
        assert doc == reference


def test_array_at_another_rate_is_resampled(detector):
    wave = tone(1.0, 300.0)
    at_8k = wave[::2].copy()
    result = detector.detect(at_8k, sample_rate=8000)
    assert result.duration_s == pytest.approx(1.0)
    with pytest.raises(ValueError, match="arrays only"):
        detector.detect(b"RIFF", sample_rate=8000)


def test_resampled_file_streams_like_load_audio(detector, tmp_path):
    wave = noise(2.0, seed=8)[::2].copy()
    path = tmp_path / "clip8k.flac"
    sf.write(path, wave, 8000)
    streamed = np.concatenate(list(inference_stream.stream_audio(path, SR)))
    np.testing.assert_array_equal(streamed, load_audio(path, SR))
    assert (
        detector.detect(path).to_dict()["windows"]
        == detector.detect(load_audio(path, SR)).to_dict()["windows"]
    )


def test_thresholds_can_be_overridden_per_call(detector):
    bona, spoof = tone(0.3), noise(0.3)
    assert detector.detect(bona).verdict == "bonafide"
    assert detector.detect(bona, lower=0.0).verdict == "review"
    result = detector.detect(spoof)
    assert result.verdict == "spoof" and result.flagged == [[0.0, 0.3]]
    result = detector.detect(spoof, upper=1.0)
    assert result.verdict == "review" and result.flagged == []
    assert result.thresholds == {"lower": detector.lower, "upper": 1.0}
    with pytest.raises(ValueError, match="lower <= upper"):
        detector.detect(bona, lower=0.9, upper=0.1)


def test_detect_many_reports_bad_inputs_and_keeps_order(detector, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, tone(0.5), SR)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    srcs = [good, bad, tmp_path / "missing.wav", tone(0.2), np.zeros((2, 5), np.float32)]
    for workers in (1, 3):
        out = detector.detect_many(srcs, workers=workers)
        assert [e.ok for e in out] == [True, False, False, True, False]
        assert isinstance(out[1], DetectionError) and "bad.wav" in out[1].error
        assert "missing.wav" in out[2].error and "1-D" in out[4].error
        assert out[0].source == str(good) and out[1].to_dict()["verdict"] is None


def test_errors_name_what_to_pass(ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr(inference_model, "DEFAULT_MODEL_PATH", tmp_path / "nope.safetensors")
    with pytest.raises(SpoofscopeError, match="no default model.*--model PATH"):
        Detector.from_pretrained()
    with pytest.raises(SpoofscopeError, match="neither an existing checkpoint"):
        Detector.from_pretrained("no-such-model")
    with pytest.raises(ValueError, match="valid choices: torch, onnx"):
        Detector.from_pretrained(ckpt, "tflite")
    with pytest.raises(ValueError, match="valid choices: silero, energy, none"):
        Detector.from_pretrained(ckpt, vad="webrtc")
    with pytest.raises(ValueError, match="valid choices: mean, min, top-k, weighted"):
        Detector.from_pretrained(ckpt, vad="none", aggregation="median")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    with pytest.raises(SpoofscopeError, match="backend='onnx'"):
        Detector.from_pretrained(onnx)
    with pytest.raises(AudioError):
        Detector.from_pretrained(ckpt, vad="none").detect(np.zeros(0, np.float32))


def test_official_aasist_weights_score_as_the_reference(reference_dir):
    expected = json.loads((reference_dir / "aasist" / "expected_logits.json").read_text())
    outputs = expected["results"]["AASIST-L.pth"]["outputs"]
    det = Detector.from_pretrained(reference_dir / "aasist" / "AASIST-L.pth", vad="none")
    for clip, verdict in (("LA_T_1272637", "bonafide"), ("LA_D_1003356", "spoof")):
        result = det.detect(reference_dir / "aasist" / "inputs" / f"{clip}.flac")
        spoof, bona = outputs[f"{clip}.model_input.npy"]["logits"]
        assert len(result.windows) == 1  # shorter than a window: repeat-padded, as upstream
        assert result.score == pytest.approx(bona - spoof, abs=2e-4)
        assert result.verdict == verdict
        assert result.model["name"] == "aasist-l" and result.model["version"] == "upstream"


class ZeroCrossingModel(torch.nn.Module):
    """A trivial detector for plumbing tests: many zero crossings (noise) = spoof."""

    name, sample_rate, segment_samples = "zcr", SR, 8000

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave[:, ::4] > 0  # every 4th sample is plenty for 200-340 Hz tones vs noise
        zcr = (x[:, 1:] != x[:, :-1]).float().mean(dim=1)
        score = 10.0 * (0.25 - zcr)
        return torch.stack([-score / 2, score / 2], dim=1)


def test_long_input_is_decoded_and_scored_in_bounded_pieces(detector, tmp_path, monkeypatch):
    """A 20-minute file, 2-s chunks: memory never holds more than a chunk and a window."""
    minutes, chunk_s = 20, 2.0
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", SR, 1, "PCM_16") as handle:
        for i in range(minutes * 6):  # 10-s pieces, never the whole file in memory
            handle.write(tone(10.0, 200.0 + i) if i % 7 else noise(10.0, seed=i))
    n = minutes * 60 * SR
    monkeypatch.setattr(inference_stream, "READ_BLOCK_S", 3.0)
    blocks, chunks, batches = [], [], []

    stream_audio = inference_stream.stream_audio

    def spy_stream(*args, **kwargs):
        for block in stream_audio(*args, **kwargs):
            blocks.append(len(block))
            yield block

    def spy_rechunk(items, size):
        for chunk in inference_stream.rechunk(items, size):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(inference_stream, "stream_audio", spy_stream)
    monkeypatch.setattr(inference, "rechunk", spy_rechunk)
    det = Detector(
        ZeroCrossingModel(), detector.calibration, {}, vad="none", hop=1.0, chunk_s=chunk_s,
        batch_size=8,
    )  # fmt: skip
    score = det._score
    monkeypatch.setattr(det, "_score", lambda w: batches.append(len(w)) or score(w))
    tracemalloc.start()
    try:
        result = det.detect(path, envelope=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(blocks) == sum(chunks) == n
    assert max(blocks) <= 3 * SR and max(chunks) == chunk_s * SR
    assert len(chunks) == n // (chunk_s * SR)
    assert max(batches) == 8 and sum(batches) == len(result.windows) == n // 8000
    assert result.duration_s == pytest.approx(minutes * 60)
    assert peak < 6e6, f"traced peak {peak / 1e6:.1f} MB; the whole file is {4 * n / 1e6:.0f} MB"
    assert result.envelope.shape == (2, minutes * 60 * inference.ENVELOPE_RATE)
    noisy = [r for r in result.flagged]
    assert noisy[0] == pytest.approx([0.0, 10.0]) and noisy[1] == pytest.approx([70.0, 80.0])


def test_calibration_and_thresholds_come_from_the_checkpoint(ckpt, tmp_path):
    from spoofscope.calibration import Calibration
    from spoofscope.checkpoint import load_model

    model = load_model(ckpt)
    cal = Calibration("logistic", 0.01, 0.5, 0.1, 0.9, {"note": "test"})
    path = save_checkpoint(model, tmp_path / "cal.safetensors", calibration=cal.to_dict())
    det = Detector.from_pretrained(path, vad="none")
    assert (det.lower, det.upper) == (0.1, 0.9)
    result = det.detect(noise(0.3))
    assert result.thresholds == {"lower": 0.1, "upper": 0.9}
    assert result.p_spoof == pytest.approx(1 / (1 + np.exp(0.01 * result.score + 0.5)))
    for w in result.windows:
        assert w.p_spoof == pytest.approx(1 / (1 + np.exp(0.01 * w.score + 0.5)))


class LagModel(torch.nn.Module):
    """A tiny ONNX-exportable detector: lag-1 autocorrelation (tones ~1, noise ~0) = bona fide."""

    name, sample_rate, segment_samples = "lag", SR, SEGMENT

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        r = (wave[:, 1:] * wave[:, :-1]).mean(dim=1) / (wave.square().mean(dim=1) + 1e-6)
        z = 10.0 * (r - 0.5)
        return torch.stack([-z / 2, z / 2], dim=1)


def export_lag_onnx(path: Path, calibration: dict | None = None) -> Path:
    """:class:`LagModel` as an ONNX file with spoofscope metadata (legacy exporter: fast)."""
    import warnings

    from spoofscope.onnx_backend import write_onnx_metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            LagModel(), (torch.zeros(2, SEGMENT),), str(path), dynamo=False,
            input_names=["wave"], output_names=["logits"],
            dynamic_axes={"wave": {0: "batch"}, "logits": {0: "batch"}},
        )  # fmt: skip
    meta = {"model": "lag", "sample_rate": SR, "segment_samples": SEGMENT}
    write_onnx_metadata(path, {**meta, "calibration": calibration})
    return path


def test_onnx_backend_gives_the_torch_result(tmp_path):
    from spoofscope.calibration import Calibration

    cal = Calibration("logistic", 0.5, 0.0, 0.2, 0.8)
    path = export_lag_onnx(tmp_path / "lag.onnx", cal.to_dict())
    det = Detector.from_pretrained(path, "onnx", vad="none", chunk_s=0.25, batch_size=4)
    assert (det.lower, det.upper) == (0.2, 0.8)  # the calibration travels in the ONNX file
    ref = Detector(LagModel(), cal, {}, vad="none", chunk_s=0.25, batch_size=4)
    wave = np.concatenate([tone(0.5), noise(0.3, seed=2), tone(0.4, 300.0)])
    got, want = det.detect(wave), ref.detect(wave)
    assert got.model["backend"] == "onnx" and got.model["name"] == "lag"
    assert got.verdict == want.verdict == "spoof" and got.flagged == want.flagged
    np.testing.assert_allclose(
        [w.score for w in got.windows], [w.score for w in want.windows], atol=1e-4
    )
    assert 0.45 <= got.flagged[0][0] <= 0.5 and 0.8 <= got.flagged[0][1] <= 0.85
