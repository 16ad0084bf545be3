"""Decode any audio file, bytes or stream to float32 mono at one sample rate.

``load_audio`` reads with libsndfile (``soundfile``: WAV in every PCM/float/μ-law/A-law flavour,
FLAC, Ogg Vorbis/Opus, AIFF, ...) and falls back to FFmpeg (PyAV, ``spoofscope.audio_av``)
for what libsndfile cannot read: M4A/AAC, Opus in WebM, the audio track of MP4/MKV/WebM videos,
and MP3, which libsndfile 1.2 opens but garbles when read in blocks or after a seek.
The format is detected from the content, never from a file name. Channels are averaged, the
rate is converted with soxr (quality :data:`RESAMPLE_QUALITY`), and integer PCM is scaled to
[-1, 1). Nothing is clipped: float files keep values beyond ±1, and resampling a full-scale
signal can overshoot ±1 slightly; NaN/Inf samples are an error.

Every failure is an :class:`AudioError` naming the source and the cause.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import soxr

from spoofscope.audio_errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    AudioTypeError,
    EmptyAudioError,
    InvalidSamplesError,
)
from spoofscope.audio_readers import SfReader, open_reader, resolve_source

__all__ = [
    "DEFAULT_MAX_DURATION_S",
    "RESAMPLE_QUALITY",
    "AudioDecodeError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioInfo",
    "AudioTooLongError",
    "AudioTypeError",
    "EmptyAudioError",
    "InvalidSamplesError",
    "audio_info",
    "load_audio",
    "repeat_pad",
]

logger = logging.getLogger(__name__)

#: Longest audio ``load_audio`` decodes unless told otherwise (4 hours).
DEFAULT_MAX_DURATION_S = 4 * 3600.0
#: soxr quality recipe: "HQ" (20-bit, band edge 95%) is transparent for 16 kHz speech.
RESAMPLE_QUALITY = "HQ"


@dataclass(frozen=True)
class AudioInfo:
    """What the header says about a file, read without decoding the stream.

    Attributes:
        sample_rate: samples per second per channel.
        channels: channel count.
        frames: samples per channel when the header states it exactly (libsndfile formats),
            else None.
        duration_s: length in seconds (FFmpeg may estimate it from the bit rate), or None.
        format: container/codec, e.g. ``"WAV/PCM_16"`` or ``"mov,mp4,m4a,3gp,3g2,mj2/aac"``.
        backend: ``"soundfile"`` or ``"pyav"``, whichever reads the file.
    """

    sample_rate: int
    channels: int
    frames: int | None
    duration_s: float | None
    format: str
    backend: str


def load_audio(
    src: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO,
    sample_rate: int = 16000,
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
) -> np.ndarray:
    """Decode ``src`` to float32 mono samples at ``sample_rate``.

    Args:
        src: a path, the file's bytes, or a binary file object (read from its current
            position; a non-seekable stream is read into memory first).
        sample_rate: output rate in Hz.
        start_s: decode from this time (seconds from the start); None = 0.
        duration_s: decode at most this many seconds; None = to the end. A range reaching
            past the end gives what there is.
        max_duration_s: refuse audio (or the requested range) longer than this; None = no
            limit. Checked from the header before decoding, and again while decoding.

    Returns:
        float32 array of shape ``(T,)``, T ≈ seconds × ``sample_rate``.

    Notes:
        A range read from a libsndfile format is sample exact. Through FFmpeg it seeks, then
        places the cut from the first frame's timestamp: exact for MP4/M4A, within the
        container's timestamp step (1 ms for WebM/Matroska) otherwise. A stream cut short
        whose decoder does not object (WAV, MP3, WebM) gives the samples present and logs a
        warning; a decoder that reports corruption raises :class:`AudioDecodeError`.

    Raises:
        AudioError: one of its subclasses, naming the source and the cause.
        ValueError: ``sample_rate``, ``start_s``, ``duration_s`` or ``max_duration_s`` is invalid.
    """
    _check_args(sample_rate, start_s, duration_s, max_duration_s)
    start = float(start_s or 0.0)
    desc, source = resolve_source(src)
    with open_reader(desc, source) as reader:
        total = reader.duration_s
        if (
            isinstance(reader, SfReader)
            and start > 0
            and reader.frames <= round(start * reader.sample_rate)
        ):
            raise EmptyAudioError(
                f"{desc}: start_s={start:g} is at or past the end of the audio ({total:.3f} s)"
            )
        if max_duration_s is not None and total is not None:
            span = total - start if duration_s is None else min(total - start, duration_s)
            if span > max_duration_s:
                raise AudioTooLongError(
                    f"{desc}: {_span_text(start_s, duration_s)}{span:.1f} s long by its header, "
                    f"over the limit max_duration_s={max_duration_s:g} s; {_TOO_LONG_HINT}"
                )
        sink = _Sink(desc, sample_rate, max_duration_s, header_checked=total is not None)
        for block, rate, is_float in reader.blocks(start, duration_s):
            sink.add(block, rate, is_float)
        out = sink.finish(_span_text(start_s, duration_s))
    if start == 0 and duration_s is None and total and sink.seconds < 0.95 * total - 0.05:
        logger.warning(
            "%s: decoded %.2f s of the %.2f s the header announces (truncated file?)",
            desc,
            sink.seconds,
            total,
        )
    return out


def audio_info(
    src: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO,
) -> AudioInfo:
    """Read the header of ``src`` (same inputs as :func:`load_audio`) without decoding it.

    Raises:
        AudioError: a subclass naming the source and the cause.
    """
    desc, source = resolve_source(src)
    with open_reader(desc, source) as reader:
        if isinstance(reader, SfReader):
            return AudioInfo(
                reader.sample_rate,
                reader.channels,
                reader.frames,
                reader.duration_s,
                reader.format,
                "soundfile",
            )
        rate, channels = reader.sample_rate, reader.channels
        if not rate or not channels:
            rate, channels = reader.first_frame_params()
        return AudioInfo(rate, channels, None, reader.duration_s, reader.format, "pyav")


def repeat_pad(x: np.ndarray, length: int) -> np.ndarray:
    """Cut or repeat ``x`` to ``length`` samples, the ASVspoof evaluation convention.

    ``x[:length]`` when ``x`` is long enough, else ``x`` tiled ``int(length / len(x)) + 1``
    times and cut to ``length`` (as the official RawNet2/AASIST scripts do).

    Args:
        x: samples of shape ``(T,)``.
        length: output length, >= 0.

    Returns:
        array of shape ``(length,)`` (a view of ``x`` when ``T >= length``).

    Raises:
        ValueError: ``x`` is empty or not 1-D, or ``length`` is negative.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"repeat_pad expects a 1-D array, got shape {x.shape}")
    if len(x) == 0:
        raise ValueError("repeat_pad cannot pad an empty array")
    if length < 0:
        raise ValueError(f"repeat_pad length must be >= 0, got {length}")
    if len(x) >= length:
        return x[:length]
    return np.tile(x, int(length / len(x)) + 1)[:length]


