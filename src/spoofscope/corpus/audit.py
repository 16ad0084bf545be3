"""Shortcut audit: can trivial features tell bona fide from spoof? They must not.

Per clip (:func:`clip_features`, from the 16 kHz WAV as written): duration; RMS and peak level;
bandwidth (95 % spectral roll-off, share of energy above 3.5 kHz); leading and trailing
silence and the speech fraction (an energy detector of its own, not the builder's VAD); noise
floor (10th-percentile frame energy), floor-to-speech ratio and spectral flatness in pauses.

:func:`run_audit` trains a logistic regression and a depth-3 decision tree (scikit-learn,
balanced class weights) on the train split, per feature group and on all features together,
and scores the eval split (and dev, reported only). The EER comes from the ROC curve with
linear interpolation between its points, so tied scores (a tree's leaves) count as a random
tie-break. The audit passes when every eval EER is at least :data:`MIN_EER`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MIN_EER = 0.35
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "duration": ("duration_s",),
    "level": ("rms_db", "peak_db"),
    "bandwidth": ("rolloff95_hz", "hf_ratio_db"),
    "silence": ("lead_s", "trail_s", "speech_fraction"),
    "noise": ("floor_db", "floor_to_speech_db", "pause_flatness"),
}
FEATURES = tuple(f for group in FEATURE_GROUPS.values() for f in group)
CLASSIFIERS = ("logreg", "tree")
_HOP, _WIN, _NFFT = 160, 400, 512


def clip_features(wave: np.ndarray, sample_rate: int = 16000) -> dict[str, float]:
    """The audit features of one clip.

    Args:
        wave: ``(T,)`` float samples in [-1, 1].
        sample_rate: Hz.

    Returns:
        feature name -> value (see :data:`FEATURES`).
    """
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    if x.size < _WIN:
        x = np.pad(x, (0, _WIN - x.size))
    n = 1 + (x.size - _WIN) // _HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, _WIN)[::_HOP][:n] * np.hanning(_WIN)
    power = np.abs(np.fft.rfft(frames, _NFFT, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(_NFFT, 1 / sample_rate)
    energy_db = 10 * np.log10(power.mean(axis=1))
    p10, p95, p99 = np.percentile(energy_db, [10, 95, 99])
    speech = energy_db > max(p10 + 10.0, p99 - 45.0)
    idx = np.flatnonzero(speech)
    first, last = (idx[0], idx[-1]) if idx.size else (0, n - 1)
    spectrum = power.mean(axis=0)
    cum = np.cumsum(spectrum) / spectrum.sum()
    band = (freqs >= 100) & (freqs <= 3800)
    pauses = ~speech if (~speech).sum() >= 3 else energy_db <= p10
    pp = power[pauses][:, band]
    flatness = np.exp(np.mean(np.log(pp), axis=1)) / np.mean(pp, axis=1)
    return {
        "duration_s": x.size / sample_rate,
        "rms_db": 10 * np.log10(np.mean(x**2) + 1e-12),
        "peak_db": 20 * np.log10(np.max(np.abs(x)) + 1e-9),
        "rolloff95_hz": float(freqs[np.searchsorted(cum, 0.95)]),
        "hf_ratio_db": 10 * np.log10(spectrum[freqs >= 3500].sum() / spectrum.sum()),
        "lead_s": first * _HOP / sample_rate,
        "trail_s": (n - 1 - last) * _HOP / sample_rate,
        "speech_fraction": float(speech.mean()),
        "floor_db": float(p10),
        "floor_to_speech_db": float(p10 - p95),
        "pause_flatness": float(np.mean(flatness)),
    }


def eer_interpolated(bona_scores: np.ndarray, spoof_scores: np.ndarray) -> float:
    """EER (fraction) from the ROC curve, interpolated between points (ties = random order)."""
    from sklearn.metrics import roc_curve

    y = np.r_[np.ones(len(bona_scores)), np.zeros(len(spoof_scores))]
    fpr, tpr, _ = roc_curve(y, np.r_[bona_scores, spoof_scores])
    fnr = 1 - tpr
    diff = fnr - fpr  # decreasing from 1 to -1 along the curve
    k = int(np.flatnonzero(diff <= 0)[0])
    if k == 0 or diff[k] == diff[k - 1]:
        return float(fpr[k])
    t = diff[k - 1] / (diff[k - 1] - diff[k])
    return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


@dataclass
class AuditResult:
    """EERs per feature group and classifier.

    Attributes:
        eer: split -> group -> classifier -> EER (fraction).
        worst_attack: group -> (attack, EER) of the eval attack the logistic regression
            separates best (information, not part of the pass rule).
        counts: split -> label -> clips.
        min_eer: the pass threshold.
    """

    eer: dict[str, dict[str, dict[str, float]]]
    worst_attack: dict[str, tuple[str, float]]
    counts: dict[str, dict[str, int]]
    min_eer: float = MIN_EER
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {
            "min_eer": self.min_eer,
            "passed": self.passed,
            "failures": self.failures,
            "eer": self.eer,
            "worst_attack": {k: list(v) for k, v in self.worst_attack.items()},
            "counts": self.counts,
        }

    def table(self) -> str:
        """A printable table: one row per feature group, eval (dev) EER per classifier."""
        lines = [f"{'features':<10} " + " ".join(f"{c + ' eval (dev)':>20}" for c in CLASSIFIERS)]
        for group in [*FEATURE_GROUPS, "all"]:
            cells = []
            for clf in CLASSIFIERS:
                ev = self.eer["eval"][group][clf]
                dv = self.eer.get("dev", {}).get(group, {}).get(clf)
                mark = " !" if ev < self.min_eer else "  "
                cells.append(
                    f"{100 * ev:>9.1f}%"
                    + (f" ({100 * dv:4.1f}%)" if dv is not None else " " * 8)
                    + mark
                )
            worst = self.worst_attack.get(group)
            tail = f"   easiest eval attack: {worst[0]} {100 * worst[1]:.1f}%" if worst else ""
            lines.append(f"{group:<10} " + " ".join(f"{c:>20}" for c in cells) + tail)
        return "\n".join(lines)


def _classifier(name: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if name == "logreg":
        return make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")
        )
    return DecisionTreeClassifier(
        max_depth=3, min_samples_leaf=5, class_weight="balanced", random_state=0
    )


def run_audit(rows: Sequence[dict], min_eer: float = MIN_EER) -> AuditResult:
    """Audit feature rows.

    Args:
        rows: dicts with ``split`` (train/dev/eval), ``label`` (bonafide/spoof), ``attack``
            and every name in :data:`FEATURES`.
        min_eer: the pass threshold (eval EER of every group and classifier).

    Raises:
        ValueError: a split lacks one of the classes.
    """
    data = {}
    counts: dict[str, dict[str, int]] = {}
    for split in ("train", "dev", "eval"):
        part = [r for r in rows if r["split"] == split]
        y = np.array([r["label"] == "bonafide" for r in part])
        counts[split] = {"bonafide": int(y.sum()), "spoof": int((~y).sum())}
        if split != "dev" and (y.all() or not y.any()):
            raise ValueError(
                f"audit: the {split} split needs bona fide and spoof clips, has {counts[split]}"
            )
        x = np.array([[float(r[f]) for f in FEATURES] for r in part]).reshape(len(part), -1)
        data[split] = (x, y, [r.get("attack") for r in part])
    eer: dict[str, dict[str, dict[str, float]]] = {"eval": {}, "dev": {}}
    worst: dict[str, tuple[str, float]] = {}
    failures = []
    for group in [*FEATURE_GROUPS, "all"]:
        names = FEATURES if group == "all" else FEATURE_GROUPS[group]
        cols = [FEATURES.index(f) for f in names]
        for split in ("eval", "dev"):
            eer[split].setdefault(group, {})
        for clf_name in CLASSIFIERS:
            clf = _classifier(clf_name).fit(data["train"][0][:, cols], data["train"][1])
            for split in ("eval", "dev"):
                x, y, attacks = data[split]
                if y.all() or not y.any():
                    continue
                s = clf.predict_proba(x[:, cols])[:, 1]
                eer[split][group][clf_name] = eer_interpolated(s[y], s[~y])
                if split == "eval" and clf_name == "logreg":
                    per = {
                        a: eer_interpolated(s[y], s[np.array(attacks) == a])
                        for a in sorted({a for a in attacks if a})
                    }
                    if per:
                        a = min(per, key=per.get)
                        worst[group] = (a, per[a])
            value = eer["eval"][group][clf_name]
            if value < min_eer:
                failures.append(
                    f"feature group '{group}' ({', '.join(names)}): {clf_name} EER "
                    f"{100 * value:.1f}% < {100 * min_eer:.0f}% on eval"
                )
    eer = {k: v for k, v in eer.items() if any(v.values())}
    return AuditResult(eer, worst, counts, min_eer, failures)


def features_of_files(items: Iterable[tuple[dict, Path]]) -> list[dict]:
    """``[(row, wav path)]`` -> rows with the features added (reads each file)."""
    import soundfile as sf

    out = []
    for row, path in items:
        wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
        out.append({**row, **clip_features(wave.mean(axis=1), rate)})
    return out


def audit_corpus(root: Path, min_eer: float = MIN_EER) -> AuditResult:
    """Re-run the audit on a built corpus (its ``{train,dev,eval}.jsonl`` manifests)."""
    from spoofscope.data.manifest import read_manifest

    items = []
    for split in ("train", "dev", "eval"):
        for utt in read_manifest(Path(root) / f"{split}.jsonl"):
            items.append(
                ({"split": split, "label": utt.label, "attack": utt.attack}, Path(utt.path))
            )
    return run_audit(features_of_files(items), min_eer)
