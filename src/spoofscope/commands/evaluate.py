"""``spoofscope evaluate``: score manifests with a checkpoint; write score files, metrics, plots.

Per manifest, in ``OUT/<manifest stem>/``: ``scores.txt`` (ASVspoof ``UTT_ID SCORE``),
``scores.tsv`` (keys beside the scores), ``metrics.json``, ``det.png``, ``hist_class.png``,
``hist_attack.png``. Across manifests: ``OUT/summary.md`` and ``OUT/summary.json``, the
cross-corpus table (train on X, test on Y), also printed.
"""

from __future__ import annotations

import argparse

NAME = "evaluate"
HELP = (
    "evaluate a checkpoint on one or more manifests: ASVspoof score files, EER (bootstrap CI), "
    "minDCF/actDCF/Cllr, min t-DCF, per-attack/condition/corpus breakdowns, DET and histograms"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="a spoofscope checkpoint or an official AASIST .pth"
    )
    parser.add_argument(
        "--manifest",
        required=True,
        action="append",
        metavar="JSONL",
        help="a manifest (test set); repeat for a cross-corpus table",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--mode",
        choices=("official", "full"),
        default="official",
        help="official = first segment_samples (64,600) samples, shorter files repeated, as the "
        "ASVspoof scripts (default); full = every window of the whole file, aggregated",
    )
    parser.add_argument(
        "--score-mode",
        choices=("log-odds", "official"),
        default="log-odds",
        help="log-odds = logit[1]-logit[0] (default); official = logit[1] as the AASIST scripts",
    )
    parser.add_argument(
        "--hop", type=float, default=0.5, help="full mode: hop as a fraction of a window (0.5)"
    )
    parser.add_argument(
        "--aggregation",
        choices=("mean", "min", "top-k"),
        default="mean",
        help="full mode: file score = mean of window scores (default), min (the most "
        "spoof-like window) or top-k (mean of the k lowest)",
    )
    parser.add_argument("--top-k", type=int, default=3, help="k of --aggregation top-k (3)")
    parser.add_argument(
        "--asv-scores",
        metavar="FILE",
        help="ASV score file ('SOURCE target|nontarget|spoof SCORE') for min t-DCF",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    parser.add_argument("--workers", type=int, default=2, help="audio decoding threads (2)")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="resamples of the EER bootstrap confidence interval (1000; 0 = none)",
    )
    parser.add_argument("--confidence", type=float, default=0.95, help="CI level (0.95)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    parser.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")


def _check_args(args: argparse.Namespace) -> None:
    from spoofscope.errors import SpoofscopeError

    for name in ("batch_size", "top_k"):
        value = getattr(args, name)
        if value < 1:
            raise SpoofscopeError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.workers < 0 or args.bootstrap < 0:
        raise SpoofscopeError("--workers and --bootstrap must be >= 0")
    if not 0.0 < args.hop <= 1.0:
        raise SpoofscopeError(f"--hop must be a fraction of a window in (0, 1], got {args.hop}")
    if not 0.0 < args.confidence < 1.0:
        raise SpoofscopeError(f"--confidence must be in (0, 1), got {args.confidence}")


def _sha256(path: str) -> str | None:
    import hashlib
    from pathlib import Path

    file = Path(path)
    if file.is_dir():
        file = file / "model.safetensors"
    if not file.is_file():
        return None
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unique_dirs(manifests: list[str]) -> list[str]:
    from pathlib import Path

    names: list[str] = []
    for manifest in manifests:
        stem, n = Path(manifest).stem, 2
        name = stem
        while name in names:
            name, n = f"{stem}-{n}", n + 1
        names.append(name)
    return names


def _plots(sset, metrics: dict, out, errors: dict[str, str]) -> dict[str, str]:
    import numpy as np

    from spoofscope import plots

    scores, bona_mask = sset.scores, sset.is_bonafide
    bona, spoof = scores[bona_mask], scores[~bona_mask]
    files: dict[str, str] = {}
    title = f"{sset.name}"
    if metrics["eer"] is not None:
        files["det"] = str(plots.plot_det(bona, spoof, out / "det.png", f"DET: {title}"))
    else:
        errors["det"] = metrics["unavailable"]["eer"]
    if scores.size:
        files["hist_class"] = str(
            plots.plot_class_histograms(
                bona, spoof, out / "hist_class.png", f"Scores: {title}", metrics["eer_threshold"]
            )
        )
    attacks = np.array([s.utt.attack or "" for s in sset.scored], dtype=object)
    by_attack = {a: spoof[attacks[~bona_mask] == a] for a in set(attacks[~bona_mask]) - {""}}
    if by_attack:
        path = out / "hist_attack.png"
        files["hist_attack"] = str(plots.plot_attack_histograms(bona, by_attack, path, title))
    else:
        errors["hist_attack"] = "no spoof utterance names an attack"
    return files


