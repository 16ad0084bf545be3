"""Service jobs (spoofscope.service.store job functions, spoofscope.service.jobs workers): claims
are exclusive, leases expire, a killed worker's job is finished by another with nothing lost
and nothing stored twice. Against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
import sqlalchemy as sa

from conftest_service import SR, noise, tone
from spoofscope.service import jobs, store
from spoofscope.service.db import Detection, make_engine, migrate, session_factory, utcnow


@pytest.fixture
def db(fresh_database_url):
    migrate(fresh_database_url)
    engine = make_engine(fresh_database_url)
    yield fresh_database_url, session_factory(engine)
    engine.dispose()


def write_inputs(root: Path, n: int, seconds: float = 0.5) -> list[dict]:
    """Job inputs: even = tone (bona fide), odd = noise (spoof)."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = root / f"in{i:02d}.wav"
        sf.write(path, tone(seconds, 200.0 + 10 * i) if i % 2 == 0 else noise(seconds, i), SR)
        out.append({"name": f"clip{i}.wav", "path": str(path), "sha256": f"{i:064x}"})
    return out


def wait_for(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def job_rows(sessions, job_id: str) -> list[Detection]:
    with sessions() as s:
        return list(s.scalars(sa.select(Detection).where(Detection.job_id == job_id)))


# --- queue ---------------------------------------------------------------------------------


def test_job_lifecycle(db):
    _, sessions = db
    with sessions() as s:
        job = store.create_job(s, "key-1", [{"name": "a.wav", "path": "/a", "sha256": "0"}])
        assert store.get_job(s, job.id).status == "queued" and store.get_job(s, "x") is None
        with pytest.raises(ValueError, match="at least one input"):
            store.create_job(s, "key-1", [])
        claimed = store.claim_job(s, "w1", lease_s=30)
        assert claimed.id == job.id
        assert (claimed.status, claimed.worker, claimed.attempts) == ("running", "w1", 1)
        assert claimed.lease_until > utcnow() + dt.timedelta(seconds=29)
        assert store.claim_job(s, "w2", lease_s=30) is None  # leased: nobody else gets it
        assert store.finish_job(s, job.id, [{"index": 0, "verdict": "spoof"}], worker="w2") is False
        assert store.finish_job(s, job.id, [{"index": 0, "verdict": "spoof"}], worker="w1")
        assert store.finish_job(s, job.id, [], error="again") is False  # finished once only
    with sessions() as s:
        done = store.get_job(s, job.id)
        assert (done.status, done.results, done.error, done.lease_until) == (
            "done", [{"index": 0, "verdict": "spoof"}], None, None
        )  # fmt: skip
        failed = store.create_job(s, "key-1", [{"name": "b", "path": "/b", "sha256": "1"}])
        assert store.finish_job(s, failed.id, [], error="bad input")
        assert (store.get_job(s, failed.id).status, store.get_job(s, failed.id).error) == (
            "failed", "bad input"
        )  # fmt: skip


def test_expired_lease_is_claimed_again_and_the_old_worker_is_locked_out(db):
    _, sessions = db
    t0 = utcnow()
    with sessions() as s:
        first = store.create_job(s, "c", [{"name": "a", "path": "/a", "sha256": "0"}])
        second = store.create_job(s, "c", [{"name": "b", "path": "/b", "sha256": "1"}])
        assert store.claim_job(s, "w1", 10, now=t0).id == first.id  # oldest first
        assert store.claim_job(s, "w1", 10, now=t0).id == second.id
        assert store.claim_job(s, "w2", 10, now=t0 + dt.timedelta(seconds=9)) is None
        again = store.claim_job(s, "w2", 10, now=t0 + dt.timedelta(seconds=11))
        assert (again.id, again.worker, again.attempts) == (first.id, "w2", 2)
        assert store.renew_lease(s, first.id, "w1", 10) is False  # w1 lost it
        assert store.renew_lease(s, first.id, "w2", 10) is True
        assert store.release_job(s, second.id, "w2") is False
        assert store.release_job(s, second.id, "w1") is True  # clean stop: back in the queue
        back = store.get_job(s, second.id)
        assert (back.status, back.worker, back.attempts) == ("queued", None, 0)


def test_a_job_whose_workers_keep_dying_is_failed(db):
    _, sessions = db
    now = utcnow()
    with sessions() as s:
        job = store.create_job(s, "c", [{"name": "a", "path": "/a", "sha256": "0"}])
        for i in range(store.MAX_ATTEMPTS):
            assert store.claim_job(s, f"w{i}", 1, now=now + dt.timedelta(seconds=2 * i)).id
        assert store.claim_job(s, "last", 1, now=now + dt.timedelta(seconds=60)) is None
        dead = store.get_job(s, job.id)
    assert dead.status == "failed" and f"{store.MAX_ATTEMPTS} attempts" in dead.error


def test_concurrent_claimers_never_get_the_same_job(db):
    url, sessions = db
    n_jobs = 40
    with sessions() as s:
        for i in range(n_jobs):
            store.create_job(s, "c", [{"name": f"{i}", "path": f"/{i}", "sha256": "0"}])
    engines = [make_engine(url, pool_size=4) for _ in range(2)]  # two replicas
    statements: list[str] = []
    sa.event.listen(engines[0], "before_cursor_execute",
                    lambda *a: statements.append(a[2]))  # fmt: skip
    claimed: list[str] = []
    lock, start = threading.Lock(), threading.Barrier(6)

    def claimer(factory, name: str) -> None:
        start.wait()
        while True:
            with factory() as s:
                job = store.claim_job(s, name, lease_s=60)
            if job is None:
                return
            with lock:
                claimed.append(job.id)

    threads = [
        threading.Thread(target=claimer, args=(session_factory(engines[i % 2]), f"w{i}"))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert len(claimed) == n_jobs and len(set(claimed)) == n_jobs
    with sessions() as s:
        assert store.counts(s)["jobs_running"] == n_jobs
    if url.startswith("postgresql"):
        assert any("FOR UPDATE SKIP LOCKED" in q for q in statements)


# --- workers ---------------------------------------------------------------------------------


def settings_for(ckpt: Path, **extra) -> dict:
    return {"model": str(ckpt), "backend": "torch", "detector_options": {"vad": "none"},
            "keep_audio": False, "review_sample_rate": 0.0, "job_max_duration_s": 600.0,
            **extra}  # fmt: skip


def run_thread_worker(url: str, settings: dict) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=jobs.run_worker, args=(url, settings, stop, 0.05))
    thread.start()
    return thread, stop


@pytest.mark.parametrize("keep_audio", [False, True])
def test_worker_writes_one_detection_per_input(db, service_checkpoint, tmp_path, keep_audio):
    url, sessions = db
    inputs = write_inputs(tmp_path / "in", 3)
    broken = tmp_path / "in" / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    inputs.append({"name": "broken.wav", "path": str(broken), "sha256": "f" * 64})
    with sessions() as s:
        job = store.create_job(s, "key-9", inputs)
    thread, stop = run_thread_worker(url, settings_for(service_checkpoint, keep_audio=keep_audio))
    try:
        with sessions() as s:
            wait_for(lambda: store.get_job(s, job.id).status == "done", 60, "the job")
            done = store.get_job(s, job.id)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    results = done.results
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r.get("verdict") for r in results] == ["bonafide", "spoof", "bonafide", None]
    assert "broken.wav" in results[3]["error"] and done.error is None
    rows = {d.job_input: d for d in job_rows(sessions, job.id)}
    assert sorted(rows) == [0, 1, 2]
    for i in range(3):
        det = rows[i]
        assert results[i]["detection_id"] == det.id and det.client == "key-9"
        assert (det.source, det.audio_sha256) == (f"clip{i}.wav", f"{i:064x}")
        assert det.duration_s == pytest.approx(0.5) and det.latency_s > 0
        assert det.audio_path == (inputs[i]["path"] if keep_audio else None)
    assert [Path(i["path"]).exists() for i in inputs] == [keep_audio] * 3 + [False]
    assert (tmp_path / "in").exists() == keep_audio  # the emptied upload directory goes too


