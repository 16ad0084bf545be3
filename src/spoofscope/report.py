"""Metrics, score files and tables of an evaluation (:mod:`spoofscope.evaluate`).

Per test set: an ASVspoof score file (``UTT_ID SCORE``, higher = more bona fide), a TSV with
the keys beside each score, and a metrics JSON. Across test sets: one table (markdown and
JSON), "train on X, test on Y". Metrics come from :mod:`spoofscope.metrics`, so they equal the
official ASVspoof scripts; a metric that cannot be computed (one class only, hard decisions
for t-DCF, ...) is ``null`` with its reason under ``unavailable``.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from spoofscope.evaluate import ScoredSet, condition_keys

__all__ = [
    "BOOTSTRAP_METHOD",
    "cross_corpus_markdown",
    "cross_corpus_row",
    "set_metrics",
    "train_set_name",
    "write_score_file",
    "write_score_table",
]

log = logging.getLogger(__name__)

BOOTSTRAP_METHOD = "stratified bootstrap (classes resampled separately), percentile interval"
_TWO_CLASS = ("eer", "eer_ci", "min_dcf", "act_dcf", "cllr")


def _rows(groups: list) -> list[dict[str, Any]]:
    return [
        {
            "group": g.group,
            "n_bonafide": g.n_bonafide,
            "n_spoof": g.n_spoof,
            "eer": g.eer,
            "eer_percent": None if g.eer is None else g.eer * 100,
        }
        for g in groups
    ]


def _breakdown(sset: ScoredSet, scores: np.ndarray, bona: np.ndarray) -> dict[str, Any]:
    from spoofscope.metrics import eer_by_attack, eer_by_condition

    if scores.size == 0:
        return {"attack": [], "dataset": [], "condition": {}}
    utts = [s.utt for s in sset.scored]
    out: dict[str, Any] = {
        "attack": _rows(eer_by_attack(scores, bona, [u.attack for u in utts])),
        "dataset": _rows(eer_by_condition(scores, bona, [u.dataset for u in utts])),
        "condition": {},
    }
    for key in condition_keys(utts):
        values = [None if u.extra.get(key) is None else str(u.extra[key]) for u in utts]
        out["condition"][key] = _rows(eer_by_condition(scores, bona, values))
    return out


def set_metrics(
    sset: ScoredSet,
    *,
    asv: Any | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of one scored test set, as a JSON-able dict.

    Args:
        sset: the scores and keys.
        asv: :class:`spoofscope.scorefiles.AsvScores` for min t-DCF (legacy 2019 and revised
            2021), or None.
        bootstrap: resamples of the EER confidence interval (0 = none).
        confidence: interval level.
        seed: bootstrap seed.

    Returns:
        ``n_bonafide``, ``n_spoof``, ``eer`` (fraction), ``eer_percent``, ``eer_threshold``,
        ``eer_ci``, ``min_dcf``, ``act_dcf``, ``cllr`` (bits), ``min_tdcf_*`` when ``asv`` is
        given, ``unavailable`` (metric -> reason) and ``breakdown`` (per attack, per dataset,
        per condition key).
    """
    from spoofscope import metrics as m

    scores, bona_mask = sset.scores, sset.is_bonafide
    bona, spoof = scores[bona_mask], scores[~bona_mask]
    out: dict[str, Any] = {"n_bonafide": int(bona.size), "n_spoof": int(spoof.size)}
    out.update(dict.fromkeys(("eer", "eer_percent", "eer_threshold", *_TWO_CLASS[1:])))
    if asv is not None:
        out.update(min_tdcf_legacy=None, min_tdcf_revised=None)
    unavailable: dict[str, str] = {}
    missing = [name for name, part in (("bona fide", bona), ("spoof", spoof)) if part.size == 0]
    if missing:
        reason = (
            f"the scored trials have no {' and no '.join(missing)} utterances; this metric "
            "needs both classes"
        )
        names = list(_TWO_CLASS) + (["min_tdcf_legacy", "min_tdcf_revised"] if asv else [])
        unavailable.update(dict.fromkeys(names, reason))
    else:
        point = m.eer_point(bona, spoof)
        t1 = m.track1_metrics(bona, spoof)
        out.update(
            eer=point.value,
            eer_percent=point.value * 100,
            eer_threshold=point.threshold,
            min_dcf=t1.min_dcf,
            act_dcf=t1.act_dcf,
            cllr=t1.cllr,
        )
        if bootstrap > 0:
            ci = m.bootstrap_eer(bona, spoof, bootstrap, confidence, seed)
            out["eer_ci"] = {
                "low": ci.low, "high": ci.high, "level": ci.level,
                "n_resamples": ci.n_resamples, "seed": ci.seed, "method": BOOTSTRAP_METHOD,
            }  # fmt: skip
        else:
            unavailable["eer_ci"] = "bootstrap disabled (--bootstrap 0)"
        if asv is not None:
            op = m.asv_operating_point(asv.target, asv.nontarget, asv.spoof)
            for name, func in (
                ("min_tdcf_legacy", m.min_tdcf_legacy),
                ("min_tdcf_revised", m.min_tdcf_revised),
            ):
                try:
                    out[name] = func(bona, spoof, op).value
                except m.MetricInputError as exc:
                    unavailable[name] = str(exc)
    out["unavailable"] = unavailable
    out["breakdown"] = _breakdown(sset, scores, bona_mask)
    return out


