"""More copy-synthesis vocoders: harmonic-plus-noise (A14) and coded, smoothed WORLD (A15).

* A14 rebuilds speech as a sum of sinusoids at the harmonics of f0 below a per-frame maximum
  voiced frequency, with random (not minimum) phases, plus envelope-shaped noise above it:
  the artefacts of sinusoidal / HNM vocoders, unlike WORLD's pulse-by-pulse synthesis.
* A15 passes WORLD's parameters through the low-dimensional coding of statistical parametric
  TTS (mel-cepstral-like envelope of 30-60 coefficients, a few aperiodicity bands) and smooths
  them over time as an acoustic model's averaged output would be: muffled, "buzzy" SPSS speech.

Both share A05's analysis (pyworld); same contract as :mod:`.vocoders`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from .vocoder_dsp import istft, stft
from .vocoders import WorldCopy, import_legacy


def _voiced_runs_smooth(f0: np.ndarray, width: int) -> np.ndarray:
    """Moving average of log f0 over ``width`` frames inside voiced runs only."""
    if width <= 1:
        return f0
    voiced = f0 > 0
    log_f0 = np.where(voiced, np.log(np.maximum(f0, 1.0)), 0.0)
    total = uniform_filter1d(log_f0, width, mode="nearest")
    count = uniform_filter1d(voiced.astype(float), width, mode="nearest")
    return np.where(voiced, np.exp(total / np.maximum(count, 1e-9)), 0.0)


class HarmonicNoiseCopy(WorldCopy):
    """A14: harmonic-plus-noise resynthesis from WORLD's f0, envelope and aperiodicity.

    Args:
        random_phase: draw each harmonic's initial phase (else all start at zero: buzzier).
        voicing_threshold: aperiodicity (power ratio) above which a band counts as noise; the
            maximum voiced frequency is the first such band above 500 Hz.
        f0_jitter: f0 is scaled by a factor drawn from [1 - jitter, 1 + jitter].
    """

    def __init__(
        self, random_phase: bool = True, voicing_threshold: float = 0.5, f0_jitter: float = 0.03
    ) -> None:
        super().__init__(f0_method="dio", f0_jitter=f0_jitter)
        self.random_phase, self.voicing_threshold = random_phase, voicing_threshold

    def vocode(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Harmonic-plus-noise resynthesis of float64 ``x`` (T,) at ``sample_rate``."""
        f0, envelope, aperiodicity = self.analyse(x, sample_rate, rng)
        n_frames, n_bins = envelope.shape
        n_fft = 2 * (n_bins - 1)
        hop = int(round(self.frame_period_ms * sample_rate / 1000))
        bin_hz = sample_rate / n_fft
        # maximum voiced frequency per frame: first noisy bin above 500 Hz (0 if unvoiced)
        noisy = aperiodicity > self.voicing_threshold
        noisy[:, : int(500 / bin_hz)] = False
        noisy[:, -1] = True
        mvf = np.where(f0 > 0, np.argmax(noisy, axis=1) * bin_hz, 0.0)
        # harmonics: amplitude sqrt(4 * envelope * f0 / fs) (WORLD's envelope is a PSD scaled
        # so white noise of variance s2 gives s2), linearly interpolated between frames
        frame_times = np.arange(n_frames) * hop
        samples = np.arange(x.size)
        voiced = f0 > 0
        f0_filled = np.interp(frame_times, frame_times[voiced], f0[voiced]) if voiced.any() else f0
        f0_samples = np.interp(samples, frame_times, f0_filled)
        phase = 2 * np.pi * np.cumsum(f0_samples) / sample_rate
        y = np.zeros(x.size)
        n_harmonics = (
            int(sample_rate / 2 / max(float(f0[voiced].min()), 50.0)) if voiced.any() else 0
        )
        offsets = (
            rng.uniform(0, 2 * np.pi, n_harmonics) if self.random_phase else np.zeros(n_harmonics)
        )
        rows = np.arange(n_frames)
        for k in range(1, n_harmonics + 1):
            freq = k * f0_filled
            bins = np.minimum(np.round(freq / bin_hz).astype(int), n_bins - 1)
            power = envelope[rows, bins] * (1.0 - aperiodicity[rows, bins])
            amplitude = np.where(voiced & (freq < mvf), np.sqrt(4 * power * f0 / sample_rate), 0.0)
            if amplitude.any():
                y += np.interp(samples, frame_times, amplitude) * np.cos(k * phase + offsets[k - 1])
        # noise: white noise shaped by the envelope above the maximum voiced frequency
        noise_spec = stft(rng.standard_normal(x.size), n_fft, hop)[:n_frames]
        freqs = np.arange(n_bins) * bin_hz
        gain = np.sqrt(envelope) * (freqs[None, :] >= mvf[:, None])
        y += istft(noise_spec * gain, n_fft, hop, x.size)
        self.settings["random_phase"] = self.random_phase
        return y


class WorldCodedCopy(WorldCopy):
    """A15: WORLD with SPSS-style coded parameters, smoothed over time.

    Args:
        dims: range of coded envelope dimensions drawn per utterance.
        bands: aperiodicity bands (mel-spaced) it is averaged into.
        smooth_frames: odd widths drawn per utterance for the temporal moving average.
        f0_jitter: f0 is scaled by a factor drawn from [1 - jitter, 1 + jitter].
    """

    def __init__(
        self,
        dims: tuple[int, int] = (30, 60),
        bands: int = 5,
        smooth_frames: tuple[int, ...] = (1, 3, 5),
        f0_jitter: float = 0.03,
    ) -> None:
        super().__init__(f0_method="random", f0_jitter=f0_jitter)
        self.dims, self.bands, self.smooth_frames = dims, bands, smooth_frames

    def vocode(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Coded-WORLD resynthesis of float64 ``x`` (T,) at ``sample_rate``."""
        pw = import_legacy("pyworld")
        f0, envelope, aperiodicity = self.analyse(x, sample_rate, rng)
        n_fft = 2 * (envelope.shape[1] - 1)
        dims = int(rng.integers(self.dims[0], self.dims[1] + 1))
        width = int(rng.choice(self.smooth_frames))
        coded = pw.code_spectral_envelope(envelope, sample_rate, dims)
        coded = uniform_filter1d(coded, width, axis=0, mode="nearest")
        envelope = pw.decode_spectral_envelope(np.ascontiguousarray(coded), sample_rate, n_fft)
        # aperiodicity: averaged (in dB) into a few mel-spaced bands, then interpolated back
        freqs = np.linspace(0, sample_rate / 2, envelope.shape[1])
        mel = np.log1p(freqs / 700)
        band = np.minimum((mel / mel[-1] * self.bands).astype(int), self.bands - 1)
        ap_db = 10 * np.log10(np.clip(aperiodicity, 1e-6, 1.0))
        means = np.stack([ap_db[:, band == b].mean(axis=1) for b in range(self.bands)], axis=1)
        centres = np.array([mel[band == b].mean() for b in range(self.bands)])
        means = uniform_filter1d(means, width, axis=0, mode="nearest")
        ap_db = np.stack([np.interp(mel, centres, row) for row in means])
        aperiodicity = np.ascontiguousarray(np.clip(10 ** (ap_db / 10), 1e-6, 1.0))
        f0 = _voiced_runs_smooth(f0, width + 2)
        y = pw.synthesize(
            f0, np.ascontiguousarray(envelope), aperiodicity, sample_rate, self.frame_period_ms
        )
        self.settings.update({"dims": dims, "smooth_frames": width})
        return y
