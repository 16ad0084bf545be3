"""Spoof generators of the offline corpus: the attack registry and the Generator protocol.

Every attack has a stable id (``"A01"``.., as in ASVspoof) and an :class:`AttackSpec` in
:data:`ATTACKS`. :func:`get_generator` builds its generator lazily (the module named in the
spec's ``factory`` is imported only then), so listing attacks costs nothing.

Two kinds of generator:

* ``kind == "tts"``: text in, ``synthesize(text, rng) -> (wave, native_rate)``;
* ``kind == "copy"``: copy-synthesis of a bona fide waveform,
  ``resynthesize(wave, sample_rate, rng) -> wave`` at the same rate, length within 1 %.

Waves are float32 mono in [-1, 1], shape ``(T,)``. The builder resamples and conditions
everything afterwards. A generator whose tool is missing says why through ``available()``.

Writing a generator: subclass :class:`BaseGenerator` (defaults: ``available()`` is None,
``prepare()`` is a no-op), take the spec's ``kwargs`` as keyword arguments in ``__init__``,
override what applies, and add an :class:`AttackSpec` to :data:`ATTACKS`. After each call a
generator records what it drew in ``self.settings`` (a JSON-able dict: voice, speed, f0
method...), which the builder may copy into the manifest; TTS generators with several voices
also offer ``voice_pool(split) -> list[str]`` and accept ``voices=`` (see tts_engines.py).
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

KINDS = ("tts", "copy")
ROLES = ("train", "eval")


class SynthesisError(RuntimeError):
    """A generator's tool failed on one input (non-zero exit, timeout, empty output)."""


@dataclass(frozen=True)
class AttackSpec:
    """One attack (spoof generator) of the corpus.

    Attributes:
        id: stable id, ``"A01"``..
        name: short human name, e.g. ``"espeak-ng"``, ``"world-copy"``.
        family: synthesis family, e.g. ``"formant-tts"``, ``"griffin-lim"``.
        kind: ``"tts"`` (text in) or ``"copy"`` (bona fide waveform in).
        role: ``"train"`` (seen: in train, dev and eval) or ``"eval"`` (unseen: eval only).
        factory: ``"module:Class"``, imported lazily by :func:`get_generator`.
        kwargs: keyword arguments for the factory.
    """

    id: str
    name: str
    family: str
    kind: str
    role: str
    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)


@runtime_checkable
class Generator(Protocol):
    """What the corpus builder needs from a generator (see the module docstring)."""

    spec: AttackSpec

    def available(self) -> str | None:
        """None if usable here, else the reason (missing binary, package, voice)."""
        ...

    def prepare(
        self,
        train_waves: Sequence[np.ndarray],
        sample_rate: int,
        work_dir: Path,
        budget_s: float,
        rng: np.random.Generator,
    ) -> None:
        """Fit whatever the generator learns from bona fide training speech (usually nothing)."""
        ...


class BaseGenerator:
    """Defaults for generators: always available, nothing to prepare.

    Subclasses set ``spec`` through :func:`get_generator` (which assigns it after
    construction), override :meth:`available` when they need a tool, and implement
    ``synthesize`` (tts) or ``resynthesize`` (copy). ``settings`` holds what the last call drew.
    """

    spec: AttackSpec
    settings: dict[str, Any]

    def __init__(self) -> None:
        self.settings = {}

    def available(self) -> str | None:
        """None: usable. Override to name what is missing."""
        return None

    def prepare(
        self,
        train_waves: Sequence[np.ndarray],
        sample_rate: int,
        work_dir: Path,
        budget_s: float,
        rng: np.random.Generator,
    ) -> None:
        """No-op; trained generators (neural vocoders) override it."""
        return None


def missing_binaries(*names: str) -> str | None:
    """Return ``"missing program(s): a, b"`` for names not on PATH, else None."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        return f"missing program(s) on PATH: {', '.join(missing)} (run scripts/setup.sh)"
    return None


class UnavailableGenerator(BaseGenerator):
    """Stands in for a generator whose module cannot be imported; never usable."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self._reason = reason

    def available(self) -> str | None:
        return self._reason


