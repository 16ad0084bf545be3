"""Train / dev / eval: disjoint in bona fide speakers, TTS voices and texts.

* Speakers: the single asterisk speaker goes wholly to train (see docs/corpus.md); every other
  source's speakers are shuffled (seeded) and dealt 55 / 20 / 25 %, at least one per split
  when the source has three or more (FSDD: 3 / 1 / 2, LibriSpeech: 138 / 50 / 63).
* Texts (:mod:`.texts`): a text belongs to one split. FSDD says only the ten digits, so the
  digit words are dealt too (six to train, two to dev, two to eval) and an FSDD or asterisk
  recording whose text belongs to another split is left out.
* Attacks: role ``"train"`` attacks appear in every split, role ``"eval"`` attacks only in eval.
  Copy-synthesis in a split starts only from that split's bona fide clips.
* TTS voices (:func:`voices_for`): engines that split their voices themselves
  (``voice_pool(split)`` differing by split) are used as they are; an engine with one pool is
  split here: three or more voices dealt round robin, two voices as train = the first,
  dev and eval = the second (train and eval disjoint), one voice shared (documented). An
  eval-only attack uses its whole pool in eval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from spoofscope.corpus.sources import DIGIT_WORDS, Recording
from spoofscope.corpus.texts import SPLITS, text_key

FRACTIONS = (0.55, 0.2, 0.25)
ASTERISK_SPLIT = "train"
#: relative share of the bona fide clips of a split drawn from each source (others: 1.0)
SOURCE_WEIGHTS = {"asterisk": 1.0, "fsdd": 0.5, "librispeech": 1.5}


def assign_speakers(
    recordings: Iterable[Recording], seed: int, fractions: Sequence[float] = FRACTIONS
) -> dict[str, str]:
    """speaker -> split (see the module docstring)."""
    by_source: dict[str, set[str]] = defaultdict(set)
    for rec in recordings:
        by_source[rec.source].add(rec.speaker)
    out: dict[str, str] = {}
    for source in sorted(by_source):
        speakers = sorted(by_source[source])
        if source == "asterisk":
            out.update(dict.fromkeys(speakers, ASTERISK_SPLIT))
            continue
        rng = np.random.default_rng([seed, _stable(source)])
        rng.shuffle(speakers)
        n = len(speakers)
        if n < 3:
            counts = [n, 0, 0]
        else:
            n_dev = max(1, int(round(n * fractions[1])))
            n_eval = max(1, int(round(n * fractions[2])))
            counts = [n - n_dev - n_eval, n_dev, n_eval]
        start = 0
        for split, count in zip(SPLITS, counts, strict=True):
            for spk in speakers[start : start + count]:
                out[spk] = split
            start += count
    return out


def _stable(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def digit_splits(seed: int) -> dict[str, str]:
    """digit word -> split: two digits for dev, two for eval, six for train."""
    order = list(np.random.default_rng([seed, 10]).permutation(10))
    return {
        DIGIT_WORDS[d]: ("dev" if i < 2 else "eval" if i < 4 else "train")
        for i, d in enumerate(order)
    }


@dataclass
class BonafidePlan:
    """The recordings each split may draw bona fide clips from, and the fixed texts."""

    speaker_split: dict[str, str]
    pools: dict[str, list[Recording]]
    fixed_texts: dict[str, str]  # normalised text -> split
    dropped_for_text: int


def plan_bonafide(recordings: Sequence[Recording], seed: int) -> BonafidePlan:
    """Assign speakers, fix the texts they say, drop recordings whose text lives elsewhere."""
    speaker_split = assign_speakers(recordings, seed)
    fixed: dict[str, str] = {}
    for word, split in digit_splits(seed).items():
        fixed[word] = split
    for rec in recordings:  # transcripts of the speakers' splits (first wins)
        if rec.text and rec.source != "fsdd":
            fixed.setdefault(text_key(rec.text), speaker_split[rec.speaker])
    pools: dict[str, list[Recording]] = {s: [] for s in SPLITS}
    dropped = 0
    for rec in recordings:
        split = speaker_split[rec.speaker]
        if rec.text and fixed.get(text_key(rec.text), split) != split:
            dropped += 1
            continue
        pools[split].append(rec)
    return BonafidePlan(speaker_split, pools, fixed, dropped)


def source_quotas(pool: Sequence[Recording], n: int) -> dict[str, int]:
    """How many of ``n`` clips each source of ``pool`` gives (by SOURCE_WEIGHTS)."""
    sources = sorted({r.source for r in pool})
    if not sources or n <= 0:
        return {}
    weights = np.array([SOURCE_WEIGHTS.get(s, 1.0) for s in sources])
    raw = weights / weights.sum() * n
    quotas = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - quotas))[: n - quotas.sum()]:
        quotas[i] += 1
    return dict(zip(sources, quotas.tolist(), strict=True))


def round_robin(recs: Sequence[Recording], rng: np.random.Generator) -> list[Recording]:
    """``recs`` shuffled, then dealt across speakers (every speaker's first, then second...)."""
    by_spk: dict[str, list[Recording]] = defaultdict(list)
    for i in rng.permutation(len(recs)):
        by_spk[recs[i].speaker].append(recs[i])
    speakers = sorted(by_spk)
    rng.shuffle(speakers)
    out: list[Recording] = []
    depth = max((len(v) for v in by_spk.values()), default=0)
    for k in range(depth):
        out.extend(by_spk[s][k] for s in speakers if k < len(by_spk[s]))
    return out


def voices_for(generator: object, split: str, role: str = "train") -> list[str] | None:
    """The TTS voices ``generator`` may use in ``split`` (None: it has no voice choice).

    An eval-only attack (``role == "eval"``) keeps its whole pool: no other split uses it.
    """
    pool_of = getattr(generator, "voice_pool", None)
    if pool_of is None:
        return None
    pools = {s: list(pool_of(s)) for s in SPLITS}
    if role == "eval":
        return sorted({v for p in pools.values() for v in p})
    if any(pools[a] != pools[b] for a in SPLITS for b in SPLITS):
        return pools[split]
    voices = pools[split]
    if len(voices) >= 3:
        return voices[SPLITS.index(split) :: 3]
    if len(voices) == 2:
        return [voices[0]] if split == "train" else [voices[1]]
    return voices


def check_disjoint(rows: Iterable[dict], key: str) -> dict[str, set[str]]:
    """Values of ``key`` that occur in more than one split (empty when disjoint).

    Args:
        rows: dicts with ``"split"`` and ``key``.
        key: e.g. ``"speaker"`` or ``"text"``.
    """
    where: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.get(key):
            where[str(row[key])].add(row["split"])
    return {k: v for k, v in where.items() if len(v) > 1}
