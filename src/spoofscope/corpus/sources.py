"""Bona fide recordings: the asterisk "Allison" prompts and any extra folders of real speech.

A :class:`Recording` is one stretch of one real recording (a whole file, or a 2-6 s piece of a
long file cut at a pause). Sources:

* the Debian / Asterisk core sounds (``asterisk-core-sounds-en-wav``, 8 kHz WAV, one female
  speaker), with transcripts from ``core-sounds-en.txt(.gz)`` (``asterisk-core-sounds-en``),
  matched by relative name such as ``digits/1``; tones, silences and untranscribed files are
  left out;
* ``--extra-bonafide`` folders, searched recursively. Speakers come from known layouts: FSDD
  ``{digit}_{speaker}_{index}.wav`` (text = the digit's word), LibriSpeech
  ``<speaker>-<chapter>-<utterance>`` (text from a ``*.trans.txt`` beside it, if any), else the
  parent folder's name; the source tag is ``fsdd`` / ``librispeech`` or the folder's name.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from spoofscope.errors import SpoofscopeError

log = logging.getLogger(__name__)

#: Where the asterisk prompts may be installed (``$SPOOFSCOPE_ASTERISK_SOUNDS`` first).
ASTERISK_DIRS = (
    "/usr/share/asterisk/sounds/en_US_f_Allison",
    "/usr/share/asterisk/sounds/en",
    "/var/lib/asterisk/sounds/en",
)
#: Where the transcripts may be (the sounds folder itself is searched too).
TRANSCRIPT_FILES = (
    "/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz",
    "/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt",
)
ASTERISK_SPEAKER = "asterisk-allison"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FSDD = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")
_LIBRI = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_SKIP_DIRS = {"silence"}
INSTALL_HINT = (
    "install the sources with scripts/setup.sh (Debian packages asterisk-core-sounds-en-wav and "
    "asterisk-core-sounds-en), or pass folders of real recordings with --extra-bonafide DIR"
)


class CorpusBuildError(SpoofscopeError):
    """The corpus cannot be built as asked (missing sources, bad arguments, failed audit)."""


class AuditFailedError(CorpusBuildError):
    """The shortcut audit failed; ``report`` is the build report (already written)."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Recording:
    """One bona fide recording or a piece of one.

    Attributes:
        source_id: unique id, e.g. ``asterisk:digits/1`` or ``librispeech:103-1240-0000@2.5``.
        path: the audio file (read in place).
        source: source tag (``asterisk``, ``fsdd``, ``librispeech`` or a folder name).
        speaker: speaker id, prefixed by its source (``fsdd-george``).
        text: what is said, if known.
        start_s: start of the piece in the file (seconds).
        duration_s: length of the piece, or None for the whole file.
    """

    source_id: str
    path: Path
    source: str
    speaker: str
    text: str | None = None
    start_s: float = 0.0
    duration_s: float | None = None


def find_asterisk_dir(candidates: Sequence[str] | None = None) -> Path | None:
    """The first existing asterisk sounds folder holding English WAV prompts, or None."""
    env = os.environ.get("SPOOFSCOPE_ASTERISK_SOUNDS")
    dirs = list(candidates) if candidates is not None else [*([env] if env else []), *ASTERISK_DIRS]
    for d in dirs:
        path = Path(d)
        if path.is_dir() and any(path.glob("*.wav")):
            return path.resolve()
    return None


