"""``spoofscope review``: the service's review queue as training data."""

from __future__ import annotations

import argparse

from spoofscope.commands.keys import add_database_argument

NAME = "review"
HELP = "export the labels reviewers gave in the service as a training manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export",
        help="write labelled items whose audio was kept (serve with keep_audio) as a JSONL "
        "manifest that `spoofscope train` reads (dataset 'spoofscope-review')",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the manifest to write")
    export.add_argument(
        "--audio-dir",
        metavar="DIR",
        help="resolve relative audio paths against this directory (the service's audio_dir)",
    )
    add_database_argument(export)


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from spoofscope.commands.keys import open_sessions
    from spoofscope.data.manifest import write_manifest
    from spoofscope.service.store import review_utterances

    with open_sessions(args.database_url) as sessions, sessions() as s:
        utts, skipped = review_utterances(s, args.audio_dir)
    n = write_manifest(utts, args.out)
    labels = dict(sorted(Counter(u.label for u in utts).items()))
    print(f"wrote {n} labelled items to {args.out} {labels}")
    if skipped["no_audio"] or skipped["missing_file"]:
        print(
            f"left out {skipped['no_audio']} labelled items whose audio was not kept and "
            f"{skipped['missing_file']} whose audio file is gone (retention)"
        )
    if n and len(labels) < 2:
        print("note: training needs both bonafide and spoof items; add another manifest")
    return 0
