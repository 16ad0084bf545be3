"""AASIST and AASIST-L (Jung et al., "AASIST: Audio Anti-Spoofing using Integrated
Spectro-Temporal Graph Attention Networks", ICASSP 2022).

Raw waveform -> fixed mel-spaced sinc filters -> ``|.|`` + 3x3 max pool -> six 2-D residual
blocks -> spectral and temporal graph attention -> two heterogeneous graph branches -> 160-dim
embedding -> 2 logits (index 1 = bona fide). The maths equals the official clovaai model, with
its quirks (``../shared/reference/README.md`` section 1.4): the ``bn1`` of residual
blocks 2-6 has no effect on the output and is not part of this model, the two off-diagonal
attention blocks share one vector, ``pool_ratios[3]`` and ``temperatures[3]`` are unused.
Official ``.pth`` files load through :func:`spoofscope.upstream.load_official_aasist`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spoofscope.models.base import SpoofModel
from spoofscope.models.graph import GraphAttention, GraphPool, HeteroBranch
from spoofscope.models.sinc import mel_sinc_filters

__all__ = ["AASIST", "AASISTConfig"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class AASISTConfig:
    """AASIST hyper-parameters; field names and defaults equal the official ``AASIST.conf``.

    Lists (from JSON or YAML) are accepted and stored as tuples.

    Attributes:
        nb_samp: training segment length in samples (``segment_samples``).
        first_conv: sinc filter length (made odd: 128 -> 129 taps).
        filts: ``(n_sinc_filters, (in, out) of block 1, block 2, block 3, blocks 4-6)``.
        gat_dims: ``(GAT-S/GAT-T output size, heterogeneous layers' size)``.
        pool_ratios: graph pooling ratios: spectral, temporal, branch (the 4th is unused).
        temperatures: attention temperatures: GAT-S, GAT-T, branches (the 4th is unused).
        freq_aug: in training, zero a random run of up to 19 sinc filters per batch
            (upstream ``Freq_aug``); never applied in eval mode.
    """

    nb_samp: int = 64600
    first_conv: int = 128
    filts: tuple[int, Pair, Pair, Pair, Pair] = (70, (1, 32), (32, 32), (32, 64), (64, 64))
    gat_dims: Pair = (64, 32)
    pool_ratios: tuple[float, float, float, float] = (0.5, 0.7, 0.5, 0.5)
    temperatures: tuple[float, float, float, float] = (2.0, 2.0, 100.0, 100.0)
    freq_aug: bool = False

    def __post_init__(self) -> None:
        try:
            filts = (int(self.filts[0]), *(_pair(p) for p in self.filts[1:]))
            gat_dims = _pair(self.gat_dims)
            pool_ratios = tuple(float(r) for r in self.pool_ratios)
            temperatures = tuple(float(t) for t in self.temperatures)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed AASIST config {self!r}: {exc}") from exc
        set_ = object.__setattr__
        set_(self, "filts", filts)
        set_(self, "gat_dims", gat_dims)
        set_(self, "pool_ratios", pool_ratios)
        set_(self, "temperatures", temperatures)
        set_(self, "nb_samp", int(self.nb_samp))
        set_(self, "first_conv", int(self.first_conv))
        set_(self, "freq_aug", bool(self.freq_aug))
        self._validate()

    def _validate(self) -> None:
        f = self.filts
        if len(f) != 5 or f[0] < 3 or f[1][0] != 1:
            raise ValueError(
                f"filts must be (n_filters >= 3, (1, c1), (c1, c2), (c2, c3), (c3, c3)), got {f}"
            )
        if not (f[1][1] == f[2][0] and f[2][1] == f[3][0] and f[3][1] == f[4][0]):
            raise ValueError(f"filts channel pairs do not chain: {f}")
        if f[4][0] != f[4][1]:
            raise ValueError(f"filts[4] is used by blocks 4-6 and must be (c, c), got {f[4]}")
        if len(self.pool_ratios) != 4 or not all(0 < r <= 1 for r in self.pool_ratios):
            raise ValueError(f"pool_ratios must be 4 values in (0, 1], got {self.pool_ratios}")
        if len(self.temperatures) != 4 or not all(t > 0 for t in self.temperatures):
            raise ValueError(f"temperatures must be 4 positive values, got {self.temperatures}")
        if min(self.gat_dims) < 1 or self.first_conv < 1 or self.nb_samp < 1:
            raise ValueError(f"gat_dims, first_conv and nb_samp must be positive: {self}")

    @property
    def sinc_taps(self) -> int:
        """Taps per sinc filter (``first_conv`` forced odd)."""
        return self.first_conv | 1


def _pair(value: Any) -> Pair:
    a, b = value
    return int(a), int(b)


class ResidualBlock(nn.Module):
    """``conv2(selu(bn(conv1(x)))) + skip(x)``, then a (1, 3) max pool over time.

    Shapes: ``(B, c_in, F, T) -> (B, c_out, F, T // 3)``. ``conv1`` pads the frequency axis
    by one on both sides and ``conv2`` trims it again (kernels (2, 3)).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.skip = nn.Conv2d(c_in, c_out, (1, 3), padding=(0, 1)) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.selu(self.bn(self.conv1(x))))
        out = out + (x if self.skip is None else self.skip(x))
        # == max_pool2d(out, (1, 3)), which is many times slower on CPU
        return F.max_pool1d(out.flatten(1, 2), 3).unflatten(1, out.shape[1:3])


class AASIST(SpoofModel):
    """AASIST / AASIST-L countermeasure: ``forward(wave (B, T)) -> logits (B, 2)``.

    Args:
        config: the hyper-parameters (``AASISTConfig()`` is AASIST; the ``aasist-l``
            registry preset is AASIST-L).
    """

    def __init__(self, config: AASISTConfig | None = None) -> None:
        super().__init__()
        config = config or AASISTConfig()
        self.config = config
        self.segment_samples = config.nb_samp
        n_filters, *pairs = config.filts
        filters = torch.from_numpy(mel_sinc_filters(n_filters, config.first_conv))
        self.register_buffer("sinc_filters", filters.unsqueeze(1), persistent=False)
        self.front_bn = nn.BatchNorm2d(1)
        channels = [pairs[0], pairs[1], pairs[2], pairs[3], pairs[3], pairs[3]]
        self.encoder = nn.Sequential(*(ResidualBlock(a, b) for a, b in channels))
        enc_dim, (d0, d1) = pairs[3][1], config.gat_dims
        self.pos_spectral = nn.Parameter(torch.randn(1, n_filters // 3, enc_dim))
        t0, t1, t2, _ = config.temperatures
        r0, r1, r2, _ = config.pool_ratios
        self.gat_spectral = GraphAttention(enc_dim, d0, t0)
        self.gat_temporal = GraphAttention(enc_dim, d0, t1)
        self.pool_spectral = GraphPool(r0, d0)
        self.pool_temporal = GraphPool(r1, d0)
        self.branches = nn.ModuleList(HeteroBranch(d0, d1, r2, t2) for _ in range(2))
        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.classifier = nn.Linear(5 * d1, 2)

    def min_samples(self) -> int:
        """Shortest input leaving at least one frame after the sinc conv and seven poolings."""
        return self.config.sinc_taps - 1 + 3**7

    def front_end(self, wave: torch.Tensor) -> torch.Tensor:
        """Sinc filters, ``|.|``, 3x3 max pool, BN, SELU: ``(B, T) -> (B, 1, F, T')``.

        ``F = n_filters // 3`` (23) and ``T' = (T - taps + 1) // 3``.
        """
        filters = self.sinc_filters
        if self.training and self.config.freq_aug:
            filters = _mask_filters(filters)
        x = F.conv1d(wave.unsqueeze(1), filters)
        x = F.max_pool2d(torch.abs(x).unsqueeze(1), (3, 3))
        return F.selu(self.front_bn(x))

    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        """The 160-dim (``5 * gat_dims[1]``) input of the output layer: ``(B, T) -> (B, 5 * d)``."""
        return self.graph_embed(self.encoder(self.front_end(wave)))

    def graph_embed(self, e: torch.Tensor) -> torch.Tensor:
        """Graph back end: encoder map ``(B, C, F, T'')`` -> embedding ``(B, 5 * gat_dims[1])``."""
        e = torch.abs(e)
        s = self.pool_spectral(self.gat_spectral(e.amax(dim=3).transpose(1, 2) + self.pos_spectral))
        t = self.pool_temporal(self.gat_temporal(e.amax(dim=2).transpose(1, 2)))
        return self.readout([branch(t, s) for branch in self.branches])

    def readout(self, outs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Element-wise max over the branches, then ``[|T|max, T mean, |S|max, S mean, master]``."""
        (t1, s1, m1), (t2, s2, m2) = outs
        d = self.drop_way
        t, s, m = torch.max(d(t1), d(t2)), torch.max(d(s1), d(s2)), torch.max(d(m1), d(m2))
        parts = [t.abs().amax(dim=1), t.mean(dim=1), s.abs().amax(dim=1), s.mean(dim=1)]
        return torch.cat([*parts, m.squeeze(1)], dim=1)

    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 2)`` logits, index 0 = spoof, 1 = bona fide."""
        return self.classifier(self.drop(self.embed(wave)))

    def fuse_for_inference(self) -> SpoofModel:
        """A faster eval-only copy giving the same logits (see :mod:`.aasist_fast`)."""
        from spoofscope.models.aasist_fast import FusedAASIST

        return FusedAASIST(self)


def _mask_filters(filters: torch.Tensor) -> torch.Tensor:
    """Zero a random run of ``A ~ U{0..19}`` consecutive filters (upstream ``Freq_aug``)."""
    n = filters.size(0)
    width = int(torch.randint(0, min(20, n + 1), ()).item())
    start = int(torch.randint(0, n - width + 1, ()).item())
    filters = filters.clone()
    filters[start : start + width] = 0
    return filters
