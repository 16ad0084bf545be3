"""The job queue in the database: create, claim (exclusively, with a lease), renew, finish.

Re-exported by :mod:`spoofscope.service.store`; the worker processes are in
:mod:`spoofscope.service.jobs`. Like every store function, each of these ends the session's
transaction before returning.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from spoofscope.service.db import Detection, Job, begin_write, new_id, utcnow

__all__ = [
    "JOB_STATUSES",
    "MAX_ATTEMPTS",
    "claim_job",
    "create_job",
    "finish_job",
    "get_job",
    "job_detections",
    "release_job",
    "renew_lease",
]

log = logging.getLogger(__name__)

JOB_STATUSES = ("queued", "running", "done", "failed")
#: A job claimed this many times (its workers died each time) is failed, not claimed again.
MAX_ATTEMPTS = 5


def create_job(s: Session, client: str, inputs: list[dict]) -> Job:
    """Queue a job over ``inputs`` (``[{"name", "path", "sha256"}]``, files already stored).

    Raises:
        ValueError: no inputs.
    """
    if not inputs:
        raise ValueError("a job needs at least one input")
    begin_write(s)
    now = utcnow()
    job = Job(id=new_id(), created_at=now, updated_at=now, client=client, status="queued",
              attempts=0, inputs=list(inputs), results=None)  # fmt: skip
    s.add(job)
    s.commit()
    return job


def get_job(s: Session, id: str) -> Job | None:
    """The job ``id``, or None."""
    job = s.get(Job, id, populate_existing=True)
    s.commit()
    return job


def claim_job(
    s: Session, worker: str, lease_s: float, *, now: dt.datetime | None = None
) -> Job | None:
    """Take the oldest queued job, or a running one whose lease expired (its worker died).

    Concurrent claimers never get the same job: PostgreSQL locks the row ``FOR UPDATE SKIP
    LOCKED``; SQLite runs the claim in an immediate (write-locked) transaction. A job already
    claimed :data:`MAX_ATTEMPTS` times is failed instead.

    Returns:
        The job, now ``running`` under ``worker`` until ``now + lease_s``; None if none waits.
    """
    now = now or utcnow()
    claimable = or_(Job.status == "queued", and_(Job.status == "running", Job.lease_until < now))
    stmt = (
        select(Job).where(claimable).order_by(Job.created_at, Job.id).limit(1)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)
    )  # fmt: skip
    while True:
        begin_write(s)
        job = s.scalars(stmt).first()
        if job is None:
            s.commit()
            return None
        job.updated_at = now
        if job.attempts >= MAX_ATTEMPTS:
            job.status, job.lease_until = "failed", None
            job.error = f"abandoned after {job.attempts} attempts: its worker died each time"
            log.error("job %s %s", job.id, job.error)
            s.commit()
            continue
        job.status, job.worker, job.attempts = "running", worker, job.attempts + 1
        job.lease_until = now + dt.timedelta(seconds=lease_s)
        s.commit()
        return job


def renew_lease(s: Session, job_id: str, worker: str, lease_s: float) -> bool:
    """Extend ``worker``'s lease on a running job; False if the job is no longer its own."""
    begin_write(s)
    now = utcnow()
    res = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
        .values(lease_until=now + dt.timedelta(seconds=lease_s), updated_at=now)
    )
    s.commit()
    return res.rowcount == 1


def release_job(s: Session, job_id: str, worker: str) -> bool:
    """Put ``worker``'s running job back in the queue (a worker stopping cleanly); the
    attempt it used is not counted."""
    begin_write(s)
    res = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
        .values(
            status="queued",
            worker=None,
            lease_until=None,
            attempts=Job.attempts - 1,
            updated_at=utcnow(),
        )
    )
    s.commit()
    return res.rowcount == 1


def finish_job(
    s: Session,
    job_id: str,
    results: list[dict],
    error: str | None = None,
    *,
    worker: str | None = None,
) -> bool:
    """Mark a queued or running job ``done`` (``failed`` when ``error`` is given).

    Args:
        results: one entry per input: ``{"index", "name", "sha256", "detection_id",
            "verdict", "p_spoof", "score", "duration_s", "flagged"}``, or ``{"index", "name",
            "sha256", "error"}`` for an input that could not be analysed.
        error: why the whole job failed (None: it is done).
        worker: only finish if the job is still this worker's (guards against a worker that
            lost its lease).

    Returns:
        True if this call finished the job (False: already finished, or not ``worker``'s).
    """
    begin_write(s)
    stmt = update(Job).where(Job.id == job_id, Job.status.in_(("queued", "running")))
    if worker is not None:
        stmt = stmt.where(Job.worker == worker)
    res = s.execute(
        stmt.values(
            status="failed" if error else "done",
            results=list(results),
            error=error,
            lease_until=None,
            updated_at=utcnow(),
        )
    )
    s.commit()
    return res.rowcount == 1


def job_detections(s: Session, job_id: str) -> dict[int, Detection]:
    """The detections already stored for a job, by input index."""
    rows = list(s.scalars(select(Detection).where(Detection.job_id == job_id)))
    s.commit()
    return {d.job_input: d for d in rows if d.job_input is not None}
