"""``WS /v1/stream``: live detection over a WebSocket, one JSON event per window.

How ``app.py`` includes it (the only wiring needed)::

    from spoofscope.service.streaming import stream_router

    app.include_router(
        stream_router(
            lambda: app.state.detector,        # get_detector() -> Detector
            authorize_ws,                      # authorize(websocket, api_key) -> client id
            on_summary=store_stream_result,    # on_summary(summary, client, sha256) -> id
            max_duration_s=3600.0,             # audio seconds one stream may carry
            limiter=lambda: app.state.inference_limiter,  # or a CapacityLimiter, or None
        )
    )

* ``authorize(websocket, api_key=None)``: ``api_key`` is the key the client sent in its first
  message (``{"type": "auth", "api_key": ...}``), or None: then look at ``?api_key=`` and the
  ``Authorization: Bearer`` / ``X-API-Key`` headers. Return the client id (key id, or
  ``"anonymous"`` when auth is off); raise an exception with ``status`` (or ``status_code``),
  ``reason`` and ``detail`` attributes (``errors.ApiError``) for 401 / 403 (scope ``detect``) /
  429. May be sync (run in a thread) or async. A one-argument ``authorize(websocket)`` works
  too, without first-message authentication.
* ``on_summary(summary, client, audio_sha256)``: called in a thread with the summary dict (the
  detector's result JSON plus ``"type": "summary"`` and ``"stream": {"encoding", "frames",
  "sha256"}``) and the sha256 of the bytes the client sent (a two-argument
  ``on_summary(summary, client)`` works too: the hash is in ``summary["stream"]``); may return
  the stored detection id (a str), which the summary sent to the client then carries as
  ``"id"``.
* ``limiter``: bounds the threads that decode and score (share the REST routes' limiter so
  streams and uploads together keep to ``inference_threads``); a callable is called per
  stream, so it may read ``app.state`` filled in at startup.

The protocol (query ``?encoding=pcm16&rate=16000`` or ``?encoding=container``; optional
``lower``, ``upper`` threshold overrides and ``api_key``):

1. the server accepts; without a key in the URL or headers (and auth on) the client's first
   message must be ``{"type": "auth", "api_key": "..."}``; the server answers
   ``{"type": "ready", "client", "sample_rate", "window_s", "hop_s", "encoding", ...}``;
2. the client sends audio as binary frames (any size up to ``max_message_bytes``); the server
   sends ``{"type": "window", ...}`` events (see :meth:`StreamSession.feed`) as windows
   complete, each with ``latency_ms``: from the receipt of the frame that completed the
   window to the event's sending;
3. the client sends the text frame ``{"type": "end"}``; the server sends the last window
   events, ``{"type": "summary", ...}`` (the detector's result for the whole stream) and
   closes with 1000.

Errors are ``{"type": "error", "status", "reason", "detail"}`` (statuses as in the REST API)
followed by a close: 1008 (policy: authentication 401/403, bad parameters 422, idle timeout
408, duration limit 413), 1009 (frame over ``max_message_bytes``, 413), 1003 (unsupported
data: undecodable audio 422, an unknown or malformed text message 400), 1013 (rate limited,
429), 1011 (internal error, 500; logged, never sent).

Backpressure: one frame is received, decoded and scored before the next is read, so a client
sending faster than the model scores fills the server's bounded receive queue and TCP window
and then waits in its own ``send``; the server holds at most a few frames of unread data.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from spoofscope.audio_errors import AudioError
from spoofscope.service.stream_session import StreamLimitError, StreamSession

__all__ = ["StreamLimitError", "StreamSession", "stream_router"]

log = logging.getLogger(__name__)

DEFAULT_MAX_DURATION_S = 3600.0
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
DEFAULT_IDLE_TIMEOUT_S = 60.0


class _Fail(Exception):
    """An error event to send, then a close code."""

    def __init__(self, status: int, reason: str, detail: Any, code: int) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status, self.reason, self.detail, self.code = status, reason, detail, code


def _auth_failure(exc: Exception) -> _Fail:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    if not isinstance(status, int):
        raise exc
    reason = getattr(exc, "reason", None) or ("unauthorized" if status == 401 else "forbidden")
    detail = getattr(exc, "detail", None)
    return _Fail(status, str(reason), detail, 1013 if status == 429 else 1008)


def _float_param(query: Any, name: str) -> float | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise _Fail(
            422, "invalid parameter", f"{name} must be a number, got {text!r}", 1008
        ) from None


def _session_options(query: Any) -> dict[str, Any]:
    encoding = query.get("encoding", "pcm16")
    rate_text = query.get("rate", "16000")
    try:
        rate = int(rate_text)
    except ValueError:
        raise _Fail(
            422, "invalid parameter", f"rate must be an integer, got {rate_text!r}", 1008
        ) from None
    return {
        "encoding": encoding,
        "sample_rate": rate,
        "lower": _float_param(query, "lower"),
        "upper": _float_param(query, "upper"),
    }


def _presents_key(websocket: WebSocket) -> bool:
    headers = websocket.headers
    return bool(
        websocket.query_params.get("api_key")
        or headers.get("x-api-key")
        or headers.get("authorization")
    )


async def _call(fn: Callable[..., Any], *args: Any, limiter: Any = None) -> Any:
    """Run a sync ``fn`` in a worker thread (an async one in the loop)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    import anyio

    out = await anyio.to_thread.run_sync(fn, *args, limiter=limiter)
    return await out if inspect.isawaitable(out) else out


