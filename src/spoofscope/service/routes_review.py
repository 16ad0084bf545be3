"""The review queue: ``GET /v1/review``, ``POST /v1/review/{id}``, ``GET /v1/review/{id}/audio``
(scope ``review``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from spoofscope.service.access import ReviewKey
from spoofscope.service.errors import ApiError, error_responses
from spoofscope.service.schemas import ReviewItemOut, ReviewLabel, ReviewListOut

__all__ = ["router"]

router = APIRouter()

_MEDIA = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg",
          ".aac": "audio/aac", ".mp4": "audio/mp4", ".webm": "audio/webm",
          ".aiff": "audio/aiff"}  # fmt: skip


def _item(item: Any) -> dict[str, Any]:
    det = item.detection
    return {
        "id": item.id,
        "detection_id": item.detection_id,
        "created_at": item.created_at,
        "reason": item.reason,
        "status": item.status,
        "label": item.label,
        "comment": item.comment,
        "reviewer": item.reviewer,
        "labelled_at": item.labelled_at,
        "detection": {
            "id": det.id,
            "created_at": det.created_at,
            "source": det.source,
            "verdict": det.verdict,
            "p_spoof": det.p_spoof,
            "score": det.score,
            "duration_s": det.duration_s,
            "model_name": det.model_name,
            "windows": det.windows,
            "audio_available": bool(det.audio_path) and Path(det.audio_path).is_file(),
        },
    }


@router.get(
    "/v1/review",
    response_model=ReviewListOut,
    summary="Items of the review queue",
    responses=error_responses(401, 403, 422, 429, 500),
)
def list_review(
    request: Request,
    principal: ReviewKey,
    status: Literal["open", "labelled", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Detections waiting for a person's label (``open``, oldest first), labelled ones
    (latest first), or ``all``."""
    from spoofscope.service import store

    with request.app.state.sessions() as s:
        return {"items": [_item(i) for i in store.list_review(s, status=status, limit=limit)]}


@router.post(
    "/v1/review/{item_id}",
    response_model=ReviewItemOut,
    summary="Label a review item",
    responses=error_responses(401, 403, 404, 422, 429, 500),
)
def label_review(
    item_id: str,
    body: ReviewLabel,
    request: Request,
    principal: ReviewKey,
) -> Any:
    """Record a reviewer's label (``bonafide`` or ``spoof``) and comment; the labelled items
    are what ``spoofscope review export`` writes as a training manifest."""
    from spoofscope.service import store

    with request.app.state.sessions() as s:
        try:
            item = store.label_review(s, item_id, body.label, body.comment, principal.client)
        except store.NotFound:
            raise ApiError(404, "not found", f"no review item {item_id!r}") from None
        except ValueError as exc:
            raise ApiError(422, "invalid label", str(exc)) from None
        return _item(item)


@router.get(
    "/v1/review/{item_id}/audio",
    summary="The audio of a review item (when the service keeps audio)",
    response_class=FileResponse,
    responses={
        200: {"content": {t: {} for t in sorted(set(_MEDIA.values()))}},
        **error_responses(401, 403, 404, 429, 500),
    },  # fmt: skip
)
def review_audio(item_id: str, request: Request, principal: ReviewKey) -> Any:
    """The stored recording, for listening before labelling (404 when audio is not kept)."""
    from spoofscope.service.db import ReviewItem

    with request.app.state.sessions() as s:
        item = s.get(ReviewItem, item_id)
        path = item.detection.audio_path if item is not None else None
    if not path or not Path(path).is_file():
        raise ApiError(404, "not found", f"no audio kept for review item {item_id!r}")
    return FileResponse(path, media_type=_MEDIA.get(Path(path).suffix, "application/octet-stream"))
