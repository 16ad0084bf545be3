"""A faster, eval-only AASIST with the same maths (``AASIST.fuse_for_inference()``).

What makes it faster than the plain model (and the official code) on a CPU, measured with
``benchmarks/bench_aasist_official.py`` (about 3x the official code at batch 1 on 2 cores):

* the full-resolution residual blocks (1-3) run over time chunks with a two-frame halo that
  reproduces the zero padding at the true edges exactly, so their 20-60 MB intermediates
  stay in cache; batches go through these blocks one item at a time (constant memory);
* the encoder works in channels-last layout (oneDNN's fast path for these convolutions);
* every residual-block BatchNorm is folded into the preceding convolution, the front-end
  BatchNorm into one multiply-add, and block 1's skip bias into ``conv2``;
* block 1's one-input-channel convolutions are small GEMMs (oneDNN is slow there);
* max pools avoid ``max_pool2d`` with a ``(1, 3)`` kernel, which is very slow on CPU;
* the sinc filter the 3x3 max pool drops (filter 69 of 70) is not computed.

Results equal the plain model up to float rounding (summation order, folded BatchNorm).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from spoofscope.models.aasist import AASIST, ResidualBlock
from spoofscope.models.base import SpoofModel

__all__ = ["FusedAASIST", "FusedBlock", "fold_batch_norm"]

# Elements of one chunk's largest intermediate (about 10 MB of float32). Smaller chunks are
# a little faster on an idle machine (1536 frames: -5 %), but every chunk adds parallel
# regions, which cost much more when other processes compete for the cores.
CHUNK_ELEMENTS = 32 * 24 * 3072
# the first blocks run one item at a time (their maps are large); the rest as a batch
PER_ITEM_BLOCKS = 3
CL = torch.channels_last


def fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor, bn: nn.BatchNorm2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold eval-mode ``bn`` into the conv before it: ``bn(conv(x)) == conv'(x)``.

    Args:
        weight: conv weight ``(C_out, C_in, kh, kw)``.
        bias: conv bias ``(C_out,)``.
        bn: the BatchNorm over ``C_out`` channels (running statistics are used).

    Returns:
        The folded ``(weight, bias)``.
    """
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return weight * scale[:, None, None, None], (bias - bn.running_mean) * scale + bn.bias


