"""Who is asking: API keys, scopes and rate limits as FastAPI dependencies.

A key is presented as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (and, for
WebSockets, whose browser API cannot set headers, as ``?api_key=<key>``). The order of the
checks: no or unknown key -> 401, key without the route's scope -> 403 (``admin`` implies
every scope), over the key's requests per minute -> 429 with ``Retry-After``. The counter lives
in the database, so replicas share it. The key itself is never logged or stored: requests are
attributed to the key's id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from spoofscope.service.errors import ApiError

__all__ = [
    "ANONYMOUS",
    "DetectKey",
    "Principal",
    "ReviewKey",
    "authenticate",
    "presented_key",
    "require",
]

ANONYMOUS = "anonymous"
_bearer = HTTPBearer(auto_error=False, description="an API key: `Bearer ssk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        client: the API key's id (``"anonymous"`` when auth is off).
        scopes: the key's scopes.
    """

    client: str
    scopes: frozenset[str]

    @property
    def admin(self) -> bool:
        """Whether the key may see everyone's resources."""
        return "admin" in self.scopes

    def owns(self, client: str) -> bool:
        """Whether a resource made by ``client`` is visible to this caller."""
        return self.admin or client == self.client


def presented_key(headers: Any, query: Any = None) -> str | None:
    """The key in ``Authorization: Bearer``, ``X-API-Key`` or (if given) ``query["api_key"]``."""
    auth = headers.get("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if headers.get("x-api-key"):
        return str(headers.get("x-api-key")).strip()
    if query is not None and query.get("api_key"):
        return str(query.get("api_key")).strip()
    return None


def _retry_after() -> int:
    return 60 - int(time.time()) % 60


def authenticate(state: Any, presented: str | None, scope: str) -> Principal:
    """Check a presented key against the database (blocking: call it from a thread).

    Args:
        state: the app's state (``settings``, ``sessions``).
        presented: the key as sent, or None.
        scope: the scope the route needs.

    Raises:
        ApiError: 401, 403 or 429.
    """
    from spoofscope.service import auth

    settings = state.settings
    if not settings.auth:
        return Principal(ANONYMOUS, frozenset(auth.SCOPES))
    if not presented:
        raise ApiError(
            401,
            "missing API key",
            "send the key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    with state.sessions() as s:
        key = auth.verify_key(s, presented)
        if key is None:
            raise ApiError(401, "invalid API key", "unknown or revoked key",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        scopes = frozenset(key.scope_list)
        if scope not in scopes and "admin" not in scopes:
            raise ApiError(
                403,
                "insufficient scope",
                f"this route needs scope {scope!r}; the key has {', '.join(sorted(scopes))}",
            )
        key_id = key.id
        limit = int(settings.rate_limit_per_minute)
        allowed = limit <= 0 or auth.check_rate(s, key_id, limit)
        s.commit()
    if not allowed:
        wait = _retry_after()
        raise ApiError(
            429,
            "rate limit exceeded",
            f"more than {limit} requests in this minute for this key; retry in {wait} s",
            {"Retry-After": str(wait)},
        )
    return Principal(key_id, scopes)


def require(scope: str) -> Callable[..., Principal]:
    """A dependency admitting keys with ``scope``; it returns the :class:`Principal`."""

    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        header: Annotated[str | None, Security(_header)],
    ) -> Principal:
        presented = bearer.credentials if bearer is not None else header
        principal = authenticate(request.app.state, presented, scope)
        request.state.client = principal.client
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


#: A route parameter that admits keys with scope ``detect`` (and ``admin``).
DetectKey = Annotated[Principal, Depends(require("detect"))]
#: A route parameter that admits keys with scope ``review`` (and ``admin``).
ReviewKey = Annotated[Principal, Depends(require("review"))]
