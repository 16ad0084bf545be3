"""Job workers: processes that analyse the files of ``POST /v1/jobs`` outside the request path.

A worker loads the detector once, then loops: claim the oldest waiting job (or one whose
worker died: its lease expired), analyse each input, store one detection per input, finish
the job. While it works a heartbeat thread renews the lease every ``lease_s / 3`` seconds.

No accepted job is lost and none is stored twice:

* a job whose worker is killed is claimed again once its lease expires;
* each input's detection is committed as soon as it is made, and ``(job_id, job_input)`` is
  unique: the next worker reuses what is stored and analyses only the rest;
* ``finish_job`` succeeds only for the job's current worker.

SIGTERM / SIGINT stop a worker cleanly: it finishes the input in progress, puts the job back in
the queue and exits. Input files are deleted once the job is done, unless ``keep_audio``
(then each detection's ``audio_path`` points at its input, purged after the retention period;
inputs that could not be analysed are deleted all the same).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import random
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from spoofscope.service import store
from spoofscope.service.db import Job, make_engine, new_id, session_factory

__all__ = ["DEFAULT_LEASE_S", "load_detector", "process_job", "run_worker", "start_workers"]

log = logging.getLogger(__name__)

#: Seconds a claimed job stays a worker's without a heartbeat (``settings["job_lease_s"]``).
DEFAULT_LEASE_S = 30.0


def load_detector(settings: dict[str, Any]) -> Any:
    """The detector the settings describe (``model``, ``backend``, ``detector_options``);
    recordings up to ``job_max_duration_s`` are accepted."""
    from spoofscope.inference import Detector

    options = dict(settings.get("detector_options") or {})
    if settings.get("job_max_duration_s"):
        options["max_duration_s"] = float(settings["job_max_duration_s"])
    return Detector.from_pretrained(
        settings.get("model"), backend=settings.get("backend") or "torch", **options
    )


class _Heartbeat(threading.Thread):
    """Renews a job's lease until stopped; sets ``lost`` when the job is no longer ours."""

    def __init__(self, sessions: sessionmaker, job_id: str, worker: str, lease_s: float) -> None:
        super().__init__(name=f"lease-{job_id[:8]}", daemon=True)
        self.sessions, self.job_id, self.worker, self.lease_s = sessions, job_id, worker, lease_s
        self.lost = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.lease_s / 3):
            try:
                with self.sessions() as s:
                    if not store.renew_lease(s, self.job_id, self.worker, self.lease_s):
                        log.warning("job %s: lease lost (another worker took it)", self.job_id)
                        self.lost.set()
                        return
            except Exception:  # a database hiccup: try again at the next beat
                log.warning("job %s: lease renewal failed", self.job_id, exc_info=True)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def _summary(index: int, item: dict, det: Any) -> dict[str, Any]:
    return {
        "index": index, "name": item.get("name"), "sha256": det.audio_sha256,
        "detection_id": det.id, "verdict": det.verdict, "p_spoof": det.p_spoof,
        "score": det.score, "duration_s": det.duration_s,
        "flagged": (det.result or {}).get("flagged", []),
    }  # fmt: skip


