"""Read CM protocols / keys, CM score files and ASV score files of the ASVspoof corpora.

Lines are split on whitespace (on commas if the line has any). Blank lines and lines starting
with ``#`` are skipped, and so is a first line without a label (CM) or score (score file), a
header. A protocol header that names an id column (``file``, ``filename``, ``utt_id``,
``trial``, ...) is used: ids, speakers (``speaker``) and attacks (``attack``, ``system``) come
from the named columns, the other columns go to ``extra``. Otherwise columns are found
**by value**, not by position:

* **label**: the field in {``bonafide``, ``bona-fide``, ``genuine``, ``spoof``} (any case;
  ``genuine`` and ``bona-fide`` mean bona fide). If several fields are labels they must agree.
* **utterance id**: the first field shaped like an ASVspoof utterance name (``LA_E_2834763``,
  ``DF_E_2000011``, ``PA_T_0000001``, ASVspoof 5 ``E_0000000001``, 2017 ``T_1000001``, with an
  optional audio extension); else the first field with an audio extension (``0.wav``); else,
  in protocols, field 1 when the label is field 2 (``UTT LABEL ...``) and field 2 otherwise
  (``SPEAKER UTT ...``: every ASVspoof protocol since 2019); in score files, the first field
  that is neither the score nor a label.
* **attack** (spoof only): the field just before the first label, unless it is ``-``.
* **score** (score files): the last field that parses as a number.

Known layouts also fill ``speaker`` and ``extra`` (recognised by field count and id shape):
ASVspoof 2019 LA/PA ``SPEAKER UTT ENV ATTACK KEY`` and the ``flac UTT ATTACK KEY`` variant,
ASVspoof 2021 LA ``SPK UTT CODEC TRANSMISSION ATTACK KEY TRIM SUBSET``, DF
``SPK UTT CODEC SOURCE ATTACK KEY TRIM SUBSET [VOCODER TASK TEAM GENDER_PAIR LANGUAGE]``, PA
``SPK UTT ASV_ROOM ASV_MIC DIS_TO_ASV ATT_ROOM ATT_MIC ATT_D ATT_TO_SPK KEY TRIM SUBSET``,
ASVspoof 5 ``SPEAKER UTT GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP`` and
ASVspoof 2017 ``UTT LABEL SPEAKER PHRASE ENVIRONMENT PLAYBACK RECORDING``. ``extra["condition"]``
is the codec where the corpus has one (``-`` read as ``none``). Ids are joined after dropping a
directory and an audio extension, so ``T_1000001.wav`` matches ``T_1000001``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spoofscope.errors import SpoofscopeError

__all__ = [
    "AsvScores",
    "IdMismatchError",
    "ProtocolError",
    "ProtocolRecord",
    "ScoreFile",
    "Trials",
    "join_scores",
    "normalise_id",
    "parse_protocol_line",
    "read_asv_scores",
    "read_protocol",
    "read_scores",
]

LABELS = {"bonafide": "bonafide", "bona-fide": "bonafide", "genuine": "bonafide", "spoof": "spoof"}
ASV_KEYS = ("target", "nontarget", "spoof")
_AUDIO_EXT = re.compile(r"\.(wav|flac|mp3|m4a|ogg|opus|aac|webm)$", re.IGNORECASE)
_ASVSPOOF_ID = re.compile(
    r"^(?:(?:LA|PA|DF)_[TDE]_\d{5,}|[TDE]_\d{7,})(?:\.(?:wav|flac))?$", re.IGNORECASE
)


class ProtocolError(SpoofscopeError, ValueError):
    """A protocol, key or score file cannot be read; the message names the file and line."""


class IdMismatchError(ProtocolError):
    """Scores and protocol do not cover the same utterances, or an id is duplicated."""


@dataclass(frozen=True)
class ProtocolRecord:
    """One trial of a CM protocol.

    Attributes:
        utt_id: the utterance id as written in the protocol.
        label: ``"bonafide"`` or ``"spoof"``.
        attack: attack / system id of a spoof trial (None for bona fide or unknown).
        speaker: speaker id, when the layout has one.
        extra: other named columns, e.g. ``codec``, ``condition``, ``subset``, ``trim``.
    """

    utt_id: str
    label: str
    attack: str | None = None
    speaker: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_bonafide(self) -> bool:
        return self.label == "bonafide"


def normalise_id(utt_id: str) -> str:
    """The join key of an utterance id: no directory, no audio extension."""
    return _AUDIO_EXT.sub("", utt_id.replace("\\", "/").rsplit("/", 1)[-1])


def _split(line: str) -> list[str]:
    if "," in line:
        return [f.strip() for f in line.strip().split(",")]
    return line.split()


def _label_positions(fields: list[str]) -> list[int]:
    return [i for i, f in enumerate(fields) if f.lower() in LABELS]


def _label_of(fields: list[str], where: str) -> tuple[str, int]:
    """(label, index of the first label field) or a ProtocolError."""
    pos = _label_positions(fields)
    if not pos:
        raise ProtocolError(f"{where}: no label field (one of {sorted(LABELS)}) in {fields!r}")
    labels = {LABELS[fields[i].lower()] for i in pos}
    if len(labels) > 1:
        raise ProtocolError(f"{where}: conflicting labels {[fields[i] for i in pos]}")
    return labels.pop(), pos[0]


def _id_by_shape(fields: list[str], skip: set[int]) -> int | None:
    for pattern in (_ASVSPOOF_ID, _AUDIO_EXT):
        for i, f in enumerate(fields):
            if i not in skip and pattern.search(f):
                return i
    return None


def _layout_fields(
    f: list[str], id_idx: int, label: str, speaker: str | None, attack: str | None
) -> tuple[str | None, str | None, dict[str, str]]:
    """Speaker, attack and named extra columns of the known corpus layouts."""
    n, spoof = len(f), label == "spoof"
    is_label = [x.lower() in LABELS for x in f]
    if id_idx == 1 and n in (8, 13) and is_label[5]:  # ASVspoof 2021 LA / DF keys
        second = "source" if f[1].upper().startswith("DF_") else "transmission"
        extra = {"codec": f[2], second: f[3], "trim": f[6], "subset": f[7], "condition": f[2]}
        if n == 13:
            extra.update(
                zip(("vocoder", "task", "team", "gender_pair", "language"), f[8:], strict=True)
            )
        return speaker, (f[4] if spoof and f[4] != "-" else None), extra
    if id_idx == 1 and n == 12 and is_label[9] and f[1].upper().startswith("PA_"):  # 2021 PA
        names = ("asv_room", "asv_mic", "dis_to_asv", "att_room", "att_mic", "att_d", "att_to_spk")
        extra = dict(zip(names, f[2:9], strict=True)) | {"trim": f[10], "subset": f[11]}
        return speaker, ("-".join(f[5:9]) if spoof else None), extra
    if id_idx == 1 and n == 10 and is_label[8] and re.fullmatch(r"[TDE]_\d{10}", f[1]):
        names = ("gender", "codec", "codec_q", "codec_seed", "attack_tag")
        extra = dict(zip(names, f[2:7], strict=True))
        extra["condition"] = "none" if f[3] == "-" else f[3]
        return speaker, (f[7] if spoof and f[7] != "-" else None), extra  # ASVspoof 5
    if id_idx == 0 and n == 7 and is_label[1]:  # ASVspoof 2017
        names = ("phrase", "environment", "playback", "recording")
        replay = "-".join(f[4:7]) if any(x != "-" for x in f[4:7]) else None
        return f[2], (replay if spoof else None), dict(zip(names, f[3:], strict=True))
    if id_idx == 1 and n == 5 and is_label[4] and f[2] != "-":  # ASVspoof 2019 PA
        return speaker, attack, {"environment": f[2]}
    return speaker, attack, {}


def parse_protocol_line(line: str, where: str = "<line>") -> ProtocolRecord:
    """Parse one CM protocol / key line (see the module docstring for the rules).

    Example:
        >>> r = parse_protocol_line("LA_0039 LA_E_2834763 - A11 spoof")
        >>> r.utt_id, r.label, r.attack, r.speaker
        ('LA_E_2834763', 'spoof', 'A11', 'LA_0039')
        >>> r = parse_protocol_line("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval")
        >>> r.attack, r.extra["codec"], r.extra["subset"]
        ('A07', 'alaw', 'eval')
    """
    fields = _split(line)
    label, first = _label_of(fields, where)
    label_idx = set(_label_positions(fields))
    id_idx = _id_by_shape(fields, label_idx)
    if id_idx is None:
        id_idx = 0 if first == 1 else 1
        if id_idx >= len(fields) or id_idx in label_idx:
            raise ProtocolError(f"{where}: cannot find the utterance id in {fields!r}")
    attack = None
    if label == "spoof" and first >= 1 and first - 1 != id_idx and fields[first - 1] != "-":
        attack = fields[first - 1]
    speaker = fields[0] if id_idx == 1 and fields[0].lower() not in {"-", "flac", "wav"} else None
    speaker, attack, extra = _layout_fields(fields, id_idx, label, speaker, attack)
    return ProtocolRecord(fields[id_idx], label, attack, speaker, extra)


def _data_lines(path: Path):
    """(line number, stripped line) of non-blank, non-comment lines; names a missing file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{path}: cannot read ({exc})") from None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield lineno, line


