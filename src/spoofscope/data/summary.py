"""What a manifest holds: counts per dataset, label and attack; missing audio; duplicate ids.

Example:
    >>> from spoofscope.data.manifest import Utterance
    >>> utts = [Utterance("a", "/nonexistent/a.wav", "bonafide", "demo/train"),
    ...         Utterance("b", "/nonexistent/b.wav", "spoof", "demo/train", "A01")]
    >>> s = summarize(utts)
    >>> s.labels["demo/train"], s.attacks["demo/train"], len(s.missing)
    ({'bonafide': 1, 'spoof': 1}, {'A01': 1}, 2)
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spoofscope.data.manifest import Utterance

UNKNOWN_ATTACK = "(unknown)"
"""Attack key for spoof utterances whose attack the corpus does not name."""


@dataclass
class CorpusSummary:
    """Counts and problems of a list of utterances.

    Attributes:
        total: number of utterances.
        labels: dataset -> {"bonafide": n, "spoof": n}, datasets in order of appearance.
        attacks: dataset -> attack -> number of spoof utterances (``(unknown)`` when the
            corpus names none).
        missing: audio paths not found (manifest order); empty if not checked.
        duplicates: id -> number of occurrences, for ids seen more than once.
        checked_audio: whether ``missing`` was computed.
    """

    total: int
    labels: dict[str, dict[str, int]]
    attacks: dict[str, dict[str, int]]
    missing: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    checked_audio: bool = True

    def to_dict(self, examples: int | None = 20) -> dict[str, Any]:
        """A JSON-able dict; ``missing`` and ``duplicates`` cut to ``examples`` entries
        (None: all), their full sizes in ``n_missing`` and ``n_duplicates``."""
        out = asdict(self)
        out["n_missing"] = len(self.missing)
        out["n_duplicates"] = len(self.duplicates)
        if examples is not None:
            out["missing"] = self.missing[:examples]
            out["duplicates"] = dict(list(self.duplicates.items())[:examples])
        return out


def missing_paths(paths: Iterable[str], base: str | Path | None = None) -> list[str]:
    """The entries of ``paths`` that are not existing files (relative ones from ``base``).

    Each folder is listed once (``os.scandir``), not each file stat'ed, so checking a
    million-file corpus takes seconds.
    """
    listings: dict[str, set[str]] = {}
    out = []
    for p in paths:
        full = p if base is None or os.path.isabs(p) else os.path.join(base, p)
        parent, name = os.path.split(os.path.abspath(full))
        names = listings.get(parent)
        if names is None:
            try:
                with os.scandir(parent) as entries:
                    names = {e.name for e in entries if e.is_file()}
            except OSError:
                names = set()
            listings[parent] = names
        if name not in names:
            out.append(p)
    return out


def summarize(
    utterances: Sequence[Utterance], check_audio: bool = True, base: str | Path | None = None
) -> CorpusSummary:
    """Count ``utterances`` per dataset, label and attack; find missing audio and duplicate ids.

    Args:
        utterances: the manifest entries.
        check_audio: look for every audio file (see :func:`missing_paths`).
        base: folder that relative paths start from (default: the working directory).
    """
    labels: dict[str, dict[str, int]] = {}
    attacks: dict[str, dict[str, int]] = {}
    for u in utterances:
        counts = labels.setdefault(u.dataset, {"bonafide": 0, "spoof": 0})
        counts[u.label] += 1
        per = attacks.setdefault(u.dataset, {})
        if u.label == "spoof":
            key = u.attack or UNKNOWN_ATTACK
            per[key] = per.get(key, 0) + 1
    ids = Counter(u.id for u in utterances)
    return CorpusSummary(
        total=len(utterances),
        labels=labels,
        attacks={
            d: dict(sorted(a.items(), key=lambda kv: _natural(kv[0]))) for d, a in attacks.items()
        },
        missing=missing_paths((u.path for u in utterances), base) if check_audio else [],
        duplicates={k: n for k, n in ids.items() if n > 1},
        checked_audio=check_audio,
    )


def _natural(text: str) -> tuple[bool, list[Any]]:
    """Sort key putting A2 before A10 and ``(unknown)`` last."""
    parts = [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text)]
    return text == UNKNOWN_ATTACK, parts


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = [f"{{:<{widths[0]}}}"] + [f"{{:>{w}}}" for w in widths[1:]]
    return [
        "  " + "  ".join(f.format(c) for f, c in zip(fmt, r, strict=True)) for r in [header, *rows]
    ]


def format_summary(summary: CorpusSummary, examples: int = 5) -> str:
    """The human-readable report: label table, attack table, missing audio, duplicate ids."""
    bona = sum(c["bonafide"] for c in summary.labels.values())
    spoof = sum(c["spoof"] for c in summary.labels.values())
    lines = [f"{summary.total} utterances: {bona} bona fide, {spoof} spoof"]
    rows = [[d, str(c["bonafide"]), str(c["spoof"]), str(c["bonafide"] + c["spoof"])]
            for d, c in summary.labels.items()]  # fmt: skip
    if len(rows) > 1:
        rows.append(["all", str(bona), str(spoof), str(summary.total)])
    lines += _table(["dataset", "bonafide", "spoof", "total"], rows)
    datasets = [d for d, a in summary.attacks.items() if a]
    names = sorted({k for d in datasets for k in summary.attacks[d]}, key=_natural)
    if not names or names == [UNKNOWN_ATTACK]:
        lines.append("spoof per attack: the corpus names no attacks")
    else:
        lines.append("spoof per attack:")
        table = [[n] + [str(summary.attacks[d].get(n, "-")) for d in datasets] for n in names]
        lines += _table(["attack", *datasets], table)
    if not summary.checked_audio:
        lines.append("missing audio: not checked")
    elif summary.missing:
        n = len(summary.missing)
        lines.append(f"missing audio: {n} of {summary.total} files not found, e.g.")
        lines += [f"  {p}" for p in summary.missing[:examples]]
    else:
        lines.append("missing audio: none")
    if summary.duplicates:
        dup = list(summary.duplicates.items())
        lines.append(f"duplicate ids: {len(dup)} id(s) occur more than once, e.g.")
        lines += [f"  {k} (x{n})" for k, n in dup[:examples]]
    else:
        lines.append("duplicate ids: none")
    return "\n".join(lines)