def _analyse(
    detector: Any, sessions: sessionmaker, job: Job, index: int, settings: dict, rng: Any
) -> dict[str, Any]:
    """Analyse input ``index`` of ``job`` and store its detection; returns its result entry."""
    from spoofscope.audio import AudioError

    item = job.inputs[index]
    path, name = item["path"], item.get("name") or Path(item["path"]).name
    t0 = time.perf_counter()
    try:
        result = detector.detect(path).to_dict()
    except AudioError as exc:
        return {"index": index, "name": name, "sha256": item.get("sha256"), "error": str(exc)}
    except Exception as exc:  # one bad input must not fail the job
        log.warning("job %s input %d failed", job.id, index, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
        return {"index": index, "name": name, "sha256": item.get("sha256"), "error": error}
    result["source"] = name
    with sessions() as s:
        try:
            det = store.save_detection(
                s, result, client=job.client, source=name,
                audio_sha256=item.get("sha256") or _sha256(path),
                latency_s=time.perf_counter() - t0,
                audio_path=str(path) if settings.get("keep_audio") else None,
                job_id=job.id, job_input=index,
                review_sample_rate=float(settings.get("review_sample_rate") or 0.0), rng=rng,
            )  # fmt: skip
        except IntegrityError:  # a worker that lost its lease stored it first: reuse that
            s.rollback()
            det = store.job_detections(s, job.id)[index]
    return _summary(index, item, det)


def _sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def process_job(
    job: Job,
    detector: Any,
    sessions: sessionmaker,
    worker: str,
    settings: dict[str, Any],
    *,
    lease_s: float = DEFAULT_LEASE_S,
    stop: Any = None,
    rng: Any = None,
) -> str:
    """Run one claimed job to the end.

    Returns:
        ``"done"`` / ``"failed"`` (finished by this worker), ``"released"`` (``stop`` was set:
        the job went back to the queue) or ``"lost"`` (another worker owns it now).
    """
    heartbeat = _Heartbeat(sessions, job.id, worker, lease_s)
    heartbeat.start()
    try:
        with sessions() as s:
            stored = store.job_detections(s, job.id)
        results = []
        for index, item in enumerate(job.inputs):
            if heartbeat.lost.is_set():
                return "lost"
            if stop is not None and stop.is_set():
                with sessions() as s:
                    store.release_job(s, job.id, worker)
                log.info("job %s released (worker stopping)", job.id)
                return "released"
            if index in stored:
                results.append(_summary(index, item, stored[index]))
            else:
                results.append(_analyse(detector, sessions, job, index, settings, rng))
        failed = all("error" in r for r in results)
        error = f"none of the {len(results)} inputs could be analysed" if failed else None
        with sessions() as s:
            if not store.finish_job(s, job.id, results, error, worker=worker):
                return "lost"
    finally:
        heartbeat.stop()
    for item, result in zip(job.inputs, results, strict=True):
        if settings.get("keep_audio") and "error" not in result:
            continue  # kept with its detection until the retention period ends
        Path(item["path"]).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the job's upload directory, once empty
            Path(item["path"]).parent.rmdir()
    log.info("job %s %s: %d inputs", job.id, "failed" if error else "done", len(results))
    return "failed" if error else "done"


def run_worker(
    database_url: str,
    settings_dict: dict[str, Any],
    stop_event: Any = None,
    poll_s: float = 0.5,
) -> None:
    """A worker process's main loop (returns when ``stop_event`` is set, or on SIGTERM/SIGINT).

    Args:
        database_url: the service database (migrated).
        settings_dict: :meth:`ServiceSettings.to_dict`; also read if present:
            ``job_lease_s`` (default :data:`DEFAULT_LEASE_S`) and ``job_threads`` (torch
            threads of this process; default torch's own choice).
        stop_event: a ``threading`` / ``multiprocessing`` Event that ends the loop.
        poll_s: seconds between looks at an empty queue.
    """
    stop = stop_event if stop_event is not None else threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    settings = dict(settings_dict)
    lease_s = float(settings.get("job_lease_s") or DEFAULT_LEASE_S)
    if settings.get("job_threads"):
        import torch

        torch.set_num_threads(int(settings["job_threads"]))
    detector = load_detector(settings)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    worker = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:6]}"
    rng = random.Random()
    log.info("job worker %s ready", worker)
    try:
        while not stop.is_set():
            try:
                with sessions() as s:
                    job = store.claim_job(s, worker, lease_s)
                if job is None:
                    stop.wait(poll_s)
                    continue
                log.info("job %s claimed by %s (attempt %d)", job.id, worker, job.attempts)
                process_job(job, detector, sessions, worker, settings, lease_s=lease_s,
                            stop=stop, rng=rng)  # fmt: skip
            except Exception:  # the database went away, ...: keep the worker alive
                log.exception("job worker %s: error; retrying in %.1f s", worker, poll_s)
                stop.wait(max(poll_s, 1.0))
    finally:
        engine.dispose()
        log.info("job worker %s stopped", worker)


def start_workers(
    n: int, database_url: str, settings_dict: dict[str, Any], *, stop_event: Any = None
) -> list[multiprocessing.Process]:
    """Start ``n`` worker processes (``spawn``: safe from a threaded server).

    Stop them with ``stop_event`` (made by ``multiprocessing.get_context("spawn").Event()``)
    or ``Process.terminate()`` (SIGTERM: each finishes its current input and releases its job);
    a worker that is killed outright loses nothing (its job is claimed again after the lease).
    """
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(n):
        proc = ctx.Process(
            target=run_worker, args=(database_url, dict(settings_dict), stop_event),
            name=f"spoofscope-job-worker-{i}", daemon=True,
        )  # fmt: skip
        proc.start()
        procs.append(proc)
    return procs
