"""Tiny neural vocoders trained on this CPU: copy-synthesis attacks A08, A09 and A13.

Each class is a corpus ``Generator`` of kind ``"copy"``: :meth:`~_NeuralVocoder.prepare` trains
its net from scratch on the bona fide train recordings within a wall-time budget (or reuses the
weights cached in ``work_dir``), then :meth:`~_NeuralVocoder.resynthesize` turns a bona fide
waveform into its log-mel spectrogram (80 bins, 16 kHz, hop 160, window 640, n_fft 1024; see
:mod:`.neural_vocoder_dsp`) and back into a waveform through the net. The output is artefact
laden by design: these are the "vocoded bona fide" spoofs of Wang & Yamagishi (ICASSP 2023).

* A08 :class:`HifiTiny` -- HiFi-GAN-like (transposed convs + multi-receptive-field blocks),
  MR-STFT + 5 x log-mel L1 loss.
* A09 :class:`UpsampleTiny` -- MelGAN-like with nearest-neighbour upsampling + convs, a different
  loss mix (MR-STFT at longer resolutions, 2 x log-mel L1).
* A13 :class:`IstftTiny` -- iSTFTNet-like: convs predict a 32-point STFT (magnitude + phase) at
  2 kHz frame rate, inverted by ``torch.istft``; MR-STFT + 5 x log-mel L1.

By default all three are source-filter nets (NSF-style, like the NSF-HiFiGAN of common voice
conversion tools): besides the mel they get a harmonic-plus-noise excitation built from the
input's F0 (:mod:`.neural_vocoder_dsp`), which lets harmonics appear within minutes of CPU
training; ``source=False`` gives the pure mel-to-waveform nets (breathy at small budgets).

Level: every input is brought to a common speech level (:func:`.neural_vocoder_train.level_gain`)
before analysis and the output is scaled back by the same gain, so the vocoders work at any
input loudness (the output level is the nets' own: its RMS comes out 2-7 dB below the input's,
with less peaky harmonics; the corpus builder normalises loudness afterwards).
Inputs at other rates are resampled to 16 kHz and the output back to the input rate; the output
has exactly the input's length. Long inputs run in chunks of ``chunk_frames`` frames with
``context`` frames of overlap each side (wider than the nets' receptive field), so memory stays
bounded and the result equals a single pass up to float rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soxr
import torch

from .generators import BaseGenerator
from .neural_vocoder_dsp import HOP, SAMPLE_RATE, LogMel, estimate_f0, excitation
from .neural_vocoder_train import TrainConfig, data_fingerprint, level_gain, train_or_load

__all__ = ["CONFIGS", "HifiTiny", "IstftTiny", "UpsampleTiny"]

logger = logging.getLogger(__name__)

MIN_SAMPLES = 1024  # shorter inputs are zero-padded to this length, the output cropped

CONFIGS: dict[str, TrainConfig] = {
    "hifi-tiny": TrainConfig(arch="hifi-tiny", net={"source": True}, w_stft=1.0, w_mel=5.0),
    "upsample-tiny": TrainConfig(
        arch="upsample-tiny",
        net={"source": True},
        resolutions=((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512)),
        w_stft=1.0,
        w_mel=2.0,
    ),
    "istft-tiny": TrainConfig(arch="istft-tiny", net={"source": True}, w_stft=1.0, w_mel=5.0),
}
"""The training configuration of each vocoder (part of its cache key). Common: Adam at
5e-3 (cosine to 5e-4 over the budget), batches of 4 segments of 0.5-1 s, harmonic-plus-noise
source on; the generators' ``source=False`` switches to a pure mel-to-wave net."""