def _evaluate_one(args, model, fast, options, header, asv, manifest, utts, name, out_root):
    import json
    import sys

    from tqdm import tqdm

    from spoofscope.evaluate import ScoredSet, score_utterances
    from spoofscope.report import set_metrics, write_score_file, write_score_table

    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(utts), desc=name, unit="file", disable=not sys.stderr.isatty()) as bar:
        scored, failures = score_utterances(fast, utts, options, progress=bar.update)
    sset = ScoredSet(name, str(manifest), scored, failures)
    metrics = set_metrics(
        sset, asv=asv, bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed
    )
    files = {
        "scores": str(write_score_file(out / "scores.txt", sset)),
        "table": str(write_score_table(out / "scores.tsv", sset, model.sample_rate)),
    }
    plot_errors: dict[str, str] = {}
    if not args.no_plots:
        files.update(_plots(sset, metrics, out, plot_errors))
    for stale in ("det", "hist_class", "hist_attack"):  # left by an earlier run in this folder
        if stale not in files:
            (out / f"{stale}.png").unlink(missing_ok=True)
    doc = {
        **header,
        "test_set": {"name": name, "manifest": str(manifest), "datasets": sset.datasets},
        "counts": {
            "utterances": len(utts),
            "scored": len(scored),
            "failed": len(failures),
            "bonafide": metrics["n_bonafide"],
            "spoof": metrics["n_spoof"],
        },  # fmt: skip
        "metrics": metrics,
        "failures": [{"id": f.id, "path": f.path, "error": f.error} for f in failures],
        "files": files,
        "plots_not_drawn": plot_errors,
    }
    (out / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n")
    return sset, metrics


def _summary_line(sset, metrics: dict) -> str:
    if metrics["eer"] is None:
        text = f"EER n/a ({metrics['unavailable']['eer']})"
    else:
        text = f"EER {metrics['eer_percent']:.3f} %"
        ci = metrics["eer_ci"]
        if ci:
            text += f" [{ci['low'] * 100:.3f}, {ci['high'] * 100:.3f}] ({ci['level']:.0%} CI)"
        text += f", minDCF {metrics['min_dcf']:.4f}"
    return (
        f"{sset.name}: {metrics['n_bonafide']} bona fide, {metrics['n_spoof']} spoof, "
        f"{len(sset.failures)} unreadable; {text}"
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from spoofscope import __version__
    from spoofscope.checkpoint import load_model
    from spoofscope.data.manifest import read_manifest
    from spoofscope.errors import SpoofscopeError
    from spoofscope.evaluate import EvalOptions
    from spoofscope.report import cross_corpus_markdown, cross_corpus_row, train_set_name
    from spoofscope.scorefiles import read_asv_scores

    _check_args(args)
    manifests = [(m, read_manifest(m)) for m in args.manifest]
    for path, utts in manifests:
        if not utts:
            raise SpoofscopeError(f"manifest {path} lists no utterances")
    asv = read_asv_scores(args.asv_scores) if args.asv_scores else None
    model = load_model(args.checkpoint)
    fast = model.fuse_for_inference().eval()
    options = EvalOptions(
        args.mode, args.score_mode, args.hop, args.aggregation, args.top_k, args.batch_size,
        args.workers,
    )  # fmt: skip
    meta = getattr(model, "checkpoint_metadata", None)
    window = options.describe(model.segment_samples, model.sample_rate)
    header = {
        "spoofscope_version": __version__,
        "model": model.name,
        "checkpoint": str(args.checkpoint),
        "checkpoint_sha256": _sha256(args.checkpoint),
        "train_set": train_set_name(meta),
        "data_card": (meta or {}).get("data_card"),
        "score_mode": args.score_mode,
        "window_mode": args.mode,
        "window": window,
        "asv_scores": args.asv_scores,
    }
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    rows = []
    for (manifest, utts), name in zip(manifests, _unique_dirs(args.manifest), strict=True):
        sset, metrics = _evaluate_one(
            args, model, fast, options, header, asv, manifest, utts, name, out_root
        )
        rows.append(cross_corpus_row(sset, metrics))
        print(_summary_line(sset, metrics), flush=True)
        if sset.failures:
            print(
                f"  {len(sset.failures)} unreadable file(s) excluded from the metrics; listed "
                f"with their errors in {out_root / name / 'metrics.json'}:",
                file=sys.stderr,
            )
            for f in sset.failures[:5]:
                print(f"    {f.id} ({f.path})", file=sys.stderr)
            if len(sset.failures) > 5:
                print(f"    ... and {len(sset.failures) - 5} more", file=sys.stderr)
    table = cross_corpus_markdown(header, rows)
    (out_root / "summary.md").write_text(table)
    summary = {**header, "rows": rows}
    (out_root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(table, end="")
    return 0 if any(r["n_bonafide"] + r["n_spoof"] for r in rows) else 1
