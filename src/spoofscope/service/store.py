"""What the service keeps: detections, jobs, the review queue, kept audio.

Plain functions over a SQLAlchemy :class:`~sqlalchemy.orm.Session` (no web framework). Every
function ends the session's transaction before it returns (commit; a write function also
commits what the caller had pending), so no session sits on a snapshot or, on SQLite, on the
write lock, between calls. Objects stay readable after that and after the session closes
(:func:`spoofscope.service.db.session_factory`). The job queue's functions live in
:mod:`spoofscope.service.job_queue` and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spoofscope.service.db import Detection, Job, ReviewItem, begin_write, new_id, utcnow
from spoofscope.service.job_queue import (
    JOB_STATUSES,
    MAX_ATTEMPTS,
    claim_job,
    create_job,
    finish_job,
    get_job,
    job_detections,
    release_job,
    renew_lease,
)

__all__ = [
    "JOB_STATUSES",
    "MAX_ATTEMPTS",
    "REVIEW_DATASET",
    "REVIEW_LABELS",
    "REVIEW_STATUSES",
    "NotFound",
    "claim_job",
    "counts",
    "create_job",
    "export_review_manifest",
    "finish_job",
    "get_detection",
    "get_job",
    "job_detections",
    "label_review",
    "list_review",
    "purge_expired_audio",
    "release_job",
    "renew_lease",
    "review_utterances",
    "save_detection",
]

log = logging.getLogger(__name__)

REVIEW_LABELS = ("bonafide", "spoof")
REVIEW_STATUSES = ("open", "labelled", "all")
#: The ``dataset`` of exported review items.
REVIEW_DATASET = "spoofscope-review"
_RNG = random.Random()


class NotFound(LookupError):
    """No row with the given id (the message names it)."""


# --- detections and the review queue ---------------------------------------------------


def save_detection(
    s: Session,
    result: dict[str, Any],
    *,
    client: str,
    source: str,
    audio_sha256: str,
    latency_s: float,
    audio_path: str | None = None,
    job_id: str | None = None,
    review_sample_rate: float = 0.0,
    rng: Any = None,
    job_input: int | None = None,
) -> Detection:
    """Store one detection; queue it for review when its verdict is ``review`` or when drawn.

    Args:
        s: the session (committed on return).
        result: :meth:`spoofscope.DetectionResult.to_dict`; stored whole, with ``"id"`` added.
        client: the API key id, or ``"anonymous"``.
        source: what the client called the audio (a file name).
        audio_sha256: hex sha256 of the audio bytes as received.
        latency_s: seconds from the request's arrival to its answer.
        audio_path: where the audio is kept (None = not kept).
        job_id: the job it belongs to; ``job_input`` is the input's index in the job.
        review_sample_rate: chance that a result outside the review band is queued too.
        rng: anything with ``.random()`` (seed it for a reproducible sample).
    """
    begin_write(s)
    model = result.get("model") or {}
    det = Detection(
        id=new_id(), created_at=utcnow(), client=client, source=(source or "")[:512],
        audio_sha256=audio_sha256, duration_s=float(result["duration_s"]),
        verdict=result["verdict"], p_spoof=result.get("p_spoof"), score=result.get("score"),
        windows=list(result.get("windows") or []), model_id=str(model.get("id") or ""),
        model_version=str(model.get("version") or ""), model_name=str(model.get("name") or ""),
        latency_s=float(latency_s), audio_path=audio_path, job_id=job_id, job_input=job_input,
    )  # fmt: skip
    det.result = {**result, "id": det.id}
    s.add(det)
    reason = None
    if det.verdict == "review":
        reason = "review-band"
    elif review_sample_rate > 0 and (rng or _RNG).random() < review_sample_rate:
        reason = "sample"
    if reason:
        s.add(ReviewItem(id=new_id(), detection_id=det.id, created_at=det.created_at,
                         reason=reason, status="open"))  # fmt: skip
    s.commit()
    return det


def get_detection(s: Session, id: str) -> Detection | None:
    """The detection ``id``, or None."""
    det = s.get(Detection, id, populate_existing=True)
    s.commit()
    return det


def list_review(s: Session, status: str = "open", limit: int = 50) -> list[ReviewItem]:
    """Review items with their detections (``item.detection``).

    Args:
        status: ``"open"`` (oldest first: a queue), ``"labelled"`` (latest first) or ``"all"``.
        limit: at most this many.

    Raises:
        ValueError: an unknown status (the message lists the valid ones).
    """
    if status not in REVIEW_STATUSES:
        raise ValueError(f"unknown status {status!r}; valid: {', '.join(REVIEW_STATUSES)}")
    stmt = select(ReviewItem).limit(max(0, int(limit)))
    if status == "open":
        stmt = stmt.where(ReviewItem.status == "open").order_by(ReviewItem.created_at)
    elif status == "labelled":
        stmt = stmt.where(ReviewItem.status == "labelled").order_by(ReviewItem.labelled_at.desc())
    else:
        stmt = stmt.order_by(ReviewItem.created_at.desc())
    items = list(s.scalars(stmt.order_by(ReviewItem.id)).unique())
    s.commit()
    return items


def label_review(
    s: Session, item_id: str, label: str, comment: str | None, reviewer: str | None
) -> ReviewItem:
    """Record a reviewer's answer (a later answer replaces an earlier one).

    Raises:
        ValueError: ``label`` is not ``bonafide`` or ``spoof``.
        NotFound: no item ``item_id``.
    """
    if label not in REVIEW_LABELS:
        raise ValueError(f"label {label!r} is not valid; valid labels: {', '.join(REVIEW_LABELS)}")
    begin_write(s)
    item = s.get(ReviewItem, item_id, populate_existing=True)
    if item is None:
        s.commit()
        raise NotFound(f"review item {item_id!r} not found")
    item.label, item.comment, item.reviewer = label, comment, reviewer
    item.status, item.labelled_at = "labelled", utcnow()
    s.commit()
    return item


def review_utterances(s: Session, audio_dir: str | Path | None = None) -> tuple[list, dict]:
    """The labelled items whose audio is kept, as manifest :class:`Utterance` objects.

    Returns:
        ``(utterances, skipped)``: ``skipped`` counts labelled items left out,
        ``{"no_audio": n, "missing_file": n}``.
    """
    from spoofscope.data.manifest import Utterance

    stmt = select(ReviewItem).where(ReviewItem.status == "labelled")
    items = s.scalars(stmt.order_by(ReviewItem.labelled_at, ReviewItem.id)).unique()
    out, skipped = [], {"no_audio": 0, "missing_file": 0}
    for item in items:
        det = item.detection
        if not det.audio_path:
            skipped["no_audio"] += 1
            continue
        path = _audio_file(det.audio_path, audio_dir)
        if not path.is_file():
            skipped["missing_file"] += 1
            continue
        extra = {
            "review_id": item.id, "reason": item.reason, "reviewer": item.reviewer,
            "comment": item.comment, "labelled_at": item.labelled_at.isoformat(),
            "verdict": det.verdict, "p_spoof": det.p_spoof, "model_id": det.model_id,
            "model_version": det.model_version, "sha256": det.audio_sha256,
            "source": det.source, "created_at": det.created_at.isoformat(),
        }  # fmt: skip
        out.append(Utterance(det.id, str(path.resolve()), item.label, REVIEW_DATASET, extra=extra))
    s.commit()
    return out, skipped


def export_review_manifest(s: Session, out: Path, audio_dir: str | Path | None = None) -> int:
    """Write the labelled items with kept audio as a training manifest (JSONL).

    Each line: ``id`` = detection id, ``path`` = the kept audio (absolute), ``label`` = the
    reviewer's, ``dataset`` = :data:`REVIEW_DATASET`, ``extra`` = review and model details.
    Relative ``audio_path`` values are resolved against ``audio_dir``. Returns the line count.
    """
    from spoofscope.data.manifest import write_manifest

    utts, skipped = review_utterances(s, audio_dir)
    if any(skipped.values()):
        log.warning("review export: left out labelled items without kept audio: %s", skipped)
    return write_manifest(utts, out)


def purge_expired_audio(
    s: Session,
    retention_days: float,
    *,
    audio_dir: str | Path | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Delete kept audio of detections older than ``retention_days`` and null ``audio_path``.

    A file that a newer detection still refers to (the same upload stored once) is kept.
    Returns the number of detections whose audio was purged.
    """
    cutoff = (now or utcnow()) - dt.timedelta(days=float(retention_days))
    begin_write(s)
    expired = list(
        s.scalars(
            select(Detection).where(
                Detection.audio_path.is_not(None), Detection.created_at < cutoff
            )
        )
    )
    still_used = set(
        s.scalars(
            select(Detection.audio_path).where(
                Detection.audio_path.is_not(None), Detection.created_at >= cutoff
            )
        )
    )
    for det in expired:
        if det.audio_path not in still_used:
            _audio_file(det.audio_path, audio_dir).unlink(missing_ok=True)
        det.audio_path = None
    s.commit()
    if expired:
        log.info("purged kept audio of %d detections older than %s days", len(expired),
                 retention_days)  # fmt: skip
    return len(expired)


def _audio_file(path: str, audio_dir: str | Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or audio_dir is None else Path(audio_dir) / p


def counts(s: Session) -> dict[str, int]:
    """Rows per table, open review items and jobs per status (for metrics and tests)."""
    from spoofscope.service.db import ApiKey

    out = {
        name: s.scalar(select(func.count()).select_from(model)) or 0
        for name, model in (("detections", Detection), ("jobs", Job),
                            ("review_items", ReviewItem), ("api_keys", ApiKey))
    }  # fmt: skip
    out["review_open"] = s.scalar(
        select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")
    ) or 0  # fmt: skip
    by_status = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    for status in JOB_STATUSES:
        out[f"jobs_{status}"] = int(by_status.get(status, 0))
    s.commit()
    return out