_HEADER_NAMES = {
    "utt_id": {"file", "filename", "flac_file_name", "utt", "utt_id", "utterance", "trial"}
    | {"trial_anon", "id", "path", "audio"},
    "speaker": {"speaker", "spk", "speaker_id", "tar_spk_anon"},
    "attack": {"attack", "attack_id", "attack_label", "attack_anon", "system", "system_id"},
}


def _header_roles(names: list[str]) -> dict[str, int] | None:
    """Column index of the id / speaker / attack named in a header (None without an id)."""
    lowered = [x.lower() for x in names]
    roles: dict[str, int] = {}
    for role, accepted in _HEADER_NAMES.items():
        hit = next((i for i, x in enumerate(lowered) if x in accepted), None)
        if hit is not None:
            roles[role] = hit
    return roles if "utt_id" in roles else None


def _parse_with_header(
    fields: list[str], names: list[str], roles: dict[str, int], where: str
) -> ProtocolRecord:
    """A line of a protocol whose header names its columns (e.g. ``file,speaker,label``)."""
    if len(fields) != len(names):
        raise ProtocolError(f"{where}: {len(fields)} fields, but the header has {len(names)}")
    label, _ = _label_of(fields, where)
    attack = fields[roles["attack"]] if "attack" in roles and label == "spoof" else None
    speaker = fields[roles["speaker"]] if "speaker" in roles else None
    used = {roles[r] for r in _HEADER_NAMES if r in roles}
    extra = {names[i]: f for i, f in enumerate(fields) if i not in used and f.lower() not in LABELS}
    if "codec" in extra:
        extra["condition"] = "none" if extra["codec"] == "-" else extra["codec"]
    return ProtocolRecord(
        fields[roles["utt_id"]], label, None if attack == "-" else attack, speaker, extra
    )


