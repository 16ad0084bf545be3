"""``spoofscope metrics``: ASVspoof metrics of a CM score file, equal to the official scripts."""

from __future__ import annotations

import argparse

NAME = "metrics"
HELP = "compute EER, min t-DCF, minDCF, actDCF, Cllr and t-EER from a CM score file"

_BOOTSTRAP_METHOD = "stratified bootstrap (classes resampled separately), percentile interval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scores",
        required=True,
        metavar="FILE",
        help="CM score file: 'UTT SCORE', 'UTT ATTACK KEY SCORE' or 'SCORE LABEL' lines "
        "(higher = bona fide)",
    )
    parser.add_argument(
        "--protocol",
        metavar="FILE",
        help="CM protocol or key file (ASVspoof 2017/2019/2021/5); not needed when the score "
        "file carries its own bonafide/spoof keys",
    )
    parser.add_argument(
        "--asv-scores",
        metavar="FILE",
        help="ASV score file ('SOURCE target|nontarget|spoof SCORE', e.g. the ASVspoof 2019 "
        "organisers' scores) for min t-DCF and t-EER",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--negate", action="store_true", help="multiply scores by -1 (scores where higher = spoof)"
    )
    parser.add_argument(
        "--by",
        choices=("attack", "condition"),
        help="breakdown table: EER per attack (all bona fide pooled) or per condition/codec "
        "(default: per attack when the keys name attacks)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="add a bootstrap confidence interval of the EER from N resamples (bona fide and "
        "spoof trials resampled separately with replacement; percentile interval)",
    )
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="bootstrap confidence level (0.95)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap random seed (0)")
    parser.add_argument(
        "--subset", help="only protocol trials of this subset (ASVspoof 2021 keys: eval, progress)"
    )


def _try(errors: dict[str, str], name: str, func, *args, **kwargs):
    """Run a metric; on a MetricInputError store its message and return None."""
    from spoofscope.metrics import MetricInputError

    try:
        return func(*args, **kwargs)
    except MetricInputError as exc:
        errors[name] = str(exc)
        return None


def build_report(args: argparse.Namespace) -> dict:
    """Read the files named in ``args`` and compute every metric; returns a JSON-able dict."""
    from spoofscope import metrics as m
    from spoofscope.errors import SpoofscopeError
    from spoofscope.protocols import read_protocol
    from spoofscope.scorefiles import join_scores, read_asv_scores, read_scores

    score_file = read_scores(args.scores)
    protocol = read_protocol(args.protocol) if args.protocol else None
    trials = join_scores(score_file, protocol, subset=args.subset)
    scores = -trials.scores if args.negate else trials.scores
    bona, spoof = scores[trials.is_bonafide], scores[~trials.is_bonafide]
    for name, part in (("bona fide", bona), ("spoof", spoof)):
        if part.size == 0:
            raise SpoofscopeError(f"{args.scores}: no {name} trials, so no metric is defined")
    errors: dict[str, str] = {}
    eer = m.eer_point(bona, spoof)
    t1 = m.track1_metrics(bona, spoof)
    report: dict = {
        "scores": str(args.scores),
        "protocol": args.protocol,
        "asv_scores": args.asv_scores,
        "negated": bool(args.negate),
        "n_bonafide": int(bona.size),
        "n_spoof": int(spoof.size),
        "eer": eer.value,
        "eer_percent": eer.value * 100,
        "eer_threshold": eer.threshold,
        "min_dcf": t1.min_dcf,
        "act_dcf": t1.act_dcf,
        "cllr": t1.cllr,
    }
    if args.asv_scores:
        asv = read_asv_scores(args.asv_scores)
        op = m.asv_operating_point(asv.target, asv.nontarget, asv.spoof)
        legacy = _try(errors, "min_tdcf_legacy", m.min_tdcf_legacy, bona, spoof, op)
        revised = _try(errors, "min_tdcf_revised", m.min_tdcf_revised, bona, spoof, op)
        report["min_tdcf_legacy"] = legacy.value if legacy else None
        report["min_tdcf_revised"] = revised.value if revised else None
        report["teer_percent"] = _try(
            errors, "teer_percent", m.teer, bona, spoof, asv.target, asv.nontarget, asv.spoof
        )
        report["asv_operating_point"] = {
            "threshold": op.threshold, "eer": op.eer, "pfa": op.pfa, "pmiss": op.pmiss,
            "pmiss_spoof": op.pmiss_spoof, "pfa_spoof": op.pfa_spoof,
        }  # fmt: skip
    if args.bootstrap:
        ci = m.bootstrap_eer(bona, spoof, args.bootstrap, args.confidence, args.seed)
        report["bootstrap"] = {
            "eer_low": ci.low, "eer_high": ci.high, "level": ci.level,
            "n_resamples": ci.n_resamples, "seed": ci.seed, "method": _BOOTSTRAP_METHOD,
        }  # fmt: skip
    report["breakdown"] = _breakdown(args, trials, scores)
    report["errors"] = errors
    return report


