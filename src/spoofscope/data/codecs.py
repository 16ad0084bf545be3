"""Codec and channel simulation: lossy codecs round-tripped in memory, G.711, telephone band,
packet loss.

Every function maps ``(T,)`` float samples to ``(T,)`` float32 samples: codec delay (encoder
priming, Opus pre-skip) is removed by cross-correlation with the input and the length restored
by trimming or zero-padding. MP3, AAC and Opus are encoded with FFmpeg (PyAV), Ogg Vorbis and
G.711 with libsndfile (``soundfile``); decoding goes through :func:`spoofscope.audio.load_audio`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from spoofscope.audio import AudioError, load_audio
from spoofscope.data.augment_util import check_choices, check_prob, check_range

__all__ = [
    "CODEC_KINDS",
    "CodecAugment",
    "CodecConfig",
    "align",
    "av_roundtrip",
    "g711_roundtrip",
    "packet_loss",
    "telephone_band",
    "vorbis_roundtrip",
]

logger = logging.getLogger(__name__)

#: Codecs and channels :class:`CodecConfig` can draw from.
CODEC_KINDS = ("mp3", "aac", "vorbis", "opus", "mulaw", "alaw", "telephone", "packet_loss")
#: FFmpeg encoder, container, packed/planar float sample format and encodable rates (Hz).
_AV_CODECS = {
    "mp3": ("libmp3lame", "mp3", "fltp", (8000, 11025, 12000, 16000, 22050, 24000, 32000)),
    "aac": ("aac", "adts", "fltp", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100)),
    "opus": ("libopus", "ogg", "flt", (8000, 12000, 16000, 24000, 48000)),
}
CONCEALMENTS = ("zero", "repeat")
#: Largest codec delay :func:`align` searches for, in seconds.
MAX_DELAY_S = 0.25
#: Shorter clips are padded with silence to this length (s) before encoding: some encoders
#: emit nothing decodable for a few milliseconds of audio.
MIN_ENCODE_S = 0.5


@dataclass
class CodecConfig:
    """Codecs and transmission channels; one kind is drawn per clip.

    Attributes:
        p: probability of passing a clip through a codec or channel.
        kinds: the kinds drawn from, uniformly (see :data:`CODEC_KINDS`).
        mp3_kbps, aac_kbps, opus_kbps: bit rate ranges in kbit/s (6..320, Opus 6..256;
            LAME caps MP3 at 160 kbit/s for 16 kHz audio).
        vorbis_compression: libsndfile compression level range for Ogg Vorbis (0 = best
            quality, about 70 kbit/s mono at 16 kHz; 1 = smallest, about 33 kbit/s).
        telephone_band_hz: pass band of the telephone channel, which is then resampled to
            8 kHz and back.
        packet_loss_rate: range of the share of lost packets.
        packet_ms: packet (frame) duration in milliseconds.
        concealment: what fills a lost packet, drawn per clip: ``"zero"`` (silence) or
            ``"repeat"`` (the previous packet again).
    """

    p: float = 0.3
    kinds: tuple[str, ...] = CODEC_KINDS
    mp3_kbps: tuple[float, float] = (16.0, 64.0)
    aac_kbps: tuple[float, float] = (16.0, 64.0)
    opus_kbps: tuple[float, float] = (8.0, 32.0)
    vorbis_compression: tuple[float, float] = (0.3, 1.0)
    telephone_band_hz: tuple[float, float] = (300.0, 3400.0)
    packet_loss_rate: tuple[float, float] = (0.02, 0.15)
    packet_ms: float = 20.0
    concealment: tuple[str, ...] = CONCEALMENTS

    def __post_init__(self) -> None:
        self.p = check_prob("codec.p", self.p)
        self.kinds = check_choices("codec.kinds", self.kinds, CODEC_KINDS)
        for name, top in (("mp3_kbps", 320.0), ("aac_kbps", 320.0), ("opus_kbps", 256.0)):
            setattr(self, name, check_range(f"codec.{name}", getattr(self, name), 6.0, top))
        self.vorbis_compression = check_range(
            "codec.vorbis_compression", self.vorbis_compression, 0.0, 1.0
        )
        self.telephone_band_hz = check_range(
            "codec.telephone_band_hz", self.telephone_band_hz, 0.0, 4000.0
        )
        self.packet_loss_rate = check_range("codec.packet_loss_rate", self.packet_loss_rate, 0, 1)
        if not self.packet_ms > 0:
            raise ValueError(f"codec.packet_ms must be > 0, got {self.packet_ms!r}")
        self.concealment = check_choices("codec.concealment", self.concealment, CONCEALMENTS)


def align(ref: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """Shift ``y`` by the lag (``|lag| <= max_lag``) best correlating it with ``ref``.

    Args:
        ref: the reference, shape ``(T,)``.
        y: the delayed copy, any length.
        max_lag: largest shift searched, in samples.

    Returns:
        float32 array of shape ``(T,)``: ``y`` advanced by the lag, cut or zero-padded.
    """
    nfft = 1 << (len(ref) + len(y) - 1).bit_length()
    cc = np.fft.irfft(np.fft.rfft(y, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)
    ahead, behind = min(max_lag, len(y) - 1), min(max_lag, len(ref) - 1)
    lags = np.r_[np.arange(0, ahead + 1), np.arange(-behind, 0)]
    lag = int(lags[np.argmax(cc[lags])])
    out = np.zeros(len(ref), dtype=np.float32)
    src = y[max(lag, 0) :]
    dst = out[max(-lag, 0) :]
    k = min(len(src), len(dst))
    dst[:k] = src[:k]
    return out


def _padded(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` as float32, zero-padded at the end to at least :data:`MIN_ENCODE_S`."""
    x = np.asarray(x, dtype=np.float32)
    short = int(MIN_ENCODE_S * sample_rate) - len(x)
    return np.pad(x, (0, short)) if short > 0 else x