def read_protocol(path: str | Path) -> list[ProtocolRecord]:
    """Read a CM protocol or key file into records, in file order.

    Raises:
        ProtocolError: unreadable file, a line without a label or id (``file:line`` named),
            or no trials at all.
        IdMismatchError: an utterance id appears twice.
    """
    path = Path(path)
    records: list[ProtocolRecord] = []
    roles: dict[str, int] | None = None
    header: list[str] = []
    for n, (lineno, line) in enumerate(_data_lines(path)):
        if n == 0 and not _label_positions(_split(line)):
            header = _split(line)  # a header: used if it names the id column
            roles = _header_roles(header)
            continue
        where = f"{path}:{lineno}"
        if roles:
            records.append(_parse_with_header(_split(line), header, roles, where))
        else:
            records.append(parse_protocol_line(line, where))
    if not records:
        raise ProtocolError(f"{path}: no trials found")
    _check_unique([r.utt_id for r in records], f"protocol {path}")
    return records


def _check_unique(ids: list[str], what: str) -> None:
    dup = [k for k, c in Counter(normalise_id(i) for i in ids).items() if c > 1]
    if dup:
        raise IdMismatchError(f"{what}: {len(dup)} duplicated utterance id(s), e.g. {dup[:3]}")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass
class ScoreFile:
    """A CM score file.

    Attributes:
        path: where it was read from.
        scores: ``(N,)`` float64 scores (higher = more bona fide, unless negated later).
        utt_ids: ``N`` ids, or None for ``SCORE LABEL`` files.
        labels: ``N`` ``"bonafide"``/``"spoof"`` when the file carries keys, else None.
        attacks: ``N`` attack ids (None for bona fide) when the file has them, else None.
    """

    path: str
    scores: np.ndarray
    utt_ids: list[str] | None
    labels: list[str] | None
    attacks: list[str | None] | None


