"""The access middleware: request ids, timing, metrics, the JSON access log, and the last line
of defence that turns an unexpected exception into a JSON 500 without a traceback."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spoofscope.service.logging_json import ACCESS_LOGGER

__all__ = ["AccessMiddleware"]

log = logging.getLogger(ACCESS_LOGGER)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ERROR_500 = json.dumps(
    {"error": {"status": 500, "reason": "internal error",
               "detail": "the server failed; the error is logged with this request's id"}}
).encode()  # fmt: skip


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class AccessMiddleware:
    """Times every HTTP request and WebSocket session, counts it, and logs one JSON line.

    Args:
        app: the inner ASGI app.
        metrics: a :class:`spoofscope.service.metrics.ServiceMetrics` (or a callable giving it).
    """

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        state = scope.setdefault("state", {})
        state["t0"] = t0
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        state["request_id"] = request_id
        status = {"code": 0, "started": False}

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            elif message["type"] == "websocket.close" and not status["code"]:
                status["code"] = 403  # closed before the handshake was accepted
            await send(message)

        failure = None
        try:
            await self.app(scope, receive, wrapped)
        except Exception as exc:  # noqa: BLE001 - answered as a JSON 500, logged below
            failure = exc
            if scope["type"] == "http" and not status["started"]:
                await wrapped(
                    {"type": "http.response.start", "status": 500,
                     "headers": [(b"content-type", b"application/json"),
                                 (b"content-length", str(len(_ERROR_500)).encode())]}
                )  # fmt: skip
                await send({"type": "http.response.body", "body": _ERROR_500})
            status["code"] = 500
        finally:
            self._record(scope, state, status["code"] or 500, t0, request_id, failure)

    def _record(self, scope: Scope, state: dict, code: int, t0: float, request_id: str,
                failure: BaseException | None) -> None:  # fmt: skip
        latency = time.perf_counter() - t0
        route = _route(scope)
        method = scope.get("method", "WS")
        metrics = self.metrics() if callable(self.metrics) else self.metrics
        if metrics is not None:
            metrics.requests.labels(route, method, str(code)).inc()
            metrics.latency.labels(route, method).observe(latency)
        extra = {
            "route": route,
            "method": method,
            "path": scope.get("path", ""),
            "status": code,
            "latency_ms": round(latency * 1000, 2),
            "client": state.get("client"),
            "request_id": request_id,
        }
        message = f"{method} {route} {code}"
        if failure is not None:
            log.error(message, extra=extra, exc_info=failure)
        else:
            log.log(logging.WARNING if code >= 500 else logging.INFO, message, extra=extra)
