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

from spoofscope.errors import SpoofscopeError

__all__ = [
    "IdMismatchError",
    "ProtocolError",
    "ProtocolRecord",
    "normalise_id",
    "parse_protocol_line",
    "read_protocol",
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


def split_fields(line: str) -> list[str]:
    if "," in line:
        return [f.strip() for f in line.strip().split(",")]
    return line.split()


def label_positions(fields: list[str]) -> list[int]:
    return [i for i, f in enumerate(fields) if f.lower() in LABELS]


def label_of(fields: list[str], where: str) -> tuple[str, int]:
    """(label, index of the first label field) or a ProtocolError."""
    pos = label_positions(fields)
    if not pos:
        raise ProtocolError(f"{where}: no label field (one of {sorted(LABELS)}) in {fields!r}")
    labels = {LABELS[fields[i].lower()] for i in pos}
    if len(labels) > 1:
        raise ProtocolError(f"{where}: conflicting labels {[fields[i] for i in pos]}")
    return labels.pop(), pos[0]


def id_field_by_shape(fields: list[str], skip: set[int]) -> int | None:
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
    fields = split_fields(line)
    label, first = label_of(fields, where)
    label_idx = set(label_positions(fields))
    id_idx = id_field_by_shape(fields, label_idx)
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


def data_lines(path: Path):
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
    label, _ = label_of(fields, where)
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
    for n, (lineno, line) in enumerate(data_lines(path)):
        if n == 0 and not label_positions(split_fields(line)):
            header = split_fields(line)  # a header: used if it names the id column
            roles = _header_roles(header)
            continue
        where = f"{path}:{lineno}"
        if roles:
            records.append(_parse_with_header(split_fields(line), header, roles, where))
        else:
            records.append(parse_protocol_line(line, where))
    if not records:
        raise ProtocolError(f"{path}: no trials found")
    check_unique_ids([r.utt_id for r in records], f"protocol {path}")
    return records


def check_unique_ids(ids: list[str], what: str) -> None:
    dup = [k for k, c in Counter(normalise_id(i) for i in ids).items() if c > 1]
    if dup:
        raise IdMismatchError(f"{what}: {len(dup)} duplicated utterance id(s), e.g. {dup[:3]}")


def parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