def read_scores(path: str | Path) -> ScoreFile:
    """Read ``UTT SCORE``, ``UTT ATTACK KEY SCORE``, ``SCORE LABEL`` (and similar) score files.

    The layout (field count, score / id / attack columns) is taken from the first data line
    and every later line must follow it.

    Raises:
        ProtocolError: unreadable file, a malformed line (``file:line`` named) or a NaN / inf
            score.
        IdMismatchError: an utterance id appears twice.
    """
    path = Path(path)
    ids: list[str] = []
    scores: list[float] = []
    labels: list[str] = []
    attacks: list[str | None] = []
    layout = None
    for n, (lineno, line) in enumerate(_data_lines(path)):
        where = f"{path}:{lineno}"
        fields = _split(line)
        if layout is None:
            numeric = [i for i, f in enumerate(fields) if _float(f) is not None]
            if not numeric:
                if n == 0:
                    continue  # header
                raise ProtocolError(f"{where}: no score in {fields!r}")
            layout = _score_layout(fields, numeric[-1])
        n_fields, score_i, id_i, attack_i, has_label = layout
        if len(fields) != n_fields:
            raise ProtocolError(
                f"{where}: expected {n_fields} fields like the first line, got "
                f"{len(fields)}: {fields!r}"
            )
        value = _float(fields[score_i])
        if value is None or not np.isfinite(value):
            raise ProtocolError(f"{where}: score {fields[score_i]!r} is not a finite number")
        scores.append(value)
        if id_i is not None:
            ids.append(fields[id_i])
        if has_label:
            label, _ = _label_of(fields, where)
            labels.append(label)
            bona = label == "bonafide"
            attacks.append(None if attack_i is None or bona else fields[attack_i])
    if not scores:
        raise ProtocolError(f"{path}: no scores found")
    if ids:
        _check_unique(ids, f"score file {path}")
    return ScoreFile(
        str(path),
        np.asarray(scores, dtype=np.float64),
        ids or None,
        labels or None,
        attacks if labels and any(a is not None for a in attacks) else None,
    )


def _score_layout(fields: list[str], score_i: int):
    label_pos = [i for i in _label_positions(fields) if i != score_i]
    skip = {score_i, *label_pos}
    id_i = _id_by_shape(fields, skip)
    if id_i is None:
        rest = [i for i in range(len(fields)) if i not in skip]
        id_i = rest[0] if rest else None
    attack_i = None
    if label_pos and label_pos[0] >= 1 and label_pos[0] - 1 not in {score_i, id_i}:
        attack_i = label_pos[0] - 1
    return len(fields), score_i, id_i, attack_i, bool(label_pos)


@dataclass
class AsvScores:
    """ASV scores split by key; ``(N,)`` float64 arrays."""

    target: np.ndarray
    nontarget: np.ndarray
    spoof: np.ndarray


def read_asv_scores(path: str | Path) -> AsvScores:
    """Read an ASV score file (``SOURCE KEY SCORE``; KEY found by value, score = last number).

    Raises:
        ProtocolError: unreadable file, a line without key or score, or an empty class.
    """
    path = Path(path)
    parts: dict[str, list[float]] = {k: [] for k in ASV_KEYS}
    for n, (lineno, line) in enumerate(_data_lines(path)):
        fields = _split(line)
        lowered = {f.lower() for f in fields}
        key = next((k for k in ASV_KEYS if k in lowered), None)
        last = _float(fields[-1])
        numbers = [last] if last is not None else [v for v in map(_float, fields) if v is not None]
        if key is None or not numbers:
            if n == 0:
                continue  # header
            raise ProtocolError(
                f"{path}:{lineno}: expected 'SOURCE target|nontarget|spoof SCORE', got {fields!r}"
            )
        if not np.isfinite(numbers[-1]):
            raise ProtocolError(f"{path}:{lineno}: ASV score {numbers[-1]!r} is not finite")
        parts[key].append(numbers[-1])
    for key, values in parts.items():
        if not values:
            raise ProtocolError(
                f"{path}: no {key!r} trials; t-DCF needs target, nontarget and spoof ASV scores"
            )
    return AsvScores(*(np.asarray(parts[k], dtype=np.float64) for k in ASV_KEYS))


