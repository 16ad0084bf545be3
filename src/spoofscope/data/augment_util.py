"""Shared pieces of the augmentation modules: config checks and folders of audio files.

:class:`AudioFolder` serves the noise folders (MUSAN and the like) and the folders of measured
room impulse responses: it scans its folders once, draws files with the caller's generator and
skips (with a warning) files that fail to decode, so one bad file never stops an epoch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spoofscope.audio import AudioError, audio_info, load_audio
from spoofscope.errors import SpoofscopeError

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioFolder",
    "as_paths",
    "check_choices",
    "check_prob",
    "check_range",
]

logger = logging.getLogger(__name__)

#: File name endings an :class:`AudioFolder` picks up (case-insensitive).
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au", ".sph",
)  # fmt: skip
_MAX_TRIES = 4


def check_prob(what: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1] or raise ``ValueError`` naming ``what``."""
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], got {value!r}")
    return p


def check_range(
    what: str, value: Any, low: float = -np.inf, high: float = np.inf
) -> tuple[float, float]:
    """Return ``value`` (a pair, or one number meaning a fixed value) as ``(a, b)`` floats.

    Raises:
        ValueError: not one or two numbers, ``a > b``, or a bound outside ``[low, high]``.
    """
    items = (value,) if isinstance(value, int | float) else tuple(value)
    if len(items) == 1:
        items = items * 2
    if len(items) != 2:
        raise ValueError(f"{what} must be a [min, max] pair, got {value!r}")
    a, b = float(items[0]), float(items[1])
    if not (low <= a <= b <= high):
        raise ValueError(f"{what} must satisfy {low:g} <= min <= max <= {high:g}, got {value!r}")
    return a, b


def check_choices(what: str, value: Any, valid: Sequence[str], allow_empty: bool = False) -> tuple:
    """Return ``value`` (one name or several) as a tuple of names all found in ``valid``."""
    items = (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in items if v not in valid]
    if bad or (not items and not allow_empty):
        raise ValueError(
            f"{what} got {', '.join(map(repr, bad)) or 'nothing'}; valid choices: "
            f"{', '.join(valid)}"
        )
    return items


def as_paths(value: Any) -> tuple[str, ...]:
    """One folder or several (None = none) as a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike):
        return (os.fspath(value),)
    return tuple(os.fspath(v) for v in value)


class AudioFolder:
    """The audio files under one or more folders (recursive), scanned once at construction.

    Args:
        folders: directories to scan (files ending in :data:`AUDIO_EXTENSIONS`).
        what: what the files are, for messages (e.g. ``"noise"``).

    Raises:
        SpoofscopeError: a folder does not exist, or the folders hold no audio file.
    """

    def __init__(self, folders: Sequence[str], what: str) -> None:
        self.what = what
        files: list[Path] = []
        for folder in folders:
            root = Path(folder).expanduser()
            if not root.is_dir():
                raise SpoofscopeError(f"{what} folder {str(root)!r} does not exist")
            files += [
                p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
            ]
        if not files:
            raise SpoofscopeError(
                f"no audio files ({' '.join(AUDIO_EXTENSIONS)}) under the {what} folder(s) "
                f"{', '.join(map(repr, folders))}"
            )
        self.files = sorted(files)
        self._durations: dict[Path, float] = {}
        self._bad: set[Path] = set()
        logger.info("%s: %d audio files under %s", what, len(self.files), ", ".join(folders))

    def __len__(self) -> int:
        return len(self.files)

    def _pick(self, rng: np.random.Generator) -> Path | None:
        good = [f for f in self.files if f not in self._bad] if self._bad else self.files
        return good[int(rng.integers(len(good)))] if good else None

    def _failed(self, path: Path, exc: Exception) -> None:
        self._bad.add(path)
        logger.warning("skipping %s file %s: %s", self.what, path, exc)

    def excerpt(self, rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray | None:
        """A random ``n``-sample excerpt of a random file, looped when the file is shorter.

        Returns:
            float32 array of shape ``(n,)``, or None when no file could be decoded (each
            failure is logged once and the file is not drawn again).
        """
        for _ in range(_MAX_TRIES):
            path = self._pick(rng)
            if path is None:
                return None
            try:
                if path not in self._durations:
                    self._durations[path] = audio_info(path).duration_s or 0.0
                need = n / sample_rate
                spare = self._durations[path] - need
                start = float(rng.uniform(0.0, spare)) if spare > 0 else None
                x = load_audio(path, sample_rate, start_s=start, duration_s=need)
            except AudioError as exc:
                self._failed(path, exc)
                continue
            if not np.any(x):
                self._failed(path, ValueError("all samples are zero"))
                continue
            return np.resize(x, n) if len(x) < n else x[:n]
        return None

    def whole(self, rng: np.random.Generator, sample_rate: int, max_s: float) -> np.ndarray | None:
        """A random file's first ``max_s`` seconds (float32 ``(T,)``), or None as above."""
        for _ in range(_MAX_TRIES):
            path = self._pick(rng)
            if path is None:
                return None
            try:
                x = load_audio(path, sample_rate, duration_s=max_s)
            except AudioError as exc:
                self._failed(path, exc)
                continue
            if not np.any(x):
                self._failed(path, ValueError("all samples are zero"))
                continue
            return x
        return None
