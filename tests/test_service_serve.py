"""``spoofscope serve`` for real: server processes on loopback, a real HTTP client, the rows in
the database; two servers sharing one PostgreSQL (rows and rate limits shared)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from conftest_service import SR, noise, require_postgres, tone
from pg_server import PgServer
from spoofscope.service import auth, store
from spoofscope.service.db import make_engine, migrate, session_factory


def wav(wave) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, SR, format="WAV")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A ``spoofscope serve`` subprocess; its stderr (JSON logs) goes to a file."""

    def __init__(self, tmp: Path, url: str, ckpt: Path, *extra: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOOFSCOPE_", "PROM"))}
        cmd = [sys.executable, "-m", "spoofscope", "serve", "--port", str(self.port),
               "--database-url", url, "--model", str(ckpt), "--vad", "none",
               "--audio-dir", str(tmp / "audio"), *extra]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server not ready after {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def make_key(url: str, scopes: str = "detect") -> tuple[str, str]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            row, plain = auth.create_key(s, scopes, name="test")
            return row.id, plain
    finally:
        engine.dispose()


def detection_row(url: str, det_id: str):
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return store.get_detection(s, det_id)
    finally:
        engine.dispose()


RATE_LIMIT = 5


@pytest.fixture(scope="module")
def servers(tmp_path_factory, service_checkpoint, postgres_server):
    """All the servers of this module, started at once (their start-up overlaps).

    ``sqlite``: ``serve --job-workers 1`` on a SQLite file. ``pg_a`` / ``pg_b``: two replicas
    on one PostgreSQL database (``pg_b`` with two uvicorn worker processes), rate limit
    :data:`RATE_LIMIT`; absent when PostgreSQL cannot be started.
    """
    tmp = tmp_path_factory.mktemp("serve")
    out: dict = {}
    url = f"sqlite:///{tmp / 'serve.db'}"
    migrate(url)
    out["sqlite"] = (Server(tmp, url, service_checkpoint, "--job-workers", "1"), url)
    if isinstance(postgres_server, PgServer):
        pg = postgres_server.create_database()
        migrate(pg)
        limit = ("--job-workers", "0", "--rate-limit", str(RATE_LIMIT))
        out["pg_a"] = (Server(tmp, pg, service_checkpoint, *limit), pg)
        out["pg_b"] = (Server(tmp, pg, service_checkpoint, *limit, "--workers", "2"), pg)
    yield out
    for server, _ in out.values():
        server.stop()


def test_serve_answers_real_http_and_runs_jobs(servers):
    server, url = servers["sqlite"]
    key_id, key = make_key(url)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        server.wait_ready()
        clip = wav(tone(2.0))
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            r = http.post("/v1/detect", files={"file": ("call.wav", clip, "audio/wav")})
            assert r.status_code == 200, r.text
            body = r.json()
            row = detection_row(url, body["id"])
            assert row is not None and row.client == key_id and row.source == "call.wav"
            assert row.verdict == body["verdict"] and row.duration_s == pytest.approx(2.0)
            assert http.get(f"/v1/detections/{body['id']}").json()["id"] == body["id"]
            assert http.post("/v1/detect", content=b"hello").status_code == 415

            job = http.post("/v1/jobs", files=[("files", ("long.wav", wav(noise(6.0)), "a/b"))])
            assert job.status_code == 202, job.text
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                state = http.get(f"/v1/jobs/{job.json()['id']}").json()
                if state["status"] in ("done", "failed"):
                    break
                time.sleep(0.2)
            assert state["status"] == "done", state
            assert state["results"][0]["duration_s"] == pytest.approx(6.0)
            assert detection_row(url, state["results"][0]["detection_id"]).job_id == state["id"]
            metrics = http.get("/metrics").text
            assert (
                'spoofscope_http_requests_total{method="POST",route="/v1/detect",status="200"}'
                in (metrics)
            )
    finally:
        code = server.stop()
    assert code == 0, server.log.read_text()
    lines = [ln for ln in server.log.read_text().splitlines() if ln.startswith("{")]
    records = [json.loads(ln) for ln in lines]
    access = [r for r in records if r.get("route") == "/v1/detect"]
    assert [r["status"] for r in access] == [200, 415]
    assert all(r["client"] == key_id for r in access)
    assert key not in server.log.read_text()


def test_two_servers_share_one_postgresql(servers, postgres_server):
    require_postgres(postgres_server)
    (a, url), (b, _) = servers["pg_a"], servers["pg_b"]
    _, key = make_key(url)
    _, admin = make_key(url, "admin")  # reads everyone's rows, with its own budget
    headers = {"X-API-Key": key}
    try:
        a.wait_ready()
        b.wait_ready()
        if time.time() % 60 > 55:  # keep the requests inside one one-minute window
            time.sleep(60 - time.time() % 60 + 0.2)
        ids = {}
        order = ["a", "b", "a", "b", "b"]
        assert len(order) == RATE_LIMIT
        for i, name in enumerate(order):
            server = a if name == "a" else b
            r = httpx.post(f"{server.base}/v1/detect", content=wav(tone(1.0, 200 + 50 * i)),
                           headers=headers, timeout=30)  # fmt: skip
            assert r.status_code == 200, r.text
            ids[r.json()["id"]] = name
        for server in (a, b):  # the shared budget is spent, whichever replica is asked
            r = httpx.post(f"{server.base}/v1/detect", content=wav(tone(1.0)), headers=headers)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert len(ids) == len(order)
        for det_id, origin in ids.items():  # each replica reads the other's rows
            other = b if origin == "a" else a
            got = httpx.get(f"{other.base}/v1/detections/{det_id}", headers={"X-API-Key": admin})
            assert got.status_code == 200 and got.json()["id"] == det_id
            assert detection_row(url, det_id) is not None
        text = httpx.get(f"{b.base}/metrics").text  # summed over b's two processes
        answered = [
            line for line in text.splitlines()
            if line.startswith("spoofscope_http_requests_total") and '"/v1/detect"' in line
            and 'status="200"' in line
        ]  # fmt: skip
        assert answered and float(answered[0].split()[-1]) == order.count("b")
    finally:
        codes = [a.stop(), b.stop()]
    assert codes == [0, 0], a.log.read_text() + b.log.read_text()
