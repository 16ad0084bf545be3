"""``spoofscope calibrate``: fit a score calibration on held-out trials, store it in a checkpoint.

The manifest is scored exactly as ``spoofscope evaluate`` scores it
(:func:`spoofscope.evaluate.score_utterances`, log-odds scores), a logistic calibration and its
two decision thresholds are fitted (:func:`spoofscope.calibration.fit_calibration`), and the
checkpoint is written again with the calibration in its metadata: to ``--out``, or in place
(same weights, data card and extra fields; written to a temporary file, then moved over).
"""

from __future__ import annotations

import argparse

NAME = "calibrate"
HELP = (
    "fit a score calibration (logistic / linear LLR) and the bonafide/review/spoof thresholds "
    "on a held-out manifest, and store them in the checkpoint's metadata"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="a spoofscope checkpoint or an official AASIST .pth"
    )
    parser.add_argument(
        "--manifest", required=True, metavar="JSONL", help="held-out trials (both classes)"
    )
    parser.add_argument(
        "--out",
        help="where to write the calibrated checkpoint (.safetensors file or directory); "
        "default: rewrite --checkpoint in place (required for an official .pth)",
    )
    parser.add_argument(
        "--mode",
        choices=("official", "full"),
        default="full",
        help="full = every window of the whole file, aggregated as the detector does (default); "
        "official = the first segment only",
    )
    parser.add_argument(
        "--hop", type=float, default=0.5, help="full mode: hop as a fraction of a window (0.5)"
    )
    parser.add_argument(
        "--aggregation",
        choices=("mean", "min", "top-k"),
        help="full mode: how window scores make a file score (default: the detector's, "
        "spoofscope.detection.DEFAULT_AGGREGATION)",
    )
    parser.add_argument("--top-k", type=int, default=3, help="k of --aggregation top-k (3)")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    parser.add_argument("--workers", type=int, default=2, help="audio decoding threads (2)")
    parser.add_argument(
        "--target-prior",
        type=float,
        default=0.5,
        metavar="P",
        help="prior probability of bona fide p_spoof is computed for (0.5: the calibrated "
        "score is a log-likelihood ratio)",
    )
    parser.add_argument(
        "--spoof-pass-rate",
        type=float,
        default=0.01,
        metavar="R",
        help="the lower threshold lets at most this share of spoof trials pass as bona fide (0.01)",
    )


def _check_args(args: argparse.Namespace) -> None:
    from pathlib import Path

    from spoofscope.checkpoint import UPSTREAM_SUFFIXES
    from spoofscope.errors import SpoofscopeError

    if args.batch_size < 1 or args.workers < 0 or args.top_k < 1:
        raise SpoofscopeError(
            f"--batch-size and --top-k must be >= 1 and --workers >= 0, got {args.batch_size}, "
            f"{args.top_k}, {args.workers}"
        )
    if not 0.0 < args.hop <= 1.0:
        raise SpoofscopeError(f"--hop must be a fraction of a window in (0, 1], got {args.hop}")
    if not 0.0 < args.target_prior < 1.0:
        raise SpoofscopeError(f"--target-prior must be in (0, 1), got {args.target_prior}")
    if not 0.0 <= args.spoof_pass_rate < 1.0:
        raise SpoofscopeError(f"--spoof-pass-rate must be in [0, 1), got {args.spoof_pass_rate}")
    source = Path(args.checkpoint)
    if source.suffix in UPSTREAM_SUFFIXES and not args.out:
        raise SpoofscopeError(
            f"{source} is an official {source.suffix} file, which cannot hold metadata: give "
            "--out NEW.safetensors for the calibrated spoofscope checkpoint"
        )
    if args.out and Path(args.out).suffix in UPSTREAM_SUFFIXES:
        raise SpoofscopeError(f"--out {args.out}: write a .safetensors file or a directory")


def _detector_aggregation() -> str:
    """The detector's default aggregation, or the mean if it needs speech weights."""
    from spoofscope.detection import DEFAULT_AGGREGATION

    return DEFAULT_AGGREGATION if DEFAULT_AGGREGATION in ("mean", "min", "top-k") else "mean"


