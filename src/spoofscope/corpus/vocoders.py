"""Classical copy-synthesis of bona fide speech: WORLD A05, Griffin-Lim A06, LPC A07, MLSA A12.

Each ``resynthesize(wave, sample_rate, rng)`` analyses a bona fide wave (float32 ``(T,)``) and
rebuilds it from the analysis alone, returning float32 ``(T,)`` at the same rate and exactly
the same length, peak at most 1. The waves differ from the input only by the vocoder's
artefacts, which is what makes them useful spoofs (Wang & Yamagishi, ICASSP 2023).
What each call drew (f0 method, iterations...) is left in ``settings``.

pyworld and pysptk import ``pkg_resources``, which setuptools >= 81 no longer ships;
:func:`import_legacy` supplies the two calls they make when it is absent.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import importlib.util
import math
import sys
import types
from typing import Any

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter, resample_poly

from .generators import BaseGenerator
from .vocoder_dsp import (
    excitation,
    frame_signal,
    highpass,
    istft,
    mel_filterbank,
    overlap_add,
    stft,
    track_f0,
)

MIN_SECONDS = 0.1
WORLD_MIN_RATE = 16000


def import_legacy(name: str) -> Any:
    """Import ``name`` (pyworld, pysptk), providing a minimal ``pkg_resources`` if missing."""
    if name in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        return importlib.import_module(name)
    stub = types.ModuleType("pkg_resources")
    stub.get_distribution = lambda dist: types.SimpleNamespace(  # type: ignore[attr-defined]
        version=importlib.metadata.version(dist)
    )
    stub.resource_filename = lambda package, resource: str(  # type: ignore[attr-defined]
        importlib.resources.files(package) / resource
    )
    sys.modules["pkg_resources"] = stub
    try:
        return importlib.import_module(name)
    finally:
        if sys.modules.get("pkg_resources") is stub:
            del sys.modules["pkg_resources"]


def missing_module(name: str) -> str | None:
    """None if ``name`` imports, else a reason naming the package to install."""
    try:
        import_legacy(name)
    except ImportError as error:
        return f"missing Python package {name!r} ({error}); install the 'corpus' extra"
    return None


def check_input(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The input as float64 ``(T,)``; raises ValueError if not 1-D or shorter than 0.1 s."""
    wave = np.asarray(wave)
    if wave.ndim != 1 or wave.size < MIN_SECONDS * sample_rate:
        raise ValueError(
            f"copy-synthesis needs a 1-D wave of at least {MIN_SECONDS} s; got shape "
            f"{wave.shape} at {sample_rate} Hz"
        )
    return wave.astype(np.float64)


def finish(y: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad to ``length``, scale the peak to at most 0.99, float32."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float64)[:length])
    y = np.pad(y, (0, length - y.size))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32)


