"""CSV / TSV manifests: one row per file, columns found by header name."""

from __future__ import annotations

import csv
import posixpath
from pathlib import Path

from spoofscope.data.corpora._common import AUDIO_EXTENSIONS, CorpusError, parse_label
from spoofscope.data.manifest import Utterance

COLUMNS = {
    "path": ("path", "file", "filename", "file_name", "filepath", "file_path", "audio",
             "audio_path", "wav", "wav_path", "flac"),
    "label": ("label", "key", "class", "target"),
    "id": ("id", "utt_id", "utt", "utterance", "utterance_id", "uid"),
    "attack": ("attack", "attack_id", "system", "system_id", "spoof_type", "generator"),
    "speaker": ("speaker", "speaker_id", "spk", "spk_id"),
    "split": ("split", "subset", "partition", "set"),
}  # fmt: skip
"""Role -> accepted header names (any case). Other columns go to ``extra``."""


def _id_from_path(text: str) -> str:
    """``./clips/a.wav`` -> ``clips/a``: the path as written, POSIX, without audio extension."""
    path = text.replace("\\", "/").lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    stem, ext = posixpath.splitext(path)
    return stem if ext.lower() in AUDIO_EXTENSIONS else path


def _find_csv(root: Path) -> Path:
    path = Path(root).expanduser().absolute()
    if path.is_file():
        return path
    if not path.is_dir():
        raise CorpusError(f"csv: {path} does not exist")
    tables = sorted(p for p in path.iterdir() if p.suffix.lower() in {".csv", ".tsv"})
    if len(tables) != 1:
        found = ", ".join(p.name for p in tables) or "none"
        raise CorpusError(
            f"csv: give the CSV file itself as root; {path} holds {len(tables)} .csv/.tsv "
            f"files ({found}), expected exactly one"
        )
    return tables[0]


def _roles(header: list[str], where: Path) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    roles = {}
    for role, names in COLUMNS.items():
        hit = next((i for i, h in enumerate(lowered) if h in names), None)
        if hit is not None:
            roles[role] = hit
    missing = [r for r in ("path", "label") if r not in roles]
    if missing:
        accepted = "; ".join(f"{r}: {', '.join(COLUMNS[r])}" for r in missing)
        raise CorpusError(
            f"{where}: no {' / '.join(missing)} column in header {header}; accepted names: "
            f"{accepted}"
        )
    return roles


def prepare_csv(
    root: Path,
    split: str | None = None,
    *,
    name: str | None = None,
    audio_root: str | Path | None = None,
) -> list[Utterance]:
    """A CSV (or TSV / semicolon-separated) table with a header naming its columns.

    Columns (header names, any case): path (``path``/``file``/``filename``/``audio``/...),
    label (``label``/``key``/``class``/``target``; values ``bonafide``, ``bona-fide``,
    ``real``, ``genuine``, ``human``, ``1`` vs ``spoof``, ``fake``, ``synthetic``,
    ``generated``, ``0``), and optionally id, attack (``attack``/``system``), speaker and split
    (``split``/``subset``). Every other column goes to ``extra`` (empty cells are left out).
    Example::

        path,label,attack,speaker
        clips/a.wav,bonafide,,p225
        clips/b.wav,spoof,A07,p225

    Relative paths are relative to ``audio_root`` (default: the CSV's folder). ``dataset``
    is ``<name>/<split column or "all">``; ids come from the id column, else
    ``<name>/<path as written, without extension>``.

    Args:
        root: the CSV file, or a folder holding exactly one ``.csv`` / ``.tsv`` file.
        split: keep only rows whose split column equals this (any case).
        name: corpus name; default: the CSV file name without extension.
        audio_root: the folder relative paths start from.

    Raises:
        CorpusError: no CSV, no path / label column, an unknown label (``file:line``
            named), an empty path, a ``split`` with no split column or no rows.
    """
    table = _find_csv(root)
    name = (name or table.stem).strip().lower().replace(" ", "-")
    base = Path(audio_root).expanduser().absolute() if audio_root else table.parent
    text = table.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max("\t,;|", key=first.count)
    rows = csv.reader(text.splitlines(), delimiter=delimiter)
    header = next(rows, [])
    roles = _roles(header, table)
    if split is not None and "split" not in roles:
        raise CorpusError(
            f"{table}: no split column ({', '.join(COLUMNS['split'])}) to select {split!r}"
        )
    used = set(roles.values())
    out: list[Utterance] = []
    for lineno, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise CorpusError(f"{table}:{lineno}: {len(row)} fields, the header has {len(header)}")
        cell = {role: row[i].strip() for role, i in roles.items()}
        label = parse_label(cell["label"], numeric=True)
        if label is None:
            raise CorpusError(
                f"{table}:{lineno}: unknown label {cell['label']!r}; expected bonafide, "
                "bona-fide, real, genuine, human, 1 or spoof, fake, synthetic, generated, 0"
            )
        if not cell["path"]:
            raise CorpusError(f"{table}:{lineno}: empty path")
        row_split = cell.get("split") or "all"
        if split is not None and row_split.lower() != split.lower():
            continue
        path = Path(cell["path"])
        full = path if path.is_absolute() else base / path
        uid = cell.get("id") or f"{name}/{_id_from_path(cell['path'])}"
        attack = cell.get("attack") or None
        attack = attack if label == "spoof" and attack not in {None, "-"} else None
        extra = {
            header[i].strip(): v.strip() for i, v in enumerate(row) if i not in used and v.strip()
        }
        out.append(
            Utterance(uid, str(full), label, f"{name}/{row_split}", attack,
                      cell.get("speaker") or None, extra)
        )  # fmt: skip
    if not out:
        what = f" with split {split!r}" if split else ""
        raise CorpusError(f"{table}: no rows{what}")
    return out
