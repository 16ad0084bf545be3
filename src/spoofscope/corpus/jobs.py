"""One clip per job: bona fide conditioning, TTS synthesis, copy-synthesis; run in workers.

A :class:`Job` is plain data (picklable). :func:`run_job` makes its clip, writes the 16-bit WAV
under ``out/<split>/<label>/`` and a record under ``out/.cache/clips/<id>.json``; a job whose
record matches (same job key) and whose WAV is still there is skipped, so a rerun only makes
what is missing. Bona fide clips also leave their noise-free 16 kHz version in
``out/.cache/clean/<id>.npy``, the input of copy-synthesis and of vocoder training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spoofscope.corpus.condition import SAMPLE_RATE, ConditionConfig, check_copy, clean, finish
from spoofscope.corpus.sources import Recording

log = logging.getLogger(__name__)

#: bump when the conditioning or the job semantics change (invalidates cached clips)
JOB_VERSION = 4
#: the same for copy-synthesis jobs only
COPY_VERSION = 1


@dataclass(frozen=True)
class Job:
    """What one clip is made from.

    Attributes:
        clip_id: unique id (also the file stem).
        split: ``train`` / ``dev`` / ``eval``.
        kind: ``bonafide``, ``tts`` or ``copy``.
        attack: attack id (None for bona fide).
        recording: bona fide: the source recording.
        text: tts: what to say; bona fide / copy: the transcript if known.
        voices: tts: the voice pool of this split (None: the engine has no voice choice).
        source_clip: copy: the bona fide clip id whose clean wave is resynthesised.
        speaker: bona fide / copy: the speaker.
        source_id: bona fide / copy: the recording id.
        meta: anything to copy into the manifest's ``extra``.
    """

    clip_id: str
    split: str
    kind: str
    attack: str | None = None
    recording: Recording | None = None
    text: str | None = None
    voices: tuple[str, ...] | None = None
    source_clip: str | None = None
    speaker: str | None = None
    source_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        return "bonafide" if self.kind == "bonafide" else "spoof"

    @property
    def rel_path(self) -> str:
        return f"{self.split}/{self.label}/{self.clip_id}.wav"

    def key(self, seed: int) -> str:
        """A hash of everything that decides the clip (for the rerun check)."""
        d = asdict(self)
        d["recording"] = (
            None
            if self.recording is None
            else {**asdict(self.recording), "path": str(self.recording.path)}
        )
        version = [JOB_VERSION, COPY_VERSION if self.kind == "copy" else 0]
        blob = json.dumps([version, seed, d], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class WorkerContext:
    """Per-process state: where to write, settings, and the generators built so far."""

    out: Path
    seed: int
    cfg: ConditionConfig
    budget_s: float
    torch_threads: int = 1
    vocoder_steps: int | None = None
    generators: dict[Any, Any] = field(default_factory=dict)
    train_waves: list[np.ndarray] | None = None


_CTX: WorkerContext | None = None


def init_worker(ctx: WorkerContext) -> None:
    """Process initialiser: keep ``ctx``, limit torch threads."""
    global _CTX
    _CTX = ctx
    try:
        import torch

        torch.set_num_threads(max(1, ctx.torch_threads))
    except ImportError:  # pragma: no cover
        pass


def clip_rng(seed: int, name: str, stage: str = "") -> np.random.Generator:
    """A generator that depends only on the corpus seed and the clip / stage name."""
    return np.random.default_rng([seed, zlib.crc32(f"{name}|{stage}".encode())])


def cache_dir(out: Path) -> Path:
    return out / ".cache"


def record_path(out: Path, clip_id: str) -> Path:
    return cache_dir(out) / "clips" / f"{clip_id}.json"


def clean_path(out: Path, clip_id: str) -> Path:
    return cache_dir(out) / "clean" / f"{clip_id}.npy"


def dropped_path(out: Path, clip_id: str) -> Path:
    return cache_dir(out) / "dropped" / f"{clip_id}.wav"


def load_train_waves(out: Path) -> list[np.ndarray]:
    """The clean train bona fide waves listed in ``.cache/vocoder_train.json``."""
    ids = json.loads((cache_dir(out) / "vocoder_train.json").read_text())
    return [np.load(clean_path(out, i)) for i in ids]


def get_generator_for(ctx: WorkerContext, attack: str, voices: tuple[str, ...] | None) -> Any:
    """The (prepared) generator of ``attack`` restricted to ``voices``, built once per process."""
    from spoofscope.corpus.generators import get_generator

    key = (attack, voices)
    if key not in ctx.generators:
        from spoofscope.corpus.generators import ATTACKS

        overrides: dict[str, Any] = {"voices": list(voices)} if voices else {}
        if ATTACKS[attack].family == "neural-vocoder" and ctx.vocoder_steps:
            overrides["steps"] = ctx.vocoder_steps  # a fixed count: machine-independent weights
        gen = get_generator(attack, **overrides)
        if gen.spec.kind == "copy":
            if ctx.train_waves is None:
                ctx.train_waves = load_train_waves(ctx.out)
            gen.prepare(
                ctx.train_waves,
                SAMPLE_RATE,
                cache_dir(ctx.out) / "vocoders",
                ctx.budget_s,
                clip_rng(ctx.seed, attack, "prepare"),
            )
        ctx.generators[key] = gen
    return ctx.generators[key]


def prepare_job(attack: str) -> dict:
    """Prepare (train) one copy generator in a worker.

    Returns:
        ``{"prepared": attack, "seconds": ..., "error": None or the reason it failed}``.
    """
    assert _CTX is not None, "init_worker was not called"
    t0 = time.perf_counter()
    error = None
    try:
        get_generator_for(_CTX, attack, None)
    except Exception as exc:  # reported: the attack is skipped, the build goes on
        log.warning("attack %s: prepare failed: %s", attack, exc)
        error = f"prepare failed: {type(exc).__name__}: {exc}"[:300]
    return {"prepared": attack, "seconds": round(time.perf_counter() - t0, 1), "error": error}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def done_record(out: Path, job: Job, seed: int) -> dict | None:
    """The stored record of ``job`` if it is complete and current, else None."""
    rec_path = record_path(out, job.clip_id)
    if not rec_path.is_file():
        return None
    try:
        rec = json.loads(rec_path.read_text())
    except ValueError:
        return None
    if rec.get("key") != job.key(seed) or rec.get("status") != "ok":
        return None  # changed, or failed before: make it again
    if (out / job.rel_path).is_file() or dropped_path(out, job.clip_id).is_file():
        return rec
    return None


def _make_wave(ctx: WorkerContext, job: Job, rng: np.random.Generator) -> tuple[Any, dict]:
    from spoofscope.audio import audio_info, load_audio

    settings: dict[str, Any] = {}
    if job.kind == "bonafide":
        rec = job.recording
        assert rec is not None
        rate = audio_info(rec.path).sample_rate
        wave = load_audio(
            rec.path, sample_rate=rate, start_s=rec.start_s or None, duration_s=rec.duration_s
        )
    elif job.kind == "tts":
        gen = get_generator_for(ctx, job.attack or "", job.voices)
        wave, rate = gen.synthesize(job.text or "", rng)
        settings = dict(getattr(gen, "settings", {}) or {})
    else:
        gen = get_generator_for(ctx, job.attack or "", None)
        src = np.load(clean_path(ctx.out, job.source_clip or ""))
        wave = np.asarray(gen.resynthesize(src, SAMPLE_RATE, rng), dtype=np.float32)
        settings = dict(getattr(gen, "settings", {}) or {})
        check_copy(src, wave)
        return clean(wave, SAMPLE_RATE, rng, ctx.cfg, reference=src), settings
    return clean(wave, rate, rng, ctx.cfg), settings


def run_job(job: Job) -> dict:
    """Make one clip (or reuse it); returns its record (``status`` ok / skipped + reason)."""
    import soundfile as sf

    ctx = _CTX
    assert ctx is not None, "init_worker was not called"
    old = done_record(ctx.out, job, ctx.seed)
    if old is not None:
        return old
    rng = clip_rng(ctx.seed, job.clip_id)
    t0 = time.perf_counter()
    rec: dict[str, Any] = {
        "key": job.key(ctx.seed),
        "id": job.clip_id,
        "split": job.split,
        "kind": job.kind,
        "attack": job.attack,
    }
    try:
        wave, settings = _make_wave(ctx, job, rng)
    except Exception as exc:  # one failed clip must not stop the build; it is reported
        log.warning("%s (%s): %s", job.clip_id, job.attack or "bonafide", exc)
        rec.update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:300])
        _write_record(ctx.out, rec)
        return rec
    if wave is None:
        rec.update(status="failed", reason="no speech found or too short after trimming")
        _write_record(ctx.out, rec)
        return rec
    if job.kind == "bonafide":
        path = clean_path(ctx.out, job.clip_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, wave)
    pcm = finish(wave, rng, ctx.cfg)
    path = ctx.out / job.rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.wav")
    sf.write(tmp, pcm, SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, path)
    speaker = job.speaker
    if job.kind == "tts":
        speaker = f"{job.attack}-{settings.get('voice', 'default')}"
    rec.update(
        status="ok",
        path=job.rel_path,
        duration_s=round(pcm.size / SAMPLE_RATE, 4),
        speaker=speaker,
        text=job.text,
        source_id=job.source_id,
        settings=_jsonable(settings),
        sha256=_sha256(path),
        meta=job.meta,
        seconds=round(time.perf_counter() - t0, 3),
    )
    _write_record(ctx.out, rec)
    return rec


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _write_record(out: Path, rec: dict) -> None:
    path = record_path(out, rec["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(rec, sort_keys=True))
    os.replace(tmp, path)
