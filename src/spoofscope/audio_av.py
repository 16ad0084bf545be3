"""The PyAV (FFmpeg) decoder behind ``spoofscope.audio``, for what libsndfile cannot read.

It reads the best audio stream of a container (MP4/M4A, WebM/Matroska, Ogg, MP3, ...); video
and other streams are demuxed past, never decoded. Two safety rules hold for untrusted input:
only the demuxers in :data:`ALLOWED_FORMATS` may open the data (no playlists such as HLS or
ffconcat, which would read other local files or URLs), and any attempt of the demuxer to open
a second file is refused.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

import av
import numpy as np

from spoofscope.audio_errors import AudioDecodeError

logger = logging.getLogger(__name__)

#: FFmpeg demuxers allowed to open input data (audio formats and common A/V containers).
ALLOWED_FORMATS = (
    "aac,ac3,aiff,amr,amrnb,amrwb,ape,asf,au,avi,caf,dsf,dts,dtshd,eac3,flac,flv,gsm,latm,"
    "loas,matroska,webm,mlp,mov,mp4,m4a,3gp,3g2,mj2,mp3,mpc,mpc8,mpeg,mpegts,nistsphere,nut,"
    "ogg,oma,rm,shn,sox,tak,truehd,tta,voc,w64,wav,wsd,wv,xwma"
)
#: How far before ``start_s`` a seek lands, so that decoders with overlap (AAC, Opus) settle.
SEEK_PREROLL_S = 0.5
_DECODE_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, EOFError, IndexError)
_INT_SCALE = {"u8": 1.0 / 128, "s16": 1.0 / 32768, "s32": 1.0 / 2**31, "s64": 1.0 / 2**63}


def _refuse_nested_open(url: str, flags: int, options: dict[str, Any]) -> None:
    raise PermissionError(f"a media file may not open other files or URLs (asked for {url!r})")


def describe_exc(exc: BaseException) -> str:
    """``"ExcType: message"`` without PyAV's ``'<none>'`` file-name noise."""
    text = str(exc).replace(": '<none>'", "")
    return f"{type(exc).__name__}: {text}"


def frame_to_mono(frame: av.AudioFrame) -> tuple[np.ndarray, bool]:
    """Average the channels of a decoded frame into float32 samples scaled to [-1, 1).

    Returns:
        ``(samples (n,), is_float)``: ``is_float`` is True when the decoder produced float
        samples, which alone can hold NaN/Inf.
    """
    fmt = frame.format
    name = fmt.name.removesuffix("p")
    channels = frame.layout.nb_channels
    if name == "s64":  # PyAV's to_ndarray does not convert s64; read the planes directly
        count = frame.samples if fmt.is_planar else frame.samples * channels
        planes = [np.frombuffer(p, np.int64, count=count) for p in frame.planes]
        arr = np.stack(planes)
    else:
        arr = frame.to_ndarray()
    data = arr if fmt.is_planar else arr.reshape(-1, channels)
    axis = 0 if fmt.is_planar else 1
    if channels == 1:
        mono = data.reshape(-1)
    else:
        wide = name in ("dbl", "s32", "s64")
        mono = data.mean(axis=axis, dtype=np.float64 if wide else np.float32)
    if name == "u8":
        mono = (mono.astype(np.float32) - 128.0) * np.float32(_INT_SCALE["u8"])
    elif name in _INT_SCALE:
        mono = np.multiply(mono, _INT_SCALE[name], dtype=np.float32)
    else:
        mono = mono.astype(np.float32, copy=False)
    return mono, name in ("flt", "dbl")


