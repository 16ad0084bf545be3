"""A throw-away PostgreSQL server for the tests, started from the Debian binaries on loopback.

The server runs as an unprivileged user (``initdb`` refuses root: as root we run it as
``postgres`` or ``nobody``), in a fresh directory under the system temp dir, listening on
127.0.0.1 at a free port, with ``fsync`` off (the data is disposable). ``$SPOOFSCOPE_PG_BIN``
overrides the binary directory; ``$SPOOFSCOPE_TEST_POSTGRES_URL`` points the tests at an
existing server instead (a database is created on it per test).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
EXTERNAL_URL_ENV = "SPOOFSCOPE_TEST_POSTGRES_URL"


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (the message says why)."""


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``.

    Raises:
        PgUnavailable: none of ``$SPOOFSCOPE_PG_BIN`` / :data:`PG_BIN_DIRS` has them.
    """
    candidates = [os.environ["SPOOFSCOPE_PG_BIN"]] if os.environ.get("SPOOFSCOPE_PG_BIN") else []
    candidates += list(PG_BIN_DIRS)
    for d in candidates:
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file():
            return Path(d)
    raise PgUnavailable(
        f"no PostgreSQL binaries (initdb, pg_ctl) in {', '.join(candidates)}; "
        "install the Debian package postgresql-15 or set SPOOFSCOPE_PG_BIN"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PgUnavailable("running as root and neither user 'postgres' nor 'nobody' exists")


@dataclass
class PgServer:
    """A running server; :meth:`stop` ends it and deletes its files.

    Attributes:
        url: SQLAlchemy URL of the maintenance database (``postgres``).
        root: its directory (None for an external server).
    """

    url: str
    root: Path | None = None
    bin_dir: Path | None = None
    user: pwd.struct_passwd | None = None
    databases: list[str] = field(default_factory=list)

    def _pg(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        assert self.bin_dir is not None and self.root is not None
        kwargs: dict = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C"}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, env=env, timeout=timeout,
            capture_output=True, text=True, check=False, **kwargs,
        )  # fmt: skip

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_libpq(self.url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database` (ending its open connections)."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(_libpq(self.url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self.databases.remove(name)

    def stop(self) -> None:
        """Stop the server (immediate shutdown) and delete its directory."""
        if self.root is None:
            for name in list(self.databases):
                with contextlib.suppress(Exception):
                    self.drop_database(self.url.rsplit("/", 1)[0] + f"/{name}")
            return
        if (self.root / "data" / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def _libpq(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as a libpq one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def start_server() -> PgServer:
    """Start a server (or attach to ``$SPOOFSCOPE_TEST_POSTGRES_URL``).

    Raises:
        PgUnavailable: binaries missing, no unprivileged user, or initdb / start failed
            (the message carries the server's own output).
    """
    external = os.environ.get(EXTERNAL_URL_ENV)
    if external:
        if not external.startswith("postgresql+psycopg://"):
            external = "postgresql+psycopg://" + external.split("://", 1)[-1]
        return PgServer(url=external)
    bin_dir = find_bin_dir()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="spoofscope-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    port = _free_port()
    server = PgServer(
        url=f"postgresql+psycopg://spoofscope@127.0.0.1:{port}/postgres",
        root=root, bin_dir=bin_dir, user=user,
    )  # fmt: skip
    steps = [
        ("initdb", "-D", "data", "-U", "spoofscope", "--auth=trust", "-E", "UTF8",
         "--no-locale", "--no-sync"),
        ("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "60", "-o",
         f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=300 "
         "-c synchronous_commit=off -c full_page_writes=off", "start"),
    ]  # fmt: skip
    for step in steps:
        proc = server._pg(*step)
        if proc.returncode != 0:
            log = root / "server.log"
            detail = (proc.stderr or proc.stdout).strip()
            if log.exists():
                detail += "\n" + log.read_text(errors="replace")[-2000:]
            server.stop()
            raise PgUnavailable(f"{step[0]} failed (exit {proc.returncode}): {detail}")
    atexit.register(server.stop)  # also when the session ends abnormally (no-op once stopped)
    return server
