"""The service's database: SQLAlchemy 2 models, engines and migrations.

SQLite (a file, WAL journal) is the embedded default for one machine; PostgreSQL
(``postgresql+psycopg://...``) is shared by replicas. The schema is created and upgraded by
the Alembic migrations shipped in ``spoofscope/service/migrations`` (:func:`migrate`), never by
``create_all``, so a database made by an older release is upgraded in place.

Times are stored as naive UTC and returned as aware UTC datetimes (:class:`UTCDateTime`).
On SQLite a transaction opened by :func:`begin_write` starts with ``BEGIN IMMEDIATE``: writers
queue on the database lock (``busy_timeout``) instead of failing with "database is locked" when a
read turns into a write; other transactions are deferred (readers never wait, in WAL mode).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

__all__ = [
    "BUSY_TIMEOUT_S",
    "ApiKey",
    "Base",
    "Detection",
    "Job",
    "RateCounter",
    "ReviewItem",
    "UTCDateTime",
    "begin_write",
    "make_engine",
    "migrate",
    "new_id",
    "redact_url",
    "session_factory",
    "utcnow",
]

#: How long a SQLite connection waits for the database lock before failing.
BUSY_TIMEOUT_S = 30.0
#: Connection execution option that makes SQLite transactions ``BEGIN IMMEDIATE``.
WRITE_OPTION = "spoofscope_write"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def new_id() -> str:
    """A new random id: 32 hex digits."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, stored as naive UTC, aware UTC out (naive input = UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the service's tables."""


class Job(Base):
    """An asynchronous detection request over one or more stored files.

    ``status`` goes ``queued`` -> ``running`` (claimed by a worker, which renews
    ``lease_until`` while it works) -> ``done`` | ``failed``. A ``running`` job whose lease
    expired (its worker died) is claimed again. ``inputs``: ``[{"name", "path", "sha256"}]``;
    ``results``: one entry per input (see :func:`spoofscope.service.store.finish_job`).
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    client: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    inputs: Mapped[list] = mapped_column(JSONType)
    results: Mapped[list | None] = mapped_column(JSONType, nullable=True)


class Detection(Base):
    """One analysed recording: who asked, what was heard, what the model said, how fast.

    ``result`` is the full :meth:`spoofscope.DetectionResult.to_dict`; the other columns
    repeat the parts that are queried. ``(job_id, job_input)`` is unique, so a job retried
    after its worker died never stores an input twice.
    """

    __tablename__ = "detections"
    __table_args__ = (UniqueConstraint("job_id", "job_input", name="uq_detections_job_input"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(512), default="")
    audio_sha256: Mapped[str] = mapped_column(String(64), index=True)
    duration_s: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16), index=True)
    p_spoof: Mapped[float | None] = mapped_column(Float, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    windows: Mapped[list] = mapped_column(JSONType)
    model_id: Mapped[str] = mapped_column(String(64), default="")
    model_version: Mapped[str] = mapped_column(String(64), default="")
    model_name: Mapped[str] = mapped_column(String(128), default="")
    latency_s: Mapped[float] = mapped_column(Float)
    result: Mapped[dict] = mapped_column(JSONType)
    audio_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    job_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    job_input: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    """An API key. Only a salted, peppered hash of its secret is stored (see ``auth``)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(160))
    scopes: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def scope_list(self) -> list[str]:
        """The scopes as a list."""
        return [s for s in self.scopes.split(",") if s]


class ReviewItem(Base):
    """A detection queued for a person: ``reason`` is ``review-band`` or ``sample``."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    detection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("detections.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    labelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    detection: Mapped[Detection] = relationship(lazy="joined")


class RateCounter(Base):
    """Requests of one key in one fixed one-minute window (``window_start``: epoch seconds)."""

    __tablename__ = "rate_counters"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we send BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def begin_write(s: Session) -> None:
    """Start a write transaction on ``s`` (ending any transaction it had, by commit).

    On SQLite it takes the database's write lock at once (``BEGIN IMMEDIATE``, waiting up to
    :data:`BUSY_TIMEOUT_S` for it), so the reads and writes that follow see no concurrent
    change. On PostgreSQL it is an ordinary transaction (use row locks).
    """
    if s.in_transaction():
        s.commit()
    s.connection(execution_options={WRITE_OPTION: True})


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``.

    SQLite: WAL journal, ``busy_timeout`` of :data:`BUSY_TIMEOUT_S`, foreign keys on,
    ``BEGIN IMMEDIATE`` for :func:`begin_write`; the file's directory is created. PostgreSQL:
    connections are checked before use (``pool_pre_ping``). Both: SQL parameters are left out
    of error messages (``hide_parameters``), so logged errors carry no secrets.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``).
        **kwargs: passed to :func:`sqlalchemy.create_engine`.
    """
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)  # errors must not carry key hashes or data
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker:
    """Sessions on ``engine`` whose objects stay readable after commit and close."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str) -> None:
    """Create or upgrade the schema of ``url`` to the newest migration (idempotent).

    Concurrent callers are safe: on PostgreSQL the migration holds an advisory lock; on
    SQLite, processes on the machine take turns through an OS file lock beside the database
    (switching a new file to WAL mode fails at once, not after the busy timeout, when another
    connection holds it: seen when two servers start together), and migrate in an immediate
    transaction.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    parsed = make_url(url)
    lock: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        lock = _file_lock(Path(parsed.database).with_name(Path(parsed.database).name + ".lock"))
    with lock:
        command.upgrade(cfg, "head")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created) for the duration of the block."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def redact_url(url: str) -> str:
    """``url`` with its password hidden (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without echoing it
        return "<unparsable database URL>"