def read_transcripts(path: Path) -> dict[str, str]:
    """``name: text`` lines of ``core-sounds-en.txt(.gz)`` (``;`` comments skipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    out: dict[str, str] = {}
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            if name.strip() and text.strip():
                out[name.strip()] = text.strip()
    return out


def _find_transcripts(sounds: Path) -> Path | None:
    for cand in (
        sounds / "core-sounds-en.txt",
        sounds / "core-sounds-en.txt.gz",
        *TRANSCRIPT_FILES,
    ):
        if Path(cand).is_file():
            return Path(cand)
    return None


def asterisk_recordings(sounds: Path | None = None) -> list[Recording]:
    """Every transcribed speech prompt of the asterisk core sounds (empty if not installed)."""
    sounds = sounds or find_asterisk_dir()
    if sounds is None:
        return []
    tfile = _find_transcripts(sounds)
    if tfile is None:
        log.warning("asterisk sounds found in %s but no transcripts (%s)", sounds, INSTALL_HINT)
        return []
    texts = read_transcripts(tfile)
    out: list[Recording] = []
    untranscribed = 0
    for path in sorted(sounds.rglob("*.wav")):
        rel = path.relative_to(sounds).with_suffix("").as_posix()
        if rel.split("/")[0] in _SKIP_DIRS:
            continue
        text = texts.get(rel)
        if text is None:
            untranscribed += 1
            continue
        if text.startswith("["):  # tones and other non-speech
            continue
        out.append(Recording(f"asterisk:{rel}", path, "asterisk", ASTERISK_SPEAKER, text))
    if untranscribed:
        log.info("asterisk: %d prompts without a transcript left out", untranscribed)
    return out


def _tag(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "folder"


def _libri_transcripts(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for tfile in folder.glob("*.trans.txt"):
        for line in tfile.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, text = line.partition(" ")
            if text:
                out[key] = text.strip().lower()
    return out


def folder_recordings(root: Path) -> list[Recording]:
    """Real recordings below ``root`` with speakers from their layout (see the module doc)."""
    from spoofscope.data.corpora._common import audio_files

    root = Path(root)
    if not root.is_dir():
        raise CorpusBuildError(f"--extra-bonafide folder not found: {root}")
    tag = _tag(
        root.name if root.name not in ("recordings", "wav", "wavs", "audio") else root.parent.name
    )
    trans_cache: dict[Path, dict[str, str]] = {}
    out: list[Recording] = []
    for path in audio_files(root):
        stem = path.stem
        if m := _FSDD.match(stem):
            rec = Recording(
                f"fsdd:{stem}", path, "fsdd", f"fsdd-{m.group(2).lower()}", DIGIT_WORDS[int(m[1])]
            )
        elif m := _LIBRI.match(stem):
            if path.parent not in trans_cache:
                trans_cache[path.parent] = _libri_transcripts(path.parent)
            text = trans_cache[path.parent].get(stem)
            rec = Recording(f"librispeech:{stem}", path, "librispeech", f"librispeech-{m[1]}", text)
        else:
            rel = path.relative_to(root).with_suffix("").as_posix()
            spk = _tag(path.parent.name) if path.parent != root else "unknown"
            rec = Recording(f"{tag}:{rel}", path, tag, f"{tag}-{spk}")
        out.append(rec)
    if not out:
        raise CorpusBuildError(f"--extra-bonafide folder {root} holds no audio files")
    return out


def find_bonafide(extra: Iterable[str | Path] = (), use_asterisk: bool = True) -> list[Recording]:
    """All bona fide recordings: asterisk prompts (if installed) plus the extra folders.

    Raises:
        CorpusBuildError: nothing found; the message names what was searched and how to
            install it.
    """
    recs = asterisk_recordings() if use_asterisk else []
    for folder in extra:
        recs.extend(folder_recordings(Path(folder)))
    if not recs:
        searched = [os.environ.get("SPOOFSCOPE_ASTERISK_SOUNDS") or "", *ASTERISK_DIRS]
        raise CorpusBuildError(
            "no bona fide recordings found (searched "
            + ", ".join(s for s in searched if s)
            + (" and " + ", ".join(map(str, extra)) if extra else "")
            + f"); {INSTALL_HINT}"
        )
    ids = [r.source_id for r in recs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise CorpusBuildError(f"the same recording is given twice: {', '.join(dup)}")
    return recs


def pause_cuts(
    wave: np.ndarray, sample_rate: int, min_s: float = 2.0, max_s: float = 6.0
) -> list[tuple[int, int]]:
    """Cut a long recording at pauses into pieces of ``min_s``..``max_s`` seconds.

    Each cut goes where the 100-ms smoothed frame energy is lowest within the allowed range
    after the previous cut. A tail shorter than ``min_s`` is dropped.

    Args:
        wave: ``(T,)`` float samples.
        sample_rate: Hz.
        min_s: shortest piece.
        max_s: longest piece.

    Returns:
        ``[(start, end), ...]`` sample ranges in order; one range for a wave up to ``max_s``.
    """
    n = wave.size
    if n <= max_s * sample_rate:
        return [(0, n)]
    hop = max(1, sample_rate // 100)
    frames = n // hop
    energy = np.add.reduceat(
        wave[: frames * hop].astype(np.float64) ** 2, np.arange(0, frames * hop, hop)
    )
    smooth = np.convolve(10 * np.log10(energy / hop + 1e-10), np.ones(10) / 10, mode="same")
    out: list[tuple[int, int]] = []
    start = 0
    while n - start > max_s * sample_rate:
        lo = (start + int(min_s * sample_rate)) // hop
        hi = min((start + int(max_s * sample_rate)) // hop, frames)
        cut = (
            (lo + int(np.argmin(smooth[lo:hi]))) * hop
            if hi > lo
            else start + int(max_s * sample_rate)
        )
        out.append((start, cut))
        start = cut
    if n - start >= min_s * sample_rate:
        out.append((start, n))
    return out


def split_long(rec: Recording, max_s: float = 6.0, min_s: float = 2.0) -> list[Recording]:
    """``rec`` as it is if at most ``max_s`` long, else its pieces cut at pauses.

    A piece of a transcribed recording loses the text (which words it holds is unknown).
    """
    from spoofscope.audio import audio_info, load_audio

    info = audio_info(rec.path)
    if info.duration_s is not None and info.duration_s <= max_s:
        return [rec]
    rate = info.sample_rate
    wave = load_audio(rec.path, sample_rate=rate)
    pieces = pause_cuts(wave, rate, min_s, max_s)
    if len(pieces) == 1:
        return [rec]
    return [
        replace(
            rec,
            source_id=f"{rec.source_id}@{a / rate:.2f}",
            text=None,
            start_s=a / rate,
            duration_s=(b - a) / rate,
        )
        for a, b in pieces
    ]
