"""The networks of the tiny neural vocoders (mel-spectrogram in, 16 kHz waveform out).

All three map a log-mel spectrogram ``(B, 80, F)`` to a waveform ``(B, F * 160)``:

* :class:`HifiTinyNet` -- HiFi-GAN-like: transposed-convolution upsampling (x5 x4 x4 x2), each
  stage followed by a multi-receptive-field fusion (MRF) of dilated residual blocks.
* :class:`UpsampleTinyNet` -- MelGAN-like, but every upsampling is nearest-neighbour repetition
  followed by a convolution (no transposed convolution, hence no checkerboard artefacts of that
  kind), each stage followed by a dilated residual stack (dilations 1, 3, 9).
* :class:`IstftTinyNet` -- iSTFTNet-like: two transposed-convolution stages (x5 x4, to 2 kHz
  frames), then a convolution predicts log-magnitude and phase of a 32-point STFT with hop 8,
  inverted by ``torch.istft``.

The mel front end (:class:`LogMel`) is fixed: 16 kHz, ``n_fft`` 1024, Hann window of 640
samples (40 ms), hop 160 (10 ms), ``center=True`` (frame ``f`` is centred on sample
``f * 160``), 80 HTK-mel triangular filters between 0 and 8 kHz on the magnitude spectrum,
natural log clamped at 1e-5. A waveform of ``T`` samples gives ``T // 160 + 1`` frames.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "HOP",
    "N_MELS",
    "SAMPLE_RATE",
    "HifiTinyNet",
    "IstftTinyNet",
    "LogMel",
    "UpsampleTinyNet",
    "build_net",
    "mel_filterbank",
]

SAMPLE_RATE = 16000
HOP = 160
N_MELS = 80
N_FFT = 1024
WIN = 640
LOG_FLOOR = 1e-5
_MEL_SHIFT, _MEL_SCALE = 5.0, 3.0  # fixed input normalisation: (log-mel + 5) / 3


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float):
    """HTK-mel triangular filters (peak 1) as a float32 array ``(n_mels, n_fft // 2 + 1)``."""

    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    edges_mel = np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


class LogMel(nn.Module):
    """Waveform ``(B, T)`` -> natural-log mel magnitude ``(B, 80, T // 160 + 1)``."""

    def __init__(self) -> None:
        super().__init__()
        fb = mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE, 0.0, SAMPLE_RATE / 2.0)
        self.register_buffer("fb", torch.from_numpy(fb), persistent=False)
        self.register_buffer("window", torch.hann_window(WIN), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            wave, N_FFT, HOP, WIN, self.window, center=True, pad_mode="reflect",
            return_complex=True,
        ).abs()
        return torch.log(torch.clamp(self.fb @ spec, min=LOG_FLOOR))


