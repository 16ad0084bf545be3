"""The JSON bodies of the HTTP API, as pydantic models (they make the OpenAPI schema).

The detection fields mirror :meth:`spoofscope.DetectionResult.to_dict`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DetectionOut",
    "JobAccepted",
    "JobOut",
    "ModelInfo",
    "ModelsOut",
    "ReviewItemOut",
    "ReviewLabel",
    "ReviewListOut",
    "Status",
    "WindowOut",
]


class WindowOut(BaseModel):
    """One analysed window of the recording."""

    start_s: float
    end_s: float
    score: float | None = Field(description="log-odds of bona fide (higher = more bona fide)")
    p_spoof: float | None
    speech_fraction: float
    voted: bool


class DetectionOut(BaseModel):
    """A detection: the detector's result, its id and (when read back) when and for whom."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    id: str
    source: str = Field(description="the uploaded file's name ('upload' for a raw body)")
    verdict: Literal["bonafide", "spoof", "review", "no_speech"]
    p_spoof: float | None = Field(description="calibrated probability of spoof")
    score: float | None
    duration_s: float
    flagged: list[list[float]] = Field(description="[start_s, end_s] ranges flagged as spoof")
    thresholds: dict[str, float]
    aggregation: dict[str, Any]
    model: dict[str, Any] = Field(description="{name, id, version, backend}")
    runtime_s: float
    windows: list[WindowOut]
    created_at: dt.datetime | None = None
    latency_s: float | None = None
    audio_sha256: str | None = None
    job_id: str | None = None


class JobAccepted(BaseModel):
    """A job was queued."""

    id: str
    status: str


class JobOut(BaseModel):
    """A job's state and, once done, one result per input."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    created_at: dt.datetime
    updated_at: dt.datetime
    attempts: int
    error: str | None
    inputs: list[dict[str, Any]] = Field(description="[{name, sha256}] in upload order")
    results: list[dict[str, Any]] | None


class Calibration(BaseModel):
    """The loaded model's calibration and decision thresholds."""

    method: str
    a: float
    b: float
    lower: float
    upper: float
    calibrated: bool
    source: dict[str, Any]


class ModelInfo(BaseModel):
    """The model the service runs."""

    model_config = ConfigDict(protected_namespaces=())

    name: str | None
    id: str | None
    version: str | None
    backend: str
    sample_rate: int
    segment_samples: int
    calibration: Calibration
    thresholds: dict[str, float] = Field(description="the lower / upper p_spoof in use")
    settings: dict[str, Any] = Field(description="vad, hop, aggregation, min_speech")


class ModelsOut(BaseModel):
    """The loaded model(s)."""

    models: list[ModelInfo]


class Status(BaseModel):
    """Health or readiness."""

    status: str
    checks: dict[str, str] = {}


class ReviewLabel(BaseModel):
    """A reviewer's answer."""

    label: Literal["bonafide", "spoof"]
    comment: str = Field("", max_length=4000)


class ReviewDetection(BaseModel):
    """The detection a review item is about."""

    id: str
    created_at: dt.datetime
    source: str
    verdict: str
    p_spoof: float | None
    score: float | None
    duration_s: float
    model_name: str
    windows: list[dict[str, Any]]
    audio_available: bool


class ReviewItemOut(BaseModel):
    """An item of the review queue."""

    id: str
    detection_id: str
    created_at: dt.datetime
    reason: str
    status: str
    label: str | None
    comment: str | None
    reviewer: str | None
    labelled_at: dt.datetime | None
    detection: ReviewDetection


class ReviewListOut(BaseModel):
    """Review items (open ones oldest first, labelled ones latest first)."""

    items: list[ReviewItemOut]
