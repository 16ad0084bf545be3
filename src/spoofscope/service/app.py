"""The FastAPI application: :func:`create_app` wires settings, database, detector, routes.

>>> from spoofscope.service.app import create_app                       # doctest: +SKIP
>>> from spoofscope.service.settings import ServiceSettings            # doctest: +SKIP
>>> app = create_app(ServiceSettings(model="model.safetensors"))       # doctest: +SKIP

Routes: ``POST /v1/detect``, ``POST /v1/jobs``, ``GET /v1/jobs/{id}``,
``GET /v1/detections/{id}``, ``GET /v1/models``, ``GET /v1/review``,
``POST /v1/review/{id}``, ``GET /v1/review/{id}/audio``, ``WS /v1/stream``, ``GET /healthz``,
``GET /readyz``, ``GET /metrics``, ``GET /`` and ``GET /review`` (the web pages), ``/static``.

At startup (the lifespan) the app runs the migrations (``settings.migrate``), loads the
detector, and starts ``settings.job_workers`` job worker processes; at shutdown it stops them.
Each API process is stateless apart from its metrics: any number of them can share one
PostgreSQL database behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from spoofscope import __version__
from spoofscope.service import routes_detect, routes_review
from spoofscope.service.access import authenticate, presented_key
from spoofscope.service.errors import ApiError, error_response, error_responses
from spoofscope.service.errors import install_error_handlers as _install_errors
from spoofscope.service.metrics import CONTENT_TYPE, DbCollector, ServiceMetrics, TimedModel
from spoofscope.service.middleware import AccessMiddleware
from spoofscope.service.schemas import Status
from spoofscope.service.settings import ServiceSettings

__all__ = ["STATIC_DIR", "create_app", "create_app_from_env", "load_detector"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Seconds between purges of kept audio past its retention.
PURGE_EVERY_S = 3600.0


def load_detector(settings: ServiceSettings) -> Any:
    """The :class:`spoofscope.Detector` the settings describe (blocking)."""
    from spoofscope.inference import Detector

    options = {**settings.detector_options, "max_duration_s": settings.max_duration_s}
    return Detector.from_pretrained(settings.model, backend=settings.backend, **options)


def _stop_workers(processes: list[Any], timeout: float = 10.0) -> None:
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join(timeout)


async def _purge_loop(app: FastAPI) -> None:
    from spoofscope.service import store

    settings = app.state.settings

    def purge() -> int:
        with app.state.sessions() as s:
            return store.purge_expired_audio(s, settings.retention_days)

    while True:
        try:
            n = await run_in_threadpool(purge)
            if n:
                log.info("deleted %d audio files older than %g days", n, settings.retention_days)
        except Exception:
            log.warning("purging expired audio failed", exc_info=True)
        await asyncio.sleep(PURGE_EVERY_S)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from spoofscope.service.db import migrate
    from spoofscope.service.drift import reference_from_calibration

    settings: ServiceSettings = app.state.settings
    if settings.migrate:
        await run_in_threadpool(migrate, settings.database_url)
    if app.state.preloaded_detector is not None:  # a copy: the caller's object stays as it is
        detector = copy.copy(app.state.preloaded_detector)
        detector.max_duration_s = settings.max_duration_s
    else:
        detector = await run_in_threadpool(load_detector, settings)
    model = detector.model
    if isinstance(model, TimedModel):  # a detector that served another app before
        model = model.wrapped
    detector.model = TimedModel(model, app.state.metrics.forward_time)
    app.state.detector = detector
    app.state.db_collector.model_id = detector.model_info.get("id")
    app.state.db_collector.reference = reference_from_calibration(detector.calibration)
    workers: list[Any] = []
    if settings.job_workers > 0:
        from spoofscope.service import jobs

        workers = jobs.start_workers(
            settings.job_workers, settings.database_url, settings.to_dict()
        )
    purger = asyncio.create_task(_purge_loop(app)) if settings.keep_audio else None
    log.info("ready: model %s, %d job workers", detector.model_info.get("name"), len(workers))
    try:
        yield
    finally:
        if purger is not None:
            purger.cancel()
        await run_in_threadpool(_stop_workers, workers)
        app.state.engine.dispose()


def _page(name: str) -> Any:
    def page() -> Any:
        path = STATIC_DIR / name
        if not path.is_file():
            raise ApiError(404, "not found", f"the web page {name} is not installed")
        return FileResponse(path, media_type="text/html")

    return page


def _add_operational_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Status, summary="Liveness: the process answers")
    def healthz() -> Any:
        return {"status": "ok", "checks": {}}

    @app.get(
        "/readyz",
        response_model=Status,
        summary="Readiness: model loaded and database reachable",
        responses=error_responses(503),
    )
    def readyz(request: Request) -> Any:
        from sqlalchemy import text

        checks = {"model": "ok" if getattr(app.state, "detector", None) else "not loaded"}
        try:
            with app.state.sessions() as s:
                s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if any(v != "ok" for v in checks.values()):
            return error_response(503, "not ready", checks)
        return {"status": "ready", "checks": checks}

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(app.state.metrics.exposition(), media_type=CONTENT_TYPE)

    html = {200: {"content": {"text/html": {"schema": {"type": "string"}}}},
            **error_responses(404)}  # fmt: skip
    app.get("/", summary="The web page", response_class=FileResponse, responses=html)(
        _page("index.html")
    )
    app.get("/review", summary="The review page", response_class=FileResponse, responses=html)(
        _page("review.html")
    )
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _add_streaming(app: FastAPI) -> None:
    from spoofscope.service import streaming

    def authorize(websocket: WebSocket, api_key: str | None) -> str:
        key = api_key or presented_key(websocket.headers, websocket.query_params)
        principal = authenticate(app.state, key, "detect")
        websocket.state.client = principal.client
        return principal.client

    def on_summary(result: dict[str, Any], client: str, audio_sha256: str) -> str:
        from spoofscope.service import store

        stored = {k: v for k, v in result.items() if k not in ("type", "stream")}
        with app.state.sessions() as s:
            det = store.save_detection(
                s,
                stored,
                client=client,
                source=str(stored.get("source") or "stream"),
                audio_sha256=audio_sha256,  # of the bytes the client sent
                latency_s=float(stored.get("runtime_s") or 0.0),
                review_sample_rate=app.state.settings.review_sample_rate,
            )
        app.state.metrics.observe_result(stored, "stream")
        return det.id

    settings = app.state.settings
    router = streaming.stream_router(
        lambda: app.state.detector,
        authorize,
        on_summary=on_summary,
        max_duration_s=settings.stream_max_duration_s,
        limiter=app.state.inference_limiter,
    )
    app.include_router(router)


def create_app(settings: ServiceSettings | None = None, *, detector: Any = None) -> FastAPI:
    """The service for ``settings`` (default: :meth:`ServiceSettings.from_env`).

    The database engine is made here; the detector is loaded (unless one is given) and the
    job workers started when the app starts serving (its lifespan).
    """
    from spoofscope.service.db import make_engine, session_factory

    settings = ServiceSettings.from_env() if settings is None else settings
    app = FastAPI(
        title="spoofscope",
        version=__version__,
        summary="Detect synthetic and spoofed speech: verdict, calibrated p_spoof, timeline.",
        lifespan=_lifespan,
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.detector = None
    app.state.preloaded_detector = detector
    app.state.inference_limiter = anyio.CapacityLimiter(settings.inference_threads)
    app.state.db_collector = DbCollector(
        app.state.sessions, None, None, window=settings.drift_window
    )
    app.state.metrics = ServiceMetrics(collectors=(app.state.db_collector,))
    _install_errors(app)
    app.add_middleware(AccessMiddleware, metrics=lambda: app.state.metrics)
    app.include_router(routes_detect.router)
    app.include_router(routes_review.router)
    _add_streaming(app)
    _add_operational_routes(app)
    return app


def create_app_from_env() -> FastAPI:
    """The app configured by ``SPOOFSCOPE_*`` variables, with JSON logs (for
    ``uvicorn --factory spoofscope.service.app:create_app_from_env``)."""
    from spoofscope.service.logging_json import configure_logging

    configure_logging()
    return create_app(ServiceSettings.from_env())