def _takes(fn: Callable[..., Any], n: int) -> bool:
    """Whether ``fn`` accepts ``n`` positional arguments."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    return len(params) >= n or any(p.kind is p.VAR_POSITIONAL for p in params)


def _parse_text(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        message = None
    if not isinstance(message, dict) or message.get("type") not in ("end", "auth"):
        raise _Fail(
            400,
            "bad message",
            'text frames must be JSON {"type": "end"} or {"type": "auth", "api_key": ...}; '
            "send audio as binary frames",
            1003,
        )
    return message


def stream_router(
    get_detector: Callable[[], Any],
    authorize: Callable[..., Any],
    on_summary: Callable[[dict[str, Any], str, str], Any] | None = None,
    *,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    limiter: Any = None,
) -> APIRouter:
    """The router with ``WS /v1/stream`` (see the module docstring for the protocol).

    Args:
        get_detector: returns the :class:`spoofscope.Detector` to use.
        authorize: ``(websocket, api_key or None) -> client id``; raises with ``status``.
        on_summary: ``(summary dict, client, sha256) -> detection id or None``, to store it.
        max_duration_s: audio seconds one stream may carry.
        max_message_bytes: largest binary frame accepted.
        idle_timeout_s: close a stream that sends nothing for this long.
        limiter: an ``anyio.CapacityLimiter`` bounding the threads that decode and score, or
            a callable returning one (or None).
    """
    router = APIRouter()
    takes_key = _takes(authorize, 2)
    takes_sha = on_summary is not None and _takes(on_summary, 3)

    async def check(websocket: WebSocket, key: str | None) -> str:
        args = (websocket, key) if takes_key else (websocket,)
        try:
            return str(await _call(authorize, *args))
        except Exception as exc:
            raise _auth_failure(exc) from None

    async def receive(websocket: WebSocket) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(websocket.receive(), idle_timeout_s)
        except TimeoutError:
            raise _Fail(
                408, "idle timeout", f"nothing received for {idle_timeout_s:g} s", 1008
            ) from None

    async def authenticate(websocket: WebSocket) -> str:
        """The client id (from the URL or headers, else from a first auth message)."""
        try:
            return await check(websocket, None)
        except _Fail as failure:
            if failure.status != 401 or _presents_key(websocket) or not takes_key:
                raise
        message = await receive(websocket)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        parsed = _parse_text(text) if text is not None else {}
        if parsed.get("type") != "auth" or not isinstance(parsed.get("api_key"), str):
            raise _Fail(401, "unauthorized", "send ?api_key= or a first auth message", 1008)
        return await check(websocket, parsed["api_key"])

    async def send_events(websocket: WebSocket, events: list[dict[str, Any]], t0: float) -> None:
        for event in events:
            event["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
            await websocket.send_text(json.dumps(event))

    async def run(websocket: WebSocket, session: StreamSession, client: str) -> None:
        lim = limiter() if callable(limiter) else limiter
        digest = hashlib.sha256()
        frames = 0
        while True:
            message = await receive(websocket)
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                t0 = time.perf_counter()
                if len(data) > max_message_bytes:
                    raise _Fail(
                        413,
                        "frame too large",
                        f"binary frames may hold at most {max_message_bytes} bytes, "
                        f"got {len(data)}",
                        1009,
                    )
                frames += 1
                digest.update(data)
                await send_events(websocket, await _call(session.feed, data, limiter=lim), t0)
                continue
            parsed = _parse_text(message.get("text") or "")
            if parsed["type"] == "auth":
                if frames:
                    raise _Fail(400, "bad message", "auth must come before any audio", 1003)
                continue  # already authorized (e.g. auth off): accept a redundant auth
            break
        t0 = time.perf_counter()
        await send_events(websocket, await _call(session.flush, limiter=lim), t0)
        summary = await _call(session.finish, limiter=lim)
        sha256 = digest.hexdigest()
        summary["stream"] = {"encoding": session.encoding, "frames": frames, "sha256": sha256}
        if on_summary is not None:
            args = (summary, client, sha256) if takes_sha else (summary, client)
            stored = await _call(on_summary, *args)
            if isinstance(stored, str):
                summary["id"] = stored
        await websocket.send_text(json.dumps(summary))
        await websocket.close(1000)

    @router.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        """Live detection: audio frames in, one event per window out, then a summary."""
        await websocket.accept()
        session: StreamSession | None = None
        try:
            client = await authenticate(websocket)
            options = _session_options(websocket.query_params)
            detector = get_detector()
            try:
                session = StreamSession(detector, max_duration_s=max_duration_s, **options)
            except ValueError as exc:
                raise _Fail(422, "invalid parameter", str(exc), 1008) from None
            ready = {
                "type": "ready",
                "client": client,
                "encoding": session.encoding,
                "sample_rate": session.rate,
                "window_s": session.window_s,
                "hop_s": session.hop_s,
                "thresholds": {"lower": session.lower, "upper": session.upper},
                "max_duration_s": max_duration_s,
                "max_message_bytes": max_message_bytes,
                "model": dict(detector.model_info),
            }
            await websocket.send_text(json.dumps(ready))
            await run(websocket, session, client)
        except WebSocketDisconnect:
            log.info("stream: client disconnected")
        except _Fail as fail:
            await _fail(websocket, fail)
        except StreamLimitError as exc:
            await _fail(websocket, _Fail(413, "stream too long", str(exc), 1008))
        except AudioError as exc:
            await _fail(websocket, _Fail(422, "undecodable audio", str(exc), 1003))
        except Exception:
            log.exception("stream: internal error")
            await _fail(websocket, _Fail(500, "internal error", None, 1011))
        finally:
            if session is not None:
                session.close()

    return router


async def _fail(websocket: WebSocket, fail: _Fail) -> None:
    """Send the error event and close; a client already gone is fine."""
    event = {"type": "error", "status": fail.status, "reason": fail.reason, "detail": fail.detail}
    log.info("stream: %s %s", fail.status, fail.reason)
    try:
        await websocket.send_text(json.dumps(event))
        await websocket.close(fail.code, reason=fail.reason[:120])
    except (WebSocketDisconnect, RuntimeError):
        pass