class AvReader:
    """One audio stream of a container opened with PyAV.

    Args:
        fileobj: seekable binary file object positioned at the start of the data.
        desc: how error messages name the source.
        note: text appended to the "cannot open" message (e.g. why libsndfile failed).

    Raises:
        AudioDecodeError: FFmpeg cannot open the data, or it has no audio stream.
    """

    def __init__(self, fileobj: BinaryIO, desc: str, note: str = "") -> None:
        self._fileobj = fileobj
        self._origin = fileobj.tell()
        self._desc = desc
        self._note = note
        self._container: Any = None
        self._open()

    def _open(self) -> None:
        self.close()
        self._fileobj.seek(self._origin)
        try:
            container = av.open(
                self._fileobj,
                mode="r",
                container_options={"format_whitelist": ALLOWED_FORMATS},
                metadata_errors="ignore",
                io_open=_refuse_nested_open,
                buffer_size=1 << 16,
            )
        except _DECODE_ERRORS as exc:
            raise AudioDecodeError(
                f"{self._desc}: not a readable audio or video file ({self._note}"
                f"FFmpeg: {describe_exc(exc)})"
            ) from exc
        self._container = container
        stream = container.streams.best("audio")
        if stream is None:
            kinds = ", ".join(s.type for s in container.streams) or "none"
            self.close()
            raise AudioDecodeError(
                f"{self._desc}: the {container.format.name} container has no audio stream "
                f"(streams: {kinds})"
            )
        self._stream = stream
        self._t0 = float(stream.start_time * stream.time_base) if stream.start_time else 0.0

    def close(self) -> None:
        """Release the container (the file object stays open: it belongs to the caller)."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> AvReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def format(self) -> str:
        """Container name and codec, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2/aac"``."""
        return f"{self._container.format.name}/{self._stream.codec_context.name}"

    @property
    def sample_rate(self) -> int:
        """Sample rate from the stream header (0 when the header does not say)."""
        return int(self._stream.codec_context.sample_rate or 0)

    @property
    def channels(self) -> int:
        """Channel count from the stream header (0 when the header does not say)."""
        return int(self._stream.codec_context.layout.nb_channels or 0)

    @property
    def duration_s(self) -> float | None:
        """Stream duration in seconds from the metadata (may be an estimate), else None."""
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return None

    def first_frame_params(self) -> tuple[int, int]:
        """Decode one frame to learn ``(sample_rate, channels)``; rewinds the reader after."""
        try:
            frame = next(self._frames(), None)
        finally:
            self._open()
        if frame is None:
            return 0, 0
        return frame.sample_rate, frame.layout.nb_channels

    def _frames(self) -> Iterator[av.AudioFrame]:
        try:
            for packet in self._container.demux(self._stream):
                yield from packet.decode()
        except _DECODE_ERRORS as exc:
            raise AudioDecodeError(
                f"{self._desc}: corrupt or truncated {self.format} stream ({describe_exc(exc)})"
            ) from exc

    def _seek(self, start_s: float) -> bool:
        """Seek to ``SEEK_PREROLL_S`` before ``start_s``; False when no seek is worth it."""
        target = start_s - SEEK_PREROLL_S
        if target <= 0 or self._stream.time_base is None:
            return False
        try:
            self._container.seek(
                int((self._t0 + target) / self._stream.time_base), stream=self._stream
            )
        except _DECODE_ERRORS as exc:
            logger.debug("%s: seek failed (%s); decoding from the start", self._desc, exc)
            self._open()
            return False
        return True

    def blocks(
        self, start_s: float = 0.0, duration_s: float | None = None
    ) -> Iterator[tuple[np.ndarray, int, bool]]:
        """Decode ``[start_s, start_s + duration_s)`` (to the end when ``duration_s`` is None).

        Seeks near ``start_s`` and drops the samples before it using the first decoded frame's
        timestamp; when the format gives no usable timestamp it decodes from the start and
        counts samples instead. Either way memory stays bounded by one frame.

        Yields:
            ``(samples (n,) float32 mono, sample_rate, is_float)`` blocks in order.
        """
        frames = self._frames()
        offset_s = start_s
        if start_s > 0 and self._seek(start_s):
            first = next(frames, None)
            if first is None:
                return
            t = first.time
            if t is None or t - self._t0 > start_s + 0.5 / first.sample_rate:
                logger.debug("%s: no usable timestamp after seeking; rereading", self._desc)
                self._open()
                frames = self._frames()
            else:
                frames = itertools.chain([first], frames)
                offset_s = start_s - (t - self._t0)
        yield from _trim(frames, offset_s, duration_s, self._desc)


def _trim(
    frames: Iterator[av.AudioFrame], offset_s: float, duration_s: float | None, desc: str
) -> Iterator[tuple[np.ndarray, int, bool]]:
    """Drop the first ``offset_s`` seconds of ``frames``, then keep ``duration_s`` seconds."""
    skip: int | None = None
    want: int | None = None
    for frame in frames:
        rate = frame.sample_rate
        if skip is None:
            skip = max(0, round(offset_s * rate))
        try:
            mono, is_float = frame_to_mono(frame)
        except ValueError as exc:
            raise AudioDecodeError(
                f"{desc}: cannot convert {frame.format.name} samples ({describe_exc(exc)})"
            ) from exc
        if skip >= len(mono):
            skip -= len(mono)
            continue
        if skip:
            mono, skip = mono[skip:], 0
        if duration_s is not None:
            if want is None:
                want = round(duration_s * rate)
            mono = mono[:want]
            want -= len(mono)
        if len(mono):
            yield mono, rate, is_float
        if want == 0:
            return
