"""Structured logs: one JSON object per line.

Every record has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; the
request log (logger ``spoofscope.access``) adds ``route``, ``method``, ``path``, ``status``,
``latency_ms``, ``client`` (the API key's id, never the key) and ``request_id``. A
traceback, when there is one, is a string field ``exc``, so a record stays one line.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import Any, TextIO

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_logging"]

ACCESS_LOGGER = "spoofscope.access"
#: ``extra=`` fields copied into the JSON object.
FIELDS = (
    "route",
    "method",
    "path",
    "status",
    "latency_ms",
    "client",
    "request_id",
    "verdict",
    "job_id",
    "detection_id",
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if name in record.__dict__:
                out[name] = record.__dict__[name]
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the ``spoofscope`` and ``uvicorn`` loggers to ``stream`` (stderr) as JSON lines.

    Uvicorn's own access log is silenced: the service logs each request itself.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("spoofscope", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.error").handlers.clear()
    logging.getLogger("uvicorn.error").propagate = True
    logging.getLogger("uvicorn.access").disabled = True
