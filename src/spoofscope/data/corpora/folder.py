"""Generic folder layouts: real/fake folders at any depth, and bona-fide-only folders."""

from __future__ import annotations

import logging
from pathlib import Path

from spoofscope.data.corpora._common import (
    BONAFIDE_NAMES,
    SPOOF_NAMES,
    CorpusError,
    audio_files,
    check_root,
    relative_stem,
)
from spoofscope.data.manifest import Utterance

log = logging.getLogger(__name__)

SPLIT_NAMES = {
    "train": "train", "training": "train",
    "dev": "dev", "development": "dev", "val": "dev", "valid": "dev", "validation": "dev",
    "test": "test", "testing": "test",
    "eval": "eval", "evaluation": "eval",
}  # fmt: skip
"""Folder names (lower case) that name a split, and the split they name."""


def _split_of(names: list[str]) -> str | None:
    """The split named by the nearest folder in ``names`` (ordered root first)."""
    return next((SPLIT_NAMES[n.lower()] for n in reversed(names) if n.lower() in SPLIT_NAMES), None)


def _check_split(split: str | None, corpus: str) -> str | None:
    if split is None:
        return None
    key = SPLIT_NAMES.get(split.lower(), split.lower())
    valid = sorted(set(SPLIT_NAMES.values()) | {"all"})
    if key not in valid:
        raise CorpusError(f"{corpus}: unknown split {split!r}; valid splits: {', '.join(valid)}")
    return key


def _name(name: str | None, root: Path) -> str:
    return (name or root.name or "folder").strip().lower().replace(" ", "-")


def prepare_folder(
    root: Path, split: str | None = None, *, name: str | None = None
) -> list[Utterance]:
    """Audio under ``real`` / ``fake`` folders at any depth.

    Folder names meaning bona fide: ``real``, ``bonafide``, ``bona-fide``, ``bona_fide``,
    ``genuine``, ``human``; spoof: ``fake``, ``spoof``, ``spoofed``, ``synthetic``,
    ``generated`` (any case). For each audio file the **nearest** such ancestor folder (up to
    and including ``root``) decides its label; files with none are skipped (logged). A spoof
    file in a sub-folder of its ``fake`` folder gets that sub-folder as ``attack``
    (``fake/melgan/x.wav`` -> ``melgan``). The nearest folder above the label folder named
    like a split (``train``/``training``, ``dev``/``val``/``validation``,
    ``test``/``testing``, ``eval``) gives the split, else it is ``all``. Examples::

        ROOT/real/*.wav  ROOT/fake/<system>/*.wav
        ROOT/train/bonafide/...  ROOT/test/spoof/...
        ROOT/speaker1/genuine/...  ROOT/speaker1/synthetic/...

    ``dataset`` is ``<name>/<split>``; ids are ``<name>/<file path below root without
    extension>`` (so ``a.wav`` and ``a.flac`` in one folder share an id: ``prepare``
    reports it).

    Args:
        root: the folder.
        split: keep only this split (``train``, ``dev``, ``test``, ``eval`` or ``all``, with
            the aliases above); None = all.
        name: corpus name for ids and ``dataset``; default: the root folder's name.

    Raises:
        CorpusError: no labelled audio file under ``root``, an unknown split.
    """
    corpus = "folder"
    root = check_root(root, corpus)
    wanted = _check_split(split, corpus)
    name = _name(name, root)
    out: list[Utterance] = []
    unlabelled: list[Path] = []
    for path in audio_files(root):
        names = [root.name, *path.relative_to(root).parts[:-1]]
        pos = next(
            (i for i in range(len(names) - 1, -1, -1)
             if names[i].lower() in BONAFIDE_NAMES | SPOOF_NAMES),
            None,
        )  # fmt: skip
        if pos is None:
            unlabelled.append(path)
            continue
        label = "bonafide" if names[pos].lower() in BONAFIDE_NAMES else "spoof"
        attack = names[pos + 1] if label == "spoof" and pos + 1 < len(names) else None
        s = _split_of(names[:pos]) or "all"
        if wanted is not None and s != wanted:
            continue
        uid = f"{name}/{relative_stem(path, root)}"
        out.append(Utterance(uid, str(path), label, f"{name}/{s}", attack))
    if unlabelled:
        log.warning(
            "%s: %d audio file(s) under no real/fake folder were skipped, e.g. %s",
            root, len(unlabelled), unlabelled[0],
        )  # fmt: skip
    if not out:
        raise CorpusError(
            f"{corpus}: no audio files under real|bonafide|genuine|human or "
            f"fake|spoof|synthetic|generated folders in {root}"
            + (f" for split {split!r}" if split else "")
            + f"; expected e.g. {root}/real/a.wav and {root}/fake/b.wav"
        )
    return out


def prepare_bonafide_folder(
    root: Path,
    split: str | None = None,
    *,
    name: str | None = None,
    speaker_from_parent: bool = False,
) -> list[Utterance]:
    """Every audio file under ``root`` as bona fide (TIMIT, LibriSpeech, VCTK, your own).

    The nearest folder named like a split (``TRAIN``, ``TEST``, ``dev``, ... as for
    :func:`prepare_folder`) gives the split, else it is ``all``. Example (TIMIT)::

        ROOT/TRAIN/DR1/FCJF0/SA1.WAV  ->  id timit/TRAIN/DR1/FCJF0/SA1, dataset timit/train

    Args:
        root: the folder.
        split: keep only this split; None = all.
        name: corpus name for ids and ``dataset``; default: the root folder's name.
        speaker_from_parent: take ``speaker`` from each file's parent folder (``FCJF0``).

    Raises:
        CorpusError: no audio file under ``root``, an unknown split.
    """
    corpus = "bonafide-folder"
    root = check_root(root, corpus)
    wanted = _check_split(split, corpus)
    name = _name(name, root)
    out: list[Utterance] = []
    for path in audio_files(root):
        dirs = list(path.relative_to(root).parts[:-1])
        s = _split_of([root.name, *dirs]) or "all"
        if wanted is not None and s != wanted:
            continue
        speaker = path.parent.name if speaker_from_parent and dirs else None
        uid = f"{name}/{relative_stem(path, root)}"
        out.append(Utterance(uid, str(path), "bonafide", f"{name}/{s}", None, speaker))
    if not out:
        what = f" of split {split!r}" if split else ""
        raise CorpusError(f"{corpus}: no audio files{what} under {root}")
    return out
