"""The end of a build: duration matching, manifests, checksums, report, audit, summary."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spoofscope.corpus import jobs as J
from spoofscope.corpus.condition import match_durations
from spoofscope.corpus.sources import AuditFailedError
from spoofscope.corpus.texts import SPLITS

if TYPE_CHECKING:
    from spoofscope.corpus.build import BuildReport, Progress

log = logging.getLogger(__name__)
DATASET = "spoofscope-corpus"


def _place(out: Path, rec: dict, keep: bool) -> None:
    """Put a clip's WAV in the corpus (keep) or in ``.cache/dropped`` (not kept)."""
    final, dropped = out / rec["path"], J.dropped_path(out, rec["id"])
    src, dst = (dropped, final) if keep else (final, dropped)
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def _remove_stale(out: Path, kept: set[str]) -> None:
    """Delete WAVs left in the split folders by an earlier build with other settings."""
    for split in SPLITS:
        for path in (out / split).glob("*/*.wav"):
            if path.relative_to(out).as_posix() not in kept:
                path.unlink()


def _utterance(rec: dict):
    from spoofscope.corpus.generators import ATTACKS
    from spoofscope.data.manifest import Utterance

    spec = ATTACKS.get(rec["attack"] or "")
    extra = {
        "family": spec.family if spec else "bonafide",
        "kind": spec.kind if spec else "bonafide",
        "text": rec.get("text"),
        "source_id": rec.get("source_id"),
        "sha256": rec["sha256"],
        "duration_s": rec["duration_s"],
        "settings": rec.get("settings") or {},
        **(rec.get("meta") or {}),
    }
    if spec:
        extra.update(attack_name=spec.name, role=spec.role)
    return Utterance(
        id=rec["id"],
        path=rec["path"],
        label="bonafide" if rec["kind"] == "bonafide" else "spoof",
        dataset=f"{DATASET}/{rec['split']}",
        attack=rec["attack"],
        speaker=rec.get("speaker"),
        extra=extra,
    )


def finalize(
    report: BuildReport,
    out: Path,
    records: list[dict],
    seed: int,
    check_audit: bool,
    progress: Progress | None,
    t0: float,
) -> BuildReport:
    """Match durations, write manifests / SHA256SUMS / report.json, run the audit."""
    from spoofscope.corpus.audit import features_of_files, run_audit
    from spoofscope.data.manifest import write_manifest

    failed: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        if rec.get("status") != "ok":
            failed[rec.get("attack") or "bonafide"].append(rec.get("reason", "?"))
    report.failed = {k: {"clips": len(v), "example": v[0]} for k, v in sorted(failed.items())}
    ok = sorted((r for r in records if r.get("status") == "ok"), key=lambda r: r["id"])
    kept: list[dict] = []
    for split in SPLITS:
        part = [r for r in ok if r["split"] == split]
        dur = np.array([r["duration_s"] for r in part])
        bona = np.array([r["kind"] == "bonafide" for r in part])
        keep = match_durations(dur, bona, J.clip_rng(seed, split, "match"))
        report.dropped_for_length[split] = int((~keep).sum())
        for rec, k in zip(part, keep, strict=True):
            _place(out, rec, bool(k))
            if k:
                kept.append(rec)
    sums = []
    for split in SPLITS:
        utts = [_utterance(r) for r in kept if r["split"] == split]
        write_manifest(utts, out / f"{split}.jsonl")
        sums += [f"{u.extra['sha256']}  {u.path}" for u in utts]
        counts: dict[str, dict[str, int]] = {"bonafide": {}, "spoof": {}}
        for u in utts:  # spoofs by attack, bona fide by source
            key = u.attack or u.extra.get("source") or "-"
            counts[u.label][key] = counts[u.label].get(key, 0) + 1
        report.counts[split] = {k: dict(sorted(v.items())) for k, v in counts.items()}
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    _remove_stale(out, {r["path"] for r in kept})

    t = time.perf_counter()
    items = [
        (
            {
                "split": r["split"],
                "label": "bonafide" if r["kind"] == "bonafide" else "spoof",
                "attack": r["attack"],
            },
            out / r["path"],
        )
        for r in kept
    ]
    if progress:
        progress("audit", 0, len(items))
    result = run_audit(features_of_files(items))
    report.audit = result.to_dict()
    report.timings["audit"] = time.perf_counter() - t
    report.timings["total"] = time.perf_counter() - t0
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    if check_audit and not result.passed:
        raise AuditFailedError(
            "shortcut audit FAILED (simple classifiers separate bona fide from spoof): "
            + "; ".join(result.failures)
            + f". The corpus in {out} is not fit for training; see {out / 'report.json'}",
            report,
        )
    return report


def summary(report: BuildReport) -> str:
    """A printable summary: counts per split / label / attack, skips, failures, audit, times."""
    lines = []
    attacks = sorted({a for s in report.counts.values() for a in s["spoof"]})
    header = f"{'split':<6} {'bonafide':>8} {'spoof':>6}  " + " ".join(f"{a:>4}" for a in attacks)
    lines.append(header)
    for split, c in report.counts.items():
        row = f"{split:<6} {sum(c['bonafide'].values()):>8} {sum(c['spoof'].values()):>6}  "
        lines.append(row + " ".join(f"{c['spoof'].get(a, 0):>4}" for a in attacks))
    for split, c in report.counts.items():
        by_source = ", ".join(f"{k} {v}" for k, v in c["bonafide"].items())
        lines.append(f"bona fide {split}: {by_source}")
    for key, reason in report.skipped_attacks.items():
        lines.append(f"skipped attack {key}: {reason}")
    for key, f in report.failed.items():
        lines.append(f"failed clips {key}: {f['clips']} (e.g. {f['example']})")
    dropped = ", ".join(f"{k} {v}" for k, v in report.dropped_for_length.items())
    lines.append(f"dropped by duration matching: {dropped}")
    if report.audit:
        from spoofscope.corpus.audit import AuditResult

        res = AuditResult(
            report.audit["eer"],
            {k: tuple(v) for k, v in report.audit["worst_attack"].items()},
            report.audit["counts"],
            report.audit["min_eer"],
            report.audit["failures"],
        )
        lines.append(
            f"shortcut audit (EER, train -> eval; pass: all >= "
            f"{100 * res.min_eer:.0f}%): {'PASSED' if res.passed else 'FAILED'}"
        )
        lines.append(res.table())
    times = ", ".join(f"{k} {v:.0f}s" for k, v in report.timings.items())
    lines.append(f"time: {times}")
    return "\n".join(lines)
