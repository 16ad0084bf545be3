"""``build_corpus``: sources -> splits -> bona fide clips -> vocoders -> spoofs -> audit.

Layout of ``out``::

    train/ dev/ eval/          <split>/{bonafide,spoof}/<clip id>.wav (16 kHz, mono, 16-bit)
    train.jsonl dev.jsonl eval.jsonl   manifests (spoofscope.data.manifest; paths relative)
    SHA256SUMS                 sha256 of every WAV in the manifests
    report.json                counts, skipped attacks, failures, timings, the audit
    .cache/                    clip records, noise-free bona fide waves, trained vocoders

A rerun with the same arguments reuses every finished clip (its record and WAV) and the
trained vocoders, and makes only what is missing or changed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from spoofscope.corpus import jobs as J
from spoofscope.corpus.condition import ConditionConfig
from spoofscope.corpus.plan import (
    SIZES,
    bonafide_jobs,
    group_by_split,
    spoof_jobs,
    tts_texts,
)
from spoofscope.corpus.sources import CorpusBuildError, find_bonafide
from spoofscope.corpus.splits import plan_bonafide
from spoofscope.corpus.texts import SPLITS

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    """What a build made (also written to ``out/report.json``).

    Attributes:
        out: the corpus folder.
        counts: split -> label -> attack (``"-"`` for bona fide) -> clips.
        skipped_attacks: attack id -> why it was left out.
        failed: attack id (or ``"bonafide"``) -> clips that failed, with a sample reason.
        dropped_for_length: split -> clips removed by duration matching.
        timings: stage -> seconds.
        audit: the audit's ``to_dict()``.
    """

    out: Path
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    skipped_attacks: dict[str, str] = field(default_factory=dict)
    failed: dict[str, dict] = field(default_factory=dict)
    dropped_for_length: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    audit: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "settings": self.settings,
            "counts": self.counts,
            "skipped_attacks": self.skipped_attacks,
            "failed": self.failed,
            "dropped_for_length": self.dropped_for_length,
            "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
            "audit": self.audit,
        }


class _Runner:
    """Runs jobs in-process (workers=1) or in a spawn process pool."""

    def __init__(self, ctx: J.WorkerContext, workers: int) -> None:
        self.workers = max(1, int(workers))
        self.pool = None
        if self.workers > 1:
            import multiprocessing as mp

            self.pool = ProcessPoolExecutor(
                self.workers, mp.get_context("spawn"), J.init_worker, (ctx,)
            )
        J.init_worker(ctx)

    def map(
        self, calls: Sequence[tuple[Callable, object]], stage: str, progress: Progress | None
    ) -> list:
        """Run ``func(item)`` for every ``(func, item)``; results in order."""
        total = len(calls)
        if progress:
            progress(stage, 0, total)
        if self.pool is None:
            results = []
            for i, (func, item) in enumerate(calls, 1):
                results.append(func(item))
                if progress:
                    progress(stage, i, total)
            return results
        futures = [self.pool.submit(func, item) for func, item in calls]
        for i, _ in enumerate(as_completed(futures), 1):
            if progress:
                progress(stage, i, total)
        return [f.result() for f in futures]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _needs_training(gen: object) -> bool:
    """Whether a generator's ``prepare`` does something (it is not the no-op default)."""
    from spoofscope.corpus.generators import BaseGenerator

    prep = getattr(type(gen), "prepare", None)
    return prep is not None and prep is not BaseGenerator.prepare


