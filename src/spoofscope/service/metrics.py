"""Prometheus metrics of the service (``GET /metrics``).

Counted in each API process: requests by route, method and status; request latency;
verdicts and ``p_spoof`` of the detections answered here (``POST /v1/detect`` and streams);
the detector's time per recording and the model's time per forward pass; seconds of audio
analysed. With several uvicorn worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory before they start (``spoofscope serve --workers N`` does): every process
writes its values there and each scrape sums them.

Read from the database at scrape time (the same answer from every replica, cached for
:data:`DB_CACHE_S` seconds): rows per table, the job queue depth, and the score drift signal
(:mod:`spoofscope.service.drift`) of the recent detections of the loaded model against the
calibration's score distribution or, when the checkpoint lacks one, against the first
detections the service made with this model.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from spoofscope.service.drift import Reference, ks_statistic, psi

__all__ = ["CONTENT_TYPE", "DB_CACHE_S", "DbCollector", "ServiceMetrics", "TimedModel"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DB_CACHE_S = 5.0
#: Fewer recent scores than this give NaN drift.
MIN_DRIFT_SAMPLES = 30
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_TABLES = ("detections", "jobs", "review_items", "api_keys")
_P_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))


class ServiceMetrics:
    """The per-process metrics and their exposition.

    Args:
        collectors: extra collectors asked at every scrape (the :class:`DbCollector`).
    """

    def __init__(self, collectors: tuple[Collector, ...] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "spoofscope_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "spoofscope_http_request_duration_seconds",
            "Time from request to response, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY,
            registry=r,
        )
        self.verdicts = Counter(
            "spoofscope_verdicts",
            "Verdicts answered by this API process, by endpoint (detect, stream).",
            ["verdict", "endpoint"],
            registry=r,
        )
        self.p_spoof = Histogram(
            "spoofscope_p_spoof",
            "Calibrated p_spoof of the recordings analysed (no_speech results excluded).",
            ["endpoint"],
            buckets=_P_BUCKETS,
            registry=r,
        )
        self.detection_time = Histogram(
            "spoofscope_detection_duration_seconds",
            "Detector time per recording: decoding, voice activity, windows, model, verdict.",
            ["endpoint"],
            buckets=_LATENCY,
            registry=r,
        )
        self.forward_time = Histogram(
            "spoofscope_model_forward_duration_seconds",
            "Model inference time per forward pass (one batch of windows).",
            buckets=_LATENCY,
            registry=r,
        )
        self.audio_seconds = Counter(
            "spoofscope_audio_seconds",
            "Seconds of audio analysed, by endpoint.",
            ["endpoint"],
            registry=r,
        )
        self.collectors = collectors

    def observe_result(self, result: dict[str, Any], endpoint: str) -> None:
        """Count a detection result (a ``DetectionResult.to_dict()``)."""
        self.verdicts.labels(str(result.get("verdict")), endpoint).inc()
        p = result.get("p_spoof")
        if isinstance(p, int | float) and math.isfinite(p):
            self.p_spoof.labels(endpoint).observe(float(p))
        runtime = result.get("runtime_s")
        if isinstance(runtime, int | float):
            self.detection_time.labels(endpoint).observe(float(runtime))
        duration = result.get("duration_s")
        if isinstance(duration, int | float):
            self.audio_seconds.labels(endpoint).inc(max(0.0, float(duration)))

    def exposition(self) -> bytes:
        """The text format of every metric (summed over processes in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        out = generate_latest(registry)
        extra = CollectorRegistry(auto_describe=False)
        for collector in self.collectors:
            extra.register(collector)
        return out + generate_latest(extra)


class TimedModel:
    """Wraps a detector's model: every call is timed into a histogram; attributes pass through.

    Args:
        model: the callable ``(B, T) -> (B, 2)``.
        histogram: where the seconds of each call go.
    """

    def __init__(self, model: Any, histogram: Histogram) -> None:
        self._model, self._histogram = model, histogram

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._model(*args, **kwargs)
        finally:
            self._histogram.observe(time.perf_counter() - t0)

    @property
    def wrapped(self) -> Any:
        """The model inside."""
        return self._model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class DbCollector(Collector):
    """Gauges read from the database at scrape time: table rows, queue depth, score drift.

    Args:
        sessions: a SQLAlchemy ``sessionmaker``.
        model_id: the loaded model's id (``Detection.model_id``); drift uses its detections.
        reference: the calibration's score distribution, or None (use the baseline).
        window: recent detections compared with the reference (and baseline size).
        clock: time source (tests).
    """

    def __init__(
        self,
        sessions: Any,
        model_id: str | None,
        reference: Reference | None,
        window: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions, self.model_id, self.reference = sessions, model_id, reference
        self.window, self.clock = max(1, int(window)), clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] > DB_CACHE_S:
                self._cached = (now, self._read())
            yield from self._cached[1]

    def _read(self) -> list[Metric]:
        from spoofscope.service import store

        rows = GaugeMetricFamily("spoofscope_db_rows", "Rows per database table.", labels=["table"])
        queue = GaugeMetricFamily(
            "spoofscope_queue_depth",
            "Work waiting in the database: jobs queued or running, review items open.",
            labels=["queue"],
        )
        drift = self._drift_families()
        try:
            with self.sessions() as s:
                counts = store.counts(s)
                recent, baseline = self._scores(s)
        except Exception:
            log.warning("metrics: database unreachable", exc_info=True)
            up = GaugeMetricFamily("spoofscope_db_up", "1 when the database answered.", value=0)
            return [up]
        jobs = GaugeMetricFamily("spoofscope_jobs", "Jobs by status.", labels=["status"])
        for key, value in sorted(counts.items()):
            if key.startswith("jobs_"):
                jobs.add_metric([key[5:]], float(value))
            elif key in _TABLES:
                rows.add_metric([key], float(value))
        active = counts.get("jobs_queued", 0) + counts.get("jobs_running", 0)
        queue.add_metric(["jobs"], float(active))
        queue.add_metric(["review"], float(counts.get("review_open", 0)))
        self._fill_drift(drift, recent, baseline)
        up = GaugeMetricFamily("spoofscope_db_up", "1 when the database answered.", value=1)
        return [up, rows, queue, jobs, *drift.values()]

    def _scores(self, s: Any) -> tuple[np.ndarray, np.ndarray | None]:
        from sqlalchemy import func, select

        from spoofscope.service.db import Detection

        base = select(Detection.score).where(Detection.score.is_not(None))
        if self.model_id is not None:
            base = base.where(Detection.model_id == self.model_id)
        newest = base.order_by(Detection.created_at.desc()).limit(self.window)
        recent = np.array([r for r in s.scalars(newest)], np.float64)
        if self.reference is not None:
            return recent, None
        total = s.scalar(select(func.count()).select_from(base.subquery())) or 0
        size = min(self.window, total // 2)
        if size < MIN_DRIFT_SAMPLES:
            return recent, None
        oldest = base.order_by(Detection.created_at.asc()).limit(size)
        baseline = np.array([r for r in s.scalars(oldest)], np.float64)
        return recent[: total - size], baseline

    def _drift_families(self) -> dict[str, GaugeMetricFamily]:
        return {
            "psi": GaugeMetricFamily(
                "spoofscope_score_drift_psi",
                "Population stability index of the recent detection scores against the "
                "reference (calibration set, or the first detections: label reference); "
                "NaN until enough detections.",
                labels=["reference"],
            ),
            "ks": GaugeMetricFamily(
                "spoofscope_score_drift_ks",
                "Kolmogorov-Smirnov distance of the recent detection scores from the reference.",
                labels=["reference"],
            ),
            "n": GaugeMetricFamily(
                "spoofscope_score_drift_samples",
                "Recent detection scores the drift statistics use.",
                labels=["reference"],
            ),
        }

    def _fill_drift(
        self, fams: dict[str, GaugeMetricFamily], recent: np.ndarray, baseline: np.ndarray | None
    ) -> None:
        ref = self.reference
        if ref is None and baseline is not None:
            ref = Reference.from_scores(baseline)
        kind = "calibration" if self.reference is not None else "baseline"
        ok = ref is not None and recent.size >= MIN_DRIFT_SAMPLES
        fams["psi"].add_metric([kind], psi(recent, ref) if ok and ref else math.nan)
        fams["ks"].add_metric([kind], ks_statistic(recent, ref) if ok and ref else math.nan)
        fams["n"].add_metric([kind], float(recent.size if ok else 0))
