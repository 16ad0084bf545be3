"""Fake-or-Real (FoR) corpus adapter: ``training|validation|testing`` x ``real|fake`` folders."""

from __future__ import annotations

import re
from pathlib import Path

from spoofscope.data.corpora._common import (
    CorpusError,
    audio_files,
    check_root,
    relative_stem,
    select_splits,
    walk,
)
from spoofscope.data.manifest import Utterance

SPLITS = ("training", "validation", "testing")
SPLIT_ALIASES = {"train": "training", "dev": "validation", "val": "validation",
                 "valid": "validation", "test": "testing", "eval": "testing"}  # fmt: skip
VERSIONS = ("for-original", "for-norm", "for-2sec", "for-rerec")
_VERSION_RE = re.compile(
    r"for[-_ ]?(original|norm|2[-_ ]?sec(?:onds?)?|rerec(?:orded|ording)?)", re.IGNORECASE
)
_LABELS = {"real": "bonafide", "fake": "spoof"}


def canonical_version(name: str) -> str | None:
    """``for-2seconds`` / ``FoR_2sec`` ... -> ``for-2sec``; None if ``name`` names no version."""
    match = _VERSION_RE.fullmatch(name.strip())
    if not match:
        return None
    kind = match.group(1).lower()
    for short in ("original", "norm", "2", "rerec"):
        if kind.startswith(short):
            return "for-2sec" if short == "2" else f"for-{short}"
    return None  # pragma: no cover - the regex admits nothing else


def _split_dirs(root: Path) -> list[tuple[Path, str]]:
    """(split folder, canonical split) for every split folder holding ``real``/``fake``."""
    names = {s: s for s in SPLITS} | SPLIT_ALIASES
    found = []
    for path, dirnames, _ in walk(root, max_depth=4):
        keep = []
        for name in dirnames:
            split = names.get(name.lower())
            if split and any(c.name.lower() in _LABELS for c in (path / name).iterdir()):
                found.append((path / name, split))
            else:
                keep.append(name)
        dirnames[:] = keep
    return found


def _version_of(directory: Path, root: Path) -> str | None:
    for folder in [directory, *directory.parents]:
        version = canonical_version(folder.name)
        if version or folder == root:
            return version
    return None


def prepare_fake_or_real(
    root: Path, split: str | None = None, *, version: str | None = None
) -> list[Utterance]:
    """The Fake-or-Real corpus, in any of its four versions (one or several under ``root``).

    Expected layout (folder names in any case; ``root`` may be the folder holding several
    versions, one version's folder, or the folder holding ``training/`` ... directly)::

        ROOT/for-norm/for-norm/{training,validation,testing}/{real,fake}/*.wav
        ROOT/for-2sec/for-2seconds/...    ROOT/for-rerec/for-rerecorded/...
        ROOT/for-original/for-original/...

    The version is read from the nearest ancestor folder named like one (``for-original``,
    ``for-norm``, ``for-2sec`` / ``for-2seconds``, ``for-rerec`` / ``for-rerecorded``) and
    given canonically as ``for-original|for-norm|for-2sec|for-rerec`` in ``extra["version"]``
    and in ``dataset`` (``for-norm/training``; ``fake-or-real/training`` when no folder names
    a version). Ids are ``<dataset>/<real|fake>/<file path below it without extension>``,
    unique across versions and splits. FoR does not name the TTS system, so ``attack`` is
    None.

    Args:
        root: the corpus root.
        split: ``training``, ``validation`` or ``testing`` (or ``train``, ``dev``/``val``,
            ``test``); None = all.
        version: keep only this version (any spelling above).

    Raises:
        CorpusError: no split folder with ``real``/``fake`` inside, an unknown split or
            version, or a version not present under ``root``.
    """
    corpus = "fake-or-real"
    root = check_root(root, corpus)
    splits = select_splits(split, SPLITS, corpus, SPLIT_ALIASES)
    wanted = None
    if version is not None:
        wanted = canonical_version(version) or canonical_version(f"for-{version}")
        if wanted is None:
            raise CorpusError(
                f"{corpus}: unknown version {version!r}; valid versions: {', '.join(VERSIONS)} "
                "(for-2seconds and for-rerecorded accepted)"
            )
    found = [(d, s, _version_of(d, root)) for d, s in _split_dirs(root)]
    if not found:
        raise CorpusError(
            f"{corpus}: no training|validation|testing folder with real/ and fake/ inside under "
            f"{root}; expected e.g. {root}/for-norm/for-norm/training/real/*.wav"
        )
    if wanted is not None:
        versions = sorted({v or "(none)" for _, _, v in found})
        found = [f for f in found if f[2] == wanted]
        if not found:
            raise CorpusError(
                f"{corpus}: version {wanted} not found under {root}; versions there: "
                f"{', '.join(versions)}"
            )
    out: list[Utterance] = []
    for directory, s, ver in found:
        if s not in splits:
            continue
        dataset = f"{ver or corpus}/{s}"
        for child in sorted(directory.iterdir()):
            label = _LABELS.get(child.name.lower())
            if label is None or not child.is_dir():
                continue
            kind = child.name.lower()
            extra = {"version": ver} if ver else {}
            for path in audio_files(child):
                uid = f"{dataset}/{kind}/{relative_stem(path, child)}"
                out.append(Utterance(uid, str(path), label, dataset, None, None, dict(extra)))
    if not out:
        raise CorpusError(f"{corpus}: no audio files for split {split!r} under {root}")
    return out
