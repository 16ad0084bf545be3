"""Evaluation plots: DET curve on probit axes, score histograms per class and per attack.

matplotlib is imported only here, and only its object-oriented API with the Agg canvas (no
pyplot, no global backend switch), so plotting works headless and from threads.
Scores follow the ASVspoof convention: higher = more bona fide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["DET_TICKS", "plot_attack_histograms", "plot_class_histograms", "plot_det"]

#: DET axis ticks (rates as fractions), as in the ASVspoof papers' figures.
DET_TICKS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9)
_BONA_COLOUR, _SPOOF_COLOUR = "tab:blue", "tab:red"
_MAX_PANELS = 36


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _probit(p: np.ndarray | float, lo: float) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(np.clip(p, lo, 1.0 - lo))


def plot_det(
    bonafide: np.ndarray, spoof: np.ndarray, path: str | Path, title: str = "DET curve"
) -> Path:
    """Draw the official DET curve (:func:`spoofscope.metrics.det_curve`) on normal-deviate
    (probit) axes, with the EER point marked.

    Args:
        bonafide: ``(Nb,)`` bona fide scores.
        spoof: ``(Ns,)`` spoof scores.
        path: the PNG to write.
        title: figure title.

    Returns:
        ``path``.

    Raises:
        spoofscope.metrics.MetricInputError: a class is empty or a score is not finite.
    """
    from spoofscope.metrics import det_curve

    curve = det_curve(bonafide, spoof)
    eer = curve.eer_point().value
    # Rates of 0 or 1 have no probit: clip to just outside the smallest non-zero rate.
    lo = max(1e-6, min(0.0005, 0.5 / max(curve.n_bonafide, curve.n_spoof)))
    hi = min(0.99, max(0.6, eer + 0.2))
    fig = _figure(5.5, 5.5)
    ax = fig.add_subplot()
    ax.plot(_probit(curve.far, lo), _probit(curve.frr, lo), color="black", lw=1.5, label="CM")
    span = _probit(np.array([lo, hi]), lo)
    gap = (span[1] - span[0]) / 12
    ax.plot(span, span, color="grey", lw=0.7, ls=":")
    e = float(_probit(eer, lo))
    ax.plot([e], [e], "o", color=_SPOOF_COLOUR, ms=7, label=f"EER = {eer * 100:.2f} %")
    ticks: list[float] = []
    for t in DET_TICKS:  # keep ticks at least 1/12 of the axis apart, so labels do not collide
        if lo <= t <= hi and (not ticks or _probit(t, lo) - _probit(ticks[-1], lo) > gap):
            ticks.append(t)
    labels = [f"{t * 100:g}" for t in ticks]
    for axis_ticks, axis_labels in ((ax.set_xticks, ax.set_xticklabels),
                                    (ax.set_yticks, ax.set_yticklabels)):  # fmt: skip
        axis_ticks(_probit(np.array(ticks), lo))
        axis_labels(labels)
    ax.set_xlim(*span)
    ax.set_ylim(*span)
    ax.set_xlabel("False acceptance rate of spoofs (%)")
    ax.set_ylabel("False rejection rate of bona fide (%)")
    ax.set_title(f"{title}\n{curve.n_bonafide} bona fide, {curve.n_spoof} spoof", fontsize=10)
    ax.grid(True, lw=0.4, alpha=0.6)
    ax.legend(loc="upper right")
    fig.savefig(path)
    return Path(path)


def _bins(*parts: np.ndarray) -> np.ndarray:
    values = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])
    n = max(10, min(60, int(2 * math.sqrt(max(values.size, 1)))))
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n + 1)


def _hist(ax, values: np.ndarray, bins: np.ndarray, colour: str, label: str) -> None:
    if values.size:
        ax.hist(values, bins=bins, density=True, alpha=0.45, color=colour, label=label)
        ax.hist(values, bins=bins, density=True, histtype="step", color=colour, lw=1.0)


def plot_class_histograms(
    bonafide: np.ndarray,
    spoof: np.ndarray,
    path: str | Path,
    title: str = "Score distributions",
    threshold: float | None = None,
) -> Path:
    """Overlaid score densities of bona fide and spoof trials (either may be empty).

    Args:
        bonafide: ``(Nb,)`` bona fide scores.
        spoof: ``(Ns,)`` spoof scores.
        path: the PNG to write.
        title: figure title.
        threshold: a score to mark with a vertical line (e.g. the EER threshold).
    """
    bona, spf = np.asarray(bonafide, np.float64), np.asarray(spoof, np.float64)
    bins = _bins(bona, spf)
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    _hist(ax, bona, bins, _BONA_COLOUR, f"bona fide (n={bona.size})")
    _hist(ax, spf, bins, _SPOOF_COLOUR, f"spoof (n={spf.size})")
    if threshold is not None:
        ax.axvline(
            threshold, color="black", ls="--", lw=1.0, label=f"EER threshold {threshold:.3g}"
        )
    ax.set_xlabel("score (higher = more bona fide)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.savefig(path)
    return Path(path)


def plot_attack_histograms(
    bonafide: np.ndarray,
    spoof_by_attack: Mapping[str, np.ndarray],
    path: str | Path,
    title: str = "Scores per attack",
) -> Path:
    """One panel per attack: that attack's score density against all bona fide trials.

    Attacks beyond the first 36 (by name) are left out and the title says how many.

    Args:
        bonafide: ``(Nb,)`` bona fide scores (may be empty).
        spoof_by_attack: attack id -> ``(Na,)`` spoof scores of that attack; at least one.
        path: the PNG to write.
        title: figure title.
    """
    if not spoof_by_attack:
        raise ValueError("plot_attack_histograms needs at least one attack")
    names = sorted(spoof_by_attack)
    shown = names[:_MAX_PANELS]
    bona = np.asarray(bonafide, np.float64)
    arrays = [np.asarray(spoof_by_attack[a], np.float64) for a in shown]
    bins = _bins(bona, *arrays)
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = _figure(3.2 * cols, 2.4 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for i, ax in enumerate(axes.flat):
        if i >= len(shown):
            ax.set_visible(False)
            continue
        _hist(ax, bona, bins, _BONA_COLOUR, "bona fide")
        _hist(ax, arrays[i], bins, _SPOOF_COLOUR, shown[i])
        ax.set_title(f"{shown[i]} (n={arrays[i].size})", fontsize=9)
        ax.tick_params(labelsize=7)
    more = f" (first {len(shown)} of {len(names)} attacks)" if len(names) > len(shown) else ""
    fig.suptitle(f"{title}{more}; blue = bona fide (n={bona.size})", fontsize=10)
    fig.supxlabel("score (higher = more bona fide)", fontsize=9)
    fig.savefig(path)
    return Path(path)
