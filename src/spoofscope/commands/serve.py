"""``spoofscope serve``: the HTTP/WebSocket service on uvicorn, with its job workers.

One machine: ``spoofscope serve --model model.safetensors`` (SQLite in ./spoofscope.db).
Replicas: run the same command on each host with ``--database-url
postgresql+psycopg://user@db/spoofscope`` behind any load balancer; the API processes keep no
state of their own (rate limits, jobs and results live in the database). ``--workers N`` runs
N uvicorn processes on one port (they read their settings from ``SPOOFSCOPE_*`` variables and
share metrics through ``PROMETHEUS_MULTIPROC_DIR``).

Steps: run the database migrations once, start ``--job-workers`` job processes, run uvicorn;
on exit (Ctrl-C, SIGTERM) stop the job processes (a job they held is picked up again after
its lease expires).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

NAME = "serve"
HELP = "run the detection service (REST + WebSocket API, web page, job workers) on uvicorn"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 = any free port)")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn API processes on this port (1)"
    )
    parser.add_argument(
        "--job-workers", type=int, help="processes running /v1/jobs (default 1; 0 = none here)"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///file.db (default sqlite:///spoofscope.db) or "
        "postgresql+psycopg://user@host:port/db (shared by replicas)",
    )
    parser.add_argument(
        "--model", metavar="PATH", help="checkpoint (.safetensors, .pth) or .onnx (default model)"
    )
    parser.add_argument(
        "--backend", choices=("torch", "onnx"), help="default: onnx for an .onnx model, else torch"
    )
    parser.add_argument(
        "--vad", choices=("silero", "energy", "none"), help="voice activity detection (silero)"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without API keys (local demos only: anyone reaching the port can use it)",
    )
    parser.add_argument(
        "--keep-audio", action="store_true", help="store uploaded audio for review and retraining"
    )
    parser.add_argument("--audio-dir", metavar="DIR", help="where audio is stored")
    parser.add_argument(
        "--rate-limit", type=int, metavar="N", help="requests per key per minute (120; 0 = off)"
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning (info)")


def settings_from_args(args: argparse.Namespace) -> Any:
    """The :class:`ServiceSettings`: ``SPOOFSCOPE_*`` variables, overridden by the options."""
    from spoofscope.service.settings import ServiceSettings

    overrides: dict[str, Any] = {}
    for option, field in (("database_url", "database_url"), ("model", "model"),
                          ("job_workers", "job_workers"), ("audio_dir", "audio_dir"),
                          ("rate_limit", "rate_limit_per_minute")):  # fmt: skip
        if getattr(args, option) is not None:
            overrides[field] = getattr(args, option)
    if args.no_auth:
        overrides["auth"] = False
    if args.keep_audio:
        overrides["keep_audio"] = True
    settings = ServiceSettings.from_env(**overrides)
    if args.backend:
        settings.backend = args.backend
    elif settings.model and str(settings.model).endswith(".onnx"):
        settings.backend = "onnx"
    if args.vad:
        settings.detector_options = {**settings.detector_options, "vad": args.vad}
    return settings


def run(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import uvicorn

    from spoofscope.errors import SpoofscopeError
    from spoofscope.service.app import create_app, load_detector
    from spoofscope.service.db import migrate, redact_url
    from spoofscope.service.logging_json import configure_logging

    if args.workers < 1:
        raise SpoofscopeError(f"--workers must be >= 1, got {args.workers}")
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        raise SpoofscopeError(str(exc)) from None
    configure_logging(args.log_level.upper())
    if not settings.auth and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving WITHOUT API keys on %s: anyone who reaches it can use it", args.host)
    if args.workers == 1:  # fail here, with a clear message, if the model cannot load
        detector = load_detector(settings)
    else:  # each API process loads its own; uvicorn stops if one fails to start
        from spoofscope.inference_model import resolve_model_path

        resolve_model_path(settings.model)  # a missing file fails here
    try:
        migrate(settings.database_url)
    except Exception as exc:  # unreachable server, bad URL, missing driver, ...
        raise SpoofscopeError(
            f"cannot migrate the database {redact_url(settings.database_url)}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    workers: list[Any] = []
    api = settings.replace(job_workers=0, migrate=False)
    metrics_dir = None
    try:
        if settings.job_workers > 0:
            from spoofscope.service import jobs

            workers = jobs.start_workers(
                settings.job_workers, settings.database_url, settings.to_dict()
            )
        log.info("%d job workers started", len(workers))
        common = dict(host=args.host, port=args.port, log_config=None, access_log=False)
        if args.workers == 1:
            uvicorn.run(create_app(api, detector=detector), **common)
        else:
            os.environ.update(api.to_env())
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # stale values would be summed in
                for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
                    stale.unlink()
            else:
                metrics_dir = tempfile.mkdtemp(prefix="spoofscope-prom-")
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            uvicorn.run(
                "spoofscope.service.app:create_app_from_env",
                factory=True,
                workers=args.workers,
                **common,
            )
    finally:
        from spoofscope.service.app import _stop_workers

        _stop_workers(workers)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
