"""HTTP errors: one JSON shape, ``{"error": {"status", "reason", "detail"}}``, never a traceback.

Routes raise :class:`ApiError`; the handlers installed by :func:`install_error_handlers`
turn it, FastAPI's request-validation errors and Starlette's HTTP errors into that shape.
Unexpected exceptions are caught by the access middleware (:mod:`spoofscope.service.app`),
logged with their traceback, and answered with a bare 500 in the same shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorInfo",
    "error_response",
    "error_responses",
    "install_error_handlers",
]


class ErrorInfo(BaseModel):
    """What went wrong."""

    status: int
    reason: str
    detail: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


class ApiError(Exception):
    """An error answered as JSON with ``status``.

    Args:
        status: the HTTP status code.
        reason: a short machine-friendly phrase (``"unsupported media type"``).
        detail: a human explanation, or structured data (validation errors).
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        reason: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status, self.reason, self.detail = status, reason, detail
        self.headers = headers or {}


def error_response(
    status: int, reason: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error response."""
    body = {"error": {"status": status, "reason": reason, "detail": detail}}
    return JSONResponse(body, status_code=status, headers=headers)


_DESCRIPTIONS = {
    400: "Malformed request (bad multipart body, missing file).",
    401: "Missing or invalid API key.",
    403: "The API key lacks the scope this route needs.",
    404: "No such resource (or not yours).",
    413: "Upload larger than the size limit, or audio longer than the duration limit.",
    415: "The bytes are not a supported audio format (sniffed from the content).",
    422: "Invalid parameters, or audio that cannot be decoded.",
    429: "Rate limit exceeded; retry after Retry-After seconds.",
    500: "Internal error (logged server-side; no details are returned).",
    503: "Not ready: model not loaded or database unreachable.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for ``codes``, each with the :class:`ErrorBody` schema."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.reason, exc.detail, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = _reason(exc.status_code)
    detail = None if str(exc.detail).lower() == reason else exc.detail
    return error_response(exc.status_code, reason, detail, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return error_response(422, "invalid request", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Answer :class:`ApiError`, HTTP and validation errors as :class:`ErrorBody` JSON."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
