"""LFCC-LCNN, the ASVspoof 2021 LA baseline (Xin Wang and Junichi Yamagishi, "A comparative
study on recent neural spoofing countermeasures for synthetic speech detection",
Interspeech 2021; ``asvspoof-challenge/2021`` ``LA/Baseline-LFCC-LCNN/project/baseline_LA/
model.py``).

Waveform -> LFCC (20 coefficients, 0-4 kHz, 20 ms / 10 ms frames, energy in c0, deltas and
delta-deltas: 60 dims; :data:`spoofscope.features.LFCC_LCNN_2021`) computed inside the model
-> light CNN of 9 convolutions with max-feature-map (MFM) activations, 4 max pools and
non-affine batch norms -> dropout 0.7 -> ``(B, frames / 16, 32 * 60 / 16)`` -> two BiLSTM
layers, added to their input -> mean over time -> linear output.

Difference from the baseline: it has one output unit trained with a sigmoid/BCE; ours has a
2-way linear head (index 0 = spoof, 1 = bona fide) trained with cross-entropy, so the
trainable parameter count is 269,826 instead of the official 269,729 (97 more).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from spoofscope.data.specaugment import FILLS, spec_augment
from spoofscope.features import FLOAT32_EPS, LFCC
from spoofscope.models.base import SpoofModel

__all__ = ["LCNN", "LCNNConfig", "MaxFeatureMap"]

# (in, out, kernel) of each convolution; None marks a 2x2 max pool; ("bn", c) a BatchNorm2d.
_LAYERS: list = [
    (1, 64, 5), None,
    (32, 64, 1), ("bn", 32), (32, 96, 3), None, ("bn", 48),
    (48, 96, 1), ("bn", 48), (48, 128, 3), None,
    (64, 128, 1), ("bn", 64), (64, 64, 3), ("bn", 32),
    (32, 64, 1), ("bn", 32), (32, 64, 3), None,
]  # fmt: skip


@dataclass(frozen=True)
class LCNNConfig:
    """LFCC-LCNN hyper-parameters; defaults equal the ASVspoof 2021 LA baseline.

    Attributes:
        segment_samples: crop length used for batching (the baseline trains on whole
            utterances; any input of at least ``min_samples()`` works).
        frame_length: LFCC frame length in samples (320 = 20 ms).
        frame_shift: LFCC hop in samples (160 = 10 ms).
        n_fft: FFT size (1024).
        lfcc_dim: LFCC filters and coefficients (20).
        lfcc_f_max: highest analysed frequency in Hz (the baseline's ``max_freq=0.5`` of
            Nyquist = 4 kHz).
        pre_emphasis: pre-emphasis coefficient (0.97).
        with_energy: c0 replaced by the log frame energy.
        deltas: append delta and delta-delta (unnormalised, width 3).
        dropout: dropout after the CNN (0.7).
        specaug_freq_masks, specaug_time_masks: SpecAugment masks per example over the
            feature dims and the frames, applied to the LFCC features in train mode only
            (:func:`spoofscope.data.specaugment.spec_augment`); 0 and 0 (the default) = off.
        specaug_freq_width, specaug_time_width: largest mask widths (dims, frames).
        specaug_fill: ``"zero"`` or ``"mean"``.
    """

    segment_samples: int = 64600
    frame_length: int = 320
    frame_shift: int = 160
    n_fft: int = 1024
    lfcc_dim: int = 20
    lfcc_f_max: float = 4000.0
    pre_emphasis: float = 0.97
    with_energy: bool = True
    deltas: bool = True
    dropout: float = 0.7
    specaug_freq_masks: int = 0
    specaug_freq_width: int = 8
    specaug_time_masks: int = 0
    specaug_time_width: int = 20
    specaug_fill: str = "zero"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("segment_samples", "frame_length", "frame_shift", "n_fft", "lfcc_dim",
                     "specaug_freq_masks", "specaug_freq_width", "specaug_time_masks",
                     "specaug_time_width"):  # fmt: skip
            set_(self, name, int(getattr(self, name)))
        for name in ("lfcc_f_max", "pre_emphasis", "dropout"):
            set_(self, name, float(getattr(self, name)))
        set_(self, "with_energy", bool(self.with_energy))
        set_(self, "deltas", bool(self.deltas))
        if self.feature_dim < 16:
            raise ValueError(f"the LCNN needs >= 16 feature dims, got {self.feature_dim}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.specaug_fill not in FILLS:
            raise ValueError(f"specaug_fill {self.specaug_fill!r} is not one of {FILLS}")
        if min(self.specaug_freq_masks, self.specaug_time_masks) < 0:
            raise ValueError("specaug_freq_masks and specaug_time_masks must be >= 0")

    @property
    def feature_dim(self) -> int:
        """LFCC dims fed to the CNN (60 with deltas)."""
        return self.lfcc_dim * (3 if self.deltas else 1)


class MaxFeatureMap(nn.Module):
    """Max-feature-map: the element-wise max of the two channel halves, ``C -> C / 2``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.maximum(a, b)