_TOO_LONG_HINT = (
    "pass a larger max_duration_s (None for no limit) or read a part with start_s/duration_s"
)


def _span_text(start_s: float | None, duration_s: float | None) -> str:
    if start_s is None and duration_s is None:
        return ""
    return f"the range start_s={start_s or 0:g}, duration_s={duration_s} is "


def _check_args(sample_rate: Any, start_s: Any, duration_s: Any, max_duration_s: Any) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral):
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate}")
    if start_s is not None and not (math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start_s must be a finite number >= 0 or None, got {start_s!r}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number > 0 or None, got {duration_s!r}")
    if max_duration_s is not None and not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be > 0 or None, got {max_duration_s!r}")


class _Sink:
    """Collects mono blocks: checks them, enforces the length cap, resamples, concatenates.

    When the header's length already passed the cap, decoding may run a little past it
    (codec padding, estimated durations) before the cap counts as broken: 1% + 0.5 s.
    """

    def __init__(
        self, desc: str, rate_out: int, cap_s: float | None, *, header_checked: bool
    ) -> None:
        self.desc, self.rate_out, self.cap_s = desc, rate_out, cap_s
        self.limit_s = cap_s * 1.01 + 0.5 if cap_s is not None and header_checked else cap_s
        self.why = "more than its header announced" if header_checked else "no length in header"
        self.chunks: list[np.ndarray] = []
        self.seconds = 0.0
        self.rate_in: int | None = None
        self.resampler: soxr.ResampleStream | None = None

    def add(self, block: np.ndarray, rate: int, is_float: bool) -> None:
        """Append ``block`` (n,) float32 at ``rate`` Hz."""
        if is_float and not np.isfinite(block).all():
            bad = np.flatnonzero(~np.isfinite(block))
            raise InvalidSamplesError(
                f"{self.desc}: NaN/Inf sample values, the first at "
                f"{self.seconds + bad[0] / rate:.3f} s; the file holds invalid float data"
            )
        self.seconds += len(block) / rate
        if self.limit_s is not None and self.seconds > self.limit_s:
            raise AudioTooLongError(
                f"{self.desc}: over {self.limit_s:g} s of audio decoded ({self.why}), over "
                f"the limit max_duration_s={self.cap_s:g} s; {_TOO_LONG_HINT}"
            )
        if rate != self.rate_in:
            self._flush()
            self.rate_in = rate
            if rate != self.rate_out:
                self.resampler = soxr.ResampleStream(
                    rate, self.rate_out, 1, dtype="float32", quality=RESAMPLE_QUALITY
                )
        if self.resampler is None:
            self.chunks.append(block)
        else:
            self.chunks.append(self.resampler.resample_chunk(np.ascontiguousarray(block)))

    def _flush(self) -> None:
        if self.resampler is not None:
            self.chunks.append(self.resampler.resample_chunk(np.empty(0, np.float32), last=True))
            self.resampler = None

    def finish(self, span_text: str) -> np.ndarray:
        self._flush()
        chunks = [c for c in self.chunks if len(c)]
        if not chunks:
            where = f"{span_text}empty" if span_text else "has no audio samples"
            raise EmptyAudioError(f"{self.desc}: {where}")
        out = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return out.astype(np.float32, copy=False)
