"""Expanding command-line path arguments into the audio files to process."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    [
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".m4a",
        ".aac",
        ".mp4",
        ".webm",
        ".mkv",
        ".aif",
        ".aiff",
        ".au",
        ".caf",
        ".wma",
    ]
)


def expand_inputs(paths: Iterable[str | Path], recursive: bool = True) -> list[Path]:
    """Files named directly, plus the audio files (by extension) inside named directories.

    Args:
        paths: files or directories. Named files are kept whatever their extension, and
            missing paths are kept too, so the caller can report them per item.
        recursive: search directories recursively (else only their top level).

    Returns:
        Paths in argument order; each directory's files sorted.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = path.rglob("*") if recursive else path.glob("*")
            out.extend(
                sorted(p for p in found if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            )
        else:
            out.append(path)
    return out
