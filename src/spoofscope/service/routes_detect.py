"""Detection routes: ``POST /v1/detect``, ``POST /v1/jobs``, ``GET /v1/jobs/{id}``,
``GET /v1/detections/{id}``, ``GET /v1/models``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from spoofscope.service.access import DetectKey, Principal
from spoofscope.service.errors import ApiError, error_responses
from spoofscope.service.schemas import DetectionOut, JobAccepted, JobOut, ModelsOut
from spoofscope.service.uploads import Upload, read_upload, read_uploads, safe_name, save_upload

__all__ = ["router"]

router = APIRouter()

_AUDIO_TYPES = ("audio/wav", "audio/flac", "audio/ogg", "audio/mpeg", "audio/mp4", "audio/webm",
                "audio/aiff", "application/octet-stream")  # fmt: skip
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _body(multi: bool) -> dict[str, Any]:
    field = "files" if multi else "file"
    prop: dict[str, Any] = {"type": "string", "format": "binary"}
    if multi:
        prop = {"type": "array", "items": prop}
    multipart = {"schema": {"type": "object", "properties": {field: prop}, "required": [field]}}
    return {
        "requestBody": {
            "required": True,
            "description": "the audio, as multipart/form-data (field "
            f"{field!r}) or as the raw body with any Content-Type; the format is recognised "
            "from the bytes (WAV, FLAC, Ogg, MP3, AAC, MP4/M4A, WebM/Matroska, AIFF)",
            "content": {"multipart/form-data": multipart, **{t: _BINARY for t in _AUDIO_TYPES}},
        }
    }


def _store(state: Any, result: dict[str, Any], principal: Principal, upload: Upload,
           latency: float, audio_path: str | None) -> tuple[str, Any]:  # fmt: skip
    from spoofscope.service import store

    with state.sessions() as s:
        det = store.save_detection(
            s,
            result,
            client=principal.client,
            source=upload.name,
            audio_sha256=upload.sha256,
            latency_s=latency,
            audio_path=audio_path,
            review_sample_rate=state.settings.review_sample_rate,
        )
        return det.id, det.created_at


def _detector(request: Request) -> Any:
    detector = getattr(request.app.state, "detector", None)
    if detector is None:
        raise ApiError(503, "not ready", "the model is not loaded")
    return detector


@router.post(
    "/v1/detect",
    response_model=DetectionOut,
    summary="Analyse one recording (synchronous)",
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 500, 503),
    openapi_extra=_body(multi=False),
)
async def detect(
    request: Request,
    principal: DetectKey,
    lower: Annotated[float | None, Query(ge=0, le=1, description="lower threshold")] = None,
    upper: Annotated[float | None, Query(ge=0, le=1, description="upper threshold")] = None,
) -> Any:
    """The verdict, calibrated ``p_spoof``, flagged ranges and per-window timeline of the
    uploaded recording; the detection is stored and its ``id`` returned."""
    from spoofscope.audio_errors import AudioError, AudioTooLongError

    state = request.app.state
    settings = state.settings
    if lower is not None and upper is not None and lower > upper:
        raise ApiError(422, "invalid thresholds", f"lower {lower} is above upper {upper}")
    detector = _detector(request)
    upload = await read_upload(request, settings.max_upload_bytes)
    try:
        try:
            found = await anyio.to_thread.run_sync(
                lambda: detector.detect(upload.file, lower=lower, upper=upper),
                limiter=state.inference_limiter,
            )
        except AudioTooLongError as exc:
            raise ApiError(413, "audio too long", str(exc)) from None
        except AudioError as exc:
            raise ApiError(422, "undecodable audio", str(exc)) from None
        except ValueError as exc:  # thresholds the calibration rejects
            raise ApiError(422, "invalid parameters", str(exc)) from None
        audio_path = None
        if settings.keep_audio:  # named by content: the same upload is stored once
            directory = Path(settings.audio_dir).resolve() / "detect"
            path = await run_in_threadpool(save_upload, upload, directory, upload.sha256)
            audio_path = str(path)
    finally:
        upload.close()
    result = found.to_dict()
    result["source"] = upload.name
    latency = time.perf_counter() - request.state.t0
    det_id, created = await run_in_threadpool(
        _store, state, result, principal, upload, latency, audio_path
    )
    state.metrics.observe_result(result, "detect")
    return {**result, "id": det_id, "created_at": created, "latency_s": latency,
            "audio_sha256": upload.sha256}  # fmt: skip


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobAccepted,
    summary="Queue long or many recordings (asynchronous)",
    responses=error_responses(400, 401, 403, 413, 415, 429, 500),
    openapi_extra=_body(multi=True),
)
async def create_job(request: Request, principal: DetectKey) -> Any:
    """Store the uploaded files and queue a job; returns at once with the job's id
    (poll ``GET /v1/jobs/{id}``). Worker processes analyse the files."""
    from spoofscope.service import store
    from spoofscope.service.db import new_id

    settings = request.app.state.settings
    uploads = await read_uploads(request, settings.job_max_upload_bytes)
    directory = Path(settings.audio_dir).resolve() / "jobs" / new_id()
    try:
        inputs = []
        for i, upload in enumerate(uploads):
            stem = f"{i:03d}-{safe_name(upload.name)}"
            path = await run_in_threadpool(save_upload, upload, directory, stem)
            inputs.append({"name": upload.name, "path": str(path), "sha256": upload.sha256})
    finally:
        for upload in uploads:
            upload.close()

    def create() -> tuple[str, str]:
        with request.app.state.sessions() as s:
            job = store.create_job(s, principal.client, inputs)
            out = (job.id, job.status)
            s.commit()
        return out

    job_id, status = await run_in_threadpool(create)
    return JSONResponse(
        {"id": job_id, "status": status},
        status_code=202,
        headers={"Location": f"/v1/jobs/{job_id}"},
    )


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobOut,
    summary="A job's status and results",
    responses=error_responses(401, 403, 404, 429, 500),
)
def get_job(job_id: str, request: Request, principal: DetectKey) -> Any:
    """Status (``queued``, ``running``, ``done``, ``failed``) and, when done, the results."""
    from spoofscope.service import store

    with request.app.state.sessions() as s:
        job = store.get_job(s, job_id)
        if job is None or not principal.owns(job.client):
            raise ApiError(404, "not found", f"no job {job_id!r}")
        return {
            "id": job.id,
            "status": job.status,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
            "attempts": job.attempts,
            "error": job.error,
            "inputs": [{"name": i.get("name"), "sha256": i.get("sha256")} for i in job.inputs],
            "results": job.results,
        }


@router.get(
    "/v1/detections/{detection_id}",
    response_model=DetectionOut,
    summary="A stored detection",
    responses=error_responses(401, 403, 404, 429, 500),
)
def get_detection(detection_id: str, request: Request, principal: DetectKey) -> Any:
    """The stored result of a detection (synchronous, streamed or from a job)."""
    from spoofscope.service import store

    with request.app.state.sessions() as s:
        det = store.get_detection(s, detection_id)
        if det is None or not principal.owns(det.client):
            raise ApiError(404, "not found", f"no detection {detection_id!r}")
        return {
            **det.result,
            "id": det.id,
            "source": det.source,
            "created_at": det.created_at,
            "latency_s": det.latency_s,
            "audio_sha256": det.audio_sha256,
            "job_id": det.job_id,
        }


@router.get(
    "/v1/models",
    response_model=ModelsOut,
    summary="The loaded model and its calibration",
    responses=error_responses(503),
)
def models(request: Request) -> Any:
    """Name, id, version, backend, calibration and thresholds of the model in use."""
    detector = _detector(request)
    cal = detector.calibration
    info = detector.model_info
    calibrated = cal.method != "identity" and cal.source.get("calibrated", True) is not False
    return {
        "models": [
            {
                "name": info.get("name"),
                "id": info.get("id"),
                "version": None if info.get("version") is None else str(info.get("version")),
                "backend": info.get("backend") or request.app.state.settings.backend,
                "sample_rate": detector.sample_rate,
                "segment_samples": detector.segment,
                "calibration": {**cal.to_dict(), "calibrated": calibrated},
                "thresholds": {"lower": detector.lower, "upper": detector.upper},
                "settings": {
                    "vad": detector.vad,
                    "hop": detector.hop,
                    "aggregation": detector.aggregation,
                    "min_speech": detector.min_speech,
                },
            }
        ]
    }
