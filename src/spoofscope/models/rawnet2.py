"""RawNet2 (Tak et al., "End-to-end anti-spoofing with RawNet2", ICASSP 2021), the ASVspoof
2021 LA/DF baseline.

Raw waveform -> fixed mel-spaced sinc band-pass filters (20 x 1025 taps) -> ``|.|`` -> max
pool 3 -> BN -> SELU -> 6 residual blocks (2 of 20 channels, 4 of 128), each ending in a max
pool 3 and filter-wise feature-map scaling (FMS: ``s = sigmoid(fc(mean_t(x)))``,
``x * s + s``) -> BN -> SELU -> 3-layer GRU (1024) -> last time step -> fc 1024 -> fc 2 ->
log-softmax. Defaults equal ``LA/Baseline-RawNet2/model_config_RawNet.yaml`` of
``asvspoof-challenge/2021`` and the maths of its ``model.py``, including two quirks:

* the residual blocks after the first build ``bn1`` + LeakyReLU but feed the *raw* input to
  ``conv1``, so ``bn1`` never affects the output; it is left out here (``preact=False``).
  ``preact=True`` applies it (the corrected block of the later ``eurecom-asp`` code). The
  official model has 17,621,410 parameters, 848 of them in those dead ``bn1`` layers; ours
  has 17,620,562 (17,621,410 with ``preact=True``). With the ICASSP paper's configuration
  (128 filters of 129 taps, 128/512 channels, ``eurecom-asp/rawnet2-antispoofing``) and
  ``preact=True`` the count is 25,433,602, the 25.43 M that the AASIST paper lists.
* the output is ``log_softmax`` of the last linear layer. We return it as the logits: the
  score ``logit[1] - logit[0]`` equals the raw-logit difference, cross-entropy on it equals
  cross-entropy on the raw logits, and ``logit[1]`` alone is the official score (log
  posterior of bona fide).

The ``rawnet2-lite`` preset (16 sinc filters of 129 taps, 16/64-channel blocks, one GRU layer
of 128, fc 128) has 203,010 parameters and needs 0.25 GMAC per 64,600-sample input, against
17.6 M parameters and 2.09 GMAC (1.30 of them in the 1025-tap sinc convolution).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from spoofscope.models.base import SpoofModel
from spoofscope.models.sinc import mel_sinc_filters

__all__ = ["RawNet2", "RawNet2Config"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class RawNet2Config:
    """RawNet2 hyper-parameters; names and defaults follow the official 2021 YAML.

    Lists (from JSON or YAML) are accepted and stored as tuples.

    Attributes:
        nb_samp: training segment length in samples (``segment_samples``).
        first_conv: sinc filter length (made odd: 1024 -> 1025 taps).
        filts: ``(n_sinc_filters, (in, out) of the first group, (in, out) of the first block
            of the second group, (c, c) of its other blocks)``.
        blocks: residual blocks in the two groups (official: ``(2, 4)``).
        nb_fc_node: size of the hidden fully connected layer.
        gru_node: GRU hidden size.
        nb_gru_layer: GRU layers.
        preact: apply ``bn1`` + LeakyReLU before ``conv1`` in blocks after the first (the
            official 2021 code computes it but discards it: ``False`` reproduces it).
    """

    nb_samp: int = 64600
    first_conv: int = 1024
    filts: tuple[int, Pair, Pair, Pair] = (20, (20, 20), (20, 128), (128, 128))
    blocks: Pair = (2, 4)
    nb_fc_node: int = 1024
    gru_node: int = 1024
    nb_gru_layer: int = 3
    preact: bool = False

    def __post_init__(self) -> None:
        try:
            filts = (int(self.filts[0]), *(_pair(p) for p in self.filts[1:]))
            blocks = _pair(self.blocks)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed RawNet2 config {self!r}: {exc}") from exc
        set_ = object.__setattr__
        set_(self, "filts", filts)
        set_(self, "blocks", blocks)
        for name in ("nb_samp", "first_conv", "nb_fc_node", "gru_node", "nb_gru_layer"):
            set_(self, name, int(getattr(self, name)))
        set_(self, "preact", bool(self.preact))
        self._validate()

    def _validate(self) -> None:
        f = self.filts
        if len(f) != 4 or f[0] < 1 or f[1][0] != f[0]:
            raise ValueError(f"filts must be (n, (n, c1), (c1, c2), (c2, c2)), got {f}")
        if self.blocks[0] > 1 and f[1][0] != f[1][1]:
            raise ValueError(f"filts[1] is used by {self.blocks[0]} blocks and must be (c, c): {f}")
        if f[2][0] != f[1][1] or f[3] != (f[2][1], f[2][1]):
            raise ValueError(f"filts channel pairs do not chain: {f}")
        if min(self.blocks) < 1:
            raise ValueError(f"blocks must be two positive counts, got {self.blocks}")
        sizes = (self.nb_samp, self.first_conv, self.nb_fc_node, self.gru_node, self.nb_gru_layer)
        if min(sizes) < 1:
            raise ValueError(
                f"nb_samp, first_conv, nb_fc_node, gru_node, nb_gru_layer must be >= 1: {self}"
            )

    @property
    def sinc_taps(self) -> int:
        """Taps per sinc filter (``first_conv`` forced odd)."""
        return self.first_conv | 1

    def block_channels(self) -> list[Pair]:
        """``(in, out)`` channels of every residual block, in order."""
        first, second = self.blocks
        _, g1, g2, g3 = self.filts
        return [g1] * first + [g2] + [g3] * (second - 1)


def _pair(value: Any) -> Pair:
    a, b = value
    return int(a), int(b)


class ResidualBlock(nn.Module):
    """1-D residual block with FMS: ``(B, c_in, T) -> (B, c_out, T // 3)``.

    ``out = conv2(lrelu(bn2(conv1(pre(x))))) + skip(x)``, max pool 3, then
    ``out * s + s`` with ``s = sigmoid(fms(mean_t(out)))``. ``pre`` is BN + LeakyReLU(0.3)
    when ``preact`` (and not the first block), else the identity.
    """

    def __init__(self, c_in: int, c_out: int, preact: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm1d(c_in) if preact else None
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None
        self.fms = nn.Linear(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.bn1 is None else F.leaky_relu(self.bn1(x), 0.3)
        out = self.conv2(F.leaky_relu(self.bn2(self.conv1(out)), 0.3))
        out = F.max_pool1d(out + (x if self.skip is None else self.skip(x)), 3)
        scale = torch.sigmoid(self.fms(out.mean(dim=2))).unsqueeze(2)
        return out * scale + scale


class RawNet2(SpoofModel):
    """RawNet2 countermeasure: ``forward(wave (B, T)) -> log-softmax logits (B, 2)``.

    Args:
        config: the hyper-parameters (``RawNet2Config()`` is the official 2021 baseline).
    """

    def __init__(self, config: RawNet2Config | None = None) -> None:
        super().__init__()
        config = config or RawNet2Config()
        self.config = config
        self.segment_samples = config.nb_samp
        filters = torch.from_numpy(mel_sinc_filters(config.filts[0], config.first_conv))
        self.register_buffer("sinc_filters", filters.unsqueeze(1), persistent=False)
        self.first_bn = nn.BatchNorm1d(config.filts[0])
        self.blocks = nn.ModuleList(
            ResidualBlock(a, b, config.preact and i > 0)
            for i, (a, b) in enumerate(config.block_channels())
        )
        channels = config.filts[3][1]
        self.bn_before_gru = nn.BatchNorm1d(channels)
        self.gru = nn.GRU(channels, config.gru_node, config.nb_gru_layer, batch_first=True)
        self.fc1 = nn.Linear(config.gru_node, config.nb_fc_node)
        self.fc2 = nn.Linear(config.nb_fc_node, 2)

    def min_samples(self) -> int:
        """Shortest input leaving one frame after the sinc conv and all max pools."""
        return self.config.sinc_taps - 1 + 3 ** (1 + sum(self.config.blocks))

    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, nb_fc_node)``: the input of the output layer."""
        x = F.conv1d(wave.unsqueeze(1), self.sinc_filters)
        x = F.selu(self.first_bn(F.max_pool1d(torch.abs(x), 3)))
        for block in self.blocks:
            x = block(x)
        x = F.selu(self.bn_before_gru(x)).transpose(1, 2)  # (B, T', C)
        return self.fc1(self._gru(x)[:, -1])

    def _gru(self, x: torch.Tensor) -> torch.Tensor:
        """GRU outputs ``(B, T', gru_node)``.

        Without autograd the weights are passed detached: torch's CPU GRU takes a different
        code path (results differ in the last bit) for weights that require grad than for
        weights that do not or were created under ``inference_mode``, so this keeps eval
        outputs identical however the model was built or loaded.
        """
        if torch.is_grad_enabled():
            return self.gru(x)[0]
        params = {name: p.detach() for name, p in self.gru.named_parameters()}
        return functional_call(self.gru, params, (x,))[0]

    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 2)`` log-softmax outputs, index 0 = spoof, 1 = bona fide."""
        return F.log_softmax(self.fc2(self.embed(wave)), dim=1)
