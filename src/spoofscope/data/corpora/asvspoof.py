"""ASVspoof 2019 (LA, PA) and ASVspoof 2021 (LA, DF, PA) corpus adapters.

Protocol and key lines are parsed by :mod:`spoofscope.protocols`: the label is found by value,
so the official 5-column protocols and the 4-column ``flac UTT ATTACK KEY`` variant both work,
and the 2021 keys' codec / transmission / source / subset columns land in ``extra``.
Manifest ids are the official utterance ids (``LA_T_1138215``), unprefixed, so score files and
protocols join with manifests directly. Audio files are looked up under the corpus' audio
folders; a trial whose file is absent keeps the path where the file is expected (the
``prepare`` command reports, and with ``--skip-missing`` drops, such trials).
"""

from __future__ import annotations

import logging
from pathlib import Path

from spoofscope.data.corpora._common import (
    CorpusError,
    check_root,
    find_dirs,
    find_files,
    index_audio,
    prefer,
    records_to_utterances,
    select_splits,
)
from spoofscope.data.manifest import Utterance
from spoofscope.protocols import read_protocol

log = logging.getLogger(__name__)

_2019_KIND = {"train": "trn", "dev": "trl", "eval": "trl"}
SUBSETS_2021 = ("eval", "progress", "hidden")


def _protocol_override(protocol: str | Path, splits: list[str], corpus: str) -> Path:
    if len(splits) != 1:
        raise CorpusError(f"{corpus}: a protocol file holds one split; give the split too")
    path = Path(protocol).expanduser()
    if not path.is_file():
        raise CorpusError(f"{corpus}: protocol file {path} not found")
    return path.absolute()


def _prepare_2019(
    root: Path, split: str | None, track: str, protocol: str | Path | None
) -> list[Utterance]:
    corpus = f"asvspoof2019-{track.lower()}"
    root = check_root(root, corpus)
    splits = select_splits(split, ("train", "dev", "eval"), corpus)
    folder = f"ASVspoof2019_{track}_cm_protocols"
    names = {s: f"ASVspoof2019.{track}.cm.{s}.{_2019_KIND[s]}.txt" for s in splits}
    files: dict[str, Path] = {}
    if protocol is not None:
        files[splits[0]] = _protocol_override(protocol, splits, corpus)
    else:
        for s in splits:
            hits = find_files(root, names[s].replace(".", r"\."), max_depth=4)
            if hits:
                files[s] = prefer(hits, folder, f"{corpus} {s} protocol")
    if not files:
        raise CorpusError(
            f"{corpus}: no {folder} folder (with {', '.join(names.values())}) under {root}; "
            f"expected {root}/{track}/{folder}/{names[splits[0]]} or {root}/{folder}/..."
        )
    missing = [s for s in splits if s not in files]
    if missing:
        log.warning("%s: no protocol for split(s) %s under %s", corpus, ", ".join(missing), root)
    audio_dirs = find_dirs(root, rf"ASVspoof2019_{track}_(train|dev|eval)([_.-].*)?", 3)
    index = index_audio(audio_dirs)
    out: list[Utterance] = []
    for s, path in files.items():
        base = path.parent.parent if path.parent.name.lower() == folder.lower() else root
        name = f"ASVspoof2019_{track}_{s}"
        home = next((d for d in audio_dirs if d.name.lower() == name.lower()), base / name)
        dataset = f"{corpus}/{s}"
        out += records_to_utterances(read_protocol(path), dataset, index, home / "flac")
    return out


