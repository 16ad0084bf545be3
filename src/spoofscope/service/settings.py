"""The service's configuration: one dataclass, filled from code, the CLI or the environment.

Every field can be set by an environment variable ``SPOOFSCOPE_<FIELD>`` (upper case), which is
how ``spoofscope serve --workers N`` hands the settings to the uvicorn worker processes
(:meth:`ServiceSettings.to_env` / :meth:`ServiceSettings.from_env`). Booleans accept
``1/true/yes/on`` and ``0/false/no/off``; ``detector_options`` is a JSON object; ``model``
is a checkpoint path (empty = the default model).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spoofscope.errors import SpoofscopeError

__all__ = ["ENV_PREFIX", "ServiceSettings", "SettingsError"]

ENV_PREFIX = "SPOOFSCOPE_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_BACKENDS = ("torch", "onnx")


class SettingsError(SpoofscopeError, ValueError):
    """A setting with an invalid value (the message names it and the valid values)."""


@dataclass
class ServiceSettings:
    """How the service runs.

    Attributes:
        database_url: SQLAlchemy URL: ``sqlite:///file.db`` (embedded default) or
            ``postgresql+psycopg://user@host:port/db`` (shared by replicas).
        model: a checkpoint (``.safetensors`` file or directory, official ``.pth``) or an
            ``.onnx`` file; None = the default model shipped with spoofscope.
        backend: ``"torch"`` or ``"onnx"``.
        detector_options: keyword arguments of :meth:`spoofscope.Detector.from_pretrained`
            (``vad``, ``hop``, ``aggregation``, ``batch_size``, ...).
        max_upload_bytes: largest body ``POST /v1/detect`` accepts (413 beyond).
        max_duration_s: longest audio ``POST /v1/detect`` analyses (413 beyond).
        job_max_upload_bytes: largest body ``POST /v1/jobs`` accepts (all files together).
        job_max_duration_s: longest audio a job analyses (per file).
        stream_max_duration_s: longest audio one ``WS /v1/stream`` session may carry.
        keep_audio: store the uploaded audio (in ``audio_dir``) with each detection.
        audio_dir: where kept audio and job inputs are written.
        retention_days: kept audio older than this is deleted.
        review_sample_rate: share of the non-``review`` results also queued for review.
        rate_limit_per_minute: requests per API key per minute (shared by replicas via the DB;
            0 = no limit; without auth there is no key and no limit).
        auth: require an API key; False only for local demos (``serve --no-auth``).
        job_workers: worker processes the app starts for ``/v1/jobs`` (``serve`` starts its
            own and sets 0 for the API processes).
        migrate: run the database migrations when the app starts (``serve`` runs them once
            before starting the API processes and sets False).
        inference_threads: detections run at the same time in one API process.
        drift_window: recent detections the drift signal compares with the reference.
    """

    database_url: str = "sqlite:///spoofscope.db"
    model: str | None = None
    backend: str = "torch"
    detector_options: dict[str, Any] = field(default_factory=dict)
    max_upload_bytes: int = 50 * 1024 * 1024
    max_duration_s: float = 600.0
    job_max_upload_bytes: int = 2 * 1024**3
    job_max_duration_s: float = 4 * 3600.0
    stream_max_duration_s: float = 3600.0
    keep_audio: bool = False
    audio_dir: str = "spoofscope-audio"
    retention_days: float = 30.0
    review_sample_rate: float = 0.02
    rate_limit_per_minute: int = 120
    auth: bool = True
    job_workers: int = 1
    migrate: bool = True
    inference_threads: int = 2
    drift_window: int = 500

    def __post_init__(self) -> None:
        if self.backend not in _BACKENDS:
            raise SettingsError(
                f"unknown backend {self.backend!r}; valid choices: {', '.join(_BACKENDS)}"
            )
        if not isinstance(self.detector_options, dict):
            raise SettingsError(
                f"detector_options must be a dict, got {type(self.detector_options).__name__}"
            )
        if self.model == "":
            self.model = None
        for name in ("max_upload_bytes", "job_max_upload_bytes", "inference_threads"):
            if int(getattr(self, name)) < 1:
                raise SettingsError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("rate_limit_per_minute", "job_workers", "drift_window"):
            if int(getattr(self, name)) < 0:
                raise SettingsError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("max_duration_s", "job_max_duration_s", "stream_max_duration_s",
                     "retention_days"):  # fmt: skip
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise SettingsError(f"{name} must be a finite number > 0, got {value!r}")
        if not 0.0 <= float(self.review_sample_rate) <= 1.0:
            raise SettingsError(
                f"review_sample_rate must be in [0, 1], got {self.review_sample_rate!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (what the job workers receive)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> ServiceSettings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """``{"SPOOFSCOPE_<FIELD>": text}`` for every field; :meth:`from_env` reads it back."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, dict):
                text = json.dumps(value)
            elif value is None:
                text = ""
            else:
                text = str(value)
            out[ENV_PREFIX + f.name.upper()] = text
        return out

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> ServiceSettings:
        """Settings from ``SPOOFSCOPE_*`` variables (unset ones keep their defaults).

        Args:
            environ: the variables (default ``os.environ``).
            **overrides: fields set explicitly; they win over the environment.

        Raises:
            SettingsError: a variable that does not parse (the message names it).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if key in env:
                values[f.name] = _parse(key, env[key], f.default, f.name)
        values.update(overrides)
        return cls(**values)


def _parse(key: str, text: str, default: Any, name: str) -> Any:
    text = text.strip()
    if name == "detector_options":
        try:
            value = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{key} must be a JSON object, got {text!r} ({exc})") from None
        if not isinstance(value, dict):
            raise SettingsError(f"{key} must be a JSON object, got {text!r}")
        return value
    if name == "model":
        return text or None
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise SettingsError(f"{key} must be one of {'/'.join(_TRUE + _FALSE)}, got {text!r}")
    kind = type(default)
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise SettingsError(
                f"{key} must be a{'n int' if kind is int else ' number'}, got {text!r}"
            ) from None
    return text
