"""Writing detection results: a readable table, a JSON document, a CSV file.

Every writer takes the entries of :meth:`spoofscope.inference.Detector.detect_many`: a
:class:`~spoofscope.detection.DetectionResult` per analysed file, a
:class:`~spoofscope.detection.DetectionError` per file that could not be read.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "CSV_COLUMNS",
    "format_ranges",
    "format_seconds",
    "render_table",
    "summary",
    "write_csv",
    "write_json",
]

#: Columns of :func:`write_csv`, in order.
CSV_COLUMNS = (
    "source",
    "verdict",
    "p_spoof",
    "score",
    "duration_s",
    "flagged",
    "n_windows",
    "n_voting",
    "model",
    "model_id",
    "runtime_s",
    "error",
)


def format_seconds(seconds: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss``) for a time in seconds.

    Example:
        >>> format_seconds(4.04), format_seconds(75.25), format_seconds(3725.0)
        ('0:04.0', '1:15.2', '1:02:05')
    """
    if seconds >= 3600:
        h, rest = divmod(int(round(seconds)), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


def format_ranges(ranges: Sequence[Sequence[float]], limit: int = 4) -> str:
    """Flagged time ranges for a table cell, at most ``limit`` shown.

    Example:
        >>> format_ranges([[0.0, 4.04], [8.0, 12.1]])
        '0:00.0-0:04.0, 0:08.0-0:12.1'
        >>> format_ranges([[float(i), i + 0.5] for i in range(6)], limit=2)
        '0:00.0-0:00.5, 0:01.0-0:01.5 (+4 more)'
    """
    shown = [f"{format_seconds(a)}-{format_seconds(b)}" for a, b in ranges[:limit]]
    more = f" (+{len(ranges) - limit} more)" if len(ranges) > limit else ""
    return ", ".join(shown) + more


def _row(entry: Any) -> list[str]:
    if not entry.ok:
        return [entry.source, "error", "-", "-", entry.error]
    p = "-" if entry.p_spoof is None else f"{entry.p_spoof:.3f}"
    return [
        entry.source,
        entry.verdict,
        p,
        format_seconds(entry.duration_s),
        format_ranges(entry.flagged) or "-",
    ]


def render_table(entries: Sequence[Any]) -> str:
    """An aligned text table: file, verdict, p_spoof, duration, flagged ranges (or the error)."""
    header = ["FILE", "VERDICT", "P_SPOOF", "DURATION", "FLAGGED AS SPOOF"]
    rows = [header] + [_row(e) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for r in rows:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=False))
        ]
        lines.append("  ".join(cells + [r[-1]]).rstrip())
    return "\n".join(lines)


def summary(entries: Sequence[Any]) -> dict[str, Any]:
    """Counts: files, failed, and files per verdict."""
    verdicts = Counter(e.verdict for e in entries if e.ok)
    return {
        "files": len(entries),
        "failed": sum(not e.ok for e in entries),
        "verdicts": dict(sorted(verdicts.items())),
    }


def write_json(entries: Sequence[Any], out: str | Path | TextIO) -> None:
    """Write ``{"spoofscope_version", "summary", "results": [...]}`` (``"-"`` = stdout)."""
    import sys

    from spoofscope import __version__

    doc = {
        "spoofscope_version": __version__,
        "summary": summary(entries),
        "results": [e.to_dict() for e in entries],
    }
    text = json.dumps(doc, indent=2) + "\n"
    if out == "-":
        sys.stdout.write(text)
    elif hasattr(out, "write"):
        out.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")


def _csv_row(entry: Any) -> dict[str, Any]:
    if not entry.ok:
        return {"source": entry.source, "verdict": "error", "error": entry.error}
    d = entry.to_dict()
    return {
        "source": d["source"],
        "verdict": d["verdict"],
        "p_spoof": "" if d["p_spoof"] is None else d["p_spoof"],
        "score": "" if d["score"] is None else d["score"],
        "duration_s": d["duration_s"],
        "flagged": ";".join(f"{a:g}-{b:g}" for a, b in d["flagged"]),
        "n_windows": len(d["windows"]),
        "n_voting": sum(w["voted"] for w in d["windows"]),
        "model": d["model"].get("name"),
        "model_id": d["model"].get("id"),
        "runtime_s": d["runtime_s"],
        "error": "",
    }


def write_csv(entries: Sequence[Any], out: str | Path | TextIO) -> None:
    """One row per file with :data:`CSV_COLUMNS` (``flagged`` as ``a-b;c-d`` seconds)."""
    import sys

    def dump(handle: TextIO) -> None:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for entry in entries:
            writer.writerow(_csv_row(entry))

    if out == "-":
        dump(sys.stdout)
    elif hasattr(out, "write"):
        dump(out)  # type: ignore[arg-type]
    else:
        with open(out, "w", newline="", encoding="utf-8") as handle:
            dump(handle)
