"""In-the-Wild (Müller et al., 2022) corpus adapter: ``meta.csv`` with file, speaker, label."""

from __future__ import annotations

import csv
from pathlib import Path

from spoofscope.data.corpora._common import (
    CorpusError,
    check_root,
    find_files,
    parse_label,
    prefer,
    select_splits,
)
from spoofscope.data.manifest import Utterance
from spoofscope.protocols import normalise_id


def prepare_in_the_wild(root: Path, split: str | None = None) -> list[Utterance]:
    """The In-the-Wild evaluation corpus (celebrities and politicians, bona fide vs deepfake).

    Expected layout (``root`` may also be the folder holding ``release_in_the_wild``)::

        ROOT/meta.csv       header ``file,speaker,label``; label ``bona-fide`` or ``spoof``
        ROOT/0.wav ROOT/1.wav ...

    The corpus has one split, ``eval``: ``dataset`` is ``in-the-wild/eval``. Ids are
    ``in-the-wild/<file name without extension>`` (the bare names are numbers, so they are
    prefixed with the corpus). ``attack`` is None (the generator is not named).

    Args:
        root: the corpus root.
        split: ``eval`` or None.

    Raises:
        CorpusError: no ``meta.csv`` under ``root``, missing columns, an unknown label.
    """
    corpus = "in-the-wild"
    root = check_root(root, corpus)
    (split,) = select_splits(split, ("eval",), corpus)
    hits = find_files(root, r"meta\.csv", max_depth=2)
    if not hits:
        raise CorpusError(
            f"{corpus}: no meta.csv under {root}; expected {root}/meta.csv (columns file, "
            f"speaker, label) beside the audio files 0.wav, 1.wav, ..."
        )
    meta = prefer(hits, "release_in_the_wild", f"{corpus} meta.csv")
    dataset = f"{corpus}/{split}"
    out: list[Utterance] = []
    with meta.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in ("file", "label") if c not in header]
        if missing:
            raise CorpusError(
                f"{meta}: no {', '.join(missing)} column in header {header}; expected "
                "file,speaker,label"
            )
        col = {name: header.index(name) for name in ("file", "speaker", "label") if name in header}
        for lineno, row in enumerate(reader, 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CorpusError(f"{meta}:{lineno}: {len(row)} fields, header has {len(header)}")
            label = parse_label(row[col["label"]])
            if label is None:
                raise CorpusError(
                    f"{meta}:{lineno}: unknown label {row[col['label']]!r}; expected bona-fide "
                    "or spoof"
                )
            name = row[col["file"]].strip()
            speaker = (row[col["speaker"]].strip() or None) if "speaker" in col else None
            uid = f"{corpus}/{normalise_id(name)}"
            out.append(Utterance(uid, str(meta.parent / name), label, dataset, None, speaker))
    if not out:
        raise CorpusError(f"{meta}: no rows")
    return out