def prepare_asvspoof2019_la(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 2019 logical access: train / dev / eval CM protocols.

    Expected layout (``root`` may also be the ``LA`` folder itself)::

        ROOT/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
        ROOT/LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_T_1138215.flac ...

    Official 5-column lines (``LA_0079 LA_T_1138215 - - bonafide``) and the 4-column variant
    (``flac LA_T_1138215 - bonafide``) both work. Ids are the official ids; ``dataset`` is
    ``asvspoof2019-la/<split>``; ``attack`` is A01-A19 for spoof trials.

    Args:
        root: the corpus root.
        split: ``train``, ``dev`` or ``eval``; None = every split whose protocol is present.
        protocol: use this protocol file (of the one ``split`` given) instead of searching.

    Raises:
        CorpusError: no protocol under ``root``, an unknown split.
        ProtocolError: a malformed protocol line.
    """
    return _prepare_2019(root, split, "LA", protocol)


def prepare_asvspoof2019_pa(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 2019 physical access (replay): train / dev / eval CM protocols.

    Layout as :func:`prepare_asvspoof2019_la` with ``PA`` for ``LA``
    (``ROOT/PA/ASVspoof2019_PA_cm_protocols/ASVspoof2019.PA.cm.train.trn.txt``,
    ``ROOT/PA/ASVspoof2019_PA_train/flac/PA_T_0000001.flac``). ``attack`` is the replay
    configuration (``AA`` ... ``CC``); ``extra["environment"]`` the acoustic environment.
    """
    return _prepare_2019(root, split, "PA", protocol)


def _first_id(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 1:
                    return fields[1]
    except OSError:
        return None
    return None


def _find_2021_key(root: Path, track: str, corpus: str) -> Path:
    hits = [p for p in find_files(root, r"trial_metadata\.txt", 6) if p.parent.name.upper() == "CM"]
    hits = [p for p in hits if (_first_id(p) or "").upper().startswith(f"{track}_")]
    if not hits:
        raise CorpusError(
            f"{corpus}: no CM key file with {track} trials under {root}; expected "
            f"{root}/{track}-keys-full/keys/{track}/CM/trial_metadata.txt (from "
            f"{track}-keys-full.tar.gz) beside {root}/ASVspoof2021_{track}_eval/flac"
        )
    return prefer(hits, f"{track}/CM", f"{corpus} key")


def _prepare_2021(
    root: Path, split: str | None, track: str, protocol: str | Path | None
) -> list[Utterance]:
    corpus = f"asvspoof2021-{track.lower()}"
    root = check_root(root, corpus)
    splits = select_splits(split, SUBSETS_2021, corpus)
    if protocol is not None:
        key = Path(protocol).expanduser().absolute()
        if not key.is_file():
            raise CorpusError(f"{corpus}: key file {key} not found")
    else:
        key = _find_2021_key(root, track, corpus)
    records = read_protocol(key)
    without = sum(1 for r in records if "subset" not in r.extra)
    if without:
        raise CorpusError(
            f"{corpus}: {without} trial(s) of {key} have no subset column; expected the "
            f"ASVspoof 2021 {track} key layout (trial_metadata.txt of {track}-keys-full)"
        )
    present = sorted({r.extra["subset"] for r in records})
    records = [r for r in records if r.extra["subset"] in splits]
    if not records:
        raise CorpusError(
            f"{corpus}: no trials of subset {split!r} in {key}; subsets there: {', '.join(present)}"
        )
    audio_dirs = find_dirs(root, rf"ASVspoof2021_{track}_eval([_.-].*)?", 3)
    index = index_audio(audio_dirs)
    home = audio_dirs[0] if audio_dirs else root / f"ASVspoof2021_{track}_eval"
    out: list[Utterance] = []
    for s in splits:  # one dataset per subset: eval, progress and hidden are disjoint
        part = [r for r in records if r.extra["subset"] == s]
        out += records_to_utterances(part, f"{corpus}/{s}", index, home / "flac")
    return out


def prepare_asvspoof2021_la(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 2021 logical access evaluation data with the full keys.

    Expected layout::

        ROOT/ASVspoof2021_LA_eval/flac/LA_E_9332881.flac ...
        ROOT/LA-keys-full/keys/LA/CM/trial_metadata.txt     (or any .../LA/CM/trial_metadata.txt)

    Key lines are ``SPK UTT CODEC TRANSMISSION ATTACK KEY TRIM SUBSET``. The splits are the
    key's subsets: ``eval`` (the official evaluation trials), ``progress`` and ``hidden``;
    ``dataset`` is ``asvspoof2021-la/<subset>``. ``extra`` holds ``codec``, ``transmission``,
    ``trim``, ``subset`` and ``condition`` (= codec).

    Args:
        root: the corpus root.
        split: ``eval``, ``progress`` or ``hidden``; None = all three.
        protocol: the key file, instead of searching under ``root``.

    Raises:
        CorpusError: no key with LA trials under ``root``, an unknown or empty subset.
    """
    return _prepare_2021(root, split, "LA", protocol)


def prepare_asvspoof2021_df(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 2021 deepfake evaluation data with the full keys.

    Expected layout (the ``part00`` ... ``part03`` archives all unpack into one folder; a
    folder per part, ``ASVspoof2021_DF_eval_part00/...``, works too)::

        ROOT/ASVspoof2021_DF_eval/flac/DF_E_2000011.flac ...
        ROOT/DF-keys-full/keys/DF/CM/trial_metadata.txt

    Key lines are ``SPK UTT CODEC SOURCE ATTACK KEY TRIM SUBSET VOCODER TASK TEAM GENDER_PAIR
    LANGUAGE``; ``extra`` holds ``codec``, ``source``, ``trim``, ``subset``, ``condition`` and
    the vocoder columns. Splits are the key's subsets, as for
    :func:`prepare_asvspoof2021_la`.
    """
    return _prepare_2021(root, split, "DF", protocol)


def prepare_asvspoof2021_pa(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 2021 physical access evaluation data with the full keys.

    Layout as :func:`prepare_asvspoof2021_la` with ``PA`` for ``LA``. ``attack`` is the
    replay configuration ``ATT_ROOM-ATT_MIC-ATT_D-ATT_TO_SPK``; the room / microphone /
    distance columns are in ``extra``.
    """
    return _prepare_2021(root, split, "PA", protocol)
