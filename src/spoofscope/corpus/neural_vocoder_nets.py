"""The networks of the tiny neural vocoders (mel-spectrogram in, 16 kHz waveform out).

All three map a log-mel spectrogram ``(B, 80, F)`` (:class:`.neural_vocoder_dsp.LogMel`) and,
when built with ``source=True``, a harmonic-plus-noise excitation ``(B, 6, F * 160)``
(:func:`.neural_vocoder_dsp.excitation`) to a waveform ``(B, F * 160)`` at 16 kHz:

* :class:`HifiTinyNet` -- HiFi-GAN-like: transposed-convolution upsampling (x5 x4 x4 x2), each
  stage followed by a multi-receptive-field fusion (MRF) of dilated residual blocks.
* :class:`UpsampleTinyNet` -- MelGAN-like, but every upsampling is nearest-neighbour repetition
  followed by a convolution (no transposed convolution, hence no checkerboard artefacts of that
  kind), each stage followed by a dilated residual stack (dilations 1, 3, 9).
* :class:`IstftTinyNet` -- iSTFTNet-like: two transposed-convolution stages (x5 x4, to 2 kHz
  frames), then a convolution predicts log-magnitude and phase of a 32-point STFT with hop 8,
  inverted by ``torch.istft``. With the source, the predicted phase is an offset from the
  phase of the excitation's STFT.

The excitation enters HiFi/Upsample nets at every stage through a strided conv (as in
NSF-HiFiGAN), the iSTFT net at its two stages and through the phase.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .neural_vocoder_dsp import HOP, N_MELS, SOURCE_CHANNELS

__all__ = ["NETS", "HifiTinyNet", "IstftTinyNet", "Snake", "UpsampleTinyNet", "build_net"]

_MEL_SHIFT, _MEL_SCALE = 5.0, 3.0  # fixed input normalisation: (log-mel + 5) / 3


class Snake(nn.Module):
    """Snake activation ``x + sin(a x)^2 / a`` with a learnable ``a`` per channel (BigVGAN):
    a periodic inductive bias that helps harmonics appear early in training."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sin(self.alpha * x).pow(2) / (self.alpha + 1e-6)


def _act(kind: str, channels: int) -> nn.Module:
    if kind == "snake":
        return Snake(channels)
    if kind == "leaky":
        return nn.LeakyReLU(0.1)
    raise ValueError(f"unknown activation {kind!r}; valid: ['leaky', 'snake']")