def _breakdown(args: argparse.Namespace, trials, scores) -> dict | None:
    from spoofscope.errors import SpoofscopeError
    from spoofscope.metrics import eer_by_attack, eer_by_condition

    by = args.by
    has_attacks = any(a for a, b in zip(trials.attacks, trials.is_bonafide, strict=True) if not b)
    if by is None:
        if not has_attacks:
            return None
        by = "attack"
    if by == "attack":
        if not has_attacks:
            raise SpoofscopeError("--by attack: the keys name no attack for the spoof trials")
        rows = eer_by_attack(scores, trials.is_bonafide, trials.attacks)
    else:
        if not any(trials.conditions):
            raise SpoofscopeError(
                "--by condition: the protocol has no condition (codec) column; ASVspoof 2021 "
                "LA/DF keys and ASVspoof 5 protocols have one"
            )
        rows = eer_by_condition(scores, trials.is_bonafide, trials.conditions)
    return {
        "by": by,
        "rows": [
            {"group": r.group, "n_bonafide": r.n_bonafide, "n_spoof": r.n_spoof, "eer": r.eer}
            for r in rows
        ],
    }


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def format_report(report: dict) -> str:
    """The human-readable text of a report from :func:`build_report`."""
    negated = " (scores negated)" if report["negated"] else ""
    lines = [f"{report['scores']}: {report['n_bonafide']} bona fide, {report['n_spoof']} spoof"
             + negated]  # fmt: skip

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<26}{value}")

    row("EER", f"{report['eer_percent']:.6f} %  (threshold {report['eer_threshold']:.6g})")
    if "bootstrap" in report:
        b = report["bootstrap"]
        row(f"EER {b['level']:.0%} CI (bootstrap)",
            f"[{b['eer_low'] * 100:.6f} %, {b['eer_high'] * 100:.6f} %]  "
            f"({b['n_resamples']} resamples, seed {b['seed']})")  # fmt: skip
    if "min_tdcf_legacy" in report:
        row("min t-DCF (2019 legacy)", _fmt(report["min_tdcf_legacy"], ".10f"))
        row("min t-DCF (2021 revised)", _fmt(report["min_tdcf_revised"], ".10f"))
    row("minDCF (ASVspoof 5)", f"{report['min_dcf']:.10f}")
    row("actDCF (ASVspoof 5)", f"{report['act_dcf']:.10f}")
    row("Cllr", f"{report['cllr']:.10f} bits")
    if "teer_percent" in report:
        row("t-EER", _fmt(report["teer_percent"], ".6f", " %"))
    for name, message in report["errors"].items():
        lines.append(f"  note: {name} not computed: {message}")
    table = report["breakdown"]
    if table:
        by_attack = table["by"] == "attack"
        lines.append("EER per attack (all bona fide pooled):" if by_attack
                     else "EER per condition (bona fide and spoof of that condition):")  # fmt: skip
        title = "attack" if by_attack else "condition"
        lines.append(f"  {title:<24} {'n_bonafide':>10} {'n_spoof':>8} {'EER %':>10}")
        for r in table["rows"]:
            eer = _fmt(None if r["eer"] is None else r["eer"] * 100, ".4f")
            lines.append(f"  {r['group']:<24} {r['n_bonafide']:>10} {r['n_spoof']:>8} {eer:>10}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from spoofscope.errors import SpoofscopeError

    if args.bootstrap < 0:
        raise SpoofscopeError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if args.subset and not args.protocol:
        raise SpoofscopeError("--subset selects protocol trials: give --protocol too")
    if not 0.0 < args.confidence < 1.0:
        raise SpoofscopeError(f"--confidence must be in (0, 1), got {args.confidence}")
    report = build_report(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
