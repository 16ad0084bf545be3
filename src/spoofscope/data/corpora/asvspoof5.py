"""ASVspoof 5 and ASVspoof 2017 corpus adapters (see :mod:`.asvspoof` for the conventions)."""

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

_A5_PROTOCOLS = {
    "train": r"ASVspoof5\.train(\.metadata)?\.(tsv|txt)",
    "dev": r"ASVspoof5\.dev\.(track_1\.tsv|metadata\.txt)",
    "eval": r"ASVspoof5\.eval\.(track_1\.tsv|metadata\.txt)",
}
_A5_NAMES = {"train": "ASVspoof5.train.tsv", "dev": "ASVspoof5.dev.track_1.tsv",
             "eval": "ASVspoof5.eval.track_1.tsv"}  # fmt: skip
_A5_AUDIO = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E_eval"}

_2017_PROTOCOLS = {
    s: rf"ASVspoof2017(_V2)?_{s}[\w.-]*\.(trn|trl)\.txt" for s in ("train", "dev", "eval")
}
_2017_KIND = {"train": "trn", "dev": "trl", "eval": "trl"}


def _protocols(
    root: Path,
    splits: list[str],
    patterns: dict[str, str],
    protocol: str | Path | None,
    corpus: str,
    expected: str,
) -> dict[str, Path]:
    """split -> protocol file (searched under ``root`` or given); errors say what was expected."""
    if protocol is not None:
        if len(splits) != 1:
            raise CorpusError(f"{corpus}: a protocol file holds one split; give the split too")
        path = Path(protocol).expanduser().absolute()
        if not path.is_file():
            raise CorpusError(f"{corpus}: protocol file {path} not found")
        return {splits[0]: path}
    files: dict[str, Path] = {}
    for s in splits:
        hits = find_files(root, patterns[s], max_depth=4)
        if hits:
            files[s] = prefer(hits, "protocol", f"{corpus} {s} protocol")
    if not files:
        raise CorpusError(
            f"{corpus}: no protocol file for {'/'.join(splits)} under {root}; {expected}"
        )
    missing = [s for s in splits if s not in files]
    if missing:
        log.warning("%s: no protocol for split(s) %s under %s", corpus, ", ".join(missing), root)
    return files


def prepare_asvspoof5(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 5 (track 1, countermeasures): train / dev / eval.

    Expected layout (protocols may also sit in ``ROOT/ASVspoof5_protocols/``; audio folders
    may be nested once, ``flac_T/flac_T/``; the early ``ASVspoof5.train.metadata.txt`` /
    ``ASVspoof5.dev.metadata.txt`` names work too)::

        ROOT/ASVspoof5.train.tsv           ROOT/flac_T/T_0000000000.flac ...
        ROOT/ASVspoof5.dev.track_1.tsv     ROOT/flac_D/D_0000000000.flac ...
        ROOT/ASVspoof5.eval.track_1.tsv    ROOT/flac_E_eval/E_0000000000.flac ...

    Protocol lines are ``SPEAKER UTT GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL
    KEY TMP``; ``attack`` is the attack label (A01-A32), ``extra`` holds ``gender``,
    ``codec``, ``codec_q``, ``codec_seed``, ``attack_tag`` and ``condition`` (codec, ``none``
    for ``-``). ``dataset`` is ``asvspoof5/<split>``; ids are the official ids.

    Args:
        root: the corpus root.
        split: ``train``, ``dev`` or ``eval``; None = every split whose protocol is present.
        protocol: use this protocol file (of the one ``split`` given) instead of searching.

    Raises:
        CorpusError: no protocol under ``root``, an unknown split.
    """
    corpus = "asvspoof5"
    root = check_root(root, corpus)
    splits = select_splits(split, ("train", "dev", "eval"), corpus)
    expected = "expected " + ", ".join(f"{root}/{_A5_NAMES[s]}" for s in splits)
    files = _protocols(root, splits, _A5_PROTOCOLS, protocol, corpus, expected)
    audio_dirs = find_dirs(root, r"flac_[TDE]([_.-].*)?", 3)
    index = index_audio(audio_dirs)
    out: list[Utterance] = []
    for s, path in files.items():
        prefix = _A5_AUDIO[s][:6].lower()  # flac_t / flac_d / flac_e
        home = next((d for d in audio_dirs if d.name.lower().startswith(prefix)),
                    root / _A5_AUDIO[s])  # fmt: skip
        out += records_to_utterances(read_protocol(path), f"{corpus}/{s}", index, home)
    return out


def prepare_asvspoof2017(
    root: Path, split: str | None = None, *, protocol: str | Path | None = None
) -> list[Utterance]:
    """ASVspoof 2017 (replay; version 2.0): train / dev / eval, genuine vs spoof.

    Expected layout::

        ROOT/protocol_V2/ASVspoof2017_V2_{train.trn,dev.trl,eval.trl}.txt
        ROOT/ASVspoof2017_V2_{train,dev,eval}/T_1000001.wav ...

    Protocol lines are ``UTT LABEL SPEAKER PHRASE ENVIRONMENT PLAYBACK RECORDING``;
    ``genuine`` becomes ``bonafide``, ``attack`` is ``ENVIRONMENT-PLAYBACK-RECORDING`` of a
    replayed trial, ``extra`` holds ``phrase``, ``environment``, ``playback`` and
    ``recording``. Ids drop the ``.wav`` (``T_1000001``); ``dataset`` is
    ``asvspoof2017/<split>``. Version 1 names (``ASVspoof2017_train.trn.txt``) work too.

    Args:
        root: the corpus root.
        split: ``train``, ``dev`` or ``eval``; None = every split whose protocol is present.
        protocol: use this protocol file (of the one ``split`` given) instead of searching.
    """
    corpus = "asvspoof2017"
    root = check_root(root, corpus)
    splits = select_splits(split, ("train", "dev", "eval"), corpus)
    expected = (
        f"expected {root}/protocol_V2/ASVspoof2017_V2_{splits[0]}.{_2017_KIND[splits[0]]}.txt"
    )
    files = _protocols(root, splits, _2017_PROTOCOLS, protocol, corpus, expected)
    audio_dirs = find_dirs(root, r"ASVspoof2017[\w.-]*", 3)
    index = index_audio(audio_dirs)
    out: list[Utterance] = []
    for s, path in files.items():
        home = next((d for d in audio_dirs if d.name.lower().endswith(f"_{s}")),
                    root / f"ASVspoof2017_V2_{s}")  # fmt: skip
        out += records_to_utterances(read_protocol(path), f"{corpus}/{s}", index, home, ".wav")
    return out