def _conv(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, k, dilation=dilation, padding=dilation * (k - 1) // 2)


class _ResBlock(nn.Module):
    """HiFi-GAN style residual block: per dilation, leaky-ReLU -> dilated conv -> leaky-ReLU
    -> conv, added to the input. Shape preserving ``(B, C, T)``."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.c1 = nn.ModuleList(_conv(channels, channels, kernel, d) for d in dilations)
        self.c2 = nn.ModuleList(_conv(channels, channels, kernel) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.c1, self.c2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class _Mrf(nn.Module):
    """Multi-receptive-field fusion: the mean of residual blocks with different kernels."""

    def __init__(self, channels: int, kernels: tuple[int, ...], dilations: tuple[int, ...]):
        super().__init__()
        self.blocks = nn.ModuleList(_ResBlock(channels, k, dilations) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(b(x) for b in self.blocks) / len(self.blocks)


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv1d | nn.ConvTranspose1d):
            nn.init.normal_(m.weight, 0.0, 0.02 if m.kernel_size[0] < 5 else 0.01)
            nn.init.zeros_(m.bias)


class _MelVocoder(nn.Module):
    """Base: normalises the log-mel input; ``forward(mel (B, 80, F)) -> wave (B, F * HOP)``."""

    receptive_frames: int = 32  # a safe bound on the context (frames each side) a sample sees

    def norm(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel + _MEL_SHIFT) / _MEL_SCALE


class HifiTinyNet(_MelVocoder):
    """HiFi-GAN-like generator: conv -> [transposed conv x r, MRF] per rate -> conv -> tanh."""

    def __init__(
        self,
        channels: int = 64,
        rates: tuple[int, ...] = (5, 4, 4, 2),
        kernels: tuple[int, ...] = (3, 7),
        dilations: tuple[int, ...] = (1, 3),
        min_channels: int = 8,
    ) -> None:
        super().__init__()
        if math.prod(rates) != HOP:
            raise ValueError(f"upsampling rates {rates} must multiply to the hop {HOP}")
        self.pre = _conv(N_MELS, channels, 7)
        self.ups, self.mrfs = nn.ModuleList(), nn.ModuleList()
        c = channels
        for r in rates:
            c_out = max(min_channels, c // 2)
            self.ups.append(nn.ConvTranspose1d(c, c_out, 2 * r, r, padding=r // 2 + r % 2,
                                               output_padding=r % 2))
            self.mrfs.append(_Mrf(c_out, kernels, dilations))
            c = c_out
        self.post = _conv(c, 1, 7)
        _init(self)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.pre(self.norm(mel))
        for up, mrf in zip(self.ups, self.mrfs, strict=True):
            x = mrf(up(F.leaky_relu(x, 0.1)))
        return torch.tanh(self.post(F.leaky_relu(x, 0.01))).squeeze(1)


class UpsampleTinyNet(_MelVocoder):
    """MelGAN-like generator with nearest-neighbour upsampling + conv instead of transposed
    convs; each stage ends in a residual stack with dilations 1, 3, 9 (kernel 3)."""

    def __init__(
        self,
        channels: int = 64,
        rates: tuple[int, ...] = (4, 4, 5, 2),
        dilations: tuple[int, ...] = (1, 3, 9),
        min_channels: int = 8,
    ) -> None:
        super().__init__()
        if math.prod(rates) != HOP:
            raise ValueError(f"upsampling rates {rates} must multiply to the hop {HOP}")
        self.rates = tuple(rates)
        self.pre = _conv(N_MELS, channels, 7)
        self.convs, self.stacks = nn.ModuleList(), nn.ModuleList()
        c = channels
        for r in rates:
            c_out = max(min_channels, c // 2)
            self.convs.append(_conv(c, c_out, 2 * r + 1))
            self.stacks.append(_ResBlock(c_out, 3, dilations))
            c = c_out
        self.post = _conv(c, 1, 7)
        _init(self)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.pre(self.norm(mel))
        for r, conv, stack in zip(self.rates, self.convs, self.stacks, strict=True):
            x = stack(conv(F.interpolate(F.leaky_relu(x, 0.2), scale_factor=r, mode="nearest")))
        return torch.tanh(self.post(F.leaky_relu(x, 0.2))).squeeze(1)


class IstftTinyNet(_MelVocoder):
    """iSTFTNet-like generator: conv -> [transposed conv x r, MRF] x 2 -> conv predicting a
    32-point STFT (17 log-magnitudes + 17 phases) at hop 8 -> ``torch.istft``."""

    def __init__(
        self,
        channels: int = 64,
        rates: tuple[int, ...] = (5, 4),
        n_fft: int = 32,
        kernels: tuple[int, ...] = (3, 7),
        dilations: tuple[int, ...] = (1, 3),
    ) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, HOP // math.prod(rates)
        if self.hop * math.prod(rates) != HOP or self.hop > n_fft // 2:
            raise ValueError(f"rates {rates} with n_fft {n_fft} do not fit the hop {HOP}")
        self.pre = _conv(N_MELS, channels, 7)
        self.ups, self.mrfs = nn.ModuleList(), nn.ModuleList()
        c = channels
        for r in rates:
            self.ups.append(nn.ConvTranspose1d(c, c // 2, 2 * r, r, padding=r // 2 + r % 2,
                                               output_padding=r % 2))
            self.mrfs.append(_Mrf(c // 2, kernels, dilations))
            c //= 2
        self.post = _conv(c, n_fft + 2, 7)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        _init(self)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.pre(self.norm(mel))
        for up, mrf in zip(self.ups, self.mrfs, strict=True):
            x = mrf(up(F.leaky_relu(x, 0.1)))
        x = self.post(F.leaky_relu(x, 0.01))  # (B, n_fft + 2, F * HOP / hop)
        bins = self.n_fft // 2 + 1
        mag = torch.exp(torch.clamp(x[:, :bins] - 4.0, max=6.0))
        phase = math.pi * torch.sin(x[:, bins:])
        spec = torch.polar(mag, phase)
        spec = torch.cat([spec, spec[:, :, -1:]], dim=2)  # one more frame: istft length
        length = (spec.shape[2] - 1) * self.hop
        wave = torch.istft(spec, self.n_fft, self.hop, self.n_fft, self.window, center=True,
                           length=length)
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