class WorldCopy(BaseGenerator):
    """A05: WORLD analysis (harvest or dio + stonemask, cheaptrick, d4c) and synthesis.

    Args:
        f0_method: ``"harvest"``, ``"dio"`` or ``"random"`` (drawn per utterance).
        f0_jitter: f0 is scaled by a factor drawn from [1 - jitter, 1 + jitter].
        frame_period_ms: analysis hop.
    """

    def __init__(
        self, f0_method: str = "random", f0_jitter: float = 0.03, frame_period_ms: float = 5.0
    ) -> None:
        super().__init__()
        if f0_method not in ("harvest", "dio", "random"):
            raise ValueError(f"unknown f0_method {f0_method!r}; valid: harvest, dio, random")
        self.f0_method, self.f0_jitter, self.frame_period_ms = f0_method, f0_jitter, frame_period_ms

    def available(self) -> str | None:
        return missing_module("pyworld")

    def analyse(
        self, x: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """WORLD parameters of float64 ``x``: f0 ``(F,)``, envelope, aperiodicity ``(F, bins)``."""
        pw = import_legacy("pyworld")
        method = self.f0_method
        if method == "random":
            method = str(rng.choice(["harvest", "dio"]))
        period = self.frame_period_ms
        if method == "harvest":
            f0, times = pw.harvest(x, sample_rate, f0_floor=60.0, frame_period=period)
        else:
            f0, times = pw.dio(x, sample_rate, f0_floor=60.0, frame_period=period)
            f0 = pw.stonemask(x, f0, times, sample_rate)
        envelope = pw.cheaptrick(x, f0, times, sample_rate)
        aperiodicity = pw.d4c(x, f0, times, sample_rate)
        scale = float(rng.uniform(1 - self.f0_jitter, 1 + self.f0_jitter))
        self.settings = {"f0_method": method, "f0_scale": round(scale, 4)}
        return f0 * scale, envelope, aperiodicity

    def resynthesize(
        self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> np.ndarray:
        """WORLD copy-synthesis of ``wave`` (T,) -> float32 (T,).

        Below 16 kHz the wave is vocoded at 16 kHz and resampled back: D4C finds no periodic
        band at 8 kHz (every frame would come out as noise).
        """
        x = check_input(wave, sample_rate)
        if sample_rate >= WORLD_MIN_RATE:
            return finish(self.vocode(x, sample_rate, rng), x.size)
        common = math.gcd(WORLD_MIN_RATE, sample_rate)
        up, down = WORLD_MIN_RATE // common, sample_rate // common
        y = self.vocode(resample_poly(x, up, down), WORLD_MIN_RATE, rng)
        return finish(resample_poly(y, down, up), x.size)

    def vocode(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        """Analyse and resynthesise float64 ``x`` (T,) at ``sample_rate`` (>= 16 kHz)."""
        pw = import_legacy("pyworld")
        f0, envelope, aperiodicity = self.analyse(x, sample_rate, rng)
        return pw.synthesize(f0, envelope, aperiodicity, sample_rate, self.frame_period_ms)


class GriffinLimCopy(BaseGenerator):
    """A06: STFT magnitude (optionally squeezed through a mel filterbank) + fast Griffin-Lim.

    Args:
        n_iter: range of iterations drawn per utterance (fewer = more phase artefacts).
        mel_prob: probability that the magnitude goes through ``n_mels`` mel bands first (as
            a mel-spectrogram TTS front end would give it).
        n_mels: mel bands.
        momentum: fast Griffin-Lim momentum (0 = classic Griffin-Lim).
    """

    def __init__(
        self,
        n_iter: tuple[int, int] = (16, 64),
        mel_prob: float = 0.5,
        n_mels: int = 80,
        momentum: float = 0.99,
    ) -> None:
        super().__init__()
        self.n_iter, self.mel_prob, self.n_mels, self.momentum = n_iter, mel_prob, n_mels, momentum

    def resynthesize(
        self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Griffin-Lim copy-synthesis of ``wave`` (T,) -> float32 (T,)."""
        x = check_input(wave, sample_rate)
        n_fft = 2 ** int(round(np.log2(0.064 * sample_rate)))
        hop = n_fft // 4
        magnitude = np.abs(stft(x, n_fft, hop))
        use_mel = bool(rng.random() < self.mel_prob)
        if use_mel:
            bank = mel_filterbank(sample_rate, n_fft, self.n_mels)
            magnitude = np.maximum(magnitude @ bank.T @ np.linalg.pinv(bank).T, 0.0)
        n_iter = int(rng.integers(self.n_iter[0], self.n_iter[1] + 1))
        angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
        previous = np.zeros_like(angles)
        for _ in range(n_iter):
            rebuilt = stft(istft(magnitude * angles, n_fft, hop, x.size), n_fft, hop)
            angles = rebuilt - self.momentum / (1 + self.momentum) * previous
            angles /= np.maximum(np.abs(angles), 1e-12)
            previous = rebuilt
        self.settings = {"n_iter": n_iter, "mel": use_mel, "n_fft": n_fft}
        return finish(istft(magnitude * angles, n_fft, hop, x.size), x.size)


class LpcCopy(BaseGenerator):
    """A07: frame-wise LPC, pulse-train / noise excitation, overlap-add.

    Pitch comes from a plain autocorrelation tracker (not WORLD's), the all-pole filter of each
    20 ms frame (hop 10 ms) is driven by the excitation and scaled to the frame's energy.

    Args:
        order: LPC order; None = 4 + sample_rate / 1000.
        f0_jitter: f0 is scaled by a factor drawn from [1 - jitter, 1 + jitter].
    """

    def __init__(self, order: int | None = None, f0_jitter: float = 0.03) -> None:
        super().__init__()
        self.order, self.f0_jitter = order, f0_jitter

    def resynthesize(
        self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> np.ndarray:
        """LPC copy-synthesis of ``wave`` (T,) -> float32 (T,)."""
        x = check_input(wave, sample_rate)
        order = self.order or 4 + sample_rate // 1000
        hop = int(0.01 * sample_rate)
        frame = 2 * hop
        scale = float(rng.uniform(1 - self.f0_jitter, 1 + self.f0_jitter))
        f0 = track_f0(x, sample_rate, hop) * scale
        source = excitation(f0, hop, x.size, sample_rate, rng)
        window = np.hanning(frame + 1)[:-1]
        frames = frame_signal(x, frame, hop) * window
        # excitation of frame i: samples [i*hop - 2*hop, i*hop + hop), one hop of filter warm-up
        padded = np.pad(source, (2 * hop, 2 * hop))
        drive = padded[np.arange(3 * hop)[None, :] + hop * np.arange(len(frames))[:, None]]
        out = np.zeros_like(frames)
        for i, (segment, excite) in enumerate(zip(frames, drive, strict=True)):
            acf = np.correlate(segment, segment, "full")[frame - 1 : frame + order]
            if acf[0] <= 1e-10:
                continue
            acf[0] *= 1.0 + 1e-6
            acf[1:] *= np.exp(-0.5 * (2 * np.pi * 60 / sample_rate * np.arange(1, order + 1)) ** 2)
            coeffs = solve_toeplitz(acf[:order], acf[1 : order + 1])
            shaped = lfilter([1.0], np.concatenate(([1.0], -coeffs)), excite)[hop:] * window
            out[i] = shaped * np.sqrt(np.sum(segment**2) / max(np.sum(shaped**2), 1e-12))
        self.settings = {"order": order, "f0_scale": round(scale, 4)}
        return finish(overlap_add(out, hop, x.size), x.size)


class MlsaCopy(BaseGenerator):
    """A12: mel-cepstral analysis + SWIPE' pitch + MLSA filter synthesis (pysptk).

    Args:
        order: mel-cepstrum order; None = 24 up to 16 kHz, 34 above.
        frame_ms: analysis window (Blackman).
        hop_ms: analysis / synthesis hop.
    """

    def __init__(
        self, order: int | None = None, frame_ms: float = 25.0, hop_ms: float = 5.0
    ) -> None:
        super().__init__()
        self.order, self.frame_ms, self.hop_ms = order, frame_ms, hop_ms

    def available(self) -> str | None:
        return missing_module("pysptk")

    def resynthesize(
        self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator
    ) -> np.ndarray:
        """MLSA copy-synthesis of ``wave`` (T,) -> float32 (T,)."""
        sptk = import_legacy("pysptk")
        synthesis = importlib.import_module("pysptk.synthesis")
        x = check_input(wave, sample_rate)
        x = x + 1e-5 * rng.standard_normal(x.size)  # keeps mcep finite on digital silence
        order = self.order or (24 if sample_rate <= 16000 else 34)
        alpha = float(sptk.util.mcepalpha(sample_rate))
        hop = int(round(self.hop_ms * sample_rate / 1000))
        frame = int(round(self.frame_ms * sample_rate / 1000))
        window = np.blackman(frame)
        frames = frame_signal(x, frame, hop) * (window / np.sqrt(np.sum(window**2)))  # unit power
        n_fft = 2 ** int(np.ceil(np.log2(frame)))
        frames = np.pad(frames, ((0, 0), (0, n_fft - frame)))
        mc = sptk.mcep(frames, order=order, alpha=alpha, etype=1, eps=1e-8)
        pitch = sptk.swipe(
            highpass(x, sample_rate),
            fs=sample_rate,
            hopsize=hop,
            min=60.0,
            max=400.0,
            otype="pitch",
        )
        pitch = np.pad(pitch, (0, max(0, len(mc) - len(pitch))))[: len(mc)]
        seed = int(rng.integers(1, 2**31 - 1))  # M-sequence noise would carry state across calls
        source = sptk.excite(pitch.astype(np.float64), hop, gaussian=True, seed=seed)
        engine = synthesis.Synthesizer(synthesis.MLSADF(order=order, alpha=alpha), hop)
        y = engine.synthesis(source, sptk.mc2b(mc, alpha))
        self.settings = {"order": order, "alpha": round(alpha, 3)}
        # frames are centred: frame i covers sample i * hop, synthesis frame i starts there
        return finish(y, x.size)
