"""Live streaming detection: StreamSession (pure logic) and WS /v1/stream over real uvicorn."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
import torch

from spoofscope.audio import AudioError
from spoofscope.inference import Detector
from spoofscope.service.stream_session import StreamLimitError, StreamSession
from spoofscope.vad import SpeechMask
from test_inference import SR, noise, tiny_checkpoint, tone

pytest.importorskip("fastapi")


# --- helpers shared with test_service_web.py ---
class LiveServer:
    """A real uvicorn server on 127.0.0.1 (a free port) serving ``app`` from a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def wav_bytes(wave: np.ndarray, rate: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def pcm16(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()


def as_float(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768


class HalfSpeech:
    """A fake VAD hearing speech only in the second half of each chunk it is given."""

    def __call__(self, wave: np.ndarray) -> SpeechMask:
        speech = np.zeros(len(wave), bool)
        speech[len(wave) // 2 :] = True
        return SpeechMask(hop=1, speech=speech)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """The tiny model is 10-100x slower with 2 intra-op threads on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("stream-ckpt"))


@pytest.fixture(scope="module")
def detector(ckpt) -> Detector:
    # batch_size=1: the same batches in detect() and in the stream, so scores are bit-equal
    return Detector.from_pretrained(ckpt, vad="none", chunk_s=0.5, batch_size=1)


def feed_odd(session: StreamSession, data: bytes, seed: int = 0, most: int = 3001):
    """Feed in random odd-sized pieces; returns ``(events, summary, totals)`` where totals[i]
    is the number of whole samples fed when event i came (pcm16 at 16 kHz)."""
    rng = np.random.default_rng(seed)
    events, totals, i = [], [], 0
    while i < len(data):
        k = int(rng.integers(1, most // 2 + 1)) * 2 - 1
        before = i // 2
        i += k
        for event in session.feed(data[i - k : i]):
            events.append(event)
            totals.append((before, min(i, len(data)) // 2))
    for event in session.flush():
        events.append(event)
        totals.append((len(data) // 2, len(data) // 2))
    return events, session.finish(), totals


def assert_same_result(summary: dict, ref: dict, atol: float = 1e-5) -> None:
    assert summary["type"] == "summary"
    assert summary["verdict"] == ref["verdict"]
    got, want = summary["windows"], ref["windows"]
    assert [(w["start_s"], w["end_s"]) for w in got] == [(w["start_s"], w["end_s"]) for w in want]
    np.testing.assert_allclose([w["score"] for w in got], [w["score"] for w in want], atol=atol)
    assert [w["speech_fraction"] for w in got] == [w["speech_fraction"] for w in want]
    assert [w["voted"] for w in got] == [w["voted"] for w in want]
    assert summary["duration_s"] == ref["duration_s"] and summary["flagged"] == ref["flagged"]


# --- StreamSession ---
@pytest.mark.parametrize("n", [700, 1600, 2400, 16000 + 123, 3 * 16000 + 5000])
@pytest.mark.parametrize("vad", ["none", "half"])
def test_summary_equals_detect_when_fed_in_odd_chunks(detector, n, vad):
    det = Detector(detector.model, detector.calibration, detector.model_info, vad="none",
                   chunk_s=0.5, batch_size=1)  # fmt: skip
    if vad == "half":  # speech fractions depend on where the 0.5-s VAD chunks start
        det._detect_speech = HalfSpeech()
    wave = np.concatenate([tone(n / SR / 2), noise(n / SR / 2, seed=3)])[:n]
    data = pcm16(wave)
    ref = det.detect(as_float(data)).to_dict()
    events, summary, totals = feed_odd(StreamSession(det), data, seed=n)
    assert_same_result(summary, ref)
    assert len(events) == len(ref["windows"])
    for event, window in zip(events, ref["windows"], strict=True):
        assert (event["start_s"], event["end_s"]) == (window["start_s"], window["end_s"])
        assert event["score"] == pytest.approx(window["score"], abs=1e-5)
        assert event["p_spoof"] == pytest.approx(window["p_spoof"], abs=1e-5)
    if vad == "none":  # every window votes; "min" aggregation: the worst window so far
        worst = np.maximum.accumulate([e["p_spoof"] for e in events])
        np.testing.assert_allclose([e["p_spoof_so_far"] for e in events], worst, atol=1e-6)
    assert events[-1]["verdict_so_far"] == ref["verdict"]
    assert events[-1]["p_spoof_so_far"] == pytest.approx(ref["p_spoof"], abs=1e-6)


def test_each_event_comes_with_the_data_that_completes_its_window(detector):
    data = pcm16(noise(2.0, seed=1))
    events, _, totals = feed_odd(StreamSession(detector), data, seed=7, most=801)
    assert len(events) >= 30
    for event, (before, after) in zip(events, totals, strict=True):
        end = round(event["end_s"] * SR)
        assert before < end <= after  # not before its last sample, not a call later


def test_a_window_ending_exactly_at_a_chunk_end_is_sent_at_once_and_scored_once(detector):
    session = StreamSession(detector)
    wave = noise(0.3, seed=2)  # 4800 samples: windows [0, 1600), [800, 2400), ...
    assert [e["end_s"] for e in session.feed(pcm16(wave[:1600]))] == [0.1]
    assert [e["end_s"] for e in session.feed(pcm16(wave[1600:2400]))] == [0.15]
    assert session.flush() == []  # the end-aligned last window was already sent
    summary = session.finish()
    ref = detector.detect(as_float(pcm16(wave[:2400]))).to_dict()
    assert_same_result(summary, ref)


def test_provisional_speech_is_replaced_when_its_chunk_completes(detector):
    det = Detector(detector.model, detector.calibration, detector.model_info, vad="none",
                   chunk_s=0.5, batch_size=1)  # fmt: skip
    det._detect_speech = HalfSpeech()
    session = StreamSession(det)
    data = pcm16(noise(1.2, seed=4))
    events = session.feed(data[: 2 * 3000])  # 3000 samples: the first 8000-sample chunk open
    assert events and not any(e["speech_final"] for e in events)
    # provisional: the fake VAD on the window alone says half of it is speech
    assert all(e["speech"] == 0.5 for e in events)
    events += session.feed(data[2 * 3000 :]) + session.flush()
    summary = session.finish()
    ref = det.detect(as_float(data)).to_dict()
    assert_same_result(summary, ref)
    assert summary["windows"][0]["speech_fraction"] == 0.0  # the chunk's first half is silent


def test_real_speech_with_silero_equals_detect(shared_dir, ckpt):
    path = next((shared_dir / "speech" / "librispeech-train-clean-100").glob("*.flac"))
    wave, rate = sf.read(path, dtype="int16")
    data = wave[: 8 * rate].astype("<i2").tobytes()
    det = Detector.from_pretrained(ckpt, vad="silero", chunk_s=3.0, batch_size=1)
    ref = det.detect(as_float(data), sample_rate=rate).to_dict()
    events, summary, _ = feed_odd(StreamSession(det, sample_rate=rate), data, most=20001)
    assert_same_result(summary, ref)
    assert ref["verdict"] != "no_speech"
    assert any(not e["speech_final"] for e in events)  # live fractions came before chunks did


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_pcm16_at_other_rates_is_resampled_like_a_file(detector, rate):
    t = np.arange(round(rate * 1.3)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    rng = np.random.default_rng(5)
    wave[len(wave) // 2 :] += 0.1 * rng.standard_normal(len(wave) - len(wave) // 2)
    data = pcm16(wave)
    ref = detector.detect(wav_bytes(as_float(data), rate)).to_dict()
    _, summary, _ = feed_odd(StreamSession(detector, sample_rate=rate), data, seed=rate)
    assert_same_result(summary, ref)


def webm_opus(wave: np.ndarray) -> bytes:
    """Encode like a browser's MediaRecorder: WebM with Opus at 48 kHz."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            (wave[None] * 32767).astype(np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = SR
        for f in av.AudioResampler(format="s16", layout="mono", rate=48000).resample(frame):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["wav", "webm"])
def test_container_is_decoded_incrementally(detector, kind):
    wave = np.concatenate([tone(2.0), noise(2.0, seed=6)])
    data = wav_bytes(wave) if kind == "wav" else webm_opus(wave)
    session = StreamSession(detector, encoding="container")
    early, sent_s = [], []  # events before the end; seconds of audio sent when each came
    for i in range(0, len(data), 4096):
        for event in session.feed(data[i : i + 4096]):
            early.append(event)
            sent_s.append(4.0 * min(i + 4096, len(data)) / len(data))
    # decoded as it came: at most the demuxer's read-ahead (64 KB = 2 s of WAV) behind
    assert early and early[-1]["end_s"] >= 1.5
    assert all(s - e["end_s"] < 2.2 for e, s in zip(early, sent_s, strict=True))
    rest = session.flush()
    summary = session.finish()
    assert_same_result(summary, detector.detect(data).to_dict())
    assert len(early) + len(rest) == len(summary["windows"])


def test_undecodable_container_bytes_raise_an_audio_error(detector):
    session = StreamSession(detector, encoding="container")
    with pytest.raises(AudioError, match="not a readable audio stream"):
        for _ in range(40):
            session.feed(b"this is not audio at all " * 400)
        session.flush()


def test_an_abandoned_container_stream_stops_its_decoder_thread(detector):
    session = StreamSession(detector, encoding="container")
    session.feed(wav_bytes(noise(1.0))[:5000])
    thread = session._decoder._thread
    assert thread.is_alive()  # waiting for more bytes
    session.close()
    thread.join(5)
    assert not thread.is_alive()


def test_limits_and_bad_parameters(detector):
    session = StreamSession(detector, max_duration_s=0.5)
    session.feed(pcm16(noise(0.4)))
    with pytest.raises(StreamLimitError, match="max_duration_s=0.5"):
        session.feed(pcm16(noise(0.2)))
    for kwargs, match in [
        ({"sample_rate": 7999}, "8000 to 48000"),
        ({"sample_rate": 48001}, "8000 to 48000"),
        ({"encoding": "mp3"}, "valid choices: pcm16, container"),
        ({"lower": 0.9, "upper": 0.1}, "lower <= upper"),
    ]:
        with pytest.raises(ValueError, match=match):
            StreamSession(detector, **kwargs)
    empty = StreamSession(detector)
    with pytest.raises(AudioError, match="no audio"):
        empty.finish()


# --- WS /v1/stream over a real uvicorn server ---
def keys_authorize(websocket: Any, api_key: str | None = None) -> str:
    """Test authorization: key "good" is client-1, "reader" lacks the detect scope."""
    from spoofscope.service.errors import ApiError

    key = api_key or websocket.query_params.get("api_key") or websocket.headers.get("x-api-key")
    if not key:
        raise ApiError(401, "missing API key", "send ?api_key=")
    if key == "reader":
        raise ApiError(403, "insufficient scope", "this route needs scope 'detect'")
    if key != "good":
        raise ApiError(401, "invalid API key", "unknown or revoked key")
    return "client-1"


def stream_app(detector: Detector, stored: list | None = None, **options: Any) -> Any:
    from fastapi import FastAPI

    from spoofscope.service.streaming import stream_router

    def on_summary(summary: dict, client: str, sha256: str) -> str:
        if stored is not None:
            stored.append((summary, client, sha256))
        return f"det-{len(stored or [])}"

    app = FastAPI()
    app.include_router(stream_router(lambda: detector, keys_authorize, on_summary, **options))
    return app


@pytest.fixture(scope="module")
def stored() -> list:
    return []


@pytest.fixture(scope="module")
def server(detector, stored) -> Iterator[LiveServer]:
    with LiveServer(stream_app(detector, stored, max_message_bytes=200_000)) as live:
        yield live


def connect(live: LiveServer, query: str = "", **kwargs: Any) -> Any:
    from websockets.sync.client import connect as ws_connect

    return ws_connect(f"{live.ws_url}/v1/stream{query}", open_timeout=10, **kwargs)


def drain(ws: Any, timeout: float = 20.0) -> tuple[list[dict], int | None]:
    """Every message until the server closes; returns ``(messages, close code)``."""
    from websockets.exceptions import ConnectionClosed

    out = []
    try:
        while True:
            out.append(json.loads(ws.recv(timeout=timeout)))
    except ConnectionClosed as exc:
        return out, exc.rcvd.code if exc.rcvd else None


def test_ws_stream_sends_window_events_then_the_summary(server, detector, stored):
    import hashlib

    data = pcm16(np.concatenate([tone(0.6), noise(0.6, seed=8)]))
    with connect(server, "?api_key=good&encoding=pcm16&rate=16000") as ws:
        ready = json.loads(ws.recv(timeout=10))
        assert ready["type"] == "ready" and ready["client"] == "client-1"
        assert (ready["sample_rate"], ready["window_s"], ready["hop_s"]) == (SR, 0.1, 0.05)
        events = []
        for i in range(0, len(data), 3201):  # odd sizes: samples split across frames
            ws.send(data[i : i + 3201])
        ws.send(json.dumps({"type": "end"}))
        messages, code = drain(ws)
    assert code == 1000
    events, summary = messages[:-1], messages[-1]
    assert all(e["type"] == "window" and e["latency_ms"] >= 0 for e in events)
    assert_same_result(summary, detector.detect(as_float(data)).to_dict())
    assert len(events) == len(summary["windows"])
    assert summary["id"] == f"det-{len(stored)}"
    sha = hashlib.sha256(data).hexdigest()
    assert stored[-1][1:] == ("client-1", sha) and summary["stream"]["sha256"] == sha


def test_ws_events_arrive_while_audio_is_still_coming(server):
    data = pcm16(noise(1.0, seed=9))
    with connect(server, "?api_key=good") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send(data[: 2 * 4000])  # 0.25 s: windows ending at 0.1, 0.15, 0.2, 0.25 s
        got = [json.loads(ws.recv(timeout=10)) for _ in range(4)]
        assert [e["end_s"] for e in got] == [0.1, 0.15, 0.2, 0.25]
        ws.send(data[2 * 4000 :])
        ws.send(json.dumps({"type": "end"}))
        messages, code = drain(ws)
    assert code == 1000 and messages[-1]["type"] == "summary"


def test_ws_first_message_auth(server):
    with connect(server, "?encoding=pcm16") as ws:
        ws.send(json.dumps({"type": "auth", "api_key": "good"}))
        assert json.loads(ws.recv(timeout=10))["client"] == "client-1"
        ws.send(pcm16(noise(0.3)))
        ws.send(json.dumps({"type": "end"}))
        messages, code = drain(ws)
    assert code == 1000 and messages[-1]["type"] == "summary"


@pytest.mark.parametrize(
    ("query", "first", "status", "code"),
    [
        ("", b"\x00\x01", 401, 1008),  # audio before any key
        ("", json.dumps({"type": "auth", "api_key": "wrong"}), 401, 1008),
        ("?api_key=wrong", None, 401, 1008),
        ("?api_key=reader", None, 403, 1008),
        ("?api_key=good&encoding=ogg", None, 422, 1008),
        ("?api_key=good&rate=100", None, 422, 1008),
        ("?api_key=good&rate=fast", None, 422, 1008),
        ("?api_key=good&lower=x", None, 422, 1008),
        ("?api_key=good", "hello", 400, 1003),
        ("?api_key=good", json.dumps({"type": "pause"}), 400, 1003),
        ("?api_key=good", b"\x00" * 200_001, 413, 1009),
        ("?api_key=good&encoding=container", b"not audio " * 20_000, 422, 1003),
    ],
)
def test_ws_errors_are_json_events_with_close_codes(server, query, first, status, code):
    with connect(server, query, max_size=None) as ws:
        if first is not None:
            ws.send(first)
            if query.endswith("container"):
                for _ in range(5):
                    ws.send(first)
                ws.send(json.dumps({"type": "end"}))
        messages, got_code = drain(ws)
    error = messages[-1]
    assert error["type"] == "error" and error["status"] == status, messages
    assert isinstance(error["reason"], str) and "Traceback" not in json.dumps(error)
    assert got_code == code


def test_ws_duration_limit_and_idle_timeout(detector):
    app = stream_app(detector, max_duration_s=0.5, idle_timeout_s=0.5)
    with LiveServer(app) as live:
        with connect(live, "?api_key=good") as ws:
            ws.recv(timeout=10)
            ws.send(pcm16(noise(0.6)))
            messages, code = drain(ws)
        assert (messages[-1]["status"], code) == (413, 1008)
        assert "max_duration_s=0.5" in messages[-1]["detail"]
        with connect(live, "?api_key=good") as ws:
            ws.recv(timeout=10)
            t0 = time.monotonic()
            messages, code = drain(ws)
        assert (messages[-1]["status"], code) == (408, 1008) and time.monotonic() - t0 < 5


class SlowModel:
    """Wraps a model; every forward pass takes at least ``delay`` seconds."""

    def __init__(self, model: Any, delay: float) -> None:
        self.model, self.delay = model, delay
        self.sample_rate, self.segment_samples = model.sample_rate, model.segment_samples

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        return self.model(batch)


def test_ws_fast_sender_gets_backpressure_not_unbounded_buffering(detector):
    slow = Detector(SlowModel(detector.model, 0.04), detector.calibration, detector.model_info,
                    vad="none", batch_size=64)  # fmt: skip
    # >= 0.04 s to score each 64-KiB frame (2 s of audio): the server takes < 1.6 MB/s
    frame, total = pcm16(noise(65536 / 2 / SR, seed=3)), 48 << 20
    sent = [0]
    app = stream_app(slow, max_duration_s=1e6)
    with LiveServer(app) as live, connect(live, "?api_key=good") as ws:
        ws.recv(timeout=10)

        def pump() -> None:
            try:
                while sent[0] < total:
                    ws.send(frame)
                    sent[0] += len(frame)
            except Exception:
                pass

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        time.sleep(3.0)
        in_flight = sent[0]
        ws.socket.shutdown(socket.SHUT_RDWR)
        thread.join(10)
    print(f"in flight after 3 s: {in_flight / 2**20:.1f} MiB")
    # without backpressure all 48 MB leave at once; with it only what the server scored plus
    # the socket buffers and the server's bounded receive queue
    assert 1 << 20 < in_flight < 24 << 20, in_flight


def service_app(ckpt: Path, tmp_path: Path, **settings: Any) -> tuple[Any, dict[str, str]]:
    """S2's create_app on a temp SQLite database with the tiny model; returns the app and
    plaintext API keys {"detect", "review", "admin"}."""
    from spoofscope.service import auth
    from spoofscope.service.app import create_app
    from spoofscope.service.db import make_engine, migrate, session_factory
    from spoofscope.service.settings import ServiceSettings

    url = f"sqlite:///{tmp_path / 'service.db'}"
    migrate(url)
    engine = make_engine(url)
    keys = {}
    with session_factory(engine)() as s:
        for scope in ("detect", "review", "admin"):
            keys[scope] = auth.create_key(s, scope, f"test-{scope}")[1]
    engine.dispose()
    options = {"database_url": url, "model": str(ckpt), "job_workers": 0, "migrate": False,
               "detector_options": {"vad": "none"}, "audio_dir": str(tmp_path / "audio"),
               **settings}  # fmt: skip
    return create_app(ServiceSettings(**options)), keys


def test_ws_stream_through_the_service_app_is_stored(ckpt, tmp_path):
    import hashlib

    import httpx

    app, keys = service_app(ckpt, tmp_path)
    data = pcm16(np.concatenate([tone(0.5), noise(0.5, seed=2)]))
    with LiveServer(app) as live:
        with connect(live, f"?api_key={keys['detect']}&rate=16000") as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            ws.send(data)
            ws.send(json.dumps({"type": "end"}))
            messages, code = drain(ws)
        summary = messages[-1]
        assert code == 1000 and summary["type"] == "summary" and summary["id"]
        headers = {"X-API-Key": keys["detect"]}
        stored = httpx.get(f"{live.url}/v1/detections/{summary['id']}", headers=headers).json()
        assert stored["verdict"] == summary["verdict"]
        assert stored["audio_sha256"] == hashlib.sha256(data).hexdigest()
        with connect(live) as ws:  # the key in the first message
            ws.send(json.dumps({"type": "auth", "api_key": keys["detect"]}))
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            ws.send(data)
            ws.send(json.dumps({"type": "end"}))
            messages, code = drain(ws)
        assert code == 1000 and messages[-1]["verdict"] == summary["verdict"]
        with connect(live, f"?api_key={keys['review']}") as ws:  # lacks the detect scope
            messages, code = drain(ws)
        assert (messages[-1]["type"], messages[-1]["status"], code) == ("error", 403, 1008)
