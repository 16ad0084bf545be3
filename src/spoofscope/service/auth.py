"""API keys and per-key rate limits.

A key reads ``ssk_<prefix>_<secret>``: the prefix (12 hex digits) finds the row, the secret
(43 URL-safe characters, 256 random bits) proves possession. Only
``hmac-sha256$<salt>$<HMAC-SHA256(pepper, salt + secret)>`` is stored: a leaked database
does not reveal usable keys, and without the pepper (``$SPOOFSCOPE_KEY_PEPPER``, kept out of
the database; set the same value on every replica, and never change it while keys are in use)
the hashes cannot even be checked against guesses. A slow password hash is not needed: the
secret is random, not a password. Verification compares digests in constant time.

Scopes: ``detect`` (analyse audio, jobs), ``review`` (read and label the review queue),
``admin`` (everything).

Rate limits count requests per key in fixed one-minute windows in the database, so replicas
sharing it share the count (an atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spoofscope.service.db import ApiKey, RateCounter, begin_write, new_id, utcnow
from spoofscope.service.store import NotFound

__all__ = [
    "KEY_PREFIX",
    "PEPPER_ENV",
    "SCOPES",
    "check_rate",
    "create_key",
    "has_scope",
    "list_keys",
    "parse_scopes",
    "revoke_key",
    "verify_key",
]

SCOPES = ("detect", "review", "admin")
KEY_PREFIX = "ssk"
PEPPER_ENV = "SPOOFSCOPE_KEY_PEPPER"
_SCHEME = "hmac-sha256"
_DEFAULT_PEPPER = b"spoofscope-api-key-v1"
_KEY_RE = re.compile(r"^ssk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")


def _hash(secret: str, salt: bytes) -> str:
    pepper = os.environ.get(PEPPER_ENV, "").encode() or _DEFAULT_PEPPER
    digest = hmac.new(pepper, salt + secret.encode(), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${salt.hex()}${digest}"


def parse_scopes(scopes: str | Iterable[str]) -> list[str]:
    """Scopes from ``"detect,review"`` or a list; ValueError names an unknown one."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    out: list[str] = []
    for item in (str(i).strip() for i in items):
        if item not in SCOPES:
            raise ValueError(f"unknown scope {item!r}; valid scopes: {', '.join(SCOPES)}")
        if item not in out:
            out.append(item)
    if not out:
        raise ValueError(f"no scope given; valid scopes: {', '.join(SCOPES)}")
    return out


def create_key(s: Session, scopes: str | Iterable[str], name: str = "") -> tuple[ApiKey, str]:
    """Make a key. Returns ``(row, plaintext)``: the plaintext exists only in this return value.

    Raises:
        ValueError: an unknown scope.
    """
    scope_list = parse_scopes(scopes)
    begin_write(s)
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(id=new_id(), prefix=prefix, secret_hash=_hash(secret, secrets.token_bytes(16)),
                 scopes=",".join(scope_list), name=name or "", created_at=utcnow())  # fmt: skip
    s.add(key)
    s.commit()
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def verify_key(s: Session, presented: str | None) -> ApiKey | None:
    """The active key ``presented`` belongs to, or None (malformed, unknown, wrong, revoked)."""
    match = _KEY_RE.match((presented or "").strip())
    if not match:
        return None
    prefix, secret = match.groups()
    key = s.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    s.commit()
    stored = key.secret_hash if key is not None else f"{_SCHEME}${'00' * 16}${'0' * 64}"
    try:
        salt = bytes.fromhex(stored.split("$")[1])
    except (IndexError, ValueError):
        return None
    ok = hmac.compare_digest(_hash(secret, salt).encode(), stored.encode())
    if not ok or key is None or key.revoked_at is not None:
        return None
    return key


def has_scope(key: ApiKey, scope: str) -> bool:
    """Whether ``key`` may act in ``scope`` (``admin`` implies every scope)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
    granted = key.scope_list
    return "admin" in granted or scope in granted


def list_keys(s: Session) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    keys = list(s.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))
    s.commit()
    return keys


def revoke_key(s: Session, key_id: str) -> ApiKey:
    """Revoke the key with this id (or prefix); revoking twice keeps the first time.

    Raises:
        NotFound: no such key.
    """
    begin_write(s)
    key = s.scalars(select(ApiKey).where((ApiKey.id == key_id) | (ApiKey.prefix == key_id))).first()
    if key is None:
        s.commit()
        raise NotFound(f"no API key with id or prefix {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    s.commit()
    return key


def check_rate(
    s: Session, key_id: str, limit_per_minute: int, *, now: dt.datetime | None = None
) -> bool:
    """Count one request of ``key_id``; False once it exceeds ``limit_per_minute`` this minute.

    ``limit_per_minute <= 0`` means no limit (nothing is counted). The count lives in the
    database, so every replica sharing it enforces one limit.
    """
    if limit_per_minute <= 0:
        return True
    window = int((now or utcnow()).timestamp()) // 60 * 60
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"rate limits need SQLite or PostgreSQL, not {dialect}")
    begin_write(s)
    stmt = insert(RateCounter).values(key_id=key_id, window_start=window, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key_id", "window_start"], set_={"count": RateCounter.count + 1}
    ).returning(RateCounter.count)
    count = s.execute(stmt).scalar_one()
    if count == 1:  # first request of a new window: drop this key's old windows
        s.execute(
            delete(RateCounter).where(
                RateCounter.key_id == key_id, RateCounter.window_start < window
            )
        )
    s.commit()
    return count <= limit_per_minute