class SlowDetector:
    """A real detector that takes ``delay`` seconds more per recording: a slow job on demand."""

    def __init__(self, detector, delay: float) -> None:
        self.detector, self.delay = detector, delay

    def detect(self, src):
        time.sleep(self.delay)
        return self.detector.detect(src)


def test_heartbeat_keeps_the_lease_and_a_stopping_worker_releases_its_job(
    db, service_checkpoint, tmp_path
):
    url, sessions = db
    settings = settings_for(service_checkpoint)
    detector = SlowDetector(jobs.load_detector(settings), delay=0.25)
    with sessions() as s:
        store.create_job(s, "c", write_inputs(tmp_path / "in", 12))
        job = store.claim_job(s, "w1", lease_s=0.6)
    stop, outcome = threading.Event(), []
    thread = threading.Thread(
        target=lambda: outcome.append(
            jobs.process_job(job, detector, sessions, "w1", settings, lease_s=0.6, stop=stop)
        )
    )
    thread.start()
    wait_for(lambda: len(job_rows(sessions, job.id)) >= 1, 30, "a first detection")
    time.sleep(1.0)  # longer than the lease: only the heartbeat keeps the job from a thief
    with sessions() as s:
        assert store.claim_job(s, "thief", 0.6) is None
        assert store.get_job(s, job.id).lease_until > utcnow()
    stop.set()
    thread.join(30)
    with sessions() as s:
        back = store.get_job(s, job.id)
    stored = len(job_rows(sessions, job.id))
    assert outcome == ["released"]
    assert (back.status, back.worker, back.attempts) == ("queued", None, 0)
    assert 4 <= stored < 12
    with sessions() as s:  # the next worker reuses what is stored and does the rest
        again = store.claim_job(s, "w2", lease_s=30)
    fast = jobs.load_detector(settings)
    assert jobs.process_job(again, fast, sessions, "w2", settings) == "done"
    assert sorted(d.job_input for d in job_rows(sessions, job.id)) == list(range(12))


