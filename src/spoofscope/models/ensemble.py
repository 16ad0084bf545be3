"""Several countermeasures behind one fixed input low-pass filter, scored as one model.

The shipped default model is trained on a corpus whose every clip was band-limited to the
telephone band (``spoofscope corpus build``: an 8 kHz round trip), because most of its real
recordings are narrowband and a bandwidth difference between the classes would be a shortcut.
A model trained so has never seen energy above 4 kHz, so at inference that energy must go
the same way: the filter is part of the model, in training, evaluation, ONNX export and the
detector alike.

The members' logits are averaged, so the ensemble's log-odds ``logit[1] - logit[0]`` is the
mean of the members' log-odds (equal weights, or ``weights``). One member is the plain case:
a single model behind the filter.

Build one from trained members with :func:`assemble`; train a single member behind the
filter with the registry name ``ensemble`` and ``members=[{"name": ..., "config": {...}}]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spoofscope.models.base import SpoofModel


@dataclass(frozen=True)
class EnsembleConfig:
    """Ensemble hyper-parameters.

    Attributes:
        members: one ``{"name": registry name, "config": full config dict}`` per member.
        weights: one weight per member for the logit average (``None`` = equal).
        lowpass_hz: cut-off of the input low-pass filter in Hz (``None`` = no filter).
        lowpass_taps: length of the linear-phase FIR filter (odd).
        segment_samples: the ensemble's window length (``None`` = the longest member's).
    """

    members: tuple[dict[str, Any], ...] = field(
        default_factory=lambda: ({"name": "lcnn", "config": {}},)
    )
    weights: tuple[float, ...] | None = None
    lowpass_hz: float | None = 3800.0
    lowpass_taps: int = 127
    segment_samples: int | None = None

    def __post_init__(self) -> None:
        # through JSON, so a config equals itself after a checkpoint round trip
        members = tuple(json.loads(json.dumps(dict(m))) for m in self.members)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        for m in members:
            if set(m) - {"name", "config"} or "name" not in m:
                raise ValueError(
                    f"each member must be {{'name': str, 'config': dict}}, got {sorted(m)}"
                )
            if m["name"] == "ensemble":
                raise ValueError("an ensemble member cannot itself be an ensemble")
        object.__setattr__(self, "members", members)
        if self.weights is not None:
            weights = tuple(float(w) for w in self.weights)
            if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(
                    f"weights must be {len(members)} non-negative numbers with a positive "
                    f"sum, got {self.weights!r}"
                )
            object.__setattr__(self, "weights", weights)
        if self.lowpass_hz is not None and not 0 < float(self.lowpass_hz) < 8000:
            raise ValueError(f"lowpass_hz must be in (0, 8000) Hz or None, got {self.lowpass_hz}")
        if self.segment_samples is not None and int(self.segment_samples) < 1:
            raise ValueError(f"segment_samples must be >= 1 or None, got {self.segment_samples}")
        if int(self.lowpass_taps) < 3 or int(self.lowpass_taps) % 2 == 0:
            raise ValueError(f"lowpass_taps must be an odd number >= 3, got {self.lowpass_taps}")


def lowpass_kernel(cutoff_hz: float, taps: int, sample_rate: int = 16000) -> np.ndarray:
    """A linear-phase FIR low-pass (Kaiser-windowed sinc, beta 8), unit gain at DC.

    Args:
        cutoff_hz: the -6 dB point in Hz.
        taps: filter length (odd).
        sample_rate: in Hz.

    Returns:
        float32 array of shape ``(taps,)``.
    """
    from scipy.signal import firwin

    return firwin(taps, cutoff_hz, window=("kaiser", 8.0), fs=sample_rate).astype(np.float32)


class Ensemble(SpoofModel):
    """Members behind a shared input low-pass; logits averaged.

    Args:
        config: an :class:`EnsembleConfig`.
    """

    def __init__(self, config: EnsembleConfig) -> None:
        from spoofscope.models import build_model

        super().__init__()
        self.config = config
        # the member's registry preset, then its config (a full config from a checkpoint, or
        # the overrides a training config gives)
        self.members = nn.ModuleList(
            build_model(m["name"], **dict(m.get("config") or {})) for m in config.members
        )
        if any(not m.trainable_by_gradient for m in self.members):
            raise ValueError("ensemble members must be trainable by gradient (no GMMs)")
        self.segment_samples = config.segment_samples or max(
            m.segment_samples for m in self.members
        )
        weights = config.weights or (1.0,) * len(self.members)
        total = sum(weights)
        self.register_buffer(
            "weights", torch.tensor([w / total for w in weights], dtype=torch.float32)
        )
        if config.lowpass_hz is None:
            self.register_buffer("kernel", torch.zeros(0))
        else:
            kernel = lowpass_kernel(config.lowpass_hz, config.lowpass_taps, self.sample_rate)
            self.register_buffer("kernel", torch.from_numpy(kernel).view(1, 1, -1))

    def min_samples(self) -> int:
        return max(m.min_samples() for m in self.members)

    def lowpass(self, wave: torch.Tensor) -> torch.Tensor:
        """Filter ``(B, T)`` waveforms (zero-padded at the edges, same length out)."""
        if self.kernel.numel() == 0:
            return wave
        half = self.kernel.shape[-1] // 2
        return F.conv1d(wave.unsqueeze(1), self.kernel, padding=half).squeeze(1)

    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.lowpass(wave)
        logits = [member(x) for member in self.members]
        return sum(w * out for w, out in zip(self.weights, logits, strict=True))

    def fuse_for_inference(self) -> SpoofModel:
        fused = Ensemble.__new__(Ensemble)
        SpoofModel.__init__(fused)
        fused.config, fused.name = self.config, self.name
        fused.segment_samples = self.segment_samples
        fused.members = nn.ModuleList(m.fuse_for_inference() for m in self.members)
        fused.register_buffer("weights", self.weights.clone())
        fused.register_buffer("kernel", self.kernel.clone())
        return fused.eval()

    def config_dict(self) -> dict[str, Any]:
        return {
            "members": [dict(m) for m in self.config.members],
            "weights": None if self.config.weights is None else list(self.config.weights),
            "lowpass_hz": self.config.lowpass_hz,
            "lowpass_taps": self.config.lowpass_taps,
            "segment_samples": self.config.segment_samples,
        }


def assemble(
    models: Sequence[SpoofModel],
    *,
    weights: Sequence[float] | None = None,
    lowpass_hz: float | None = 3800.0,
    lowpass_taps: int = 127,
) -> Ensemble:
    """An ensemble of trained models (each a plain model or a one-member ensemble).

    A one-member ensemble contributes its member; its filter must equal the new one's, since
    the member was trained behind it.

    Raises:
        ValueError: a GMM member, or a member trained behind a different filter.
    """
    from spoofscope.models import build_model

    plain: list[SpoofModel] = []
    for model in models:
        if isinstance(model, Ensemble):
            cfg = model.config
            if (cfg.lowpass_hz, cfg.lowpass_taps) != (lowpass_hz, lowpass_taps):
                raise ValueError(
                    f"member {model.name!r} was trained behind lowpass_hz={cfg.lowpass_hz}, "
                    f"lowpass_taps={cfg.lowpass_taps}, not {lowpass_hz}, {lowpass_taps}"
                )
            plain.extend(model.members)
        else:
            plain.append(model)
    members = tuple({"name": m.name, "config": m.config_dict()} for m in plain)
    ensemble = build_model(
        "ensemble",
        members=members,
        weights=None if weights is None else tuple(weights),
        lowpass_hz=lowpass_hz,
        lowpass_taps=lowpass_taps,
    )
    for target, source in zip(ensemble.members, plain, strict=True):
        target.load_state_dict(source.state_dict())
    return ensemble