def _to_rate(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return np.asarray(wave, np.float32)
    return soxr.resample(np.asarray(wave, np.float32), rate_in, rate_out).astype(np.float32)


def _check_wave(wave: Any, sample_rate: Any, what: str) -> np.ndarray:
    if not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise ValueError(f"{what}: sample_rate must be a positive int, got {sample_rate!r}")
    arr = np.asarray(wave, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a mono 1-D waveform, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: the waveform contains NaN or inf")
    return arr


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (None: unchanged), restoring the previous count."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if n is not None:
            torch.set_num_threads(previous)


class _NeuralVocoder(BaseGenerator):
    """Base of the neural-vocoder generators (kind ``"copy"``; ``spec`` is set by
    ``get_generator``). After :meth:`prepare`, ``meta`` holds the training record (steps done,
    seconds, loss, data fingerprint) and ``settings`` the vocoder's identity.

    Args:
        steps: train exactly this many steps (the budget still caps the time): weights that do
            not depend on machine speed. None (default) trains until the budget ends.
        chunk_frames: mel frames per chunk in :meth:`resynthesize` (100 frames = 1 s).
        context: overlap frames each side of a chunk.
        threads: torch intra-op threads while training / vocoding (restored afterwards); None
            keeps what the environment gives (``OMP_NUM_THREADS`` / ``torch.set_num_threads``).
            On a busy machine 1 thread is several times faster than oversubscribed threads.
        source: feed the net a harmonic-plus-noise excitation built from the input's F0
            (NSF-style, the default: harmonics appear within minutes of training); False gives
            a pure mel-to-waveform net (envelope right, but breathy/whispered at small budgets).
            Cached as ``<name>`` / ``<name>-mel``.
    """

    arch: ClassVar[str] = ""

    def __init__(
        self,
        steps: int | None = None,
        chunk_frames: int = 1000,
        context: int = 32,
        threads: int | None = None,
        source: bool = True,
    ) -> None:
        if chunk_frames < 1 or context < 0:
            raise ValueError(
                f"chunk_frames must be >= 1 and context >= 0, got {chunk_frames} and {context}"
            )
        super().__init__()
        self.steps = steps
        self.chunk_frames, self.context = int(chunk_frames), int(context)
        self.threads = threads
        base = CONFIGS[self.arch]
        self.config = replace(base, net={**base.net, "source": bool(source)})
        self.cache_name = self.arch if source else f"{self.arch}-mel"
        self.net: torch.nn.Module | None = None
        self.meta: dict[str, Any] = {}
        self._logmel = LogMel()

    def prepare(
        self,
        train_waves: Sequence[np.ndarray],
        sample_rate: int,
        work_dir: Path,
        budget_s: float,
        rng: np.random.Generator,
    ) -> None:
        """Train the vocoder on bona fide waves (or reuse the weights cached in ``work_dir``).

        Args:
            train_waves: bona fide training recordings, float32 ``(T_i,)`` at ``sample_rate``.
            sample_rate: their rate in Hz (resampled to 16 kHz for training).
            work_dir: where ``<name>.safetensors`` and ``<name>.json`` are kept.
            budget_s: wall-time budget of the training loop in seconds (> 0).
            rng: draws the training seed (one integer).
        """
        if not budget_s > 0:
            raise ValueError(f"{self.cache_name}: budget_s must be > 0, got {budget_s!r}")
        waves = [
            _to_rate(_check_wave(w, sample_rate, self.cache_name), sample_rate, SAMPLE_RATE)
            for w in train_waves
        ]
        if not any(len(w) for w in waves):
            raise ValueError(
                f"{self.cache_name}: prepare needs at least one non-empty training wave"
            )
        seed = int(rng.integers(0, 2**31 - 1))
        with _threads(self.threads):
            self.net, self.meta = train_or_load(
                self.cache_name,
                self.config,
                waves,
                Path(work_dir),
                budget_s,
                seed,
                self.steps,
                fingerprint=data_fingerprint(waves, SAMPLE_RATE),
            )
        self.settings = {
            "vocoder": self.cache_name,
            "source": bool(self.config.net.get("source")),
            "train_steps": self.meta.get("steps_done"),
            "train_seed": seed,
        }

    @torch.inference_mode()
    def resynthesize(
        self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Copy-synthesis: waveform -> log-mel -> vocoder -> waveform.

        Args:
            wave: float32 ``(T,)`` mono at ``sample_rate``.
            sample_rate: in Hz; the output has the same rate.
            rng: draws the excitation noise and start phase of the source-filter nets; None
                uses a fixed seed (0), so the output is reproducible either way.

        Returns:
            float32 ``(T,)`` in [-1, 1].

        Raises:
            RuntimeError: if :meth:`prepare` was not called first.
        """
        if self.net is None:
            raise RuntimeError(
                f"{self.cache_name}: the vocoder is not trained; call prepare(train_waves, "
                "sample_rate, work_dir, budget_s, rng) before resynthesize()"
            )
        arr = _check_wave(wave, sample_rate, self.cache_name)
        if len(arr) == 0:
            return arr.copy()
        x = _to_rate(arr, sample_rate, SAMPLE_RATE)
        rng = rng if rng is not None else np.random.default_rng(0)
        gain = level_gain(x)
        with _threads(self.threads):
            y = self._vocode(torch.from_numpy(x * np.float32(gain)), rng) / np.float32(gain)
        y = _to_rate(np.clip(y, -1.0, 1.0), SAMPLE_RATE, sample_rate)
        out = np.zeros(len(arr), np.float32)
        out[: min(len(y), len(arr))] = y[: len(arr)]
        return np.clip(out, -1.0, 1.0)

    def _vocode(self, x: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
        """Run the net over ``x`` ``(T,)`` (16 kHz, levelled) chunk by chunk -> ``(T,)``.

        With a source-filter net, the excitation's noise is drawn for the whole input at once
        and its phase is carried across chunks, so chunking does not change the result.
        """
        n_out = len(x)
        if n_out < MIN_SAMPLES:  # the mel's reflect padding needs more than n_fft / 2 samples
            x = torch.nn.functional.pad(x, (0, MIN_SAMPLES - n_out))
        n = len(x)
        frames = n // HOP + 1
        out = np.zeros(frames * HOP, np.float32)
        uses_source = getattr(self.net, "uses_source", False)
        if uses_source:
            noise = torch.from_numpy(rng.standard_normal(frames * HOP, dtype=np.float32))
            phase = float(rng.uniform(0.0, 2.0 * np.pi))  # phase at the start of frame s
        for s in range(0, frames, self.chunk_frames):
            e = min(s + self.chunk_frames, frames)
            a, b = max(0, s - self.context), min(frames, e + self.context)
            seg = x[a * HOP : min(n, b * HOP)]
            mel = self._logmel(seg[None])[:, :, : b - a]
            source = None
            if uses_source:
                f0 = estimate_f0(seg[None])[:, : b - a]
                cycles = f0[0].double() * (HOP / SAMPLE_RATE)  # cycles per frame
                start = phase - 2.0 * np.pi * float(cycles[: s - a].sum())
                source = excitation(
                    f0,
                    HOP,
                    phase0=torch.tensor([start % (2.0 * np.pi)]),
                    noise=noise[None, a * HOP : b * HOP],
                )
                phase = (phase + 2.0 * np.pi * float(cycles[s - a : e - a].sum())) % (2 * np.pi)
            y = self.net(mel, source)[0].numpy()
            out[s * HOP : e * HOP] = y[(s - a) * HOP : (e - a) * HOP]
        return out[:n_out]


class HifiTiny(_NeuralVocoder):
    """A08 ``hifi-tiny``: HiFi-GAN-like tiny vocoder (see the module docstring)."""

    arch = "hifi-tiny"


class UpsampleTiny(_NeuralVocoder):
    """A09 ``upsample-tiny``: nearest-upsampling MelGAN-like tiny vocoder."""

    arch = "upsample-tiny"


class IstftTiny(_NeuralVocoder):
    """A13 ``istft-tiny``: iSTFTNet-like tiny vocoder (conv -> STFT -> ``torch.istft``)."""

    arch = "istft-tiny"
