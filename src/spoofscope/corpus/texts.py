"""Texts for the TTS attacks, assigned to train / dev / eval so that no text is in two splits.

Two pools:

* the asterisk prompt transcripts (cleaned: tone descriptions dropped, ellipses removed, digits
  spelled out), which are the texts of the train-split bona fide asterisk recordings;
* sentences and short phrases made here from templates and word lists written for this project
  (telephone-style requests, times, dates, numbers; no text corpus is copied).

:func:`assign_texts` maps every normalised text to one split: asterisk transcripts to the split
of the asterisk speaker, the digit words to the splits given (FSDD), the rest by a seeded draw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

SPLITS = ("train", "dev", "eval")


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_ONES = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS = _words("_ _ twenty thirty forty fifty sixty seventy eighty ninety")


def number_words(n: int) -> str:
    """English words for ``0 <= n < 1_000_000``.

    Example:
        >>> number_words(342)
        'three hundred forty two'
    """
    if n < 0 or n >= 1_000_000:
        raise ValueError(f"number_words: {n} is outside 0..999999")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " " + number_words(n % 100)
        return _ONES[n // 100] + " hundred" + rest
    rest = "" if n % 1000 == 0 else " " + number_words(n % 1000)
    return number_words(n // 1000) + " thousand" + rest


def normalise(text: str) -> str:
    """The comparison key of a text: lower case letters, digits and single spaces."""
    return " ".join(re.sub(r"[^a-z0-9']+", " ", text.lower()).split())


def text_key(text: str) -> str:
    """The key that decides a text's split: :func:`normalise` of :func:`clean_prompt`."""
    return normalise(clean_prompt(text) or text)


def clean_prompt(text: str) -> str | None:
    """A transcript made speakable: None for tone descriptions, ellipses gone, digits as words.

    Example:
        >>> clean_prompt("...to exit the menu.")
        'To exit the menu.'
        >>> clean_prompt("Press 1 to mute...")
        'Press one to mute.'
    """
    text = text.strip()
    if not text or text.startswith("["):
        return None
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text)
    text = re.sub(r"\d+", lambda m: " " + number_words(int(m.group()) % 1_000_000) + " ", text)
    text = re.sub(r"^\s*(\.\.\.|…)\s*", "", text)
    text = re.sub(r"\s*(\.\.\.|…)\s*$", ".", text)
    text = re.sub(r"\s*(\.\.\.|…)\s*", ", ", text)
    text = " ".join(text.replace(" ,", ",").replace(" .", ".").split())
    if not re.search(r"[A-Za-z]", text):
        return None
    return text[0].upper() + text[1:]


_NAMES = _words(
    "Maria Jonah Priya Tomas Ingrid Kwame Elena Rafael Yuki Dmitri Amara Henrik Lucia Omar Fiona "
    "Mateo Sofia Aaron Chloe Ravi Nadia Felix Greta Hugo Leila Marcus Noor Oscar Paula Quentin"
)
_PLACES = _words(
    "the front desk|the billing office|the pharmacy|the north entrance|the service center|"
    "the main branch|the loading dock|the second floor|the parking garage|the clinic|"
    "the warehouse|the reception area|the east wing|the downtown office|the help desk",
    "|",
)
_THINGS = _words(
    "your order|the invoice|the package|your prescription|the contract|your statement|"
    "the replacement card|the repair estimate|your reservation|the delivery|the refund|"
    "the appointment reminder|your new password|the insurance form|the account summary",
    "|",
)
_DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
_MONTHS = _words(
    "January February March April May June July August September October November December"
)
_ORDINALS = _words(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
)
_TEMPLATES = (
    "Please call {name} back before {time}.",
    "{thing} will arrive on {day}.",
    "Your appointment is on {day} the {ordinal} at {time}.",
    "Meet me at {place} at {time}.",
    "The balance on your account is {money}.",
    "{name} left a message about {thing}.",
    "We could not confirm {thing} today.",
    "Press {digit} to speak with {name}.",
    "Your confirmation number is {digits}.",
    "{thing} is ready for pickup at {place}.",
    "The meeting moved to {day} at {time}.",
    "Please bring {thing} to {place}.",
    "I will be at {place} until {time}, then I am heading home.",
    "Did {name} sign {thing} on {month} {ordinal}?",
    "Your payment of {money} was received on {month} {ordinal}.",
    "Call {digits} if you need help with {thing}.",
    "Hello {name}, this is a reminder about {thing}.",
    "The office opens at {time} on {day}.",
    "Sorry, {name} is not available right now.",
    "To repeat this message, press {digit}.",
    "Please hold while we transfer you to {place}.",
    "Is {thing} still waiting at {place}?",
    "{name} and {name2} will visit {place} on {day}.",
    "We have updated {thing}, and a copy is on its way.",
)
_SHORT = _words(
    "Hello.|Goodbye.|Thank you.|Yes, please.|No, thanks.|One moment.|Hold on.|Of course.|"
    "Not today.|Sounds good.|Say again?|Right away.|Good morning.|Good evening.|See you soon.|"
    "Just a second.|That is correct.|Please wait.|Try again.|Welcome back.|Speak now.|"
    "I understand.|Not a problem.|Call me later.|Anything else?|Got it.|Main menu.|"
    "Wrong number.|All set.|Almost done.",
    "|",
)


