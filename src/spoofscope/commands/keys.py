"""``spoofscope keys``: create, list and revoke the service's API keys."""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from typing import Any

NAME = "keys"
HELP = "create, list and revoke API keys of the service (`spoofscope serve`)"
DATABASE_URL_ENV = "SPOOFSCOPE_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///spoofscope.db"


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--database-url`` option shared by the service's commands."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL),
        metavar="URL",
        help=f"service database (default ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL}); "
        "e.g. postgresql+psycopg://user@host/db",
    )


@contextmanager
def open_sessions(url: str) -> Any:
    """Migrate ``url`` and yield a session factory; database errors become SpoofscopeError."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from spoofscope.errors import SpoofscopeError
    from spoofscope.service.db import make_engine, migrate, redact_url, session_factory

    engine = None
    try:
        migrate(url)
        engine = make_engine(url)
        yield session_factory(engine)
    except (OperationalError, ArgumentError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SpoofscopeError(f"cannot open database {redact_url(url)}: {reason}") from None
    finally:
        if engine is not None:
            engine.dispose()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="make a key; it is printed once, only its hash kept")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="SCOPE",
        help="detect | review | admin (admin implies all); repeat or comma-separate for several",
    )
    create.add_argument("--name", default="", help="who or what the key is for")
    listing = sub.add_parser("list", help="list keys (id, prefix, scopes, name, dates)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    revoke = sub.add_parser("revoke", help="revoke a key: it stops working at once")
    revoke.add_argument("id", metavar="ID", help="the key's id or prefix (see `keys list`)")
    for cmd in (create, listing, revoke):
        add_database_argument(cmd)


def _row(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "scopes": key.scope_list,
        "name": key.name,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "revoked_at": key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else None,
    }


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from spoofscope.errors import SpoofscopeError
    from spoofscope.service import auth
    from spoofscope.service.store import NotFound

    with open_sessions(args.database_url) as sessions, sessions() as s:
        if args.action == "create":
            try:
                key, plaintext = auth.create_key(s, ",".join(args.scope), args.name)
            except ValueError as exc:
                raise SpoofscopeError(str(exc)) from None
            print(plaintext)
            print(
                f"created key {key.id} (prefix {key.prefix}, scopes {key.scopes}); "
                "store it now: it is not shown again",
                file=sys.stderr,
            )
        elif args.action == "list":
            rows = [_row(k) for k in auth.list_keys(s)]
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                print(f"{'ID':32}  {'PREFIX':12}  {'SCOPES':20}  {'CREATED':19}  REVOKED  NAME")
                for r in rows:
                    print(f"{r['id']:32}  {r['prefix']:12}  {','.join(r['scopes']):20}  "
                          f"{r['created_at'][:19]:19}  {'yes' if r['revoked_at'] else 'no':7}  "
                          f"{r['name']}")  # fmt: skip
        else:
            try:
                key = auth.revoke_key(s, args.id)
            except NotFound as exc:
                raise SpoofscopeError(str(exc)) from None
            print(f"revoked key {key.id} (prefix {key.prefix})")
    return 0
