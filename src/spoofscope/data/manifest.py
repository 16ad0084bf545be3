"""Manifests: one JSON object per line describing one utterance.

Fields: ``id, path, label, dataset, attack, speaker, extra``. ``label`` is ``"bonafide"`` or
``"spoof"`` on disk and 1 / 0 in tensors (:data:`LABEL_TO_INDEX`). A relative ``path`` is
relative to the manifest file's directory.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spoofscope.errors import SpoofscopeError

LABELS = ("bonafide", "spoof")
LABEL_TO_INDEX = {"bonafide": 1, "spoof": 0}
FIELDS = ("id", "path", "label", "dataset", "attack", "speaker", "extra")


class ManifestError(SpoofscopeError):
    """A manifest line is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Utterance:
    """One labelled recording.

    Attributes:
        id: unique utterance id within the manifest.
        path: audio file path (absolute, or relative to the manifest's directory).
        label: ``"bonafide"`` or ``"spoof"``.
        dataset: corpus name and split, e.g. ``"asvspoof2019-la/train"``.
        attack: attack / system id (``None`` for bona fide or unknown).
        speaker: speaker id if known.
        extra: anything else (codec, condition, subset, transcript, ...).
    """

    id: str
    path: str
    label: str
    dataset: str = ""
    attack: str | None = None
    speaker: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label not in LABEL_TO_INDEX:
            raise ValueError(
                f"utterance {self.id!r}: label {self.label!r} is not one of {', '.join(LABELS)}"
            )

    @property
    def target(self) -> int:
        """The tensor label: 1 = bona fide, 0 = spoof."""
        return LABEL_TO_INDEX[self.label]

    def replace(self, **changes: Any) -> Utterance:
        """A copy with ``changes`` applied (copy-on-write)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The manifest-line dict."""
        return dataclasses.asdict(self)


def write_manifest(utterances: Iterable[Utterance], path: str | Path) -> int:
    """Write ``utterances`` as JSONL to ``path``; returns the number of lines written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as handle:
        for utt in utterances:
            handle.write(json.dumps(utt.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_manifest(path: str | Path, resolve: bool = True) -> list[Utterance]:
    """Read a JSONL manifest.

    Args:
        path: the manifest file.
        resolve: make relative audio paths absolute, relative to the manifest's directory.

    Raises:
        ManifestError: missing file, invalid JSON, unknown or missing fields, bad label,
            or a duplicate id (the message names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    base = path.resolve().parent
    out: list[Utterance] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{where}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{where}: expected a JSON object, got {type(row).__name__}")
            unknown = sorted(set(row) - set(FIELDS))
            missing = [k for k in ("id", "path", "label") if k not in row]
            if unknown or missing:
                raise ManifestError(
                    f"{where}: unknown fields {unknown} / missing fields {missing}; "
                    f"valid fields: {', '.join(FIELDS)}"
                )
            try:
                utt = Utterance(**row)
            except (TypeError, ValueError) as exc:
                raise ManifestError(f"{where}: {exc}") from None
            if utt.id in seen:
                raise ManifestError(
                    f"{where}: duplicate id {utt.id!r} (first on line {seen[utt.id]})"
                )
            seen[utt.id] = lineno
            if resolve and not Path(utt.path).is_absolute():
                utt = utt.replace(path=str(base / utt.path))
            out.append(utt)
    return out