def _clean_id(utt_id: str) -> str:
    if any(c.isspace() for c in utt_id):
        clean = "_".join(utt_id.split())
        log.warning("utterance id %r has white space; written as %r", utt_id, clean)
        return clean
    return utt_id


def write_score_file(path: str | Path, sset: ScoredSet) -> Path:
    """Write ``UTT_ID SCORE`` lines (ASVspoof CM score format, shortest exact float text)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        for s in sset.scored:
            handle.write(f"{_clean_id(s.utt.id)} {float(s.score)!r}\n")
    return path


def write_score_table(path: str | Path, sset: ScoredSet, sample_rate: int) -> Path:
    """Write a TSV: id, label, attack, dataset, speaker, score, n_windows, duration_s, path and
    one column per condition key (see :func:`spoofscope.evaluate.condition_keys`)."""
    path = Path(path)
    keys = condition_keys([s.utt for s in sset.scored])
    header = ["id", "label", "attack", "dataset", "speaker", "score", "n_windows", "duration_s"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow([*header, *keys, "path"])
        for s in sset.scored:
            u = s.utt
            duration = "" if s.n_samples is None else f"{s.n_samples / sample_rate:.3f}"
            writer.writerow(
                [u.id, u.label, u.attack or "", u.dataset, u.speaker or "", repr(s.score),
                 s.n_windows, duration, *(u.extra.get(k, "") for k in keys), u.path]
            )  # fmt: skip
    return path


_CARD_KEYS = ("train_set", "train", "train_datasets", "datasets", "dataset", "corpus", "name")


def _card_names(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return " + ".join(v for v in value if v) or None
    if not isinstance(value, dict) or not value:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return " + ".join(sorted(k for k in value if k)) or None  # {dataset: count}
    for key in _CARD_KEYS:
        found = _card_names(value.get(key))
        if found:
            return found
    manifest = value.get("manifest")
    return Path(manifest).name if isinstance(manifest, str) and manifest else None


def train_set_name(metadata: dict[str, Any] | None) -> str | None:
    """What the model was trained on, from a checkpoint's ``data_card`` (None if unknown).

    Looks, in order, at the card keys ``train_set``, ``train``, ``train_datasets``,
    ``datasets``, ``dataset``, ``corpus``, ``name`` (each a string, a list of strings, a
    ``{dataset: count}`` dict, or a nested card), then at ``manifest`` (its file name).

    Example:
        >>> card = {"train": {"manifest": "/data/la_train.jsonl", "count": 9,
        ...                   "datasets": {"asvspoof2019-la/train": 9}}, "dev": None}
        >>> train_set_name({"data_card": card})
        'asvspoof2019-la/train'
        >>> train_set_name({"data_card": {"train": {"manifest": "/x/mine.jsonl", "datasets": {}}}})
        'mine.jsonl'
        >>> train_set_name({"data_card": {"datasets": ["la/train", "wavefake"]}})
        'la/train + wavefake'
        >>> train_set_name({"data_card": None}) is None
        True
    """
    return _card_names((metadata or {}).get("data_card"))


def cross_corpus_row(sset: ScoredSet, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of the cross-corpus table from a test set and its :func:`set_metrics`."""
    ci = metrics.get("eer_ci")
    return {
        "test_set": sset.name,
        "manifest": sset.manifest,
        "datasets": sset.datasets,
        "eer_percent": metrics["eer_percent"],
        "eer_ci_percent": None if not ci else [ci["low"] * 100, ci["high"] * 100],
        "ci_level": None if not ci else ci["level"],
        "min_dcf": metrics["min_dcf"],
        "act_dcf": metrics["act_dcf"],
        "cllr": metrics["cllr"],
        "n_bonafide": metrics["n_bonafide"],
        "n_spoof": metrics["n_spoof"],
        "n_failed": len(sset.failures),
        "unavailable": metrics["unavailable"].get("eer"),
    }


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else f"{value:{spec}}"


def cross_corpus_markdown(header: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The cross-corpus table as markdown: one row per test set.

    Args:
        header: ``model``, ``checkpoint``, ``train_set``, ``score_mode`` and ``window`` (the
            convention dict of :meth:`spoofscope.evaluate.EvalOptions.describe`).
        rows: :func:`cross_corpus_row` dicts.
    """
    train = header.get("train_set") or "unknown (no data card in the checkpoint)"
    lines = [
        "# Cross-corpus evaluation",
        "",
        f"Model `{header['model']}` (checkpoint `{header['checkpoint']}`), trained on: {train}.",
        f"Scores: {header['score_mode']}. Windows: {header['window']['description']}.",
        "",
        "| Train on | Test on | Datasets | EER % | EER CI % | minDCF | actDCF | Cllr "
        "| bona fide | spoof | failed |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ci = r["eer_ci_percent"]
        ci_text = "n/a" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}] ({r['ci_level']:.0%})"
        lines.append(
            f"| {header.get('train_set') or 'unknown'} | {r['test_set']} "
            f"| {', '.join(r['datasets']) or '-'} | {_num(r['eer_percent'], '.3f')} | {ci_text} "
            f"| {_num(r['min_dcf'], '.4f')} | {_num(r['act_dcf'], '.4f')} "
            f"| {_num(r['cllr'], '.4f')} | {r['n_bonafide']} | {r['n_spoof']} | {r['n_failed']} |"
        )
    notes = [f"- {r['test_set']}: {r['unavailable']}" for r in rows if r["unavailable"]]
    if notes:
        lines += ["", "Metrics unavailable:", *notes]
    return "\n".join(lines) + "\n"
