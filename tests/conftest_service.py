"""Fixtures of the service tests (loaded from conftest.py by ``pytest_plugins``).

Databases: every fixture below is parametrized over SQLite and a real PostgreSQL 15 server
started once per session on loopback (:mod:`pg_server`). When PostgreSQL cannot be started the
PostgreSQL variants are skipped with the reason (SQLite only), unless ``$CI`` is set: then they
FAIL with the reason, so CI cannot pass without testing PostgreSQL.

* ``database_url``: a migrated database per backend, shared by the whole session (tests must
  not assume it is empty);
* ``fresh_database_url``: a new, empty (not migrated) database for one test;
* ``new_database``: a factory ``new_database(backend) -> url`` for fixtures of any scope;
* ``service_checkpoint``: a tiny LFCC-GMM checkpoint (tones = bona fide, noise = spoof;
  0.1-s windows) to serve in tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from pg_server import PgServer, PgUnavailable, start_server

BACKENDS = ("sqlite", "postgresql")
SR = 16000


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer | PgUnavailable]:
    """The session's PostgreSQL server, or the reason it could not be started."""
    try:
        server = start_server()
    except PgUnavailable as exc:
        yield exc
        return
    yield server
    server.stop()


def require_postgres(server: PgServer | PgUnavailable) -> PgServer:
    """The server; skips (FAILS when ``$CI`` is set) when there is none."""
    if isinstance(server, PgServer):
        return server
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but PostgreSQL could not be started: {server}")
    pytest.skip(f"PostgreSQL could not be started (testing SQLite only): {server}")


@pytest.fixture(scope="session")
def new_database(
    postgres_server: PgServer | PgUnavailable, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], str]:
    """``new_database("sqlite" | "postgresql") -> url`` of a new empty database."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'spoofscope.db'}"
        if backend == "postgresql":
            return require_postgres(postgres_server).create_database()
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")

    return make


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> str:
    from spoofscope.service.db import migrate

    url = new_database(request.param)
    migrate(url)
    return url


@pytest.fixture(params=BACKENDS)
def fresh_database_url(
    request: pytest.FixtureRequest,
    new_database: Callable[[str], str],
    postgres_server: PgServer | PgUnavailable,
) -> Iterator[str]:
    url = new_database(request.param)
    yield url
    if request.param == "postgresql" and isinstance(postgres_server, PgServer):
        postgres_server.drop_database(url)  # also ends connections a test left open


def tone(seconds: float, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    """A sine (bona fide for :func:`service_checkpoint`): ``(T,)`` float32 at 16 kHz."""
    t = np.arange(round(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    """White noise (spoof for :func:`service_checkpoint`): ``(T,)`` float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(round(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="session")
def service_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spoofscope.checkpoint import save_checkpoint
    from spoofscope.models import build_model

    model = build_model("lfcc-gmm", n_components=4, max_iter=5, segment_samples=1600)
    model.fit([tone(0.5, f) for f in (150.0, 220.0, 330.0)], [noise(0.5, s) for s in range(3)])
    return save_checkpoint(model, tmp_path_factory.mktemp("svc-ckpt") / "tiny.safetensors")
