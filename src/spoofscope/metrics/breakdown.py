"""Per-attack and per-condition EER breakdowns, as in the ASVspoof evaluation packages.

* **By attack** (a spoof-only factor such as A07..A19): every bona fide trial against the spoof
  trials of one attack (ASVspoof 2019 ``eer_cm_breakdown``, 2021 factor type ``spoof``).
* **By condition** (a factor of both classes, such as the codec of ASVspoof 2021 LA / DF or
  ASVspoof 5): the bona fide trials of one condition against the spoof trials of the same
  condition (2021 factor type ``both``). A condition without trials of both classes gets no EER.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spoofscope.metrics.det import eer
from spoofscope.metrics.errors import MetricInputError, as_scores

__all__ = ["GroupEER", "eer_by_attack", "eer_by_condition"]


@dataclass(frozen=True)
class GroupEER:
    """The EER of one group of trials.

    Attributes:
        group: the attack or condition name.
        n_bonafide: bona fide trials used.
        n_spoof: spoof trials used.
        eer: official EER (fraction), or None if the group lacks one of the classes.
    """

    group: str
    n_bonafide: int
    n_spoof: int
    eer: float | None


def _inputs(
    scores: object, is_bonafide: object, groups: Sequence[str | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = as_scores(scores, "CM")
    bona = np.asarray(is_bonafide, dtype=bool).reshape(-1)
    g = np.array(["" if x is None else str(x) for x in groups], dtype=object)
    if not s.size == bona.size == g.size:
        raise MetricInputError(
            f"scores ({s.size}), labels ({bona.size}) and groups ({g.size}) differ in length"
        )
    return s, bona, g


def eer_by_attack(
    scores: object, is_bonafide: object, attacks: Sequence[str | None]
) -> list[GroupEER]:
    """EER of each attack: all bona fide trials pooled against that attack's spoof trials.

    Args:
        scores: ``(N,)`` CM scores (higher = more bona fide).
        is_bonafide: ``(N,)`` True for bona fide trials.
        attacks: ``(N,)`` attack ID per trial (ignored for bona fide; None or "" = unknown).

    Returns:
        One :class:`GroupEER` per attack seen on spoof trials, sorted by name.

    Example:
        >>> rows = eer_by_attack([0.9, 0.8, 0.1, 0.85], [True, True, False, False],
        ...                      [None, None, "A01", "A02"])
        >>> [(r.group, r.eer) for r in rows]
        [('A01', 0.0), ('A02', 0.75)]
    """
    s, bona, g = _inputs(scores, is_bonafide, attacks)
    bona_scores = s[bona]
    out = []
    for name in sorted(set(g[~bona]) - {""}):
        spoof = s[~bona & (g == name)]
        value = eer(bona_scores, spoof) if bona_scores.size else None
        out.append(GroupEER(name, int(bona_scores.size), int(spoof.size), value))
    return out


def eer_by_condition(
    scores: object, is_bonafide: object, conditions: Sequence[str | None]
) -> list[GroupEER]:
    """EER of each condition (e.g. codec): its bona fide trials against its spoof trials.

    Args:
        scores: ``(N,)`` CM scores.
        is_bonafide: ``(N,)`` True for bona fide trials.
        conditions: ``(N,)`` condition per trial (None or "" = unknown, skipped).

    Example:
        >>> rows = eer_by_condition([0.9, 0.2, 0.1, 0.5], [True, True, False, False],
        ...                         ["none", "gsm", "none", "gsm"])
        >>> [(r.group, r.n_bonafide, r.eer) for r in rows]
        [('gsm', 1, 1.0), ('none', 1, 0.0)]
    """
    s, bona, g = _inputs(scores, is_bonafide, conditions)
    out = []
    for name in sorted(set(g) - {""}):
        in_group = g == name
        b, sp = s[in_group & bona], s[in_group & ~bona]
        value = eer(b, sp) if b.size and sp.size else None
        out.append(GroupEER(name, int(b.size), int(sp.size), value))
    return out
