"""``spoofscope prepare``: a corpus folder -> a JSONL manifest, with a summary of what is in it."""

from __future__ import annotations

import argparse

NAME = "prepare"
HELP = (
    "write a JSONL manifest of a corpus (ASVspoof 2017/2019/2021/5, In-the-Wild, Fake-or-Real, "
    "WaveFake, real/fake folders, bona-fide folders, CSV) and summarise it"
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus", nargs="?", metavar="CORPUS", help="corpus name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the corpora and their options")
    parser.add_argument("--root", metavar="DIR", help="the corpus folder (csv: the CSV file)")
    parser.add_argument("--out", metavar="FILE", help="manifest to write (JSONL)")
    parser.add_argument(
        "--split",
        help="one split only (train/dev/eval; ASVspoof 2021: the key subset eval/progress/"
        "hidden; Fake-or-Real: training/validation/testing); default: all",
    )
    parser.add_argument(
        "--protocol", metavar="FILE", help="ASVspoof corpora: this protocol / key file"
    )
    parser.add_argument(
        "--ljspeech", metavar="DIR", help="wavefake: the LJSpeech-1.1 folder (bona fide)"
    )
    parser.add_argument("--name", help="folder/bonafide-folder/csv: corpus name in ids, dataset")
    parser.add_argument(
        "-O",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other corpus option, e.g. version=for-norm (fake-or-real), "
        "vocoders=ljspeech_melgan,ljspeech_hifiGAN or jsut=DIR (wavefake), "
        "speaker_from_parent=true (bonafide-folder), audio_root=DIR (csv)",
    )
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="leave trials whose audio file is absent out of the manifest (default: keep them, "
        "so counts follow the protocol, and report them)",
    )
    parser.add_argument(
        "--duplicates",
        choices=("error", "rename", "drop"),
        default="error",
        help="repeated ids: error = report and write nothing (default); rename = add "
        "#2, #3 ... to later ones; drop = keep the first",
    )
    parser.add_argument(
        "--relative-paths",
        action="store_true",
        help="write audio paths relative to the manifest's folder (default: absolute)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _options(args: argparse.Namespace) -> dict:
    """Named flags and ``--option KEY=VALUE`` pairs, checked against the adapter's signature."""
    from spoofscope.data.corpora import corpus_options
    from spoofscope.errors import SpoofscopeError

    given: dict[str, str] = {}
    for key in ("protocol", "ljspeech", "name"):
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    for item in args.option:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SpoofscopeError(f"--option {item!r}: expected KEY=VALUE")
        given[key] = value.strip()
    valid = corpus_options(args.corpus)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise SpoofscopeError(
            f"corpus {args.corpus!r} has no option {', '.join(unknown)}; its options: "
            f"{', '.join(valid) or 'none'}"
        )
    options: dict = {}
    for key, value in given.items():
        if isinstance(valid[key].default, bool):
            if value.lower() not in _TRUE | _FALSE:
                raise SpoofscopeError(f"option {key}: expected true or false, got {value!r}")
            options[key] = value.lower() in _TRUE
        else:
            options[key] = value
    return options


def _dedupe(utterances: list, mode: str) -> list:
    seen: dict[str, int] = {}
    out = []
    for u in utterances:
        n = seen.get(u.id, 0) + 1
        seen[u.id] = n
        if n == 1:
            out.append(u)
        elif mode == "rename":
            out.append(u.replace(id=f"{u.id}#{n}"))
    return out


def _list() -> int:
    from spoofscope.data.corpora import CORPORA, corpus_options, describe

    for name in CORPORA.names():
        opts = ", ".join(corpus_options(name)) or "-"
        print(f"{name:16s} {describe(name)}\n{'':16s} options: {opts}")
    return 0


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from spoofscope.data.corpora import CORPORA, prepare_corpus
    from spoofscope.data.manifest import write_manifest
    from spoofscope.data.summary import format_summary, summarize
    from spoofscope.errors import SpoofscopeError

    if args.list:
        return _list()
    if not args.corpus:
        raise SpoofscopeError(f"give a CORPUS, one of: {', '.join(CORPORA.names())}")
    if args.corpus not in CORPORA:
        raise SpoofscopeError(
            f"unknown corpus {args.corpus!r}; valid choices: {', '.join(CORPORA.names())}"
        )
    if not args.root or not args.out:
        raise SpoofscopeError("--root and --out are required")
    utterances = prepare_corpus(args.corpus, args.root, args.split, **_options(args))
    if not utterances:
        raise SpoofscopeError(f"{args.corpus}: no utterances found under {args.root}")
    summary = summarize(utterances)
    report = format_summary(summary)
    if summary.duplicates and args.duplicates == "error":
        print(json.dumps(summary.to_dict(), indent=2) if args.json else report)
        raise SpoofscopeError(
            f"{len(summary.duplicates)} id(s) occur more than once (e.g. "
            f"{next(iter(summary.duplicates))!r}); nothing written. Use --duplicates rename "
            "or drop, or fix the source"
        )
    if summary.duplicates:
        utterances = _dedupe(utterances, args.duplicates)
    dropped = 0
    if args.skip_missing and summary.missing:
        missing = set(summary.missing)
        kept = [u for u in utterances if u.path not in missing]
        dropped = len(utterances) - len(kept)
        utterances = kept
    out = Path(args.out)
    if args.relative_paths:
        base = out.absolute().parent
        utterances = [u.replace(path=os.path.relpath(u.path, base)) for u in utterances]
    n = write_manifest(utterances, out)
    if args.json:
        result = summary.to_dict() | {"written": n, "out": str(out), "dropped_missing": dropped}
        print(json.dumps(result, indent=2))
        return 0
    print(report)
    if dropped:
        print(f"dropped {dropped} utterance(s) without audio (--skip-missing)")
    elif summary.missing:
        print("kept the utterances without audio (use --skip-missing to leave them out)")
    if summary.duplicates:
        print(f"duplicate ids: {args.duplicates} applied")
    print(f"wrote {n} utterances to {out}")
    return 0