def _encode_rate(sample_rate: int, rates: tuple[int, ...]) -> int:
    """The encoder rate: ``sample_rate`` when allowed, else the next higher allowed rate."""
    if sample_rate in rates:
        return sample_rate
    higher = [r for r in rates if r > sample_rate]
    return min(higher) if higher else max(rates)


def av_roundtrip(x: np.ndarray, sample_rate: int, kind: str, kbps: float) -> np.ndarray:
    """Encode ``x`` with FFmpeg as ``kind`` (mp3, aac or opus) at ``kbps``, decode, align.

    Returns:
        float32 array of shape ``(T,)``.
    """
    codec, container, fmt, rates = _AV_CODECS[kind]
    rate = _encode_rate(sample_rate, rates)
    data = _padded(x, sample_rate)
    if rate != sample_rate:
        data = soxr.resample(data, sample_rate, rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        stream.bit_rate = int(kbps * 1000)
        samples = np.ascontiguousarray(data[None])
        frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout="mono")
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    y = load_audio(buf.getvalue(), sample_rate)
    return align(x, y, int(MAX_DELAY_S * sample_rate))


def vorbis_roundtrip(x: np.ndarray, sample_rate: int, compression: float) -> np.ndarray:
    """Ogg Vorbis round trip through libsndfile at ``compression`` (0 best .. 1 smallest)."""
    buf = io.BytesIO()
    sf.write(buf, _padded(x, sample_rate), sample_rate, format="OGG", subtype="VORBIS",
             compression_level=compression)  # fmt: skip
    y = load_audio(buf.getvalue(), sample_rate)
    return align(x, y, int(MAX_DELAY_S * sample_rate))


def g711_roundtrip(x: np.ndarray, law: str) -> np.ndarray:
    """8-bit G.711 μ-law (``"mulaw"``) or A-law (``"alaw"``) companding round trip.

    Input beyond ±1 is clipped, as the codec does. The sample rate is kept.
    """
    subtype = {"mulaw": "ULAW", "alaw": "ALAW"}[law]
    buf = io.BytesIO()
    sf.write(buf, np.asarray(x, dtype=np.float32), 8000, format="RAW", subtype=subtype)
    buf.seek(0)
    y, _ = sf.read(buf, samplerate=8000, channels=1, format="RAW", subtype=subtype, dtype="float32")
    return y