def _spec(
    id: str, name: str, family: str, kind: str, role: str, factory: str, **kwargs: Any
) -> AttackSpec:
    return AttackSpec(id, name, family, kind, role, f"spoofscope.corpus.{factory}", kwargs)


_TABLE = (
    # role "train": seen attacks (train, dev and eval)
    _spec("A01", "espeak-ng", "formant-tts", "tts", "train", "tts_engines:EspeakNg"),
    _spec("A02", "flite-diphone", "diphone-tts", "tts", "train", "tts_engines:Flite",
          voices=["kal", "kal16"]),
    _spec("A03", "festival-diphone", "diphone-tts", "tts", "train", "tts_engines:Festival",
          voices=["kal_diphone", "ked_diphone"]),
    _spec("A04", "piper-joe", "neural-tts", "tts", "train", "tts_piper:PiperJoe"),
    _spec("A05", "world-copy", "world-vocoder", "copy", "train", "vocoders:WorldCopy"),
    _spec("A06", "griffin-lim", "griffin-lim", "copy", "train", "vocoders:GriffinLimCopy"),
    _spec("A07", "lpc-copy", "lpc-vocoder", "copy", "train", "vocoders:LpcCopy"),
    _spec("A08", "hifi-tiny", "neural-vocoder", "copy", "train", "neural_vocoders:HifiTiny"),
    _spec("A09", "upsample-tiny", "neural-vocoder", "copy", "train",
          "neural_vocoders:UpsampleTiny"),
    # role "eval": unseen attacks (eval only)
    _spec("A10", "festival-hts", "hts-tts", "tts", "eval", "tts_engines:Festival",
          voices=["cmu_us_slt_arctic_hts"]),
    _spec("A11", "flite-clustergen", "clustergen-tts", "tts", "eval", "tts_engines:Flite",
          voices=["awb", "rms", "slt"]),
    _spec("A12", "mlsa-copy", "mlsa-vocoder", "copy", "eval", "vocoders:MlsaCopy"),
    _spec("A13", "istft-tiny", "neural-vocoder", "copy", "eval", "neural_vocoders:IstftTiny"),
    # added by helper A (cheap, different artefacts): role "train"
    _spec("A14", "harmonic-noise-copy", "sinusoidal-vocoder", "copy", "train",
          "vocoders_extra:HarmonicNoiseCopy"),
    _spec("A15", "world-coded", "world-vocoder", "copy", "train",
          "vocoders_extra:WorldCodedCopy"),
)  # fmt: skip

ATTACKS: dict[str, AttackSpec] = {spec.id: spec for spec in _TABLE}
"""Every attack by id."""


def list_attacks(role: str | None = None) -> list[AttackSpec]:
    """All attacks, or those of one role (``"train"`` = seen, ``"eval"`` = unseen), by id.

    Raises:
        ValueError: ``role`` is not None, ``"train"`` or ``"eval"``.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown attack role {role!r}; valid roles: {', '.join(ROLES)}")
    return [spec for spec in ATTACKS.values() if role is None or spec.role == role]


def get_generator(attack_id: str, **overrides: Any) -> Generator:
    """Build the generator of ``attack_id`` with its spec's kwargs (``overrides`` win).

    A generator whose module cannot be imported (missing optional package) comes back as an
    :class:`UnavailableGenerator` whose ``available()`` gives the import error.

    Raises:
        ValueError: unknown ``attack_id``; the message lists the valid ids.
    """
    spec = ATTACKS.get(attack_id)
    if spec is None:
        raise ValueError(f"unknown attack id {attack_id!r}; valid ids: {', '.join(ATTACKS)}")
    module_name, _, class_name = spec.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        generator: Any = UnavailableGenerator(f"cannot load {spec.factory}: {error}")
    else:
        generator = factory(**{**spec.kwargs, **overrides})
    generator.spec = spec
    return generator
