"""WaveFake (Frank & Schönherr, 2021) corpus adapter: per-vocoder folders + LJSpeech / JSUT."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from spoofscope.data.corpora._common import (
    CorpusError,
    audio_files,
    check_root,
    find_dirs,
    relative_stem,
    select_splits,
    split_list,
)
from spoofscope.data.manifest import Utterance

log = logging.getLogger(__name__)

_VOCODER_DIR = r"(ljspeech|jsut|common_?voices?)_(?!ver\d).+"
_GEN_SUFFIX = re.compile(r"_(gen|generated)$", re.IGNORECASE)
_LANGUAGE = {"ljspeech": "en", "jsut": "ja"}


def _source_of(folder: str) -> str:
    return "jsut" if folder.lower().startswith("jsut_") else "ljspeech"


def _vocoder_of(folder: str) -> str:
    lowered = folder.lower()
    for prefix in ("ljspeech_", "jsut_"):
        if lowered.startswith(prefix):
            return folder[len(prefix) :]
    return folder


def _bonafide_dir(
    given: str | Path | None, root: Path, pattern: str, sub: str | None, what: str
) -> Path | None:
    """The bona fide folder: ``given`` (or its ``sub`` folder), else one found under root."""
    if given is not None:
        path = Path(given).expanduser().absolute()
        if not path.is_dir():
            raise CorpusError(f"wavefake: {what} folder {path} does not exist")
    else:
        hits = find_dirs(root, pattern, 3)
        if not hits:
            return None
        path = hits[0]
    if sub and (path / sub).is_dir():
        path = path / sub
    return path


def prepare_wavefake(
    root: Path,
    split: str | None = None,
    *,
    ljspeech: str | Path | None = None,
    jsut: str | Path | None = None,
    vocoders: str | list[str] | None = None,
) -> list[Utterance]:
    """WaveFake: vocoded copies of LJSpeech (English) and JSUT (Japanese) as spoof.

    Expected layout (the vocoder folders may sit in ``ROOT/generated_audio/``)::

        ROOT/ljspeech_melgan/LJ001-0001_gen.wav ...   ROOT/ljspeech_hifiGAN/..._generated.wav
        ROOT/ljspeech_{melgan_large,full_band_melgan,multi_band_melgan,parallel_wavegan,
                       waveglow}/...
        ROOT/jsut_{multi_band_melgan,parallel_wavegan}/BASIC5000_0001_gen.wav ...
        ROOT/common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech/...
        LJSPEECH/wavs/LJ001-0001.wav ...              (bona fide; LJSpeech-1.1)
        JSUT/basic5000/wav/BASIC5000_0001.wav ...     (bona fide; jsut_ver1.1, optional)

    ``attack`` is the vocoder folder name (``ljspeech_melgan``); ``extra`` holds ``vocoder``
    (``melgan``), ``source`` (``ljspeech`` or ``jsut``), ``language`` and, for spoof files,
    ``source_utt`` (the LJSpeech / JSUT id they copy). ``speaker`` is the source corpus (one
    speaker each). The corpus has no official split: ``dataset`` is ``wavefake/all``. Ids are
    ``wavefake/<vocoder folder>/<file>``, ``ljspeech/<file>`` and ``jsut/<file>`` (the same
    file names recur in every vocoder folder, so ids carry the folder).

    Args:
        root: the folder holding the vocoder folders.
        split: ``all`` or None.
        ljspeech: the LJSpeech-1.1 folder (or its ``wavs`` folder); default: an
            ``LJSpeech-1.1`` folder found under ``root``. Bona fide files are listed only if
            an LJSpeech-based vocoder is selected.
        jsut: the JSUT folder (``jsut_ver1.1``; its ``basic5000`` part is used, the part
            WaveFake vocoded); default: one found under ``root``.
        vocoders: keep only these vocoder folders (names or a comma-separated string, any
            case).

    Raises:
        CorpusError: no vocoder folder under ``root``, an unknown vocoder, a bona fide
            folder that does not exist.
    """
    corpus = "wavefake"
    root = check_root(root, corpus)
    (split,) = select_splits(split, ("all",), corpus)
    folders = find_dirs(root, _VOCODER_DIR, 3)
    if not folders:
        raise CorpusError(
            f"{corpus}: no vocoder folders (ljspeech_melgan, ljspeech_hifiGAN, "
            f"jsut_multi_band_melgan, ...) under {root}; expected e.g. "
            f"{root}/generated_audio/ljspeech_melgan/LJ001-0001_gen.wav"
        )
    wanted = split_list(vocoders)
    if wanted:
        by_name = {f.name.lower(): f for f in folders}
        unknown = [v for v in wanted if v.lower() not in by_name]
        if unknown:
            raise CorpusError(
                f"{corpus}: unknown vocoder folder(s) {', '.join(unknown)}; found: "
                f"{', '.join(sorted(f.name for f in folders))}"
            )
        folders = [by_name[v.lower()] for v in dict.fromkeys(wanted)]
    dataset = f"{corpus}/{split}"
    out: list[Utterance] = []
    sources: set[str] = set()
    for folder in folders:
        source = _source_of(folder.name)
        sources.add(source)
        base = {"vocoder": _vocoder_of(folder.name), "source": source,
                "language": _LANGUAGE[source]}  # fmt: skip
        for path in audio_files(folder):
            stem = relative_stem(path, folder)
            extra = base | {"source_utt": _GEN_SUFFIX.sub("", path.stem)}
            uid = f"{corpus}/{folder.name}/{stem}"
            out.append(Utterance(uid, str(path), "spoof", dataset, folder.name, source, extra))
    bona = {
        "ljspeech": _bonafide_dir(ljspeech, root, r"LJSpeech(-[\d.]+)?", "wavs", "LJSpeech"),
        "jsut": _bonafide_dir(jsut, root, r"jsut(_ver[\d.]+)?", "basic5000", "JSUT"),
    }
    for source in sorted(sources):
        folder = bona[source]
        if folder is None:
            log.warning("%s: no %s folder found: no bona fide files for it", corpus, source)
            continue
        extra = {"source": source, "language": _LANGUAGE[source]}
        for path in audio_files(folder):
            uid = f"{source}/{relative_stem(path, folder)}"
            out.append(Utterance(uid, str(path), "bonafide", dataset, None, source, dict(extra)))
    return out