def build_corpus(
    out: str | Path,
    size: str = "small",
    extra_bonafide: Sequence[str | Path] = (),
    seed: int = 0,
    workers: int = 1,
    progress: Progress | None = None,
    attacks: Sequence[str] | None = None,
    use_asterisk: bool = True,
    check_audit: bool = True,
) -> BuildReport:
    """Build the corpus into ``out`` (see the module docstring).

    Args:
        out: output folder (created; reused on a rerun).
        size: ``"small"``, ``"full"`` (or ``"tiny"``, for tests).
        extra_bonafide: folders of real recordings besides the asterisk prompts.
        seed: the corpus seed (every random choice derives from it).
        workers: processes for clip making and vocoder training.
        progress: called as ``progress(stage, done, total)``.
        attacks: only these attack ids (default: all).
        use_asterisk: include the asterisk prompts when installed.
        check_audit: raise when the shortcut audit fails.

    Raises:
        CorpusBuildError: no bona fide source, an unknown size / attack, no usable attack,
            or (with ``check_audit``) a failed audit; the report is written first.
    """
    from spoofscope.corpus.generators import ATTACKS, get_generator

    if size not in SIZES:
        raise CorpusBuildError(f"unknown size {size!r}; valid sizes: {', '.join(SIZES)}")
    unknown = sorted(set(attacks or ()) - set(ATTACKS))
    if unknown:
        raise CorpusBuildError(f"unknown attack ids {unknown}; valid ids: {', '.join(ATTACKS)}")
    if workers < 1:
        raise CorpusBuildError(f"--workers must be >= 1, got {workers}")
    spec_size, out = SIZES[size], Path(out)
    cfg = ConditionConfig()
    report = BuildReport(
        out,
        settings={
            "size": size,
            "seed": seed,
            "workers": workers,
            "extra_bonafide": [str(p) for p in extra_bonafide],
        },
    )
    t0 = time.perf_counter()
    recordings = find_bonafide(extra_bonafide, use_asterisk=use_asterisk)
    bplan = plan_bonafide(recordings, seed)
    b_jobs = bonafide_jobs(bplan, spec_size, seed, cfg.max_s)
    texts = tts_texts(bplan, seed, spec_size.n_texts, cfg.max_s)
    gens, specs = {}, []
    for aid in attacks or ATTACKS:
        gen = get_generator(aid)
        reason = gen.available()
        if reason:
            log.warning("attack %s (%s) skipped: %s", aid, gen.spec.name, reason)
            report.skipped_attacks[aid] = reason
        else:
            gens[aid] = gen
            specs.append(gen.spec)
    if not specs:
        raise CorpusBuildError(f"no usable attack: {report.skipped_attacks}")
    report.timings["plan"] = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = J.WorkerContext(
        out, seed, cfg, spec_size.vocoder_budget_s, threads, vocoder_steps=spec_size.vocoder_steps
    )
    runner = _Runner(ctx, workers)
    try:
        t = time.perf_counter()
        b_recs = runner.map([(J.run_job, j) for j in b_jobs], "bona fide", progress)
        bona = group_by_split(b_recs)
        report.timings["bonafide"] = time.perf_counter() - t
        if not all(bona[s] for s in SPLITS):
            raise CorpusBuildError(
                "no bona fide clips in split(s) "
                + ", ".join(s for s in SPLITS if not bona[s])
                + " (every split needs speakers: give more sources with --extra-bonafide)"
            )
        t = time.perf_counter()
        (out / ".cache").mkdir(exist_ok=True)
        train_ids = [r["id"] for r in bona["train"]]
        (out / ".cache" / "vocoder_train.json").write_text(json.dumps(train_ids))
        s_jobs = spoof_jobs(specs, gens, bona, texts, spec_size, seed)
        trained = {a for a, g in gens.items() if _needs_training(g)}
        # the vocoders train while the other attacks make their clips; then the vocoded ones
        first = [(J.prepare_job, a) for a in sorted(trained)]
        first += [(J.run_job, j) for j in s_jobs if j.attack not in trained]
        done = runner.map(first, "spoofs", progress)
        s_recs = [r for r in done if "prepared" not in r]
        for r in done:
            if "prepared" in r and r["error"]:
                report.skipped_attacks[r["prepared"]] = r["error"]
            elif "prepared" in r:
                report.timings[f"prepare {r['prepared']}"] = r["seconds"]
        report.timings["vocoders+spoofs"] = time.perf_counter() - t
        t = time.perf_counter()
        later = [
            (J.run_job, j)
            for j in s_jobs
            if j.attack in trained and j.attack not in report.skipped_attacks
        ]
        s_recs += runner.map(later, "vocoded spoofs", progress)
        report.timings["vocoded spoofs"] = time.perf_counter() - t
    finally:
        runner.close()

    from spoofscope.corpus.report import finalize

    return finalize(report, out, b_recs + s_recs, seed, check_audit, progress, t0)