class BLSTM(nn.Module):
    """Bidirectional LSTM keeping the size: ``(B, T, D) -> (B, T, D)`` (D / 2 per direction)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class LCNN(SpoofModel):
    """LFCC-LCNN countermeasure: ``forward(wave (B, T)) -> logits (B, 2)``.

    Args:
        config: the hyper-parameters (``LCNNConfig()`` is the 2021 LA baseline).
    """

    def __init__(self, config: LCNNConfig | None = None) -> None:
        super().__init__()
        config = config or LCNNConfig()
        self.config = config
        self.segment_samples = config.segment_samples
        self.lfcc = LFCC(
            sample_rate=self.sample_rate,
            n_fft=config.n_fft,
            win_length=config.frame_length,
            hop_length=config.frame_shift,
            n_filters=config.lfcc_dim,
            n_ceps=config.lfcc_dim,
            f_max=config.lfcc_f_max,
            with_energy=config.with_energy,
            deltas=2 if config.deltas else 0,
            delta_width=3,
            delta_normalize=False,
            pre_emphasis=config.pre_emphasis,
            center=True,
            periodic_window=True,
            freq_grid="stretched",
            log_eps=FLOAT32_EPS,
        )
        layers: list[nn.Module] = []
        for spec in _LAYERS:
            if spec is None:
                layers.append(nn.MaxPool2d(2, 2))
            elif spec[0] == "bn":
                layers.append(nn.BatchNorm2d(spec[1], affine=False))
            else:
                c_in, c_out, k = spec
                layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2), MaxFeatureMap()]
        layers.append(nn.Dropout(config.dropout))
        self.cnn = nn.Sequential(*layers)
        dim = (config.feature_dim // 16) * 32
        self.blstm = nn.Sequential(BLSTM(dim), BLSTM(dim))
        self.output = nn.Linear(dim, 2)

    def min_samples(self) -> int:
        """Shortest input giving the 16 frames that the four 2x2 max pools need."""
        return 15 * self.config.frame_shift

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, frames, feature_dim)`` LFCC with deltas (SpecAugment in training)."""
        feats = self.lfcc(wave)  # (B, feature_dim, frames)
        cfg = self.config
        if self.training and (cfg.specaug_freq_masks or cfg.specaug_time_masks):
            feats = spec_augment(
                feats,
                cfg.specaug_freq_masks,
                cfg.specaug_freq_width,
                cfg.specaug_time_masks,
                cfg.specaug_time_width,
                fill=cfg.specaug_fill,
            )
        return feats.transpose(1, 2)

    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 32 * feature_dim // 16)``: the time-averaged BiLSTM output."""
        h = self.cnn(self.features(wave).unsqueeze(1))  # (B, 32, F', D')
        h = h.permute(0, 2, 1, 3).flatten(2)  # (B, F', 32 * D')
        return (self.blstm(h) + h).mean(dim=1)

    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 2)`` logits, index 0 = spoof, 1 = bona fide."""
        return self.output(self.embed(wave))
