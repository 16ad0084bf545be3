"""``spoofscope score``: one score per file from the first segment, as the official scripts do."""

from __future__ import annotations

import argparse

NAME = "score"
HELP = (
    "score audio files with a model checkpoint (first segment of each file, shorter input "
    "repeated, as the official ASVspoof scripts do)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or directories")
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a spoofscope checkpoint (.safetensors or directory) or an official AASIST .pth",
    )
    parser.add_argument(
        "--model", help="expected model name (checked against the checkpoint; see `models`)"
    )
    parser.add_argument(
        "--score-mode",
        choices=("log-odds", "official"),
        default="log-odds",
        help="log-odds = logit[1]-logit[0] (default); official = logit[1] as the AASIST scripts",
    )
    parser.add_argument("--json", metavar="FILE", help="also write results as JSON ('-' = stdout)")
    parser.add_argument("--batch-size", type=int, default=8, help="segments per forward pass")
    parser.add_argument(
        "--no-recursive", action="store_true", help="only the top level of directory arguments"
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import numpy as np

    from spoofscope.audio import AudioError, load_audio, repeat_pad
    from spoofscope.checkpoint import load_model
    from spoofscope.errors import SpoofscopeError
    from spoofscope.inputs import expand_inputs
    from spoofscope.scoring import score_segments

    if args.batch_size < 1:
        raise SpoofscopeError(f"--batch-size must be >= 1, got {args.batch_size}")
    model = load_model(args.checkpoint)
    if args.model and args.model != model.name:
        raise SpoofscopeError(
            f"--model {args.model!r} does not match the checkpoint's model {model.name!r}"
        )
    fast = model.fuse_for_inference()
    files = expand_inputs(args.paths, recursive=not args.no_recursive)
    if not files:
        raise SpoofscopeError(f"no audio files found in {' '.join(args.paths)}")

    results: list[dict] = []
    pending: list[tuple[dict, np.ndarray]] = []
    to_stdout = args.json != "-"

    def flush() -> None:
        if not pending:
            return
        scores, logits = score_segments(
            fast, np.stack([seg for _, seg in pending]), args.score_mode, args.batch_size
        )
        for (row, _), score, logit in zip(pending, scores, logits, strict=True):
            row["score"] = float(score)
            row["logits"] = [float(v) for v in logit]
            if to_stdout:
                print(f"{row['id']} {row['score']:.6f}", flush=True)
        pending.clear()

    for path in files:
        row = {"id": path.stem, "path": str(path), "score": None, "error": None}
        results.append(row)
        try:
            wave = load_audio(path, model.sample_rate)
        except AudioError as exc:
            row["error"] = str(exc)
            print(f"error: {exc}", file=sys.stderr)
            continue
        pending.append((row, repeat_pad(wave, model.segment_samples)))
        if len(pending) >= args.batch_size:
            flush()
    flush()

    if args.json:
        doc = {
            "model": model.name,
            "checkpoint": str(args.checkpoint),
            "score_mode": args.score_mode,
            "segment_samples": model.segment_samples,
            "results": results,
        }
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as handle:
                handle.write(text + "\n")
    n_failed = sum(r["error"] is not None for r in results)
    if n_failed:
        print(f"{n_failed} of {len(results)} file(s) failed", file=sys.stderr)
    return 1 if n_failed == len(results) else 0