def test_a_killed_workers_job_is_finished_by_another_with_nothing_lost(
    db, service_checkpoint, tmp_path
):
    url, sessions = db
    n = 24  # 10 ms to 0.5 s each (idle to busy machine): time to kill the worker mid-job
    inputs = write_inputs(tmp_path / "in", n, seconds=3.0)
    with sessions() as s:
        job = store.create_job(s, "c", inputs)
    settings = settings_for(service_checkpoint, job_lease_s=1.0, job_threads=1)
    procs = jobs.start_workers(2, url, settings)  # one takes the job, the other waits
    try:
        wait_for(lambda: len(job_rows(sessions, job.id)) >= 2, 90, "the first detections")
        with sessions() as s:
            mid = store.get_job(s, job.id)
        owner = next(p for p in procs if f":{p.pid}:" in mid.worker)
        os.kill(owner.pid, signal.SIGKILL)  # mid-job: no chance to clean up or release
        owner.join(10)
        before = {d.job_input: d.id for d in job_rows(sessions, job.id)}
        assert mid.status == "running" and 2 <= len(before) < n
        with sessions() as s:
            wait_for(lambda: store.get_job(s, job.id).status == "done", 90, "the job", 0.1)
            done = store.get_job(s, job.id)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(20)
    rows = {d.job_input: d.id for d in job_rows(sessions, job.id)}
    assert sorted(rows) == list(range(n)) and len(job_rows(sessions, job.id)) == n
    assert before.items() <= rows.items()  # the dead worker's detections were kept, not redone
    assert done.attempts == 2 and done.worker != mid.worker
    assert [r["detection_id"] for r in done.results] == [rows[i] for i in range(n)]
    assert [r["verdict"] for r in done.results] == ["bonafide", "spoof"] * (n // 2)
    survivor = next(p for p in procs if p is not owner)
    assert survivor.exitcode == 0  # SIGTERM: a clean stop
