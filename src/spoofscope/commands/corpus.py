"""``spoofscope corpus``: build the offline bona fide vs spoof corpus, or re-audit one."""

from __future__ import annotations

import argparse
import sys

NAME = "corpus"
HELP = "build the offline benchmark corpus (bona fide + spoofs, splits, audit) or re-audit one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    build = sub.add_parser(
        "build",
        help="build a corpus into --out (reuses finished clips on a rerun)",
        description="Build a labelled bona fide vs spoof corpus from installed sources: the "
        "asterisk prompts and any --extra-bonafide folders, spoofed by TTS engines and "
        "vocoders; conditioned alike, split train/dev/eval, checked by a shortcut audit.",
    )
    build.add_argument("--out", required=True, metavar="DIR", help="output folder")
    build.add_argument(
        "--size",
        choices=("small", "full"),
        default="small",
        help="small: a few hundred clips per split, minutes (default); full: thousands, <1 h",
    )
    build.add_argument(
        "--extra-bonafide",
        action="append",
        default=[],
        metavar="DIR",
        help="folder of real recordings (recursive; FSDD and LibriSpeech layouts give "
        "speakers, else the parent folder); repeat for more",
    )
    build.add_argument("--seed", type=int, default=0, help="random seed (0)")
    build.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: CPU count)"
    )
    build.add_argument(
        "--attacks", metavar="IDS", help="only these attack ids, comma separated (default: all)"
    )
    build.add_argument(
        "--no-audit-check",
        action="store_true",
        help="write the corpus even if the shortcut audit fails (it is still reported)",
    )
    audit = sub.add_parser(
        "audit",
        help="re-run the shortcut audit on a built corpus",
        description="Re-run the shortcut audit (simple classifiers on duration, level, "
        "bandwidth, silence and noise features; train -> eval) on a built corpus.",
    )
    audit.add_argument("dir", metavar="DIR", help="the corpus folder (with train/dev/eval.jsonl)")
    audit.add_argument("--json", action="store_true", help="print the audit as JSON")
    sub.add_parser("attacks", help="list the attacks and whether each is usable here")


class _Progress:
    """Stage lines on stderr; a tqdm bar per stage when stderr is a terminal."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar = None
        self.tty = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            print(f"[corpus] {stage}: {total} item(s)", file=sys.stderr, flush=True)
            if self.tty and total > 1:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=stage, unit="clip", file=sys.stderr)
        if self.bar is not None:
            self.bar.n = done
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _attacks() -> int:
    from spoofscope.corpus.generators import ATTACKS, get_generator

    print(f"{'id':<4} {'name':<22} {'family':<20} {'kind':<5} {'role':<6} usable")
    for aid, spec in ATTACKS.items():
        reason = get_generator(aid).available()
        print(
            f"{aid:<4} {spec.name:<22} {spec.family:<20} {spec.kind:<5} {spec.role:<6} "
            f"{'yes' if reason is None else 'no: ' + reason}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from spoofscope.errors import SpoofscopeError

    if args.action == "attacks":
        return _attacks()
    if args.action == "audit":
        from spoofscope.corpus.audit import audit_corpus

        root = Path(args.dir)
        if not (root / "train.jsonl").is_file():
            raise SpoofscopeError(
                f"{root} is not a built corpus (no train.jsonl); build one "
                "with: spoofscope corpus build --out DIR"
            )
        try:
            result = audit_corpus(root)
        except ValueError as exc:
            raise SpoofscopeError(str(exc)) from None
        print(json.dumps(result.to_dict(), indent=2) if args.json else result.table())
        if not result.passed:
            raise SpoofscopeError("shortcut audit FAILED: " + "; ".join(result.failures))
        print(f"shortcut audit passed (every eval EER >= {100 * result.min_eer:.0f}%)")
        return 0
    if args.action != "build":
        raise SpoofscopeError("give an action: build, audit or attacks (see --help)")

    from spoofscope.corpus.build import build_corpus
    from spoofscope.corpus.report import summary
    from spoofscope.corpus.sources import AuditFailedError

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()] if args.attacks else None
    progress = _Progress()
    try:
        report = build_corpus(
            args.out,
            size=args.size,
            extra_bonafide=args.extra_bonafide,
            seed=args.seed,
            workers=workers,
            progress=progress,
            attacks=attacks,
            check_audit=not args.no_audit_check,
        )
    except AuditFailedError as exc:
        progress.close()
        print(summary(exc.report))
        raise
    except SpoofscopeError:
        progress.close()
        raise
    progress.close()
    print(summary(report))
    print(
        f"corpus written to {report.out} (manifests train/dev/eval.jsonl, SHA256SUMS, report.json)"
    )
    return 0
