"""The HTTP API (spoofscope.service.app) through FastAPI's TestClient: detection, uploads,
errors, auth, rate limits, jobs, review, metrics, logs and the OpenAPI schema."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from conftest_service import SR, noise, tone
from spoofscope.inference import Detector
from spoofscope.service import auth, store
from spoofscope.service.app import create_app
from spoofscope.service.errors import ApiError
from spoofscope.service.logging_json import ACCESS_LOGGER, JsonFormatter
from spoofscope.service.settings import ServiceSettings, SettingsError
from spoofscope.service.uploads import _limited, sniff_format


def wav_bytes(wave: np.ndarray, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, SR, format=fmt, subtype=subtype)
    return buf.getvalue()


WAV = wav_bytes(tone(1.0))


@pytest.fixture(scope="module")
def ckpt(service_checkpoint):
    return service_checkpoint


@pytest.fixture(scope="module")
def detector(ckpt):
    return Detector.from_pretrained(ckpt, vad="none")


class Service:
    """A running app (lifespan entered) with one key per scope."""

    def __init__(self, client: TestClient) -> None:
        self.client, self.app = client, client.app
        self.keys: dict[str, tuple[str, str]] = {}
        with self.app.state.sessions() as s:
            for scope in ("detect", "review", "admin"):
                row, plain = auth.create_key(s, [scope], name=scope)
                self.keys[scope] = (row.id, plain)

    def headers(self, scope: str = "detect") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope][1]}"}

    def post_detect(self, data: bytes = WAV, scope: str = "detect", **kw):
        files = {"file": ("clip.wav", data, "audio/wav")}
        return self.client.post("/v1/detect", files=files, headers=self.headers(scope), **kw)


@pytest.fixture
def make_service(tmp_path, ckpt, detector):
    clients = []

    def make(**overrides) -> Service:
        options = dict(
            database_url=f"sqlite:///{tmp_path}/db{len(clients)}.sqlite",
            model=str(ckpt),
            detector_options={"vad": "none"},
            job_workers=0,
            audio_dir=str(tmp_path / "audio"),
            review_sample_rate=0.0,
        )
        options.update(overrides)
        settings = ServiceSettings(**options)
        client = TestClient(create_app(settings, detector=detector), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Service(client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def svc(make_service):
    return make_service()


def assert_error(response, status: int, reason: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert isinstance(body["error"]["reason"], str) and body["error"]["reason"]
    if reason is not None:
        assert body["error"]["reason"] == reason
    assert "Traceback" not in response.text
    return body["error"]


# --- detection -----------------------------------------------------------------------------


def test_detect_multipart_stores_the_detection(svc):
    r = svc.post_detect()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] in ("bonafide", "spoof", "review")
    assert 0.0 <= body["p_spoof"] <= 1.0
    assert body["source"] == "clip.wav" and body["duration_s"] == pytest.approx(1.0)
    assert len(body["windows"]) > 1 and body["model"]["backend"] == "torch"
    with svc.app.state.sessions() as s:
        row = store.get_detection(s, body["id"])
    assert row is not None
    assert row.audio_sha256 == hashlib.sha256(WAV).hexdigest()
    assert row.client == svc.keys["detect"][0]
    assert row.latency_s > 0 and row.verdict == body["verdict"]
    assert row.p_spoof == pytest.approx(body["p_spoof"])
    got = svc.client.get(f"/v1/detections/{body['id']}", headers=svc.headers())
    assert got.status_code == 200
    assert got.json()["windows"] == body["windows"] and got.json()["id"] == body["id"]


def test_raw_body_with_any_content_type_and_other_formats(svc):
    expected = svc.post_detect().json()
    raw = svc.client.post(
        "/v1/detect",
        content=WAV,
        headers={**svc.headers(), "Content-Type": "text/plain"},
        params={"filename": "x.wav"},
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["source"] == "x.wav"
    assert raw.json()["p_spoof"] == pytest.approx(expected["p_spoof"])
    for fmt, subtype in (("FLAC", None), ("OGG", "VORBIS"), ("AIFF", None)):
        data = wav_bytes(tone(1.0), fmt, subtype)
        r = svc.client.post("/v1/detect", content=data, headers=svc.headers())
        assert r.status_code == 200, (fmt, r.text)
        assert r.json()["duration_s"] == pytest.approx(1.0, abs=0.01)


def test_threshold_overrides(svc):
    r = svc.post_detect(params={"lower": 0.0, "upper": 1.0})
    assert r.json()["verdict"] == "review"
    assert r.json()["thresholds"] == {"lower": 0.0, "upper": 1.0}
    assert_error(svc.post_detect(params={"lower": 0.9, "upper": 0.1}), 422)
    assert_error(svc.post_detect(params={"lower": 2}), 422, "invalid request")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(b"<html><body>not audio</body></html>", "audio/wav"), (bytes(range(256)) * 4, "audio/mpeg")],
)
def test_content_is_sniffed_not_trusted(svc, data, content_type):
    r = svc.client.post(
        "/v1/detect",
        files={"file": ("a.wav", data, content_type)},
        headers=svc.headers(),
    )
    err = assert_error(r, 415, "unsupported media type")
    assert "a.wav" in err["detail"]


def test_size_and_duration_limits(make_service):
    svc = make_service(max_upload_bytes=20_000, max_duration_s=0.5)
    big = wav_bytes(tone(1.0))  # 32 kB
    assert_error(svc.post_detect(big), 413, "payload too large")
    chunked = svc.client.post(
        "/v1/detect", content=iter([big[:10_000], big[10_000:]]), headers=svc.headers()
    )
    assert "content-length" not in chunked.request.headers
    assert_error(chunked, 413, "payload too large")
    err = assert_error(svc.post_detect(wav_bytes(tone(0.6, 300))), 413, "audio too long")
    assert "0.5" in err["detail"]
    assert svc.post_detect(wav_bytes(tone(0.4))).status_code == 200


def test_body_is_counted_while_streaming():
    consumed = []

    async def endless():
        while True:
            consumed.append(1)
            yield b"x" * 1000

    async def drain():
        async for _ in _limited(endless(), 10_500):
            pass

    import anyio

    with pytest.raises(ApiError) as info:
        anyio.run(drain)
    assert info.value.status == 413
    assert len(consumed) == 11  # stopped at the first chunk past the limit


def test_corrupt_and_malformed_uploads(svc):
    header_only = b"RIFF\xff\xff\x00\x00WAVEjunkjunkjunkjunk"
    for data in (header_only, WAV[:30], b"fLaC" + bytes(100), b"OggS" + bytes(100)):
        assert_error(svc.post_detect(data), 422, "undecodable audio")
    no_file = svc.client.post(
        "/v1/detect", files={"other": ("a.wav", WAV, "audio/wav")}, headers=svc.headers()
    )
    assert "other" in assert_error(no_file, 400, "missing file")["detail"]
    bad_multipart = svc.client.post(
        "/v1/detect",
        content=b"--XX\r\nContent-Disposition: form-data; name=file; filename=a\r\n\r\nabc",
        headers={**svc.headers(), "Content-Type": "multipart/form-data; boundary=XX"},
    )
    assert bad_multipart.status_code in (400, 415)
    assert_error(bad_multipart, bad_multipart.status_code)
    empty = svc.client.post("/v1/detect", content=b"", headers=svc.headers())
    assert_error(empty, 400, "empty upload")


# --- auth, scopes, rate limits, ownership ---------------------------------------------------


def test_keys_and_scopes(svc):
    missing = svc.client.post("/v1/detect", content=WAV)
    assert_error(missing, 401, "missing API key")
    assert missing.headers["www-authenticate"] == "Bearer"
    bad = svc.client.post("/v1/detect", content=WAV, headers={"X-API-Key": "ssk_0_nope"})
    assert_error(bad, 401, "invalid API key")
    assert_error(svc.post_detect(scope="review"), 403, "insufficient scope")
    assert_error(svc.client.get("/v1/review", headers=svc.headers("detect")), 403)
    assert svc.client.get("/v1/review", headers=svc.headers("review")).status_code == 200
    admin = svc.post_detect(scope="admin")
    assert admin.status_code == 200
    x_api_key = {"X-API-Key": svc.keys["detect"][1]}
    assert svc.client.post("/v1/detect", content=WAV, headers=x_api_key).status_code == 200
    with svc.app.state.sessions() as s:
        auth.revoke_key(s, svc.keys["detect"][0])
    assert_error(svc.post_detect(), 401, "invalid API key")


def test_no_auth_mode(make_service):
    svc = make_service(auth=False)
    r = svc.client.post("/v1/detect", content=WAV)
    assert r.status_code == 200
    assert svc.client.get(f"/v1/detections/{r.json()['id']}").status_code == 200


def test_rate_limit_per_key(make_service):
    svc = make_service(rate_limit_per_minute=3)
    if time.time() % 60 > 57:  # keep the requests in one fixed window
        time.sleep(60 - time.time() % 60 + 0.2)
    statuses = [svc.post_detect().status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = svc.post_detect()
    assert_error(limited, 429, "rate limit exceeded")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert svc.post_detect(scope="admin").status_code == 200  # another key, its own budget


def test_unknown_and_foreign_ids_are_404(svc):
    assert_error(svc.client.get("/v1/detections/nope", headers=svc.headers()), 404)
    assert_error(svc.client.get("/v1/jobs/nope", headers=svc.headers()), 404)
    body = {"label": "spoof", "comment": ""}
    assert_error(svc.client.post("/v1/review/nope", json=body, headers=svc.headers("review")), 404)
    det_id = svc.post_detect(scope="admin").json()["id"]
    assert_error(svc.client.get(f"/v1/detections/{det_id}", headers=svc.headers()), 404)
    assert svc.client.get(f"/v1/detections/{det_id}", headers=svc.headers("admin")).is_success
    assert_error(svc.client.get("/v1/nothing-here"), 404, "not found")


def test_internal_error_is_json_without_traceback(svc, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal state 0xdeadbeef")

    svc.app.state.detector.detect = boom  # shadows the method on this instance
    try:
        with caplog.at_level(logging.ERROR, logger=ACCESS_LOGGER):
            r = svc.post_detect()
    finally:
        del svc.app.state.detector.detect
    err = assert_error(r, 500, "internal error")
    assert "deadbeef" not in r.text and "RuntimeError" not in r.text
    assert r.headers["x-request-id"]
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and "deadbeef" in str(logged[0].exc_info[1])
    assert err["detail"]


def test_stream_results_are_stored(svc):
    pcm = (tone(1.0) * 32767).astype("<i2").tobytes()
    url = f"/v1/stream?encoding=pcm16&rate={SR}&api_key={svc.keys['detect'][1]}"
    with svc.client.websocket_connect(url) as ws:
        assert ws.receive_json()["type"] == "ready"
        for i in range(0, len(pcm), 6400):
            ws.send_bytes(pcm[i : i + 6400])
        ws.send_text(json.dumps({"type": "end"}))
        while (event := ws.receive_json())["type"] != "summary":
            assert event["type"] == "window"
    with svc.app.state.sessions() as s:
        row = store.get_detection(s, event["id"])
    assert row.client == svc.keys["detect"][0] and row.duration_s == pytest.approx(1.0)
    assert row.verdict == event["verdict"] and row.audio_sha256 == hashlib.sha256(pcm).hexdigest()
    text = svc.client.get("/metrics").text
    assert sample(text, "spoofscope_verdicts_total", endpoint="stream") == 1
    with svc.client.websocket_connect("/v1/stream?api_key=ssk_bad") as ws:
        assert ws.receive_json()["status"] == 401
    url = f"/v1/stream?api_key={svc.keys['review'][1]}"
    with svc.client.websocket_connect(url) as ws:
        assert ws.receive_json()["status"] == 403


# --- models, health, readiness ----------------------------------------------------------------


def test_models_health_ready(svc, ckpt, make_service):
    m = svc.client.get("/v1/models").json()["models"][0]
    assert m["name"] == "lfcc-gmm" and m["backend"] == "torch" and len(m["id"]) == 12
    assert m["sample_rate"] == SR and m["segment_samples"] == 1600
    assert m["calibration"]["calibrated"] is False  # the tiny checkpoint has none
    assert m["thresholds"] == {"lower": 0.3, "upper": 0.7}
    assert svc.client.get("/healthz").json()["status"] == "ok"
    for page in ("/", "/review"):
        html = svc.client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert svc.client.get("/static/app.js").status_code == 200
    ready = svc.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"model": "ok", "database": "ok"}
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    sessions = svc.app.state.sessions
    svc.app.state.sessions = sessionmaker(create_engine("postgresql+psycopg://x@127.0.0.1:1/x"))
    try:
        err = assert_error(svc.client.get("/readyz"), 503, "not ready")
        assert err["detail"]["database"].startswith("unreachable")
    finally:
        svc.app.state.sessions = sessions
    svc.app.state.detector, detector = None, svc.app.state.detector
    try:
        assert_error(svc.client.get("/readyz"), 503)
        assert_error(svc.post_detect(), 503)
    finally:
        svc.app.state.detector = detector


# --- jobs -----------------------------------------------------------------------------------


def test_jobs_are_queued_then_done_by_a_worker(svc, tmp_path):
    from spoofscope.service import jobs

    files = [
        ("files", ("a.wav", wav_bytes(tone(1.0)), "audio/wav")),
        ("files", ("b.flac", wav_bytes(noise(2.0), "FLAC"), "audio/flac")),
    ]
    r = svc.client.post("/v1/jobs", files=files, headers=svc.headers())
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["status"] == "queued" and r.headers["location"] == f"/v1/jobs/{job_id}"
    saved = sorted(p.name for p in (tmp_path / "audio" / "jobs").rglob("*") if p.is_file())
    assert saved == ["000-a.wav.wav", "001-b.flac.flac"]
    assert svc.client.get(f"/v1/jobs/{job_id}", headers=svc.headers()).json()["status"] == "queued"
    assert_error(svc.client.get(f"/v1/jobs/{job_id}", headers=svc.headers("review")), 403)
    bad = svc.client.post("/v1/jobs", files=[("files", ("x", b"nope" * 10, "audio/wav"))],
                          headers=svc.headers())  # fmt: skip
    assert_error(bad, 415)

    stop = threading.Event()
    settings = svc.app.state.settings.to_dict()
    worker = threading.Thread(
        target=jobs.run_worker, args=(settings["database_url"], settings, stop, 0.05)
    )
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = svc.client.get(f"/v1/jobs/{job_id}", headers=svc.headers()).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    assert job["status"] == "done", job
    assert [i["name"] for i in job["inputs"]] == ["a.wav", "b.flac"]
    durations = [res["duration_s"] for res in job["results"]]
    assert durations == pytest.approx([1.0, 2.0], abs=0.01)
    for res in job["results"]:
        det = svc.client.get(f"/v1/detections/{res['detection_id']}", headers=svc.headers())
        assert det.json()["job_id"] == job_id


# --- review ---------------------------------------------------------------------------------


def test_review_queue_and_labels(make_service):
    svc = make_service(keep_audio=True)
    det = svc.post_detect(params={"lower": 0.0, "upper": 1.0}).json()  # verdict: review
    assert det["verdict"] == "review"
    svc.post_detect(params={"lower": 1.0, "upper": 1.0})  # bonafide: not queued
    items = svc.client.get("/v1/review", headers=svc.headers("review")).json()["items"]
    assert [i["detection_id"] for i in items] == [det["id"]]
    item = items[0]
    assert item["reason"] == "review-band" and item["status"] == "open"
    assert item["detection"]["audio_available"] is True
    audio = svc.client.get(f"/v1/review/{item['id']}/audio", headers=svc.headers("review"))
    assert audio.status_code == 200 and audio.content == WAV
    assert audio.headers["content-type"] == "audio/wav"
    bad = svc.client.post(
        f"/v1/review/{item['id']}", json={"label": "maybe"}, headers=svc.headers("review")
    )
    assert_error(bad, 422, "invalid request")
    ok = svc.client.post(
        f"/v1/review/{item['id']}",
        json={"label": "spoof", "comment": "robotic"},
        headers=svc.headers("review"),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["label"] == "spoof" and ok.json()["reviewer"] == svc.keys["review"][0]
    assert svc.client.get("/v1/review", headers=svc.headers("review")).json()["items"] == []
    done = svc.client.get("/v1/review?status=labelled", headers=svc.headers("admin")).json()
    assert [i["comment"] for i in done["items"]] == ["robotic"]


# --- metrics and logs -----------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics(svc):
    verdicts = [svc.post_detect().json()["verdict"] for _ in range(2)]
    svc.post_detect(b"not audio at all")
    text = svc.client.get("/metrics").text
    route = {"route": "/v1/detect", "method": "POST"}
    assert sample(text, "spoofscope_http_requests_total", status="200", **route) == 2
    assert sample(text, "spoofscope_http_requests_total", status="415", **route) == 1
    assert sample(text, "spoofscope_http_request_duration_seconds_count", **route) == 3
    for v in set(verdicts):
        assert sample(text, "spoofscope_verdicts_total", verdict=v) == verdicts.count(v)
    assert sample(text, "spoofscope_p_spoof_count", endpoint="detect") == 2
    assert sample(text, "spoofscope_p_spoof_bucket", endpoint="detect", le="1.0") == 2
    assert sample(text, "spoofscope_model_forward_duration_seconds_count") >= 2
    assert sample(text, "spoofscope_detection_duration_seconds_count", endpoint="detect") == 2
    assert sample(text, "spoofscope_queue_depth", queue="jobs") == 0
    assert sample(text, "spoofscope_db_rows", table="detections") == 2
    assert sample(text, "spoofscope_db_up") == 1
    assert np.isnan(sample(text, "spoofscope_score_drift_psi", reference="baseline"))


def test_json_access_log_never_holds_the_key(svc):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        svc.post_detect()
        svc.post_detect(scope="review")
        svc.client.get("/healthz")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["status"] for r in records] == [200, 403, 200]
    first = records[0]
    assert {"time", "level", "route", "status", "latency_ms", "client", "request_id"} <= set(first)
    assert first["route"] == "/v1/detect" and first["client"] == svc.keys["detect"][0]
    assert first["latency_ms"] > 0
    for _, plain in svc.keys.values():
        assert plain not in stream.getvalue() and plain.split("_")[2] not in stream.getvalue()


# --- OpenAPI --------------------------------------------------------------------------------

EXPECTED_RESPONSES = {
    ("post", "/v1/detect"): {"200", "400", "401", "403", "413", "415", "422", "429", "500"},
    ("post", "/v1/jobs"): {"202", "400", "401", "403", "413", "415", "429"},
    ("get", "/v1/jobs/{job_id}"): {"200", "401", "403", "404"},
    ("get", "/v1/detections/{detection_id}"): {"200", "401", "403", "404"},
    ("get", "/v1/models"): {"200", "503"},
    ("get", "/v1/review"): {"200", "401", "403", "422"},
    ("post", "/v1/review/{item_id}"): {"200", "401", "403", "404", "422"},
    ("get", "/v1/review/{item_id}/audio"): {"200", "404"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200", "503"},
    ("get", "/metrics"): {"200"},
    ("get", "/"): {"200"},
    ("get", "/review"): {"200"},
}


def api_routes(routes):
    """Every APIRoute, also inside included routers (FastAPI includes them lazily)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def test_openapi_schema_lists_every_route_with_its_responses(svc):
    schema = svc.client.get("/openapi.json").json()
    paths = schema["paths"]
    routes = {(m.lower(), r.path) for r in api_routes(svc.app.routes) for m in r.methods}
    assert routes == set(EXPECTED_RESPONSES)
    for (method, path), codes in EXPECTED_RESPONSES.items():
        op = paths[path][method]
        assert codes <= set(op["responses"]), (method, path, set(op["responses"]))
        for code in codes - {"200", "202"}:
            ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody")
    detect = paths["/v1/detect"]["post"]
    assert "multipart/form-data" in detect["requestBody"]["content"]
    assert "application/octet-stream" in detect["requestBody"]["content"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
    required = set(schema["components"]["schemas"]["DetectionOut"]["required"])
    assert required <= set(svc.post_detect().json())


# --- pieces -----------------------------------------------------------------------------------


def test_sniff_format():
    assert sniff_format(wav_bytes(tone(0.1))[:64]) == "wav"
    assert sniff_format(wav_bytes(tone(0.1), "FLAC")[:64]) == "flac"
    assert sniff_format(wav_bytes(tone(0.1), "OGG", "VORBIS")[:64]) == "ogg"
    assert sniff_format(wav_bytes(tone(0.1), "AIFF")[:64]) == "aiff"
    assert sniff_format(b"ID3\x04\x00" + bytes(20)) == "mp3"
    assert sniff_format(b"\xff\xfb\x90\x64" + bytes(20)) == "mp3"  # MPEG-1 layer III
    assert sniff_format(b"\xff\xf1\x50\x80" + bytes(20)) == "aac"  # ADTS
    assert sniff_format(b"\x00\x00\x00\x20ftypM4A " + bytes(20)) == "mp4"
    assert sniff_format(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81" + bytes(20)) == "webm"
    for junk in (b"", b"RIFF\x00\x00\x00\x00AVI LIST", b"%PDF-1.4", b"\xff\xd8\xff\xe0JFIF"):
        assert sniff_format(junk) is None


def test_settings_env_roundtrip_and_errors():
    settings = ServiceSettings(
        database_url="sqlite:///x.db", model="m.safetensors", detector_options={"vad": "none"},
        auth=False, max_duration_s=12.5, rate_limit_per_minute=7,
    )  # fmt: skip
    assert ServiceSettings.from_env(settings.to_env()) == settings
    assert ServiceSettings.from_env({}) == ServiceSettings()
    assert ServiceSettings.from_env({"SPOOFSCOPE_MODEL": ""}).model is None
    with pytest.raises(SettingsError, match="SPOOFSCOPE_AUTH"):
        ServiceSettings.from_env({"SPOOFSCOPE_AUTH": "maybe"})
    with pytest.raises(SettingsError, match="SPOOFSCOPE_MAX_UPLOAD_BYTES"):
        ServiceSettings.from_env({"SPOOFSCOPE_MAX_UPLOAD_BYTES": "lots"})
    with pytest.raises(SettingsError, match="backend"):
        ServiceSettings(backend="tf")
    with pytest.raises(SettingsError, match="review_sample_rate"):
        ServiceSettings(review_sample_rate=2)


def fake_result(score: float, model_id: str) -> dict:
    p = float(1 / (1 + np.exp(score)))
    return {
        "verdict": "spoof" if p > 0.5 else "bonafide", "p_spoof": p, "score": score,
        "duration_s": 1.0, "windows": [], "model": {"id": model_id, "name": "m", "version": "1"},
    }  # fmt: skip


def test_drift_against_baseline_and_calibration(svc):
    from spoofscope.service.drift import Reference, ks_statistic, psi

    rng = np.random.default_rng(0)
    same, shifted = rng.normal(0, 1, 5000), rng.normal(2, 1, 5000)
    ref = Reference("calibration", mean=0.0, std=1.0)
    assert psi(same, ref) < 0.01 and psi(shifted, ref) > 1.0
    assert ks_statistic(same, ref) < 0.03 and ks_statistic(shifted, ref) > 0.6
    empirical = Reference.from_scores(rng.normal(0, 1, 5000))
    assert psi(same, empirical) < 0.02 and ks_statistic(shifted, empirical) > 0.6

    model_id = svc.app.state.detector.model_info["id"]
    with svc.app.state.sessions() as s:
        for score in [*rng.normal(0, 1, 80), *rng.normal(4, 1, 60)]:
            store.save_detection(s, fake_result(float(score), model_id), client="c",
                                 source="x", audio_sha256="0" * 64, latency_s=0.1)  # fmt: skip
        store.save_detection(s, fake_result(-50.0, "another-model"), client="c", source="x",
                             audio_sha256="0" * 64, latency_s=0.1)  # fmt: skip
    text = svc.client.get("/metrics").text
    assert sample(text, "spoofscope_score_drift_samples", reference="baseline") == 70
    assert sample(text, "spoofscope_score_drift_psi", reference="baseline") > 1.0
    assert sample(text, "spoofscope_score_drift_ks", reference="baseline") > 0.6
    collector = svc.app.state.db_collector
    collector.reference, collector._cached = Reference("calibration", mean=0.0, std=1.0), None
    text = svc.client.get("/metrics").text
    assert sample(text, "spoofscope_score_drift_samples", reference="calibration") == 140
    # 60 of the 140 recent scores moved: the CDF gap is about 60 / 140
    assert 0.3 < sample(text, "spoofscope_score_drift_ks", reference="calibration") < 0.55
