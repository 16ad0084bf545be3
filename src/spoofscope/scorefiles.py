"""Read CM score files and ASV score files, and join scores with a protocol.

Field detection follows the rules in :mod:`spoofscope.protocols`: the score is the last field
that parses as a number, the label (if any) is found by value, and the utterance id by shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spoofscope.protocols import (
    ASV_KEYS,
    IdMismatchError,
    ProtocolError,
    ProtocolRecord,
    check_unique_ids,
    data_lines,
    id_field_by_shape,
    label_of,
    label_positions,
    normalise_id,
    parse_float,
    split_fields,
)

__all__ = ["AsvScores", "ScoreFile", "Trials", "join_scores", "read_asv_scores", "read_scores"]


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
    for n, (lineno, line) in enumerate(data_lines(path)):
        where = f"{path}:{lineno}"
        fields = split_fields(line)
        if layout is None:
            numeric = [i for i, f in enumerate(fields) if parse_float(f) is not None]
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
        value = parse_float(fields[score_i])
        if value is None or not np.isfinite(value):
            raise ProtocolError(f"{where}: score {fields[score_i]!r} is not a finite number")
        scores.append(value)
        if id_i is not None:
            ids.append(fields[id_i])
        if has_label:
            label, _ = label_of(fields, where)
            labels.append(label)
            bona = label == "bonafide"
            attacks.append(None if attack_i is None or bona else fields[attack_i])
    if not scores:
        raise ProtocolError(f"{path}: no scores found")
    if ids:
        check_unique_ids(ids, f"score file {path}")
    return ScoreFile(
        str(path),
        np.asarray(scores, dtype=np.float64),
        ids or None,
        labels or None,
        attacks if labels and any(a is not None for a in attacks) else None,
    )


def _score_layout(fields: list[str], score_i: int):
    label_pos = [i for i in label_positions(fields) if i != score_i]
    skip = {score_i, *label_pos}
    id_i = id_field_by_shape(fields, skip)
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
    for n, (lineno, line) in enumerate(data_lines(path)):
        fields = split_fields(line)
        lowered = {f.lower() for f in fields}
        key = next((k for k in ASV_KEYS if k in lowered), None)
        last = parse_float(fields[-1])
        numbers = (
            [last] if last is not None else [v for v in map(parse_float, fields) if v is not None]
        )
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
