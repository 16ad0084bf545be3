"""Waveform augmentation for training: configurable, seeded, one entry point.

``Augmenter(AugmentConfig(enabled=True))(wave, rng)`` passes a clip through these stages, in
``config.order``, each applied with its own probability ``p``:

- ``speed``: Kaldi-style speed perturbation (resampling; changes length *and* pitch);
- ``rawboost``: RawBoost algorithms 1..8 (:mod:`spoofscope.data.rawboost`);
- ``reverb``: simulated or measured room impulse responses (:mod:`spoofscope.data.room`);
- ``noise``: coloured or recorded noise at a random SNR (:mod:`spoofscope.data.noise`);
- ``gain``: a random gain, then with probability ``clip_p`` hard clipping;
- ``codec``: MP3, AAC, Ogg Vorbis, Opus, G.711, telephone band or packet loss
  (:mod:`spoofscope.data.codecs`).

The default order follows a recording chain: the talker (speed, RawBoost), the room (reverb,
noise), the microphone and converter (gain, clipping), the transmission (codec). The defaults of
every stage form a moderate real-world recipe; ``enabled`` is False, so a default config changes
nothing. Configs come from YAML through :func:`augment_config_from_dict`.

Determinism: the output is a function of the input and the generator's state. Each stage draws
from its own child generator, so changing one stage's settings does not change what the
others draw. Only ``speed`` changes the length (by ``1 / factor``): crop or pad after
augmenting. After every stage a clip whose peak exceeds 1 is scaled down to peak 1 (a scale,
not a clip, so SNRs are kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr

from spoofscope.data.augment_util import check_choices, check_prob, check_range
from spoofscope.data.codecs import CodecAugment, CodecConfig
from spoofscope.data.noise import NoiseAugment, NoiseConfig
from spoofscope.data.rawboost import RawBoostAugment, RawBoostConfig
from spoofscope.data.room import ReverbAugment, ReverbConfig
from spoofscope.registry import replace_config

__all__ = [
    "STAGES",
    "AugmentConfig",
    "Augmenter",
    "CodecConfig",
    "GainConfig",
    "NoiseConfig",
    "RawBoostConfig",
    "ReverbConfig",
    "SpeedConfig",
    "augment_config_from_dict",
    "clip",
    "speed_perturb",
]

#: The stage names, in the default order.
STAGES = ("speed", "rawboost", "reverb", "noise", "gain", "codec")


@dataclass
class GainConfig:
    """Gain and clipping.

    Attributes:
        p: probability of the stage (a gain, then maybe clipping).
        gain_db: gain range in dB.
        clip_p: within the stage, probability of hard clipping after the gain.
        clip_fraction: the clipping threshold as a fraction of the clip's peak, range.
    """

    p: float = 0.5
    gain_db: tuple[float, float] = (-12.0, 6.0)
    clip_p: float = 0.2
    clip_fraction: tuple[float, float] = (0.3, 0.9)

    def __post_init__(self) -> None:
        self.p = check_prob("gain.p", self.p)
        self.gain_db = check_range("gain.gain_db", self.gain_db, -100.0, 60.0)
        self.clip_p = check_prob("gain.clip_p", self.clip_p)
        self.clip_fraction = check_range("gain.clip_fraction", self.clip_fraction, 1e-3, 1.0)


@dataclass
class SpeedConfig:
    """Speed perturbation (off by default: it shifts pitch and formants, and so the very
    spectral cues some detectors rely on; Kaldi uses factors 0.9 and 1.1).

    Attributes:
        p: probability of changing the speed.
        factor: speed factor range (> 1 is faster and shorter).
    """

    p: float = 0.0
    factor: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        self.p = check_prob("speed.p", self.p)
        self.factor = check_range("speed.factor", self.factor, 0.1, 10.0)


@dataclass
class AugmentConfig:
    """The whole augmentation recipe (see the module docstring).

    Attributes:
        enabled: master switch; False makes :class:`Augmenter` return its input unchanged.
        order: the stages in the order applied (any subset of :data:`STAGES`).
        rawboost, noise, reverb, codec, gain, speed: the stages' settings.
    """

    enabled: bool = False
    order: tuple[str, ...] = STAGES
    rawboost: RawBoostConfig = field(default_factory=RawBoostConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    gain: GainConfig = field(default_factory=GainConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"augment.enabled must be true or false, got {self.enabled!r}")
        self.order = check_choices("augment.order", self.order, STAGES, allow_empty=True)
        if len(set(self.order)) != len(self.order):
            raise ValueError(f"augment.order repeats a stage: {list(self.order)!r}")


_SUB_CONFIGS = {
    "rawboost": RawBoostConfig,
    "noise": NoiseConfig,
    "reverb": ReverbConfig,
    "codec": CodecConfig,
    "gain": GainConfig,
    "speed": SpeedConfig,
}


def augment_config_from_dict(d: dict[str, Any] | None) -> AugmentConfig:
    """Build an :class:`AugmentConfig` from nested dicts (as read from YAML).

    Missing keys keep their defaults; lists become tuples.

    Raises:
        TypeError: an unknown key, at any level; the message lists the valid keys.
        ValueError: an invalid value (a probability outside [0, 1], an unknown codec, ...).
    """
    d = dict(d or {})
    for name, cls in _SUB_CONFIGS.items():
        sub = d.get(name)
        if sub is None or isinstance(sub, cls):
            continue
        if not isinstance(sub, dict):
            raise TypeError(f"augment.{name} must be a mapping, got {type(sub).__name__}")
        d[name] = replace_config(cls(), sub, f"augment.{name}")
    return replace_config(AugmentConfig(), d, "augment")


def clip(x: np.ndarray, fraction: float) -> np.ndarray:
    """Hard-clip ``x`` at ``fraction`` of its peak. ``(T,) -> (T,)``."""
    threshold = fraction * float(np.max(np.abs(x), initial=0.0))
    return np.clip(x, -threshold, threshold)


def speed_perturb(x: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (resampled with soxr; pitch moves too).

    Returns:
        float32 array of about ``len(x) / factor`` samples.
    """
    return soxr.resample(np.asarray(x, dtype=np.float32), sample_rate * factor, sample_rate)