def _time(rng: np.random.Generator) -> str:
    hour = int(rng.integers(1, 13))
    minute = int(rng.choice([0, 15, 30, 45, int(rng.integers(1, 60))]))
    part = str(rng.choice(["in the morning", "in the afternoon", "", "", "p m", "a m"]))
    mins = (
        "" if minute == 0 else " o " + _ONES[minute] if minute < 10 else " " + number_words(minute)
    )
    return f"{number_words(hour)}{mins}{' ' + part if part else ''}".strip()


def _fill(template: str, rng: np.random.Generator) -> str:
    def pick(seq: tuple[str, ...] | list[str]) -> str:
        return str(seq[int(rng.integers(len(seq)))])

    name, name2 = rng.choice(len(_NAMES), size=2, replace=False)
    dollars = int(rng.integers(2, 2000))
    cents = int(rng.integers(0, 100))
    money = f"{number_words(dollars)} dollars" + (
        f" and {number_words(cents)} cents" if cents else ""
    )
    digits = " ".join(_ONES[int(d)] for d in rng.integers(0, 10, size=int(rng.integers(4, 8))))
    text = template.format(
        name=_NAMES[name],
        name2=_NAMES[name2],
        place=pick(_PLACES),
        thing=pick(_THINGS),
        day=pick(_DAYS),
        month=pick(_MONTHS),
        ordinal=pick(_ORDINALS),
        time=_time(rng),
        money=money,
        digit=_ONES[int(rng.integers(0, 10))],
        digits=digits,
    )
    return text[0].upper() + text[1:]


def generated_texts(n: int, seed: int = 0) -> list[str]:
    """The short phrases, some number words and ``n`` distinct template sentences (seeded)."""
    rng = np.random.default_rng([seed, 5150])
    out: dict[str, str] = {normalise(s): s for s in _SHORT}
    for w in range(20, 100, 7):
        out.setdefault(normalise(number_words(w)), number_words(w).capitalize() + ".")
    target = len(out) + n
    tries = 0
    while len(out) < target and tries < 50 * n:
        tries += 1
        text = _fill(_TEMPLATES[int(rng.integers(len(_TEMPLATES)))], rng)
        out.setdefault(normalise(text), text)
    return list(out.values())


def assign_texts(
    texts: Iterable[str],
    seed: int,
    fixed: Mapping[str, str] | None = None,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> dict[str, list[str]]:
    """Give each distinct text (by :func:`normalise`) one split.

    Args:
        texts: candidate texts (duplicates by normalised form are merged).
        seed: random seed of the draw.
        fixed: normalised text -> split for texts whose split is decided elsewhere (the
            transcripts of bona fide speakers in a split).
        fractions: train / dev / eval shares of the free texts.

    Returns:
        split -> texts, every text in exactly one split.
    """
    fixed = dict(fixed or {})
    rng = np.random.default_rng([seed, 7])
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    probs = np.asarray(fractions, dtype=float) / sum(fractions)
    for text in texts:
        key = text_key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        split = fixed.get(key) or SPLITS[int(rng.choice(3, p=probs))]
        out[split].append(text)
    return out


def expected_duration(text: str) -> float:
    """A rough spoken length in seconds after trimming (about 16 characters a second, plus
    pauses; measured on the TTS attacks of a small build)."""
    return 0.2 + len(text) / 16.5 + 0.2 * sum(text.count(c) for c in ",.?!;")
