"""Which clips the corpus holds: sizes, bona fide jobs, spoof jobs (seeded, deterministic)."""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from spoofscope.corpus.jobs import Job, clip_rng
from spoofscope.corpus.sources import Recording, split_long
from spoofscope.corpus.splits import BonafidePlan, round_robin, source_quotas, voices_for
from spoofscope.corpus.texts import (
    SPLITS,
    assign_texts,
    clean_prompt,
    expected_duration,
    generated_texts,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Size:
    """How big a corpus is.

    Attributes:
        bonafide: split -> bona fide clips wanted.
        per_attack: split -> spoof clips wanted per attack present in the split.
        vocoder_budget_s: the most training time of each neural vocoder (a cap).
        n_texts: template sentences generated for the TTS text pool.
        vocoder_steps: training steps of each neural vocoder: a fixed count, so the vocoders
            (and the corpus) do not depend on how fast or busy the machine is.
    """

    bonafide: dict[str, int]
    per_attack: dict[str, int]
    vocoder_budget_s: float
    n_texts: int
    vocoder_steps: int | None = None


SIZES = {
    "tiny": Size(
        {"train": 16, "dev": 6, "eval": 10}, {"train": 2, "dev": 1, "eval": 2}, 60.0, 60, 10
    ),
    "small": Size(
        {"train": 180, "dev": 70, "eval": 120}, {"train": 16, "dev": 6, "eval": 10}, 600.0, 400, 250
    ),
    "full": Size(
        {"train": 1300, "dev": 250, "eval": 330},
        {"train": 110, "dev": 24, "eval": 30},
        1800.0,
        3000,
        1500,
    ),
}


def _pieces(recs: Sequence[Recording], max_s: float) -> Iterator[Recording]:
    """The recordings in order, long ones replaced by their pieces (cut lazily)."""
    for rec in recs:
        yield from split_long(rec, max_s=max_s)


def bonafide_jobs(plan: BonafidePlan, size: Size, seed: int, max_s: float) -> list[Job]:
    """Bona fide jobs per split: source quotas, speakers round robin, long files cut at pauses."""
    jobs: list[Job] = []
    for split in SPLITS:
        pool = plan.pools[split]
        want = size.bonafide[split]
        quotas = source_quotas(pool, want)
        streams = {
            src: _pieces(
                round_robin(
                    [r for r in pool if r.source == src],
                    clip_rng(seed, f"{split}/{src}", "bonafide"),
                ),
                max_s,
            )
            for src in sorted(quotas)
        }
        chosen: list[Recording] = []
        for src, stream in streams.items():  # pass 1: each source its quota
            chosen.extend(itertools.islice(stream, quotas[src]))
        for stream in streams.values():  # pass 2: sources with more fill the deficit
            chosen.extend(itertools.islice(stream, max(0, want - len(chosen))))
        for i, rec in enumerate(chosen):
            jobs.append(
                Job(
                    clip_id=f"{split}-bonafide-{i:05d}",
                    split=split,
                    kind="bonafide",
                    recording=rec,
                    text=rec.text,
                    speaker=rec.speaker,
                    source_id=rec.source_id,
                    meta={"source": rec.source},
                )
            )
        if len(chosen) < want:
            log.warning(
                "%s: only %d bona fide clips available (wanted %d)", split, len(chosen), want
            )
    return jobs


def tts_texts(plan: BonafidePlan, seed: int, n_generated: int, max_s: float) -> dict[str, list]:
    """split -> TTS texts: transcripts of the split's bona fide sources + generated texts."""
    cands: list[str] = []
    for split in SPLITS:
        for rec in plan.pools[split]:
            if rec.text and rec.duration_s is None:
                cands.append(clean_prompt(rec.text) or "")
    cands.extend(generated_texts(n_generated, seed))
    cands = [t for t in cands if t and expected_duration(t) <= max_s]
    return assign_texts(cands, seed, fixed=plan.fixed_texts)


def spoof_jobs(
    attacks: Sequence,
    generators: dict,
    bona: dict[str, list[dict]],
    texts: dict[str, list[str]],
    size: Size,
    seed: int,
) -> list[Job]:
    """Spoof jobs per split and attack.

    Args:
        attacks: the usable AttackSpecs.
        generators: attack id -> a generator instance (for its voice pools).
        bona: split -> records of the bona fide clips made (``id``, ``duration_s``,
            ``speaker``, ``source_id``, ``text``).
        texts: split -> TTS texts.
        size: the corpus size.
        seed: corpus seed.
    """
    jobs: list[Job] = []
    for split in SPLITS:
        durations = np.array([b["duration_s"] for b in bona[split]], dtype=float)
        if durations.size == 0:
            continue
        pool = texts[split]
        expected = np.array([expected_duration(t) for t in pool])
        for spec in attacks:
            if spec.role == "eval" and split != "eval":
                continue
            rng = clip_rng(seed, f"{split}/{spec.id}", "plan")
            n = size.per_attack[split]
            if spec.kind == "copy":
                order = rng.permutation(len(bona[split]))
                for i in range(n):
                    src = bona[split][order[i % len(order)]]
                    jobs.append(
                        Job(
                            clip_id=f"{split}-{spec.id}-{i:05d}",
                            split=split,
                            kind="copy",
                            attack=spec.id,
                            text=src.get("text"),
                            source_clip=src["id"],
                            speaker=src["speaker"],
                            source_id=src["source_id"],
                        )
                    )
                continue
            voices = voices_for(generators[spec.id], split, spec.role)
            used: set[int] = set()
            for i in range(n):
                target = float(rng.choice(durations))
                ranked = np.argsort(
                    np.abs(expected - target) + 1e3 * np.isin(np.arange(len(pool)), list(used))
                )
                pick = int(ranked[int(rng.integers(min(3, len(ranked))))])
                used.add(pick)
                jobs.append(
                    Job(
                        clip_id=f"{split}-{spec.id}-{i:05d}",
                        split=split,
                        kind="tts",
                        attack=spec.id,
                        text=pool[pick],
                        voices=tuple(voices) if voices else None,
                        meta={"target_s": round(target, 2)},
                    )
                )
    return jobs


def group_by_split(records: Sequence[dict]) -> dict[str, list[dict]]:
    """split -> the ``ok`` records, sorted by id."""
    out: dict[str, list[dict]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r["id"]):
        if rec.get("status") == "ok":
            out[rec["split"]].append(rec)
    return {s: out.get(s, []) for s in SPLITS}