class SpeedAugment:
    """Speed perturbation by a factor drawn from ``config.factor``; ``(T,) -> (~T / f,)``."""

    def __init__(self, config: SpeedConfig, sample_rate: int) -> None:
        self.config = config
        self.sample_rate = sample_rate

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return speed_perturb(x, self.sample_rate, rng.uniform(*self.config.factor))


class GainAugment:
    """A random gain, then hard clipping with probability ``clip_p``; ``(T,) -> (T,)``."""

    def __init__(self, config: GainConfig, sample_rate: int) -> None:
        self.config = config

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        y = x * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
        if rng.random() < cfg.clip_p:
            y = clip(y, rng.uniform(*cfg.clip_fraction))
        return y


_STAGE_CLASSES: dict[str, Callable[[Any, int], Callable[..., np.ndarray]]] = {
    "speed": SpeedAugment,
    "rawboost": RawBoostAugment,
    "reverb": ReverbAugment,
    "noise": NoiseAugment,
    "gain": GainAugment,
    "codec": CodecAugment,
}


class Augmenter:
    """Applies an :class:`AugmentConfig` to single clips.

    Folders of noise and RIR files are scanned here, once. An Augmenter is picklable, so it
    can live in a ``Dataset`` used by ``DataLoader`` workers.

    Args:
        config: the recipe.
        sample_rate: rate of the clips in Hz.

    Raises:
        SpoofscopeError: a noise or RIR folder is missing or holds no audio file.
        ValueError: a codec in ``config.codec.kinds`` is missing from this FFmpeg build.
    """

    def __init__(self, config: AugmentConfig, sample_rate: int = 16000) -> None:
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"config must be an AugmentConfig, got {type(config).__name__}")
        self.config = config
        self.sample_rate = int(sample_rate)
        self._stages: list[tuple[str, float, Callable[..., np.ndarray]]] = []
        if not config.enabled:
            return
        for name in config.order:
            sub = getattr(config, name)
            if sub.p > 0:
                self._stages.append((name, sub.p, _STAGE_CLASSES[name](sub, self.sample_rate)))

    @property
    def active_stages(self) -> list[str]:
        """Names of the stages that may run (enabled, ``p > 0``), in order."""
        return [name for name, _, _ in self._stages]

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one clip.

        Args:
            wave: samples of shape ``(T,)``, finite.
            rng: the generator all random draws come from (advanced by the call).

        Returns:
            float32 array of shape ``(T',)``: ``T' = T`` unless the speed stage ran.

        Raises:
            ValueError: ``wave`` is not 1-D or holds NaN/Inf.
        """
        x = np.array(wave, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"Augmenter expects a 1-D waveform, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("Augmenter got a waveform with NaN or infinite samples")
        if not self._stages or len(x) == 0:
            return x
        draws = rng.random(len(self._stages))
        seeds = rng.integers(0, 2**63 - 1, size=len(self._stages))
        for (_, p, stage), u, seed in zip(self._stages, draws, seeds, strict=True):
            if u >= p:
                continue
            x = np.asarray(stage(x, np.random.default_rng(seed)), dtype=np.float32)
            if len(x) == 0:  # only an extreme speed factor on a tiny clip gets here
                break
            peak = float(np.max(np.abs(x), initial=0.0))
            if peak > 1.0:
                x /= peak
        return x

    def __repr__(self) -> str:
        return f"Augmenter(stages={self.active_stages}, sample_rate={self.sample_rate})"
