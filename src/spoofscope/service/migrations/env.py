"""Alembic environment of the spoofscope service (configured in code: no ``alembic.ini``).

:func:`spoofscope.service.db.migrate` passes the database URL in ``config.attributes["url"]``
(or an open connection in ``config.attributes["connection"]``). To write a new migration::

    from alembic import command
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", "src/spoofscope/service/migrations")
    cfg.attributes["url"] = "sqlite:///scratch.db"   # upgraded to head first
    command.revision(cfg, "what changed", autogenerate=True)
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from spoofscope.service.db import WRITE_OPTION, Base, make_engine

#: pg_advisory_xact_lock key serializing concurrent migrations (replicas starting together).
PG_LOCK_KEY = 0x5F0F5C09E

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set config.attributes['url']")
    return url


def _run(connection) -> None:  # noqa: ANN001
    connection.execution_options(**{WRITE_OPTION: True})  # SQLite: BEGIN IMMEDIATE
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, transactional_ddl=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
