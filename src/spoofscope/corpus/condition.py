"""Conditioning applied identically to every clip, bona fide and spoof.

Two stages, so that copy-synthesis can start from a conditioned but still noise-free recording:

1. :func:`clean`: resample to 16 kHz (soxr), band-limit by a round trip through 8 kHz (every
   source then has the same 4 kHz telephone bandwidth, FSDD and the asterisk prompts being 8 kHz
   originals), a 60 Hz high-pass (DC offsets and rumble differ between sources), trim leading /
   trailing silence with a VAD but keep a random margin of the recording's own context on each
   side (zeros only where the recording has none), cut to at
   most ``max_s`` at a pause, and normalise the speech level (mean power of the VAD's speech
   frames) to ``REF_DB``.
2. :func:`finish`: a random gain (the same distribution for every clip), a common noise floor
   (Gaussian noise, randomly coloured, band-limited to 4 kHz, at a random SNR below the speech
   level) so that the digital silence of TTS and the room noise of recordings look alike, the
   same high-pass again (over the noise too), a peak guard, and 16-bit quantisation.

:func:`match_durations` then thins each split so that bona fide and spoof clips have the same
duration distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
BAND_RATE = 8000
REF_DB = -28.0  # speech level after clean(), dBFS
HIGHPASS_HZ = 60.0
#: a copy-synthesis output whose energy envelope correlates less with its source is rejected
MIN_COPY_CORRELATION = 0.5


@dataclass(frozen=True)
class ConditionConfig:
    """Conditioning settings (one object for the whole corpus).

    Attributes:
        vad_backend: ``"auto"`` (silero if installed, else energy), or a spoofscope.vad backend.
        margin_s: range of the context kept before the first / after the last speech frame.
        max_s: longest clip (longer ones are cut at a pause).
        min_s: shortest clip; shorter ones (after trimming) are dropped.
        gain_db: range of the random gain around ``REF_DB``.
        snr_db: range of the speech-to-noise-floor ratio.
    """

    vad_backend: str = "auto"
    margin_s: tuple[float, float] = (0.08, 0.3)
    max_s: float = 6.0
    min_s: float = 0.3
    gain_db: tuple[float, float] = (-4.0, 4.0)
    snr_db: tuple[float, float] = (20.0, 35.0)


@lru_cache(maxsize=1)
def auto_backend() -> str:
    """``"silero"`` when the silero-vad package imports, else ``"energy"``."""
    try:
        import silero_vad  # noqa: F401
    except ImportError:
        return "energy"
    return "silero"


def resample(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr (HQ) resampling; ``(T,)`` float32 in and out."""
    if rate_in == rate_out:
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(
        np.asarray(wave, dtype=np.float32), rate_in, rate_out, quality="HQ"
    ).astype(np.float32)


def band_limit(wave: np.ndarray) -> np.ndarray:
    """A 16 kHz ``(T,)`` wave through 8 kHz and back (length kept)."""
    out = resample(resample(wave, SAMPLE_RATE, BAND_RATE), BAND_RATE, SAMPLE_RATE)
    if out.size >= wave.size:
        return out[: wave.size]
    return np.pad(out, (0, wave.size - out.size))


@lru_cache(maxsize=1)
def _highpass_sos() -> np.ndarray:
    from scipy.signal import butter

    return butter(4, HIGHPASS_HZ, "highpass", fs=SAMPLE_RATE, output="sos")


def highpass(wave: np.ndarray) -> np.ndarray:
    """A 4th-order Butterworth high-pass at :data:`HIGHPASS_HZ` (DC offsets, rumble)."""
    from scipy.signal import sosfilt

    return sosfilt(_highpass_sos(), wave).astype(np.float32)