@dataclass
class Trials:
    """Scored trials with their keys, ready for the metrics.

    Attributes:
        scores: ``(N,)`` float64 CM scores.
        is_bonafide: ``(N,)`` bool.
        attacks: ``N`` attack ids (None for bona fide / unknown).
        conditions: ``N`` conditions (codec) or None.
        utt_ids: ``N`` ids, or None when the score file has none.
    """

    scores: np.ndarray
    is_bonafide: np.ndarray
    attacks: list[str | None]
    conditions: list[str | None]
    utt_ids: list[str] | None = None

    @property
    def bonafide(self) -> np.ndarray:
        return self.scores[self.is_bonafide]

    @property
    def spoof(self) -> np.ndarray:
        return self.scores[~self.is_bonafide]


def join_scores(
    scores: ScoreFile, protocol: list[ProtocolRecord] | None = None, subset: str | None = None
) -> Trials:
    """Attach keys to scores: from ``protocol`` (joined by id) or from the score file itself.

    Args:
        scores: the score file.
        protocol: CM protocol records; None if the score file carries its own keys.
        subset: keep only protocol trials whose ``extra["subset"]`` equals this (e.g. ``eval``
            of the ASVspoof 2021 keys).

    Raises:
        ProtocolError: no keys available, or a subset that selects nothing.
        IdMismatchError: protocol trials without a score, scores without a protocol trial, or
            labels that disagree between the score file and the protocol.
    """
    if protocol is None:
        if scores.labels is None:
            raise ProtocolError(f"{scores.path} carries no bonafide/spoof keys: give a protocol")
        n = scores.scores.size
        return Trials(
            scores.scores,
            np.array([lab == "bonafide" for lab in scores.labels]),
            scores.attacks or [None] * n,
            [None] * n,
            scores.utt_ids,
        )
    if scores.utt_ids is None:
        raise ProtocolError(
            f"{scores.path} has no utterance ids, so it cannot be joined with a "
            "protocol; use a score file with ids or drop the protocol"
        )
    if subset is not None:
        protocol = [r for r in protocol if r.extra.get("subset") == subset]
        if not protocol:
            raise ProtocolError(f"no protocol trials in subset {subset!r}")
    index = {normalise_id(u): i for i, u in enumerate(scores.utt_ids)}
    wanted = {normalise_id(r.utt_id) for r in protocol}
    missing = [r.utt_id for r in protocol if normalise_id(r.utt_id) not in index]
    extra = [u for u in scores.utt_ids if normalise_id(u) not in wanted]
    if missing or extra:
        raise IdMismatchError(
            f"scores {scores.path} and the protocol do not match: {len(missing)} protocol "
            f"trial(s) have no score (e.g. {missing[:3]}), {len(extra)} scored id(s) are not "
            f"in the protocol (e.g. {extra[:3]})"
        )
    rows = np.array([index[normalise_id(r.utt_id)] for r in protocol], dtype=np.int64)
    if scores.labels is not None:
        bad = [r.utt_id for r, i in zip(protocol, rows, strict=True) if scores.labels[i] != r.label]
        if bad:
            raise IdMismatchError(
                f"{len(bad)} trial(s) are labelled differently in "
                f"{scores.path} and the protocol, e.g. {bad[:3]}"
            )
    return Trials(
        scores.scores[rows],
        np.array([r.is_bonafide for r in protocol]),
        [r.attack for r in protocol],
        [r.extra.get("condition") for r in protocol],
        [r.utt_id for r in protocol],
    )