def _conv(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, k, dilation=dilation, padding=dilation * (k - 1) // 2)


class _ResBlock(nn.Module):
    """HiFi-GAN style residual block: per dilation, leaky-ReLU -> dilated conv -> leaky-ReLU
    -> conv, added to the input. Shape preserving ``(B, C, T)``."""

    def __init__(
        self, channels: int, kernel: int, dilations: tuple[int, ...], act: str = "leaky"
    ) -> None:
        super().__init__()
        self.c1 = nn.ModuleList(_conv(channels, channels, kernel, d) for d in dilations)
        self.c2 = nn.ModuleList(_conv(channels, channels, kernel) for _ in dilations)
        self.a1 = nn.ModuleList(_act(act, channels) for _ in dilations)
        self.a2 = nn.ModuleList(_act(act, channels) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2, a1, a2 in zip(self.c1, self.c2, self.a1, self.a2, strict=True):
            x = x + c2(a2(c1(a1(x))))
        return x


class _Mrf(nn.Module):
    """Multi-receptive-field fusion: the mean of residual blocks with different kernels."""

    def __init__(
        self,
        channels: int,
        kernels: tuple[int, ...],
        dilations: tuple[int, ...],
        act: str = "leaky",
    ):
        super().__init__()
        self.blocks = nn.ModuleList(_ResBlock(channels, k, dilations, act) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(b(x) for b in self.blocks) / len(self.blocks)


def _init(module: nn.Module) -> None:
    """Small normal weights, zero biases (HiFi-GAN style); the source injection keeps torch's
    default init so that the excitation reaches the output from the first step."""
    skip = set(module.src.modules()) if getattr(module, "uses_source", False) else set()
    for m in module.modules():
        if isinstance(m, nn.Conv1d | nn.ConvTranspose1d) and m not in skip:
            nn.init.normal_(m.weight, 0.0, 0.02 if m.kernel_size[0] < 5 else 0.01)
            nn.init.zeros_(m.bias)


class _SourceInjection(nn.Module):
    """Adds the excitation ``(B, SOURCE_CHANNELS, F * HOP)``, brought down to each stage's rate
    by a strided conv, to the stage's activations (as NSF-HiFiGAN does)."""

    def __init__(self, rates: tuple[int, ...], channels: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        total = math.prod(rates)
        for i, c in enumerate(channels):
            stride = total // math.prod(rates[: i + 1])
            k = 1 if stride == 1 else 2 * stride
            self.convs.append(nn.Conv1d(SOURCE_CHANNELS, c, k, stride, padding=(k - stride) // 2))

    def forward(self, i: int, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return x + self.convs[i](source)[..., : x.shape[-1]]


class _MelVocoder(nn.Module):
    """Base: ``forward(mel (B, 80, F), source (B, 9, F * HOP) | None) -> wave (B, F * HOP)``.

    ``source`` is the harmonic-plus-noise excitation (:mod:`.neural_vocoder_source`), required
    when the net was built with ``source=True`` and ignored otherwise.
    """

    uses_source: bool = False

    def norm(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel + _MEL_SHIFT) / _MEL_SCALE

    def inject(self, i: int, x: torch.Tensor, source: torch.Tensor | None) -> torch.Tensor:
        if not self.uses_source:
            return x
        if source is None:
            raise ValueError(
                f"{type(self).__name__} was built with source=True: pass the excitation"
            )
        return self.src(i, x, source)


def _check_rates(rates: tuple[int, ...], total: int) -> None:
    if math.prod(rates) != total:
        raise ValueError(f"upsampling rates {tuple(rates)} must multiply to {total}")


def _transposed(c_in: int, c_out: int, r: int) -> nn.ConvTranspose1d:
    """Transposed conv that upsamples exactly by ``r`` (kernel ``2 r``)."""
    return nn.ConvTranspose1d(c_in, c_out, 2 * r, r, padding=r // 2 + r % 2, output_padding=r % 2)


class HifiTinyNet(_MelVocoder):
    """HiFi-GAN-like generator: conv -> [transposed conv x r, MRF] per rate -> conv -> tanh.

    Channels halve at each stage (not below ``min_channels``); ``act`` is ``"leaky"`` or
    ``"snake"``; ``source=True`` adds the excitation at every stage (NSF-HiFiGAN style).
    """

    def __init__(
        self,
        channels: int = 64,
        rates: tuple[int, ...] = (5, 4, 4, 2),
        kernels: tuple[int, ...] = (3, 7),
        dilations: tuple[int, ...] = (1, 3),
        min_channels: int = 8,
        act: str = "leaky",
        source: bool = False,
    ) -> None:
        super().__init__()
        _check_rates(rates, HOP)
        self.pre = _conv(N_MELS, channels, 7)
        self.ups, self.mrfs, self.acts = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c, widths = channels, []
        for r in rates:
            c_out = max(min_channels, c // 2)
            self.acts.append(_act(act, c))
            self.ups.append(_transposed(c, c_out, r))
            self.mrfs.append(_Mrf(c_out, kernels, dilations, act))
            c = c_out
            widths.append(c)
        self.uses_source = source
        if source:
            self.src = _SourceInjection(tuple(rates), widths)
        self.act_post = _act(act, c)
        self.post = _conv(c, 1, 7)
        _init(self)

    def forward(self, mel: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        x = self.pre(self.norm(mel))
        for i, (act, up, mrf) in enumerate(zip(self.acts, self.ups, self.mrfs, strict=True)):
            x = mrf(self.inject(i, up(act(x)), source))
        return torch.tanh(self.post(self.act_post(x))).squeeze(1)


class UpsampleTinyNet(_MelVocoder):
    """MelGAN-like generator with nearest-neighbour upsampling + conv instead of transposed
    convs; each stage ends in a residual stack with dilations 1, 3, 9 (kernel 3).
    ``source=True`` adds the excitation at every stage."""

    def __init__(
        self,
        channels: int = 64,
        rates: tuple[int, ...] = (4, 4, 5, 2),
        dilations: tuple[int, ...] = (1, 3, 9),
        min_channels: int = 8,
        act: str = "leaky",
        source: bool = False,
    ) -> None:
        super().__init__()
        _check_rates(rates, HOP)
        self.rates = tuple(rates)
        self.pre = _conv(N_MELS, channels, 7)
        self.convs, self.stacks, self.acts = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c, widths = channels, []
        for r in rates:
            c_out = max(min_channels, c // 2)
            self.acts.append(_act(act, c))
            self.convs.append(_conv(c, c_out, 2 * r + 1))
            self.stacks.append(_ResBlock(c_out, 3, dilations, act))
            c = c_out
            widths.append(c)
        self.uses_source = source
        if source:
            self.src = _SourceInjection(self.rates, widths)
        self.act_post = _act(act, c)
        self.post = _conv(c, 1, 7)
        _init(self)

    def forward(self, mel: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        x = self.pre(self.norm(mel))
        layers = zip(self.rates, self.acts, self.convs, self.stacks, strict=True)
        for i, (r, act, conv, stack) in enumerate(layers):
            x = conv(F.interpolate(act(x), scale_factor=r, mode="nearest"))
            x = stack(self.inject(i, x, source))
        return torch.tanh(self.post(self.act_post(x))).squeeze(1)


class IstftTinyNet(_MelVocoder):
    """iSTFTNet-like generator: conv -> [transposed conv x r, MRF] per rate -> conv predicting
    an ``n_fft``-point STFT (log-magnitudes + phases) at hop ``160 / prod(rates)`` ->
    ``torch.istft``. Default: x5 x4 to 2 kHz frames, 32-point STFT, hop 8."""

    def __init__(
        self,
        channels: int = 64,
        rates: tuple[int, ...] = (5, 4),
        n_fft: int = 32,
        kernels: tuple[int, ...] = (3, 7),
        dilations: tuple[int, ...] = (1, 3),
        act: str = "leaky",
        source: bool = False,
    ) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, HOP // math.prod(rates)
        if self.hop * math.prod(rates) != HOP or self.hop > n_fft // 2:
            raise ValueError(f"rates {rates} with n_fft {n_fft} do not fit the hop {HOP}")
        self.rates = tuple(rates)
        self.pre = _conv(N_MELS, channels, 7)
        self.ups, self.mrfs, self.acts = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c, widths = channels, []
        for r in rates:
            self.acts.append(_act(act, c))
            self.ups.append(_transposed(c, c // 2, r))
            self.mrfs.append(_Mrf(c // 2, kernels, dilations, act))
            c //= 2
            widths.append(c)
        self.uses_source = source
        if source:
            self.src = _SourceInjection((*self.rates, self.hop), widths)
        self.act_post = _act(act, c)
        self.post = _conv(c, n_fft + 2, 7)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        _init(self)

    def forward(self, mel: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        x = self.pre(self.norm(mel))
        for i, (act, up, mrf) in enumerate(zip(self.acts, self.ups, self.mrfs, strict=True)):
            x = mrf(self.inject(i, up(act(x)), source))
        x = self.post(self.act_post(x))  # (B, n_fft + 2, F * prod(rates))
        bins = self.n_fft // 2 + 1
        mag = torch.exp(torch.clamp(x[:, :bins] - 4.0, max=6.0))
        phase = math.pi * torch.sin(x[:, bins:])
        if self.uses_source:  # predicted phase is an offset from the excitation's phase
            exc = source[:, 0] + source[:, -1]  # pulse train + noise
            e = torch.stft(
                exc, self.n_fft, self.hop, self.n_fft, self.window, center=True, return_complex=True
            )
            phase = phase + torch.angle(e[..., : phase.shape[-1]])
        spec = torch.polar(mag, phase)
        spec = torch.cat([spec, spec[:, :, -1:]], dim=2)  # one more frame: istft length
        length = (spec.shape[2] - 1) * self.hop
        wave = torch.istft(
            spec, self.n_fft, self.hop, self.n_fft, self.window, center=True, length=length
        )
        return torch.clamp(wave, -1.0, 1.0)


NETS: dict[str, type[_MelVocoder]] = {
    "hifi-tiny": HifiTinyNet,
    "upsample-tiny": UpsampleTinyNet,
    "istft-tiny": IstftTinyNet,
}


def build_net(arch: str, **kwargs) -> _MelVocoder:
    """Build a vocoder net by architecture name (one of :data:`NETS`)."""
    if arch not in NETS:
        raise ValueError(f"unknown vocoder architecture {arch!r}; valid: {sorted(NETS)}")
    return NETS[arch](**kwargs)