def max_pool_time(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, (1, 3))``: ``(B, C, F, T) -> (B, C, F, T // 3)``, layout preserved.

    Three strided slices and two ``maximum`` calls; on channels-last tensors this is several
    times faster than PyTorch's 2-D max pool with a ``(1, 3)`` kernel.
    """
    n = 3 * (x.size(-1) // 3)
    return torch.maximum(torch.maximum(x[..., 0:n:3], x[..., 1:n:3]), x[..., 2:n:3])


class FusedBlock(nn.Module):
    """A :class:`~spoofscope.models.aasist.ResidualBlock` with BN folded, run in time chunks.

    With a single input channel (block 1) the ``conv1`` and ``skip`` convolutions are small
    GEMMs over 6 and 3 taps (oneDNN is slow for one input channel), and the skip output is
    accumulated straight into the ``conv2`` output.
    """

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        w1, b1 = fold_batch_norm(block.conv1.weight, block.conv1.bias, block.bn)
        self.c_in, self.c_out = w1.size(1), w1.size(0)
        self.has_skip = block.skip is not None
        self.gemm = self.c_in == 1 and block.skip is not None
        b2 = block.conv2.bias
        if self.gemm:  # taps as columns: (kh * 3 + kw, C_out)
            self.register_buffer("w1", _frozen(w1.reshape(self.c_out, 6).t()))
            self.register_buffer("ws", _frozen(block.skip.weight.reshape(self.c_out, 3).t()))
            b2 = b2 + block.skip.bias
        else:
            self.register_buffer("w1", _frozen(w1).contiguous(memory_format=CL))
            if block.skip is not None:
                self.register_buffer("ws", _frozen(block.skip.weight).contiguous(memory_format=CL))
                self.register_buffer("bs", _frozen(block.skip.bias))
        self.register_buffer("b1", _frozen(b1))
        self.register_buffer("w2", _frozen(block.conv2.weight).contiguous(memory_format=CL))
        self.register_buffer("b2", _frozen(b2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, F, T) -> (B, C_out, F, T // 3)``, channels-last in and out."""
        b, _, f, t = x.shape
        chunk = 3 * max(CHUNK_ELEMENTS // (3 * b * self.c_out * (f + 1)), 64)
        parts = [self._part(x, a, min(a + chunk, t)) for a in range(0, t, chunk)]
        return torch.cat(parts, -1) if len(parts) > 1 else parts[0]

    def _part(self, x: torch.Tensor, a: int, b: int) -> torch.Tensor:
        """Output frames ``[a, b)`` (pooled: ``[a/3, b/3)``) from input frames ``[a-2, b+2)``.

        Frames outside ``[0, T)`` are zeros, which reproduces both convolutions' padding.
        """
        t = x.size(-1)
        lo, hi = max(a - 2, 0), min(b + 2, t)
        xs = x[..., lo:hi]
        if lo > a - 2 or hi < b + 2:
            xs = F.pad(xs, (lo - (a - 2), (b + 2) - hi))
        if self.gemm:
            y = self._conv1_gemm(xs)
        else:
            xs = xs.contiguous(memory_format=CL)
            y = F.conv2d(xs, self.w1, self.b1, padding=(1, 0))
        y = F.selu_(y)  # frames [a-1, b+1)
        if a == 0:
            y[..., 0] = 0  # conv2 zero-pads before frame 0
        if b == t:
            y[..., -1] = 0  # ... and after frame t-1
        out = F.conv2d(y, self.w2, self.b2)  # frames [a, b), channels-last
        if self.gemm:
            self._add_skip_gemm(out, xs)
        elif self.has_skip:
            out += F.conv2d(xs[..., 1:-1], self.ws, self.bs)
        else:
            out += xs[..., 2:-2]
        return max_pool_time(out)

    def _conv1_gemm(self, xs: torch.Tensor) -> torch.Tensor:
        """(2, 3) conv, freq padding 1: one-channel ``(B, 1, F, W)`` -> ``(B, C, F+1, W-2)``."""
        n, _, f, w = xs.shape
        p = F.pad(xs[:, 0], (0, 0, 1, 1))  # (B, F + 2, W)
        cols = torch.stack(
            [p[:, i : i + f + 1, j : j + w - 2] for i in (0, 1) for j in (0, 1, 2)], -1
        )
        y = torch.addmm(self.b1, cols.view(-1, 6), self.w1)
        return y.view(n, f + 1, w - 2, self.c_out).permute(0, 3, 1, 2)

    def _add_skip_gemm(self, out: torch.Tensor, xs: torch.Tensor) -> None:
        """``out += skip(x)`` (bias already in ``conv2``) for a one-channel input, in place."""
        n, _, f, w = xs.shape
        cols = torch.stack([xs[:, 0, :, 1 + j : w - 3 + j] for j in (0, 1, 2)], -1)
        out_2d = out.permute(0, 2, 3, 1).view(-1, self.c_out)  # channels-last storage
        out_2d.addmm_(cols.view(-1, 3), self.ws)


def _frozen(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone()


class FusedAASIST(SpoofModel):
    """Eval-only AASIST: same forward contract and logits as the model it was built from.

    Args:
        model: a trained :class:`~spoofscope.models.aasist.AASIST` (left unchanged).
    """

    def __init__(self, model: AASIST) -> None:
        super().__init__()
        self.name = model.name
        self.config = model.config
        self.segment_samples = model.segment_samples
        n_rows = model.sinc_filters.size(0) // 3
        self.register_buffer("filters", model.sinc_filters[: 3 * n_rows].detach().clone())
        bn = model.front_bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.register_buffer("front_scale", scale.detach().clone())
        self.register_buffer("front_shift", (bn.bias - bn.running_mean * scale).detach().clone())
        self.blocks = nn.ModuleList(FusedBlock(block) for block in model.encoder)
        head = copy.deepcopy(model)
        head.encoder = nn.Sequential()  # only the graph back end is used
        self.head = head.eval().requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FusedAASIST:
        if mode:
            raise RuntimeError("a fused AASIST is for inference only; train the AASIST model")
        return super().train(False)

    def min_samples(self) -> int:
        return self.head.min_samples()

    def front_end(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 1, n_filters // 3, (T - taps + 1) // 3)``."""
        x = torch.abs(F.conv1d(wave.unsqueeze(1), self.filters))  # (B, 3R, T')
        b, n, t = x.shape
        x = F.max_pool1d(x, 3)  # over time
        x = x.view(b, n // 3, 3, t // 3).amax(dim=2)  # over filter triples
        return F.selu_(x.mul_(self.front_scale).add_(self.front_shift)).unsqueeze(1)

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """Encoder map ``(B, C, F, T'')`` (channels-last)."""
        head, tail = self.blocks[:PER_ITEM_BLOCKS], self.blocks[PER_ITEM_BLOCKS:]
        items = []
        for item in wave.split(1):
            x = self.front_end(item)
            for block in head:
                x = block(x)
            items.append(x)
        x = torch.cat(items) if len(items) > 1 else items[0]
        for block in tail:
            x = block(x)
        return x

    @torch.inference_mode()
    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 5 * gat_dims[1])``, as :meth:`AASIST.embed`."""
        return self.head.graph_embed(self.encode(wave))

    @torch.inference_mode()
    def forward_logits(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, 2)`` logits, index 0 = spoof, 1 = bona fide."""
        return self.head.classifier(self.head.graph_embed(self.encode(wave)))
