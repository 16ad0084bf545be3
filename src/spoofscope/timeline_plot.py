"""A PNG per analysed file: the waveform above, the per-window ``p_spoof`` timeline below.

matplotlib is imported only here, through its object-oriented API with the Agg canvas (no
pyplot), so plotting works headless and from threads. Long files are drawn from a min/max
envelope (:attr:`DetectionResult.envelope`) reduced to at most :data:`MAX_COLUMNS` columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAX_COLUMNS", "plot_timeline", "reduce_envelope"]

#: Waveform columns drawn at most (the envelope is reduced to this).
MAX_COLUMNS = 2000


def reduce_envelope(envelope: np.ndarray, columns: int = MAX_COLUMNS) -> np.ndarray:
    """Merge neighbouring bins of a ``(2, bins)`` min/max envelope down to ``columns`` bins.

    Example:
        >>> env = np.array([[-1.0, -2.0, -3.0, -4.0], [1.0, 2.0, 3.0, 4.0]])
        >>> reduce_envelope(env, 2).tolist()
        [[-2.0, -4.0], [2.0, 4.0]]
    """
    n = envelope.shape[1]
    if n <= columns:
        return envelope
    factor = int(np.ceil(n / columns))
    pad = factor * int(np.ceil(n / factor)) - n
    lo = np.pad(envelope[0], (0, pad), mode="edge").reshape(-1, factor).min(axis=1)
    hi = np.pad(envelope[1], (0, pad), mode="edge").reshape(-1, factor).max(axis=1)
    return np.stack([lo, hi])


def plot_timeline(result: Any, path: str | Path, title: str | None = None) -> Path:
    """Draw ``result`` (a :class:`~spoofscope.detection.DetectionResult`) to a PNG.

    Top: the waveform (min/max envelope; blank when the result holds none). Bottom: each
    window's ``p_spoof`` as a horizontal bar over its time span (red above the upper
    threshold, grey when the window did not vote for lack of speech) and a line through the
    window centres, the lower and upper thresholds as dashed lines, and the flagged
    ranges shaded on both panels.

    Args:
        result: a detection result (detect with ``envelope=True`` to see the waveform).
        path: the PNG to write (parent directories are created).
        title: figure title (default: source, verdict and ``p_spoof``).

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(10, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    wave_ax, p_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    duration = max(result.duration_s, 1e-3)

    env = result.envelope
    if env is not None and env.shape[1]:
        reduced = reduce_envelope(env)
        t = (np.arange(reduced.shape[1]) + 0.5) * duration / reduced.shape[1]
        wave_ax.fill_between(t, reduced[0], reduced[1], color="tab:gray", linewidth=0)
        peak = float(np.max(np.abs(reduced))) or 1.0
        wave_ax.set_ylim(-1.05 * peak, 1.05 * peak)
    else:
        wave_ax.text(0.5, 0.5, "waveform not kept", ha="center", va="center",
                     transform=wave_ax.transAxes, color="tab:gray")  # fmt: skip
    wave_ax.set_ylabel("amplitude")

    centres, values = [], []
    for w in result.windows:
        p = w.p_spoof if np.isfinite(w.p_spoof) else 0.5
        colour = "tab:red" if p > result.thresholds["upper"] else "tab:blue"
        if not w.voted:
            colour = "lightgray"
        p_ax.hlines(p, w.start_s, w.end_s, colors=colour, linewidth=2.5, alpha=0.6)
        centres.append((w.start_s + w.end_s) / 2)
        values.append(p)
    p_ax.plot(centres, values, color="black", linewidth=0.8, marker=".", markersize=3)
    for name, style in (("lower", "tab:green"), ("upper", "tab:red")):
        value = result.thresholds[name]
        p_ax.axhline(value, color=style, linestyle="--", linewidth=1, label=f"{name} {value:.2f}")
    for a, b in result.flagged:
        for ax in (wave_ax, p_ax):
            ax.axvspan(a, b, color="tab:red", alpha=0.12, linewidth=0)
    p_ax.set_ylim(-0.02, 1.02)
    p_ax.set_xlim(0, duration)
    p_ax.set_ylabel("p_spoof per window")
    p_ax.set_xlabel("time (s)")
    p_ax.legend(loc="upper right", fontsize=8)
    if title is None:
        p_text = "-" if result.p_spoof is None else f"{result.p_spoof:.3f}"
        title = f"{Path(result.source).name}: {result.verdict} (p_spoof {p_text})"
    fig.suptitle(title, fontsize=10)
    fig.savefig(path)
    return path
