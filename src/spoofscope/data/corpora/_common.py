"""Helpers shared by the corpus adapters: errors, split checks, bounded directory searches.

Searches follow symbolic links (corpora are often symlinked into place) but never visit a
directory twice, and the bounded ones never descend into audio folders (``flac``, ``wav``,
``flac_T``, ...) that are not what they look for, so finding a protocol file beside 600,000
audio files costs a few directory listings.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from spoofscope.data.manifest import Utterance
from spoofscope.errors import SpoofscopeError
from spoofscope.protocols import ProtocolRecord, normalise_id

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".aif", ".aiff", ".au"}
)
"""File extensions (lower case) the adapters treat as audio."""

_AUDIO_DIR = re.compile(r"^(flac|wav|wavs)([_.-].*)?$", re.IGNORECASE)


class CorpusError(SpoofscopeError, ValueError):
    """A corpus root does not hold the expected layout; the message says what was expected."""


def check_root(root: str | os.PathLike[str], corpus: str) -> Path:
    """``root`` as an absolute path, or a :class:`CorpusError` if it is not a directory."""
    path = Path(root).expanduser()
    if not path.exists():
        raise CorpusError(f"{corpus}: root {path} does not exist")
    if not path.is_dir():
        raise CorpusError(f"{corpus}: root {path} is not a directory")
    return path.absolute()


def select_splits(
    split: str | None,
    valid: Sequence[str],
    corpus: str,
    aliases: Mapping[str, str] | None = None,
) -> list[str]:
    """The splits to prepare: all of ``valid`` for None, else the one named (aliases allowed).

    Raises:
        CorpusError: an unknown split; the message lists the valid ones.
    """
    if split is None:
        return list(valid)
    key = split.strip().lower()
    key = (aliases or {}).get(key, key)
    if key not in valid:
        extra = f" (or {', '.join(sorted(aliases))})" if aliases else ""
        raise CorpusError(
            f"{corpus}: unknown split {split!r}; valid splits: {', '.join(valid)}{extra}"
        )
    return [key]


def is_audio(name: str) -> bool:
    """True for a visible file name with an audio extension (any case)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def _skip_dir(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def walk(root: Path, max_depth: int | None = None) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` (top-down, sorted, links followed, each directory once, hidden ones skipped).

    The caller may prune the yielded ``dirnames`` list in place. ``max_depth`` = how many
    levels below ``root`` are listed (None: all).
    """
    seen: set[tuple[int, int]] = set()
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        path = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _skip_dir(d))
        if max_depth is not None and len(path.parts) - base_depth >= max_depth:
            dirnames[:] = []
        yield path, dirnames, sorted(filenames)


def find_dirs(root: Path, pattern: str, max_depth: int = 3) -> list[Path]:
    """Directories below ``root`` whose name fully matches ``pattern`` (case-insensitive).

    Matched directories are not searched further; neither are audio folders (``flac``,
    ``wav``, ``flac_D`` ...) that do not match.
    """
    regex = re.compile(pattern, re.IGNORECASE)
    found: list[Path] = []
    for path, dirnames, _ in walk(root, max_depth):
        keep = []
        for name in dirnames:
            if regex.fullmatch(name):
                found.append(path / name)
            elif not _AUDIO_DIR.match(name):
                keep.append(name)
        dirnames[:] = keep
    return found


def find_files(root: Path, pattern: str, max_depth: int = 5) -> list[Path]:
    """Files below ``root`` (or in it) whose name fully matches ``pattern`` (any case).

    Sorted by depth, then path, so the shallowest match comes first. Audio folders are not
    searched.
    """
    regex = re.compile(pattern, re.IGNORECASE)
    found: list[Path] = []
    for path, dirnames, filenames in walk(root, max_depth):
        dirnames[:] = [d for d in dirnames if not _AUDIO_DIR.match(d)]
        found.extend(path / f for f in filenames if regex.fullmatch(f))
    return sorted(found, key=lambda p: (len(p.parts), str(p)))


def audio_files(directory: Path) -> list[Path]:
    """Every audio file below ``directory`` (recursive, sorted, hidden files skipped)."""
    out: list[Path] = []
    for path, _, filenames in walk(directory):
        out.extend(path / f for f in filenames if is_audio(f))
    return out


def index_audio(dirs: Iterable[Path]) -> dict[str, str]:
    """Utterance id (file name without directory and audio extension) -> audio path.

    All audio files below ``dirs`` are indexed; when an id occurs twice the first path (in
    sorted order) wins and the others are logged.
    """
    index: dict[str, str] = {}
    clashes = 0
    for directory in dirs:
        for path in audio_files(directory):
            key = normalise_id(path.name)
            if key in index:
                clashes += 1
                if clashes <= 3:
                    log.warning("%s: id %r also at %s; using the first", path, key, index[key])
                continue
            index[key] = str(path)
    if clashes:
        log.warning(
            "%d audio file(s) share an id with another; the first of each was used", clashes
        )
    return index


def records_to_utterances(
    records: Iterable[ProtocolRecord],
    dataset: str,
    index: Mapping[str, str],
    default_dir: Path,
    extension: str = ".flac",
) -> list[Utterance]:
    """Utterances of protocol records; audio from ``index`` or ``default_dir/ID.ext`` if absent.

    Ids are the protocol's ids without directory or audio extension (``T_1000001.wav`` ->
    ``T_1000001``), so score files keyed by official ids join with the manifest.
    """
    out = []
    home = str(default_dir)
    for r in records:
        uid = normalise_id(r.utt_id)
        path = index.get(uid) or f"{home}{os.sep}{uid}{extension}"  # str: Paths are slow
        out.append(Utterance(uid, path, r.label, dataset, r.attack, r.speaker, dict(r.extra)))
    return out


def prefer(paths: Sequence[Path], hint: str, what: str) -> Path:
    """The first of ``paths`` whose path contains ``hint`` (any case), else the first one.

    Logs the choice when several candidates exist.
    """
    chosen = next((p for p in paths if hint.lower() in str(p).lower()), paths[0])
    if len(paths) > 1:
        others = ", ".join(str(p) for p in paths if p != chosen)
        log.warning("%s: using %s (also found: %s)", what, chosen, others)
    return chosen


def split_list(value: str | Sequence[str] | None) -> list[str] | None:
    """A comma-separated string or a sequence of names as a list (None stays None)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [v.strip() for v in items if v.strip()]


def relative_stem(path: Path, base: Path) -> str:
    """``path`` relative to ``base``, POSIX separators, last extension dropped."""
    rel = path.relative_to(base)
    return rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()


BONAFIDE_NAMES = frozenset({"bonafide", "bona-fide", "bona_fide", "genuine", "real", "human"})
"""Folder names / label values meaning bona fide (compared in lower case)."""
SPOOF_NAMES = frozenset({"spoof", "spoofed", "fake", "synthetic", "generated"})
"""Folder names / label values meaning spoof (compared in lower case)."""


def parse_label(value: str, numeric: bool = False) -> str | None:
    """``"bonafide"`` / ``"spoof"`` for a known label word (any case), else None.

    With ``numeric``, ``1`` means bona fide and ``0`` spoof (the manifest tensor convention).
    """
    key = value.strip().lower().replace(" ", "-")
    if key in BONAFIDE_NAMES or (numeric and key in {"1", "1.0"}):
        return "bonafide"
    if key in SPOOF_NAMES or (numeric and key in {"0", "0.0"}):
        return "spoof"
    return None