def _save(model, target, meta: dict | None, calibration: dict, in_place: bool):
    """Write ``model`` with ``calibration``, keeping the old data card and extra fields."""
    import os
    import shutil
    from pathlib import Path

    from spoofscope.checkpoint import METADATA_NAME, WEIGHTS_NAME, save_checkpoint

    meta = meta or {}
    kwargs = {"calibration": calibration, "data_card": meta.get("data_card")}
    kwargs["extra"] = meta.get("extra") or {}
    target = Path(target)
    if not in_place:
        return save_checkpoint(model, target, **kwargs)
    if target.is_dir():  # two-file layout: write beside it, then move each file over
        staging = target.parent / f".{target.name}.calibrating"
        shutil.rmtree(staging, ignore_errors=True)
        save_checkpoint(model, staging, **kwargs)
        for name in (WEIGHTS_NAME, METADATA_NAME):
            os.replace(staging / name, target / name)
        staging.rmdir()
        return target
    staging = target.with_name(f".{target.stem}.calibrating.safetensors")
    save_checkpoint(model, staging, **kwargs)
    os.replace(staging, target)
    return target


def _report(cal, n_failed: int, mode: str, out) -> None:
    src = cal.source
    print(
        f"calibration: logistic, p_spoof = sigmoid(-(a * score + b)) with a = {cal.a:.6g}, "
        f"b = {cal.b:.6g} (prior of bona fide {src['target_prior']:g}; log-odds scores)"
    )
    failed = f", {n_failed} unreadable file(s) excluded" if n_failed else ""
    print(f"trials: {src['n_bonafide']} bona fide, {src['n_spoof']} spoof ({mode} mode{failed})")
    print(f"EER: {src['eer'] * 100:.3f} % (score threshold {src['eer_threshold_score']:.6g})")
    print(
        f"thresholds: bonafide if p_spoof < {cal.lower:.6g} (measured {src['spoof_pass_rate']:g}"
        f"-spoof-pass point {src['p_spoof_at_spoof_pass_rate']:.6g}, at most 0.5; spoofs below: "
        f"{src['spoof_pass_rate_at_lower'] * 100:.2f} %)"
    )
    print(
        f"            spoof if p_spoof > {cal.upper:.6g} (EER point {src['p_spoof_at_eer']:.6g}, "
        f"at least 0.5; bona fide above: {src['bonafide_flag_rate_at_upper'] * 100:.2f} %); "
        "review between"
    )
    print(
        f"Cllr: {src['cllr_before']:.4f} bits before calibration (raw log-odds), "
        f"{src['cllr_after']:.4f} after"
    )
    print(f"stored in: {out}")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from spoofscope.calibration import fit_calibration
    from spoofscope.checkpoint import load_model
    from spoofscope.data.manifest import read_manifest
    from spoofscope.errors import SpoofscopeError
    from spoofscope.evaluate import EvalOptions, score_utterances

    _check_args(args)
    utts = read_manifest(args.manifest)
    if not utts:
        raise SpoofscopeError(f"manifest {args.manifest} lists no utterances")
    model = load_model(args.checkpoint)
    meta = getattr(model, "checkpoint_metadata", None)
    fast = model.fuse_for_inference().eval()
    options = EvalOptions(
        window_mode=args.mode,
        hop=args.hop,
        aggregation=args.aggregation or _detector_aggregation(),
        top_k=args.top_k,
        batch_size=args.batch_size,
        workers=args.workers,
    )
    name = Path(args.manifest).stem
    with tqdm(total=len(utts), desc=name, unit="file", disable=not sys.stderr.isatty()) as bar:
        scored, failures = score_utterances(fast, utts, options, progress=bar.update)
    if failures:
        print(f"{len(failures)} of {len(utts)} file(s) could not be scored:", file=sys.stderr)
        for f in failures[:5]:
            print(f"  {f.id} ({f.path})", file=sys.stderr)
    scores = [s.score for s in scored]
    labels = [s.utt.target for s in scored]
    source = {
        "manifest": name,
        "manifest_path": str(args.manifest),
        "checkpoint": str(args.checkpoint),
        "model": model.name,
        "window": options.describe(model.segment_samples, model.sample_rate),
        "n_unreadable": len(failures),
    }
    cal = fit_calibration(
        scores,
        labels,
        target_prior=args.target_prior,
        spoof_pass_rate=args.spoof_pass_rate,
        source=source,
    )
    in_place = not args.out
    out = _save(model, args.out or args.checkpoint, meta, cal.to_dict(), in_place)
    _report(cal, len(failures), args.mode, out)
    return 0