def telephone_band(
    x: np.ndarray, sample_rate: int, band_hz: tuple[float, float] = (300.0, 3400.0)
) -> np.ndarray:
    """Narrowband telephone channel: zero-phase band-pass, then 8 kHz and back (soxr).

    Returns:
        float32 array of shape ``(T,)`` with no energy above 4 kHz.
    """
    low, high = band_hz
    nyquist = sample_rate / 2
    high = min(high, 0.99 * nyquist)
    sos = signal.butter(4, [max(low, 1.0), high], btype="bandpass", output="sos", fs=sample_rate)
    y = signal.sosfiltfilt(sos, np.pad(np.asarray(x, dtype=np.float64), (0, 256)))
    if sample_rate > 8000:
        y = soxr.resample(soxr.resample(y, sample_rate, 8000), 8000, sample_rate)
    out = np.zeros(len(x), dtype=np.float32)
    k = min(len(x), len(y))
    out[:k] = y[:k]
    return out


def packet_loss(
    x: np.ndarray,
    sample_rate: int,
    rate: float,
    rng: np.random.Generator,
    packet_ms: float = 20.0,
    concealment: str = "zero",
) -> np.ndarray:
    """Drop each ``packet_ms`` packet with probability ``rate`` and conceal the gap.

    Args:
        x: samples of shape ``(T,)``.
        sample_rate: rate in Hz.
        rate: loss probability per packet.
        rng: the random generator.
        packet_ms: packet duration in milliseconds.
        concealment: ``"zero"`` (silence) or ``"repeat"`` (the previous output packet;
            silence for a loss at the start).

    Returns:
        float32 array of shape ``(T,)``.
    """
    if concealment not in CONCEALMENTS:
        raise ValueError(f"unknown concealment {concealment!r}; valid: {', '.join(CONCEALMENTS)}")
    y = np.array(x, dtype=np.float32)
    size = max(1, round(packet_ms * sample_rate / 1000))
    n = -(-len(y) // size)
    lost = np.flatnonzero(rng.random(n) < rate)
    for i in lost:
        start = i * size
        stop = min(start + size, len(y))
        if concealment == "repeat" and i > 0:
            y[start:stop] = y[start - size : start - size + (stop - start)]
        else:
            y[start:stop] = 0.0
    return y


class CodecAugment:
    """Applies one kind drawn from ``config.kinds``; ``(T,) -> (T,)`` float32."""

    def __init__(self, config: CodecConfig, sample_rate: int) -> None:
        self.config = config
        self.sample_rate = sample_rate
        for kind in config.kinds:
            if kind in _AV_CODECS:
                try:
                    av.codec.Codec(_AV_CODECS[kind][0], "w")
                except Exception as exc:  # noqa: BLE001 - PyAV raises several types
                    raise ValueError(
                        f"codec kind {kind!r} needs the FFmpeg encoder {_AV_CODECS[kind][0]!r}, "
                        f"which this PyAV build lacks ({exc}); remove it from codec.kinds"
                    ) from None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg, sr = self.config, self.sample_rate
        kind = cfg.kinds[int(rng.integers(len(cfg.kinds)))]
        if kind in _AV_CODECS or kind == "vorbis":
            try:
                if kind == "vorbis":
                    return vorbis_roundtrip(x, sr, float(rng.uniform(*cfg.vorbis_compression)))
                kbps = round(rng.uniform(*getattr(cfg, f"{kind}_kbps")))
                return av_roundtrip(x, sr, kind, kbps)
            except (AudioError, av.FFmpegError, sf.LibsndfileError) as exc:
                logger.warning("%s round trip failed, clip left as is: %s", kind, exc)
                return np.asarray(x, dtype=np.float32)
        if kind in ("mulaw", "alaw"):
            return g711_roundtrip(x, kind)
        if kind == "telephone":
            return telephone_band(x, sr, cfg.telephone_band_hz)
        concealment = cfg.concealment[int(rng.integers(len(cfg.concealment)))]
        loss = float(rng.uniform(*cfg.packet_loss_rate))
        return packet_loss(x, sr, loss, rng, cfg.packet_ms, concealment)