def _frame_power(wave: np.ndarray, hop: int) -> np.ndarray:
    n = wave.size // hop
    if n == 0:
        return np.zeros(1)
    return (wave[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1)


def speech_level_db(wave: np.ndarray, mask: np.ndarray | None = None, hop: int = 320) -> float:
    """Mean power (dBFS) of the speech frames of ``wave`` (20-ms frames; all if no mask)."""
    power = _frame_power(wave, hop)
    if mask is not None and mask.any():
        power = power[mask[: power.size]] if mask.size >= power.size else power[: mask.size][mask]
    return float(10 * np.log10(power.mean() + 1e-12)) if power.size else -120.0


def clean(
    wave: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    cfg: ConditionConfig,
    reference: np.ndarray | None = None,
) -> np.ndarray | None:
    """Stage 1 (see the module docstring): ``(T,)`` at any rate -> ``(T',)`` at 16 kHz, or None.

    Args:
        wave: ``(T,)`` float samples.
        sample_rate: their rate in Hz.
        rng: draws the margins.
        cfg: the settings.
        reference: copy-synthesis: the ``(T,)`` 16 kHz wave it was made from (same timing);
            the speech frames are then found in the reference, not in the copy, whose
            vocoder artefacts (a whispery or buzzy excitation) can hide speech from the VAD.

    Returns None when the VAD finds no speech or the trimmed clip is shorter than ``cfg.min_s``.
    """
    from spoofscope.corpus.sources import pause_cuts
    from spoofscope.vad import detect_speech

    x = np.nan_to_num(np.asarray(wave, dtype=np.float32).reshape(-1))
    x = highpass(band_limit(resample(x, int(sample_rate), SAMPLE_RATE)))
    if x.size < SAMPLE_RATE * cfg.min_s or not np.any(x):
        return None
    backend = auto_backend() if cfg.vad_backend == "auto" else cfg.vad_backend
    guide = x if reference is None else np.asarray(reference, dtype=np.float32)[: x.size]
    mask = detect_speech(guide, SAMPLE_RATE, backend=backend)
    regions = mask.regions()
    if not regions:
        return None
    first, last = regions[0][0], min(regions[-1][1], x.size)
    lead = int(rng.uniform(*cfg.margin_s) * SAMPLE_RATE)
    trail = int(rng.uniform(*cfg.margin_s) * SAMPLE_RATE)
    a, b = first - lead, last + trail
    y = x[max(a, 0) : min(b, x.size)]
    y = np.pad(y, (max(-a, 0), max(b - x.size, 0)))
    if y.size > cfg.max_s * SAMPLE_RATE:
        start, end = pause_cuts(y, SAMPLE_RATE, min_s=min(2.0, cfg.max_s / 2), max_s=cfg.max_s)[0]
        y, a = y[start:end], a + start
    if y.size < cfg.min_s * SAMPLE_RATE:
        return None
    # speech frames of y, at 20-ms hops (from the VAD's 32-ms frames)
    hop = 320
    centres = a + (np.arange(y.size // hop) + 0.5) * hop  # in samples of x
    frame_idx = np.clip((centres // mask.hop).astype(np.int64), 0, mask.speech.size - 1)
    speech = mask.speech[frame_idx] & (centres >= 0) & (centres < guide.size)
    level = speech_level_db(y, speech if speech.any() else None, hop)
    return (y * 10 ** ((REF_DB - level) / 20)).astype(np.float32)


class CopyQualityError(ValueError):
    """A copy-synthesis output that is silent or does not follow its source."""


def envelope_correlation(a: np.ndarray, b: np.ndarray, hop: int = 160) -> float:
    """Correlation of the 10-ms log-energy envelopes of two ``(T,)`` waves (same rate)."""
    n = min(a.size, b.size) // hop
    if n < 3:
        return 0.0

    def env(x: np.ndarray) -> np.ndarray:
        return np.log10((x[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(1) + 1e-10)

    ea, eb = env(a), env(b)
    if ea.std() == 0 or eb.std() == 0:
        return 0.0
    return float(np.corrcoef(ea, eb)[0, 1])


def check_copy(src: np.ndarray, copy: np.ndarray) -> None:
    """Reject a copy whose level is 50 dB under its source's or whose envelope does not
    follow it (correlation < :data:`MIN_COPY_CORRELATION`).

    Raises:
        CopyQualityError: naming the measured value.
    """
    if copy.size < 0.99 * src.size or copy.size > 1.01 * src.size:
        raise CopyQualityError(f"copy has {copy.size} samples, its source {src.size}")
    ratio_db = 10 * np.log10((np.mean(copy.astype(np.float64) ** 2) + 1e-20) /
                             (np.mean(src.astype(np.float64) ** 2) + 1e-20))  # fmt: skip
    if ratio_db < -50:
        raise CopyQualityError(f"copy is silent ({ratio_db:.0f} dB under its source)")
    corr = envelope_correlation(src, copy)
    if corr < MIN_COPY_CORRELATION:
        raise CopyQualityError(
            f"copy does not follow its source (envelope correlation {corr:.2f} < "
            f"{MIN_COPY_CORRELATION})"
        )


def noise_floor(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` unit-power Gaussian noise at 16 kHz, randomly coloured, band-limited to 4 kHz."""
    from scipy.signal import lfilter

    m = n // 2 + 64
    white = rng.standard_normal(m)
    tilt = rng.uniform(-0.4, 0.9)  # < 0 bright, > 0 dark
    coloured = lfilter([1.0], [1.0, -tilt], white)
    up = resample(coloured.astype(np.float32), BAND_RATE, SAMPLE_RATE)[32 : 32 + n]
    up = np.pad(up, (0, max(0, n - up.size)))
    return (up / (np.sqrt(np.mean(up.astype(np.float64) ** 2)) + 1e-12)).astype(np.float32)


def finish(clean_wave: np.ndarray, rng: np.random.Generator, cfg: ConditionConfig) -> np.ndarray:
    """Stage 2: gain, noise floor, peak guard, 16-bit; ``(T,)`` float32 -> ``(T,)`` int16."""
    gain_db = rng.uniform(*cfg.gain_db)
    y = clean_wave.astype(np.float64) * 10 ** (gain_db / 20)
    noise_db = REF_DB + gain_db - rng.uniform(*cfg.snr_db)
    y = highpass(y + noise_floor(y.size, rng) * 10 ** (noise_db / 20)).astype(np.float64)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.98:  # a soft knee on the rare loud peaks, not a level change
        over = np.abs(y) > 0.9
        y[over] = np.sign(y[over]) * (0.9 + 0.08 * np.tanh((np.abs(y[over]) - 0.9) / 0.08))
    return np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)


def match_durations(
    durations: np.ndarray,
    is_bonafide: np.ndarray,
    rng: np.random.Generator,
    n_bins: int = 12,
    tolerance: float = 0.2,
) -> np.ndarray:
    """Keep-mask that gives bona fide and spoof clips the same duration distribution.

    Durations are binned at pooled quantiles; in each bin a class with more than
    ``1 + tolerance`` times its overall share is thinned at random down to that bound (the
    tolerance keeps clips that bin-to-bin noise alone would cost).

    Args:
        durations: ``(N,)`` seconds.
        is_bonafide: ``(N,)`` bool.
        rng: random generator.
        n_bins: number of duration bins (fewer for small sets: one per 8 clips of the
            smaller class).
        tolerance: allowed excess of a class in a bin over its overall share.

    Returns:
        ``(N,)`` bool, True = keep.
    """
    durations = np.asarray(durations, dtype=float)
    is_bonafide = np.asarray(is_bonafide, dtype=bool)
    keep = np.ones(durations.size, dtype=bool)
    n_b, n_s = int(is_bonafide.sum()), int((~is_bonafide).sum())
    if n_b == 0 or n_s == 0:
        return keep
    ratio = n_s / n_b
    n_bins = int(np.clip(min(n_b, n_s) // 8, 1, n_bins))
    edges = np.unique(np.quantile(durations, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = np.searchsorted(edges, durations, side="right")
    for k in np.unique(bins):
        idx_b = np.flatnonzero((bins == k) & is_bonafide)
        idx_s = np.flatnonzero((bins == k) & ~is_bonafide)
        want_s = int(round(idx_b.size * ratio * (1 + tolerance)))
        want_b = int(round(idx_s.size / ratio * (1 + tolerance)))
        if idx_s.size > want_s:
            keep[rng.choice(idx_s, idx_s.size - want_s, replace=False)] = False
        elif idx_b.size > want_b:
            keep[rng.choice(idx_b, idx_b.size - want_b, replace=False)] = False
    return keep
