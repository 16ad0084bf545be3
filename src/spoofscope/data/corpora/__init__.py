"""Corpus adapters: one pure function per corpus, ``root -> list[Utterance]``.

Every adapter has the signature ``prepare_<corpus>(root, split=None, **options)``; it reads
protocols and lists folders, never writes, and raises :class:`CorpusError` (a
:class:`~spoofscope.errors.SpoofscopeError`) naming what it expected when ``root`` does not
hold the corpus. Audio files that a protocol lists but that are absent keep their expected
path; :func:`spoofscope.data.summary.summarize` finds them. ``CORPORA`` maps corpus names to
the adapters::

    >>> from spoofscope.data.corpora import CORPORA
    >>> "asvspoof2019-la" in CORPORA
    True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spoofscope.data.corpora._common import AUDIO_EXTENSIONS, CorpusError
from spoofscope.data.corpora.asvspoof import (
    prepare_asvspoof2019_la,
    prepare_asvspoof2019_pa,
    prepare_asvspoof2021_df,
    prepare_asvspoof2021_la,
    prepare_asvspoof2021_pa,
)
from spoofscope.data.corpora.asvspoof5 import prepare_asvspoof5, prepare_asvspoof2017
from spoofscope.data.corpora.csv_manifest import prepare_csv
from spoofscope.data.corpora.fake_or_real import prepare_fake_or_real
from spoofscope.data.corpora.folder import prepare_bonafide_folder, prepare_folder
from spoofscope.data.corpora.in_the_wild import prepare_in_the_wild
from spoofscope.data.corpora.wavefake import prepare_wavefake
from spoofscope.data.manifest import Utterance
from spoofscope.registry import Registry

__all__ = [
    "AUDIO_EXTENSIONS",
    "CORPORA",
    "CorpusError",
    "PrepareFn",
    "corpus_options",
    "describe",
    "prepare_corpus",
]

PrepareFn = Callable[..., list[Utterance]]

CORPORA: Registry[PrepareFn] = Registry("corpus")
for _name, _fn in (
    ("asvspoof2019-la", prepare_asvspoof2019_la),
    ("asvspoof2019-pa", prepare_asvspoof2019_pa),
    ("asvspoof2021-la", prepare_asvspoof2021_la),
    ("asvspoof2021-df", prepare_asvspoof2021_df),
    ("asvspoof2021-pa", prepare_asvspoof2021_pa),
    ("asvspoof5", prepare_asvspoof5),
    ("asvspoof2017", prepare_asvspoof2017),
    ("fake-or-real", prepare_fake_or_real),
    ("in-the-wild", prepare_in_the_wild),
    ("wavefake", prepare_wavefake),
    ("folder", prepare_folder),
    ("bonafide-folder", prepare_bonafide_folder),
    ("csv", prepare_csv),
):
    CORPORA.add(_name, _fn)


def corpus_options(name: str) -> dict[str, inspect.Parameter]:
    """The keyword options (beyond ``root`` and ``split``) that corpus ``name`` accepts."""
    params = inspect.signature(CORPORA.get(name)).parameters
    return {k: p for k, p in params.items() if k not in {"root", "split"}}


def describe(name: str) -> str:
    """The first line of the adapter's docstring."""
    return (inspect.getdoc(CORPORA.get(name)) or "").splitlines()[0].replace("``", "")


def prepare_corpus(
    corpus: str, root: str | Path, split: str | None = None, /, **options: Any
) -> list[Utterance]:
    """Run the adapter registered as ``corpus`` (positional-only, so ``name=`` is an option).

    Raises:
        CorpusError: an unknown corpus or option (the message lists the valid ones), or
            whatever the adapter raises.
    """
    try:
        fn = CORPORA.get(corpus)
    except KeyError as exc:
        raise CorpusError(exc.args[0]) from None
    valid = corpus_options(corpus)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise CorpusError(
            f"corpus {corpus!r} has no option {', '.join(map(repr, unknown))}; its options: "
            f"{', '.join(valid) or 'none'}"
        )
    return fn(Path(root), split, **options)
